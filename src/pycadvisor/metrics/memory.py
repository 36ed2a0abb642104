"""Memory families: metric sets ``memory``, ``memory_numa``, ``hugetlb``, ``cpuset`` (lib/metrics/prometheus.go)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pycadvisor.metrics.spec import COUNTER, GAUGE, MetricSpec, Sample
from pycadvisor.model.container import ContainerStats


def _mem(path: str) -> tuple[str, ...]:
    # Declared (spec.py `path`): an absent memory member gives no series.
    return ("memory", *path.split("."))


# Declared (spec.py `samples`): an absent memory member gives no series.
_FAILURES = (
    (("pgfault", "container"), ("memory", "container_data", "pgfault")),
    (("pgfault", "hierarchy"), ("memory", "hierarchical_data", "pgfault")),
    (("pgmajfault", "container"), ("memory", "container_data", "pgmajfault")),
    (("pgmajfault", "hierarchy"), ("memory", "hierarchical_data", "pgmajfault")),
)


def _gauge(name: str, help: str, path: str) -> MetricSpec:
    return MetricSpec(name=name, help=help, type=GAUGE, path=_mem(path))


def _counter(name: str, help: str, path: str) -> MetricSpec:
    return MetricSpec(name=name, help=help, type=COUNTER, path=_mem(path))


MEMORY_METRICS = (
    _gauge("container_memory_cache", "Number of bytes of page cache memory.", "cache"),
    _gauge("container_memory_rss", "Size of RSS in bytes.", "rss"),
    _gauge("container_memory_kernel_usage", "Size of kernel memory allocated in bytes.", "kernel"),
    _gauge("container_memory_mapped_file", "Size of memory mapped files in bytes.", "mapped_file"),
    _gauge("container_memory_swap", "Container swap usage in bytes.", "swap"),
    _counter("container_memory_failcnt", "Number of memory usage hits limits", "failcnt"),
    _gauge(
        "container_memory_usage_bytes",
        "Current memory usage in bytes, including all memory regardless of when it was accessed",
        "usage",
    ),
    _gauge("container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes", "max_usage"),
    _gauge("container_memory_working_set_bytes", "Current working set in bytes.", "working_set"),
    _gauge(
        "container_memory_total_active_file_bytes",
        "Current total active file in bytes.",
        "total_active_file",
    ),
    _gauge(
        "container_memory_total_inactive_file_bytes",
        "Current total inactive file in bytes.",
        "total_inactive_file",
    ),
    MetricSpec(
        name="container_memory_failures_total",
        help="Cumulative count of memory allocation failures.",
        type=COUNTER,
        extra_labels=("failure_type", "scope"),
        samples=_FAILURES,
        safe_labels=True,
    ),
    _counter(
        "container_memory_events_high_total",
        "Cumulative count of memory.high throttle events for the container",
        "events.high",
    ),
    _counter(
        "container_memory_events_max_total",
        "Cumulative count of memory.max limit hit events for the container",
        "events.max",
    ),
    _gauge(
        "container_memory_file_dirty_bytes",
        "Number of bytes of file cache that has been modified but not yet written back to disk.",
        "file_dirty",
    ),
    _gauge(
        "container_memory_file_writeback_bytes",
        "Number of bytes of file cache that is currently being written back to disk.",
        "file_writeback",
    ),
    _counter(
        "container_memory_pgscan_total",
        "Cumulative number of pages scanned by the page reclaim algorithm.",
        "pgscan",
    ),
    _counter(
        "container_memory_pgsteal_total",
        "Cumulative number of pages reclaimed by the page reclaim algorithm.",
        "pgsteal",
    ),
    _counter(
        "container_memory_workingset_refault_file_total",
        "Cumulative number of refaults of previously evicted file pages.",
        "workingset_refault_file",
    ),
    _counter(
        "container_memory_workingset_refault_anon_total",
        "Cumulative number of refaults of previously evicted anonymous pages.",
        "workingset_refault_anon",
    ),
)


CPUSET_METRICS = (
    # cpuset.memory_migrate (cgroup v1 only); always emitted, as in cAdvisor
    MetricSpec(
        name="container_memory_migrate", help="Memory migrate status.", type=GAUGE, path=("cpuset", "memory_migrate")
    ),
)


def _numa(s: ContainerStats) -> Sequence[Sample]:
    # memory.numa_stat per node (cgroup v1): labels (node, scope, type).
    m = s.memory
    if m is None:
        return ()
    out: list[Sample] = []
    for scope, data in (("container", m.container_data), ("hierarchy", m.hierarchical_data)):
        numa = data.numa_stats
        for kind, per_node in (("file", numa.file), ("anon", numa.anon), ("unevictable", numa.unevictable)):
            for node, pages in per_node.items():
                out.append(((str(node), scope, kind), pages))
    return out


MEMORY_NUMA_METRICS = (
    MetricSpec(
        name="container_memory_numa_pages",
        help="Number of used pages per NUMA node",
        type=GAUGE,
        extra_labels=("node", "scope", "type"),
        values=_numa,
        safe_labels=True,
    ),
)


def _hugetlb(read: Callable[[int, int, int], int]) -> Callable[[ContainerStats], Sequence[Sample]]:
    def values(s: ContainerStats) -> Sequence[Sample]:
        h = s.hugetlb
        if not h:
            return ()
        return [((size,), read(v.usage, v.max_usage, v.failcnt)) for size, v in h.items()]

    return values


HUGETLB_METRICS = (
    MetricSpec(
        name="container_hugetlb_failcnt",
        help="Number of hugepage usage hits limits",
        type=COUNTER,
        extra_labels=("pagesize",),
        values=_hugetlb(lambda usage, max_usage, failcnt: failcnt),
    ),
    MetricSpec(
        name="container_hugetlb_usage_bytes",
        help="Current hugepage usage in bytes",
        type=GAUGE,
        extra_labels=("pagesize",),
        values=_hugetlb(lambda usage, max_usage, failcnt: usage),
    ),
    MetricSpec(
        name="container_hugetlb_max_usage_bytes",
        help="Maximum hugepage usage recorded in bytes",
        type=GAUGE,
        extra_labels=("pagesize",),
        values=_hugetlb(lambda usage, max_usage, failcnt: max_usage),
    ),
)
