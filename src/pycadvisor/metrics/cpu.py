"""CPU families: metric sets ``cpu``, ``percpu``, ``sched``, ``cpuLoad`` (lib/metrics/prometheus.go)."""

from __future__ import annotations

from collections.abc import Sequence

from pycadvisor.metrics.spec import COUNTER, GAUGE, NS_PER_S, MetricSpec, Sample
from pycadvisor.model.container import ContainerSpec, ContainerStats


def _usage_per_cpu(s: ContainerStats) -> Sequence[Sample]:
    # One cpuNN sample per CPU with non-zero usage; a single cpu="total" sample when the kernel gives no
    # per-CPU breakdown (cgroup v2) and total > 0.
    if s.cpu is None:
        return ()
    per_cpu = s.cpu.usage.per_cpu_usage
    if not per_cpu:
        total = s.cpu.usage.total
        return ((("total",), total / NS_PER_S),) if total > 0 else ()
    return [((f"cpu{i:02d}",), v / NS_PER_S) for i, v in enumerate(per_cpu) if v > 0]


def _usage_total(s: ContainerStats) -> Sequence[Sample]:
    # With the `percpu` set disabled cAdvisor never collects per-CPU usage, so only cpu="total" exists.
    if s.cpu is None or s.cpu.usage.total <= 0:
        return ()
    return ((("total",), s.cpu.usage.total / NS_PER_S),)


def _has_quota(spec: ContainerSpec) -> bool:
    return spec.cpu.quota != 0


_USAGE_HELP = "Cumulative cpu time consumed in seconds."


def cpu_metrics(percpu: bool) -> tuple[MetricSpec, ...]:
    """The ``cpu`` set; ``percpu`` selects per-CPU ``cpuNN`` samples over a single ``total``."""
    return (
        MetricSpec(
            name="container_cpu_user_seconds_total",
            help="Cumulative user cpu time consumed in seconds.",
            type=COUNTER,
            path=("cpu", "usage", "user"),
            scale=NS_PER_S,
        ),
        MetricSpec(
            name="container_cpu_system_seconds_total",
            help="Cumulative system cpu time consumed in seconds.",
            type=COUNTER,
            path=("cpu", "usage", "system"),
            scale=NS_PER_S,
        ),
        MetricSpec(
            name="container_cpu_usage_seconds_total",
            help=_USAGE_HELP,
            type=COUNTER,
            extra_labels=("cpu",),
            values=_usage_per_cpu if percpu else _usage_total,
            safe_labels=True,
        ),
        MetricSpec(
            name="container_cpu_cfs_periods_total",
            help="Number of elapsed enforcement period intervals.",
            type=COUNTER,
            path=("cpu", "cfs", "periods"),
            condition=_has_quota,
        ),
        MetricSpec(
            name="container_cpu_cfs_throttled_periods_total",
            help="Number of throttled period intervals.",
            type=COUNTER,
            path=("cpu", "cfs", "throttled_periods"),
            condition=_has_quota,
        ),
        MetricSpec(
            name="container_cpu_cfs_throttled_seconds_total",
            help="Total time duration the container has been throttled.",
            type=COUNTER,
            path=("cpu", "cfs", "throttled_time"),
            scale=NS_PER_S,
            condition=_has_quota,
        ),
        MetricSpec(
            name="container_cpu_cfs_burst_periods_total",
            help="Number of periods when burst occurs.",
            type=COUNTER,
            path=("cpu", "cfs", "bursts_periods"),
            condition=_has_quota,
        ),
        MetricSpec(
            name="container_cpu_cfs_burst_seconds_total",
            help="Total time duration the container has been bursted.",
            type=COUNTER,
            path=("cpu", "cfs", "burst_time"),
            scale=NS_PER_S,
            condition=_has_quota,
        ),
    )


SCHED_METRICS = (
    MetricSpec(
        name="container_cpu_schedstat_run_seconds_total",
        help="Time duration the processes of the container have run on the CPU.",
        type=COUNTER,
        path=("cpu", "schedstat", "run_time"),
        scale=NS_PER_S,
    ),
    MetricSpec(
        name="container_cpu_schedstat_runqueue_seconds_total",
        help="Time duration processes of the container have been waiting on a runqueue.",
        type=COUNTER,
        path=("cpu", "schedstat", "runqueue_time"),
        scale=NS_PER_S,
    ),
    MetricSpec(
        name="container_cpu_schedstat_run_periods_total",
        help="Number of times processes of the cgroup have run on the cpu",
        type=COUNTER,
        path=("cpu", "schedstat", "run_periods"),
    ),
)


# Declared (spec.py `samples`): task_stats is always present; real data only with --enable_load_reader (cgroup v1
# netlink).
_TASKS_STATE = (
    (("iowaiting",), ("task_stats", "nr_io_wait")),
    (("running",), ("task_stats", "nr_running")),
    (("sleeping",), ("task_stats", "nr_sleeping")),
    (("stopped",), ("task_stats", "nr_stopped")),
    (("uninterruptible",), ("task_stats", "nr_uninterruptible")),
)


CPU_LOAD_METRICS = (
    MetricSpec(
        name="container_cpu_load_average_10s",
        help="Value of container cpu load average over the last 10 seconds.",
        type=GAUGE,
        path=("cpu", "load_average"),  # load x 1000, exported as stored
    ),
    MetricSpec(
        name="container_cpu_load_d_average_10s",
        help="Value of container cpu load.d average over the last 10 seconds.",
        type=GAUGE,
        path=("cpu", "load_d_average"),
    ),
    MetricSpec(
        name="container_tasks_state",
        help="Number of tasks in given state",
        type=GAUGE,
        extra_labels=("state",),
        samples=_TASKS_STATE,
        safe_labels=True,
    ),
)
