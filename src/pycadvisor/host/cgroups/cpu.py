"""CPU accounting parsers: cgroup v1 ``cpuacct.*``/``cpu.*`` and cgroup v2 ``cpu.stat``/``cpu.max``/``cpu.weight``.

Sources: Documentation/admin-guide/cgroup-v1/cpuacct.rst, Documentation/scheduler/sched-bwc.rst,
Documentation/admin-guide/cgroup-v2.rst ("CPU Interface Files").

The CPU family's slots (``model.sample.CPU_SLOTS``: usage total, user, system, then the CFS
figures; on v1 the per-CPU usage sits between the two) are named here per cgroup version.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import mul

from pycadvisor.host.cgroups.rows import ABSENT, DERIVED, Row, Table
from pycadvisor.model.sample import CPU_SLOTS

MAX_U64 = 2**64 - 1
NS_PER_US = 1000
#: ``Row.scale`` of a value in USER_HZ ticks: the reader's tick length in ns.
TICKS = 0

_CFS = "kernel/sched/core.c cpu_cfs_stat_show"
_V2_USAGE = "kernel/cgroup/rstat.c cgroup_base_stat_cputime_show"

#: cgroup v1. The total: cpuacct.usage_percpu sums to cpuacct.usage exactly (kernel/sched/cpuacct.c
#: cpuusage_read sums the same per-CPU counters), so with per-CPU figures one read gives both.
V1_ROWS = (
    Row("total", DERIVED, source="kernel/sched/cpuacct.c: sum of cpuacct.usage_percpu, else cpuacct.usage"),
    Row("user", "cpuacct.stat", "user", "kernel/sched/cpuacct.c cpuacct_stats_show", scale=TICKS),
    Row("system", "cpuacct.stat", "system", "kernel/sched/cpuacct.c cpuacct_stats_show", scale=TICKS),
    Row("periods", "cpu.stat", "nr_periods", _CFS),
    Row("throttled_periods", "cpu.stat", "nr_throttled", _CFS),
    Row("throttled_time", "cpu.stat", "throttled_time", _CFS),
    Row("bursts_periods", ABSENT, source="read on v2 only, as cAdvisor"),
    Row("burst_time", ABSENT, source="read on v2 only, as cAdvisor"),
)
#: cgroup v2: everything in cpu.stat, times in µs.
V2_ROWS = (
    Row("total", "cpu.stat", "usage_usec", _V2_USAGE, scale=NS_PER_US),
    Row("user", "cpu.stat", "user_usec", _V2_USAGE, scale=NS_PER_US),
    Row("system", "cpu.stat", "system_usec", _V2_USAGE, scale=NS_PER_US),
    Row("periods", "cpu.stat", "nr_periods", _CFS),
    Row("throttled_periods", "cpu.stat", "nr_throttled", _CFS),
    Row("throttled_time", "cpu.stat", "throttled_usec", _CFS, scale=NS_PER_US),
    Row("bursts_periods", "cpu.stat", "nr_bursts", _CFS + " (Linux 5.14)"),
    Row("burst_time", "cpu.stat", "burst_usec", _CFS + " (Linux 5.14)", scale=NS_PER_US),
)
# The files in the order they are read (v1: the one-call reader's descriptors after cpuacct.usage_percpu).
V1_CPU = Table(V1_ROWS, ("cpuacct.stat", "cpu.stat"), CPU_SLOTS)
V2_CPU = Table(V2_ROWS, ("cpu.stat",), CPU_SLOTS)


def cpu_scales(table: Table, ns_per_tick: int) -> tuple[int, ...]:
    """Each slot's factor to ns (or 1), with this host's clock tick (computed once per collector)."""
    return tuple(ns_per_tick if s == TICKS else s for s in table.scales)


def cpu_values(table: Table, scales: Sequence[int], read: Sequence[int | None], total: int = 0) -> list[int]:
    """The CPU family's slots (``CPU_SLOTS``) from the values read in ``table.files`` order; ``total``:
    the derived usage total (v1), absent values 0."""
    picked = read if table.in_order else table.pick((0, *read, total))
    try:
        return list(map(mul, picked, scales))
    except TypeError:  # a key this kernel does not write (nr_bursts before Linux 5.14): 0
        return [0 if v is None else v * s for v, s in zip(picked, scales, strict=True)]


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
