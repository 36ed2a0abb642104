"""Metric sets: cAdvisor's ``--enable_metrics`` / ``--disable_metrics`` (``container.MetricKind``).

The sets gate both collection (which cgroup controllers and /proc files are read) and exposition
(which Prometheus families are registered). Names, the full list and the default-disabled list follow
``lib/container/factory.go`` and ``cmd/cadvisor.go``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Every metric set cAdvisor knows (container.AllMetrics), in its documentation order.
CPU = "cpu"
SCHED = "sched"
PERCPU = "percpu"
MEMORY = "memory"
MEMORY_NUMA = "memory_numa"
CPU_LOAD = "cpuLoad"
DISK_IO = "diskIO"
DISK = "disk"
NETWORK = "network"
TCP = "tcp"
ADVTCP = "advtcp"
UDP = "udp"
APP = "app"
PROCESS = "process"
HUGETLB = "hugetlb"
PERF_EVENT = "perf_event"
REFERENCED_MEMORY = "referenced_memory"
CPU_TOPOLOGY = "cpu_topology"
RESCTRL = "resctrl"
CPUSET = "cpuset"
OOM_EVENT = "oom_event"
PRESSURE = "pressure"

ALL_METRIC_SETS: tuple[str, ...] = (
    CPU, SCHED, PERCPU, MEMORY, MEMORY_NUMA, CPU_LOAD, DISK_IO, DISK, NETWORK, TCP, ADVTCP, UDP,
    APP, PROCESS, HUGETLB, PERF_EVENT, REFERENCED_MEMORY, CPU_TOPOLOGY, RESCTRL, CPUSET, OOM_EVENT,
    PRESSURE,
)  # fmt: skip

# Default value of --disable_metrics (cmd/cadvisor.go ignoreMetrics).
DEFAULT_DISABLED: frozenset[str] = frozenset(
    {MEMORY_NUMA, TCP, UDP, ADVTCP, SCHED, PROCESS, HUGETLB, REFERENCED_MEMORY, CPU_TOPOLOGY, RESCTRL, CPUSET}
)
DEFAULT_DISABLE_METRICS_FLAG = ",".join(m for m in ALL_METRIC_SETS if m in DEFAULT_DISABLED)

_KNOWN = frozenset(ALL_METRIC_SETS)


def _go_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_metric_set(value: str) -> frozenset[str]:
    """Parse a comma-separated flag value as cAdvisor's ``metricSetValue.Set`` does.

    ``""`` is the empty set; any other element must be a known set name, else ``ValueError`` with
    cAdvisor's message ``unsupported metric "<x>" specified`` (no trimming: ``"cpu, memory"`` fails).
    """
    if value == "":
        return frozenset()
    out = set()
    for name in value.split(","):
        if name not in _KNOWN:
            raise ValueError(f"unsupported metric {_go_quote(name)} specified")
        out.add(name)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class MetricSets:
    """The enabled metric sets."""

    enabled: frozenset[str]

    def __post_init__(self) -> None:
        unknown = self.enabled - _KNOWN
        if unknown:
            raise ValueError(f"unsupported metric {_go_quote(sorted(unknown)[0])} specified")

    def has(self, name: str) -> bool:
        return name in self.enabled

    def __contains__(self, name: object) -> bool:
        return name in self.enabled

    @classmethod
    def default(cls) -> MetricSets:
        """All sets except cAdvisor's default-disabled ones."""
        return cls(frozenset(_KNOWN - DEFAULT_DISABLED))

    @classmethod
    def of(cls, names: Iterable[str]) -> MetricSets:
        return cls(frozenset(names))

    @classmethod
    def from_flags(cls, enable_metrics: str = "", disable_metrics: str | None = None) -> MetricSets:
        """Combine the two flags: a non-empty ``enable_metrics`` replaces the set entirely; otherwise
        every set except those in ``disable_metrics`` (default: cAdvisor's default-disabled list)."""
        disabled = DEFAULT_DISABLED if disable_metrics is None else parse_metric_set(disable_metrics)
        enabled = parse_metric_set(enable_metrics)
        if enabled:
            return cls(enabled)
        return cls(frozenset(_KNOWN - disabled))

    def flag_value(self) -> str:
        """The enabled sets as a comma-separated list in cAdvisor's documentation order."""
        return ",".join(m for m in ALL_METRIC_SETS if m in self.enabled)
