"""Which container families a scrape emits, from the enabled metric sets (cAdvisor's
``NewPrometheusCollector`` registration order: always, then per set)."""

from __future__ import annotations

from pycadvisor.metrics import sets
from pycadvisor.metrics.containerspec import SPEC_METRICS
from pycadvisor.metrics.cpu import CPU_LOAD_METRICS, SCHED_METRICS, cpu_metrics
from pycadvisor.metrics.diskio import DISK_IO_METRICS
from pycadvisor.metrics.fs import DISK_METRICS
from pycadvisor.metrics.memory import CPUSET_METRICS, HUGETLB_METRICS, MEMORY_METRICS, MEMORY_NUMA_METRICS
from pycadvisor.metrics.network import ADVTCP_METRICS, NETWORK_METRICS, TCP_METRICS, UDP_METRICS
from pycadvisor.metrics.perf import perf_metrics
from pycadvisor.metrics.pressure import PRESSURE_METRICS
from pycadvisor.metrics.process import PROCESS_METRICS
from pycadvisor.metrics.resctrl import RESCTRL_METRICS
from pycadvisor.metrics.spec import MetricSpec
from pycadvisor.metrics.status import ALWAYS_METRICS, OOM_METRICS, REFERENCED_MEMORY_METRICS


def container_metrics(enabled: sets.MetricSets) -> tuple[MetricSpec, ...]:
    """Every container family registered for ``enabled`` (spec families included)."""
    percpu = enabled.has(sets.PERCPU)
    out: list[MetricSpec] = [*ALWAYS_METRICS, *SPEC_METRICS]
    table: tuple[tuple[str, tuple[MetricSpec, ...]], ...] = (
        (sets.CPU, cpu_metrics(percpu)),
        (sets.SCHED, SCHED_METRICS),
        (sets.CPU_LOAD, CPU_LOAD_METRICS),
        (sets.HUGETLB, HUGETLB_METRICS),
        (sets.MEMORY, MEMORY_METRICS),
        (sets.CPUSET, CPUSET_METRICS),
        (sets.MEMORY_NUMA, MEMORY_NUMA_METRICS),
        (sets.DISK, DISK_METRICS),
        (sets.DISK_IO, DISK_IO_METRICS),
        (sets.NETWORK, NETWORK_METRICS),
        (sets.TCP, TCP_METRICS),
        (sets.ADVTCP, ADVTCP_METRICS),
        (sets.UDP, UDP_METRICS),
        (sets.PROCESS, PROCESS_METRICS),
        (sets.PERF_EVENT, perf_metrics(percpu)),
        (sets.REFERENCED_MEMORY, REFERENCED_MEMORY_METRICS),
        (sets.RESCTRL, RESCTRL_METRICS),
        (sets.OOM_EVENT, OOM_METRICS),
        (sets.PRESSURE, PRESSURE_METRICS),
    )
    for name, specs in table:
        if enabled.has(name):
            out.extend(specs)
    return tuple(out)


def all_container_metrics() -> tuple[MetricSpec, ...]:
    """Every family any metric-set combination can register (per-CPU variants)."""
    return container_metrics(sets.MetricSets.of(sets.ALL_METRIC_SETS))
