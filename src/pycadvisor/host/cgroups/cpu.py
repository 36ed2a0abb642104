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


class KeyedInts:
    """A flat-keyed file (``memory.stat``: ~70 keys) split once; values become ints only when asked for.

    The collector needs a dozen of memory.stat's keys, so converting all of them would be wasted work.
    """

    __slots__ = ("_d",)

    def __init__(self, data: bytes) -> None:
        parts = data.split()
        self._d = dict(zip(parts[::2], parts[1::2], strict=False))

    def get(self, key: bytes, default: int = 0) -> int:
        v = self._d.get(key)
        return default if v is None else int(v)

    def opt(self, key: bytes) -> int | None:
        v = self._d.get(key)
        return None if v is None else int(v)


def parse_percpu(data: bytes) -> list[int]:
    """Parse ``cpuacct.usage_percpu``: one ns counter per possible CPU, space separated."""
    return [int(x) for x in data.split()]


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
