"""Memory accounting: the memory family's slots on cgroup v1 and v2, and the one place its derived
values (the working set, the root's usage on v2) are computed.

Sources: Documentation/admin-guide/cgroup-v1/memory.rst, Documentation/admin-guide/cgroup-v2.rst
("Memory Interface Files"); mm/memcontrol-v1.c (v1 files, in mm/memcontrol.c before Linux 6.11) and
mm/memcontrol.c (v2 files). What cAdvisor makes of them: container/libcontainer/handler.go
``setMemoryStats``, over runc's libcontainer/cgroups/fs/memory.go and fs2/memory.go.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from pycadvisor.host.cgroups.rows import ABSENT, DERIVED, Row, Table
from pycadvisor.model.sample import MEMORY_SLOTS

_V1 = "mm/memcontrol-v1.c"
_V1_STAT = "mm/memcontrol-v1.c memcg1_stat_format"
_V2_STAT = "mm/memcontrol.c memory_stat_format"
_WORKING_SET = "usage - inactive_file, not below 0 (cAdvisor handler.go setMemoryStats)"

#: cgroup v1: memory.stat's ``total_`` keys under use_hierarchy, as runc and cAdvisor read them.
V1_ROWS = (
    Row("usage", "memory.usage_in_bytes", source=f"{_V1} mem_cgroup_read_u64 RES_USAGE"),
    Row("max_usage", "memory.max_usage_in_bytes", source=f"{_V1} mem_cgroup_read_u64 RES_MAX_USAGE"),
    Row("cache", "memory.stat", "cache", _V1_STAT, hierarchical=True),
    Row("rss", "memory.stat", "rss", _V1_STAT, hierarchical=True),
    Row("swap", "memory.stat", "swap", _V1_STAT, hierarchical=True),
    Row("mapped_file", "memory.stat", "mapped_file", _V1_STAT, hierarchical=True),
    Row("working_set", DERIVED, source=_WORKING_SET),
    Row("total_active_file", "memory.stat", "active_file", _V1_STAT, hierarchical=True),
    Row("total_inactive_file", "memory.stat", "inactive_file", _V1_STAT, hierarchical=True),
    Row("file_dirty", ABSENT, source="v2 only"),
    Row("file_writeback", ABSENT, source="v2 only"),
    Row("pgscan", ABSENT, source="v2 only"),
    Row("pgsteal", ABSENT, source="v2 only"),
    Row("workingset_refault_file", "memory.stat", "workingset_refault_file", _V1_STAT),
    Row("workingset_refault_anon", "memory.stat", "workingset_refault_anon", _V1_STAT),
    Row("failcnt", "memory.failcnt", source=f"{_V1} mem_cgroup_read_u64 RES_FAILCNT"),
    Row("kernel", "memory.kmem.usage_in_bytes", source=f"{_V1} mem_cgroup_read_u64 _KMEM RES_USAGE"),
    # cAdvisor reports pgfault/pgmajfault in both scopes (container_data, hierarchical_data).
    Row("pgfault", "memory.stat", "pgfault", _V1_STAT),
    Row("pgmajfault", "memory.stat", "pgmajfault", _V1_STAT),
    Row("events_high", ABSENT, source="v2 only"),
    Row("events_max", ABSENT, source="v2 only"),
)

#: cgroup v2. memory.peak is Linux 5.19+, memory.swap.current needs swap accounting: absent, 0.
V2_ROWS = (
    Row("usage", "memory.current", source="mm/memcontrol.c memory_current_read; the root has none: anon + file"),
    Row("max_usage", "memory.peak", source="mm/memcontrol.c memory_peak_show (Linux 5.19)"),
    Row("cache", "memory.stat", "file", _V2_STAT),
    Row("rss", "memory.stat", "anon", _V2_STAT),
    Row("swap", "memory.swap.current", source="mm/memcontrol.c swap_current_read"),
    Row("mapped_file", "memory.stat", "file_mapped", _V2_STAT),
    Row("working_set", DERIVED, source=_WORKING_SET),
    Row("total_active_file", "memory.stat", "active_file", _V2_STAT),
    Row("total_inactive_file", "memory.stat", "inactive_file", _V2_STAT),
    Row("file_dirty", "memory.stat", "file_dirty", _V2_STAT),
    Row("file_writeback", "memory.stat", "file_writeback", _V2_STAT),
    Row("pgscan", "memory.stat", "pgscan", _V2_STAT),
    Row("pgsteal", "memory.stat", "pgsteal", _V2_STAT),
    Row("workingset_refault_file", "memory.stat", "workingset_refault_file", _V2_STAT),
    Row("workingset_refault_anon", "memory.stat", "workingset_refault_anon", _V2_STAT),
    Row("failcnt", ABSENT, source="v1 only"),
    Row("kernel", ABSENT, source="v1 only"),
    Row("pgfault", "memory.stat", "pgfault", _V2_STAT),
    Row("pgmajfault", "memory.stat", "pgmajfault", _V2_STAT),
    Row("events_high", "memory.events", "high", "mm/memcontrol.c memory_events_show"),
    Row("events_max", "memory.events", "max", "mm/memcontrol.c memory_events_show"),
)

# The files in the order they are read (the one-call readers' descriptor order, _cgread.c). The first
# is the family's own: without it, the family is not collected.
V1_MEMORY = Table(
    V1_ROWS,
    (
        "memory.usage_in_bytes",
        "memory.stat",
        "memory.max_usage_in_bytes",
        "memory.failcnt",
        "memory.kmem.usage_in_bytes",
    ),
    MEMORY_SLOTS,
)
V2_MEMORY = Table(
    V2_ROWS, ("memory.stat", "memory.current", "memory.peak", "memory.swap.current", "memory.events"), MEMORY_SLOTS
)
#: The v2 files a kernel may not have (FileSet.held's ``optional``): the last three.
V2_OPTIONAL_FILES = 3


def working_set(usage: int, inactive_file: int | None) -> int:
    """cAdvisor's working set: usage less the inactive file cache, not below 0; the usage itself when
    memory.stat has no inactive_file (container/libcontainer/handler.go ``setMemoryStats``)."""
    return usage if inactive_file is None else max(usage - inactive_file, 0)


class _Assemble:
    """The slots of one version's memory family from its values read, computed as its table says."""

    __slots__ = ("_cache", "_inactive", "_pick", "_rss", "_usage", "_usage_from_stat")

    def __init__(self, table: Table, *, usage_from_stat: bool) -> None:
        pos = table.position  # indices into (0, *read): minus one into read
        self._usage, self._inactive = pos["usage"] - 1, pos["total_inactive_file"] - 1
        self._cache, self._rss = pos["cache"] - 1, pos["rss"] - 1
        self._usage_from_stat = usage_from_stat
        self._pick = table.pick

    def __call__(self, read: Sequence[int | None]) -> tuple[int, ...]:
        usage = read[self._usage]
        if usage is None:
            if not self._usage_from_stat:
                raise ValueError("memory usage: no value")
            # The root of a v2 hierarchy has no memory.current: cAdvisor sums anon and file.
            read = list(read)
            usage = read[self._usage] = (read[self._cache] or 0) + (read[self._rss] or 0)
        slots: tuple[int | None, ...] = self._pick((0, *read, working_set(usage, read[self._inactive])))
        if None in slots:  # a file or key this kernel does not have: 0
            return tuple(0 if v is None else v for v in slots)
        return cast("tuple[int, ...]", slots)  # no None left


#: The v1 memory family's slots (``MEMORY_SLOTS``) from the values read in ``V1_MEMORY.files`` order.
v1_memory_values = _Assemble(V1_MEMORY, usage_from_stat=False)
#: The same on v2 (``V2_MEMORY.files`` order); without memory.current, usage is anon + file.
v2_memory_values = _Assemble(V2_MEMORY, usage_from_stat=True)
