"""Block IO parsers: cgroup v1 ``blkio.*`` (``maj:min Op value`` lines) and cgroup v2 ``io.stat``.

Sources: Documentation/admin-guide/cgroup-v1/blkio-controller.rst, Documentation/admin-guide/cgroup-v2.rst
("IO Interface Files"), and cAdvisor's op names (v1: Read, Write, Sync, Async, Discard, Total; v2: Read, Write, Count).
"""

from __future__ import annotations

Device = tuple[int, int]

_V1_OPS = {b"Read": "Read", b"Write": "Write", b"Sync": "Sync", b"Async": "Async", b"Discard": "Discard",
           b"Total": "Total"}  # fmt: skip


def parse_blkio_v1(data: bytes) -> dict[Device, dict[str, int]]:
    """Return per-device op counters; the trailing ``Total N`` summary line is skipped (as runc does)."""
    out: dict[Device, dict[str, int]] = {}
    for line in data.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        maj, _, mnr = parts[0].partition(b":")
        dev = (int(maj), int(mnr))
        op = _V1_OPS.get(parts[1])
        if op is None:
            op = parts[1].decode()
        out.setdefault(dev, {})[op] = int(parts[2])
    return out


# io.stat keys -> (cAdvisor diskio member, op)
_V2_KEYS = {
    b"rbytes": ("io_service_bytes", "Read"),
    b"wbytes": ("io_service_bytes", "Write"),
    b"rios": ("io_serviced", "Read"),
    b"wios": ("io_serviced", "Write"),
    b"cost.usage": ("io_cost_usage", "Count"),
    b"cost.wait": ("io_cost_wait", "Count"),
    b"cost.indebt": ("io_cost_indebt", "Count"),
    b"cost.indelay": ("io_cost_indelay", "Count"),
}


def parse_io_stat(data: bytes) -> dict[str, dict[Device, dict[str, int]]]:
    """Parse v2 ``io.stat`` (``maj:min rbytes=… wbytes=… rios=… wios=… dbytes=… dios=…``) by cAdvisor member."""
    out: dict[str, dict[Device, dict[str, int]]] = {}
    for line in data.splitlines():
        parts = line.split()
        if not parts:
            continue
        maj, _, mnr = parts[0].partition(b":")
        dev = (int(maj), int(mnr))
        for kv in parts[1:]:
            k, _, v = kv.partition(b"=")
            target = _V2_KEYS.get(k)
            if target is None:
                continue
            member, op = target
            out.setdefault(member, {}).setdefault(dev, {})[op] = int(v)
    return out
