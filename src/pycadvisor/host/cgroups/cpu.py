"""CPU accounting parsers: cgroup v1 ``cpuacct.*``/``cpu.*`` and cgroup v2 ``cpu.stat``/``cpu.max``/``cpu.weight``.

Sources: Documentation/admin-guide/cgroup-v1/cpuacct.rst, Documentation/scheduler/sched-bwc.rst,
Documentation/admin-guide/cgroup-v2.rst ("CPU Interface Files").
"""

from __future__ import annotations

MAX_U64 = 2**64 - 1


def parse_keyed(data: bytes) -> dict[bytes, int]:
    """Parse flat-keyed ``key value`` lines (cpu.stat, memory.stat, memory.events) into ints."""
    parts = data.split()
    return dict(zip(parts[::2], map(int, parts[1::2]), strict=False))


def parse_cpu_max(data: bytes) -> tuple[int, int]:
    """Parse v2 ``cpu.max`` (``$MAX $PERIOD``) into (quota µs, period µs); quota 0 means unlimited."""
    parts = data.split()
    period = int(parts[1]) if len(parts) > 1 else 100000
    quota = 0 if not parts or parts[0] == b"max" else int(parts[0])
    return quota, period


def weight_to_shares(weight: int) -> int:
    """Map v2 ``cpu.weight`` [1, 10000] back to v1 shares [2, 262144] (inverse of runc's conversion)."""
    if weight <= 0:
        return 0
    return 2 + ((weight - 1) * 262142) // 9999


def parse_limit(data: bytes) -> int:
    """Parse a single-value limit file where ``max`` means unlimited (2^64-1), as cAdvisor reports it."""
    s = data.strip()
    if s == b"max":
        return MAX_U64
    return int(s) if s else 0
