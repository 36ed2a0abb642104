"""Pressure stall (PSI) families: metric set ``pressure`` (lib/metrics/prometheus.go).

``cpu.pressure``, ``memory.pressure``, ``io.pressure`` (cgroup v2): ``full``/``some`` ``total`` in µs,
exported in seconds; each needs its stats member (cpu, memory, diskio) to have been collected.
"""

from __future__ import annotations

from pycadvisor.metrics.spec import COUNTER, US_PER_S, MetricSpec

# Declared (spec.py `path`, `scale`): the member (cpu, memory, diskio) or its psi absent gives no series.
_CPU, _MEMORY, _IO = ("cpu", "psi"), ("memory", "psi"), ("diskio", "psi")


def _full(member: tuple[str, str]) -> tuple[str, ...]:
    return (*member, "full", "total")


def _some(member: tuple[str, str]) -> tuple[str, ...]:
    return (*member, "some", "total")


PRESSURE_METRICS = (
    MetricSpec(
        name="container_pressure_cpu_stalled_seconds_total",
        help="Total time duration no tasks in the container could make progress due to CPU congestion.",
        type=COUNTER,
        path=_full(_CPU),
        scale=US_PER_S,
    ),
    MetricSpec(
        name="container_pressure_cpu_waiting_seconds_total",
        help="Total time duration tasks in the container have waited due to CPU congestion.",
        type=COUNTER,
        path=_some(_CPU),
        scale=US_PER_S,
    ),
    MetricSpec(
        name="container_pressure_memory_stalled_seconds_total",
        help="Total time duration no tasks in the container could make progress due to memory congestion.",
        type=COUNTER,
        path=_full(_MEMORY),
        scale=US_PER_S,
    ),
    MetricSpec(
        name="container_pressure_memory_waiting_seconds_total",
        help="Total time duration tasks in the container have waited due to memory congestion.",
        type=COUNTER,
        path=_some(_MEMORY),
        scale=US_PER_S,
    ),
    MetricSpec(
        name="container_pressure_io_stalled_seconds_total",
        help="Total time duration no tasks in the container could make progress due to IO congestion.",
        type=COUNTER,
        path=_full(_IO),
        scale=US_PER_S,
    ),
    MetricSpec(
        name="container_pressure_io_waiting_seconds_total",
        help="Total time duration tasks in the container have waited due to IO congestion.",
        type=COUNTER,
        path=_some(_IO),
        scale=US_PER_S,
    ),
)
