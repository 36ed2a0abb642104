"""Process families: metric set ``process`` (lib/metrics/prometheus.go).

Sources: pids of the container's cgroup, their /proc fd and socket counts, pids.current/pids.max,
and ``/proc/<init pid>/limits`` ``Max open files`` (ulimit ``max_open_files``, -1 = unlimited).
"""

from __future__ import annotations

from collections.abc import Sequence

from pycadvisor.metrics.spec import GAUGE, MetricSpec, Sample
from pycadvisor.model.container import ContainerStats


def _proc(field: str) -> tuple[str, ...]:
    # Declared (spec.py `path`): an absent processes member gives no series.
    return ("processes", field)


def _ulimits(s: ContainerStats) -> Sequence[Sample]:
    p = s.processes
    if p is None:
        return ()
    return [((u.name,), u.soft_limit) for u in p.ulimits]


PROCESS_METRICS = (
    MetricSpec(
        name="container_processes",
        help="Number of processes running inside the container.",
        type=GAUGE,
        path=_proc("process_count"),
    ),
    MetricSpec(
        name="container_file_descriptors",
        help="Number of open file descriptors for the container.",
        type=GAUGE,
        path=_proc("fd_count"),
    ),
    MetricSpec(
        name="container_sockets",
        help="Number of open sockets for the container.",
        type=GAUGE,
        path=_proc("socket_count"),
    ),
    MetricSpec(
        name="container_threads_max",
        help="Maximum number of threads allowed inside the container, infinity if value is zero",
        type=GAUGE,
        path=_proc("threads_max"),
    ),
    MetricSpec(
        name="container_threads",
        help="Number of threads running inside the container",
        type=GAUGE,
        path=_proc("threads_current"),
    ),
    MetricSpec(
        name="container_ulimits_soft",
        help="Soft ulimit values for the container root process. Unlimited if -1, except priority and nice",
        type=GAUGE,
        extra_labels=("ulimit",),
        values=_ulimits,
    ),
)
