"""``memory.numa_stat``: a memory cgroup's pages per NUMA node (metric set ``memory_numa``).

cgroup v1 (``mm/memcontrol.c`` ``memcg_numa_stat_show``, ``Documentation/admin-guide/cgroup-v1/memory.rst``
§5.6) counts pages, the cgroup's own on ``<kind>=<total> N0=<pages> ...`` lines and with its
descendants on ``hierarchical_<kind>=...`` lines::

    total=4967 N0=4967
    file=777 N0=777
    anon=0 N0=0
    unevictable=4190 N0=4190
    hierarchical_total=147393 N0=147393
    ...

cAdvisor reads the ``file``, ``anon`` and ``unevictable`` lines into ``container_data.numa_stats`` and
their ``hierarchical_`` twins into ``hierarchical_data.numa_stats`` (``container/libcontainer/handler.go``
``setMemoryNumaStats``, from runc's ``getPageUsageByNUMA``); ``total`` is not reported.

cgroup v2 (Linux 5.10, ``Documentation/admin-guide/cgroup-v2.rst`` "memory.numa_stat") has one line
per ``memory.stat`` key, ``<key> N0=<bytes> N1=<bytes>``, counting the cgroup with its descendants as
every v2 memory figure does. cAdvisor's cgroup library reads nothing there; pycadvisor reports its
``anon``, ``file`` and ``unevictable`` lines in pages (bytes / page size) in both scopes, as it does for
v2's ``pgfault``.
"""

from __future__ import annotations

NUMA_KINDS = ("file", "anon", "unevictable")  # MemoryNumaStats members, in Go struct order
CONTAINER, HIERARCHY = "container", "hierarchy"  # the scope label of container_memory_numa_pages

# (scope, kind, node ids) per reported line; its values follow in the same order.
NumaShape = tuple[tuple[str, str, tuple[int, ...]], ...]

_V1_KEYS = {k.encode(): (CONTAINER, k) for k in NUMA_KINDS} | {
    b"hierarchical_" + k.encode(): (HIERARCHY, k) for k in NUMA_KINDS
}
_V2_KEYS = {k.encode(): k for k in NUMA_KINDS}


def _nodes(fields: list[bytes], divisor: int) -> tuple[tuple[int, ...], list[int]]:
    nodes, vals = [], []
    for f in fields:
        name, sep, value = f.partition(b"=")
        if not sep or name[:1] != b"N":
            raise ValueError(f"bad memory.numa_stat field {f!r}")
        nodes.append(int(name[1:]))
        vals.append(int(value) // divisor)
    return tuple(nodes), vals


def parse_numa_stat(data: bytes, *, v2: bool, page_size: int = 4096) -> tuple[NumaShape, list[int]]:
    """The reported lines of ``memory.numa_stat`` as ``(shape, pages)``; unknown keys are skipped.

    Raises ``ValueError`` on a malformed node field.
    """
    shape: list[tuple[str, str, tuple[int, ...]]] = []
    vals: list[int] = []
    for line in data.split(b"\n"):
        fields = line.split()
        if not fields:
            continue
        if v2:
            kind = _V2_KEYS.get(fields[0])
            if kind is None:
                continue
            nodes, pages = _nodes(fields[1:], page_size)
            shape += ((CONTAINER, kind, nodes), (HIERARCHY, kind, nodes))
            vals += pages + pages
        else:
            scoped = _V1_KEYS.get(fields[0].partition(b"=")[0])
            if scoped is None:
                continue
            nodes, pages = _nodes(fields[1:], 1)
            shape.append((scoped[0], scoped[1], nodes))
            vals += pages
    return tuple(shape), vals
