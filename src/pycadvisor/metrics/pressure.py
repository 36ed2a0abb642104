"""Pressure stall (PSI) families: metric set ``pressure`` (lib/metrics/prometheus.go).

``cpu.pressure``, ``memory.pressure``, ``io.pressure`` (cgroup v2): ``full``/``some`` ``total`` in µs,
exported in seconds; each needs its stats member (cpu, memory, diskio) to have been collected.
"""

from __future__ import annotations

from collections.abc import Callable

from pycadvisor.metrics.spec import COUNTER, US_PER_S, MetricSpec, Number
from pycadvisor.model.container import ContainerStats, PSIStats


def _cpu(s: ContainerStats) -> PSIStats | None:
    return None if s.cpu is None else s.cpu.psi


def _memory(s: ContainerStats) -> PSIStats | None:
    return None if s.memory is None else s.memory.psi


def _io(s: ContainerStats) -> PSIStats | None:
    return None if s.diskio is None else s.diskio.psi


def _full(member: Callable[[ContainerStats], PSIStats | None]) -> Callable[[ContainerStats], Number | None]:
    def value(s: ContainerStats) -> Number | None:
        psi = member(s)
        return None if psi is None else psi.full.total / US_PER_S

    return value


def _some(member: Callable[[ContainerStats], PSIStats | None]) -> Callable[[ContainerStats], Number | None]:
    def value(s: ContainerStats) -> Number | None:
        psi = member(s)
        return None if psi is None else psi.some.total / US_PER_S

    return value


PRESSURE_METRICS = (
    MetricSpec(
        name="container_pressure_cpu_stalled_seconds_total",
        help="Total time duration no tasks in the container could make progress due to CPU congestion.",
        type=COUNTER,
        value=_full(_cpu),
    ),
    MetricSpec(
        name="container_pressure_cpu_waiting_seconds_total",
        help="Total time duration tasks in the container have waited due to CPU congestion.",
        type=COUNTER,
        value=_some(_cpu),
    ),
    MetricSpec(
        name="container_pressure_memory_stalled_seconds_total",
        help="Total time duration no tasks in the container could make progress due to memory congestion.",
        type=COUNTER,
        value=_full(_memory),
    ),
    MetricSpec(
        name="container_pressure_memory_waiting_seconds_total",
        help="Total time duration tasks in the container have waited due to memory congestion.",
        type=COUNTER,
        value=_some(_memory),
    ),
    MetricSpec(
        name="container_pressure_io_stalled_seconds_total",
        help="Total time duration no tasks in the container could make progress due to IO congestion.",
        type=COUNTER,
        value=_full(_io),
    ),
    MetricSpec(
        name="container_pressure_io_waiting_seconds_total",
        help="Total time duration tasks in the container have waited due to IO congestion.",
        type=COUNTER,
        value=_some(_io),
    ),
)
