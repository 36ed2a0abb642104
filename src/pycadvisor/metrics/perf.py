"""Perf event families: metric set ``perf_event`` (lib/metrics/prometheus.go).

``perf_stats`` entries are ``{scaling_ratio, value, name, cpu}``; with the ``percpu`` set they are
exported per CPU (``cpu="<n>"``), otherwise summed per event with ``cpu=""`` and the minimum scaling
ratio. ``perf_uncore_stats`` entries ``{scaling_ratio, value, name, socket, pmu}`` are exported as they are.
Empty unless perf events are configured (``--perf_events_config``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pycadvisor.metrics.spec import COUNTER, GAUGE, MetricSpec, Number, Sample
from pycadvisor.model.container import ContainerStats


def _per_cpu(field: str) -> Callable[[ContainerStats], Sequence[Sample]]:
    def values(s: ContainerStats) -> Sequence[Sample]:
        if not s.perf_stats:
            return ()
        return [((str(p.cpu), p.name), getattr(p, field)) for p in s.perf_stats]

    return values


def _aggregated_events(s: ContainerStats) -> Sequence[Sample]:
    if not s.perf_stats:
        return ()
    sums: dict[str, Number] = {}
    for p in s.perf_stats:
        sums[p.name] = sums.get(p.name, 0) + p.value
    return [(("", name), v) for name, v in sums.items()]


def _min_scaling_ratio(s: ContainerStats) -> Sequence[Sample]:
    if not s.perf_stats:
        return ()
    mins: dict[str, Number] = {}
    for p in s.perf_stats:
        if p.name not in mins or p.scaling_ratio < mins[p.name]:
            mins[p.name] = p.scaling_ratio
    return [(("", name), v) for name, v in mins.items()]


def _uncore(field: str) -> Callable[[ContainerStats], Sequence[Sample]]:
    def values(s: ContainerStats) -> Sequence[Sample]:
        if not s.perf_uncore_stats:
            return ()
        return [((p.name, p.pmu, str(p.socket)), getattr(p, field)) for p in s.perf_uncore_stats]

    return values


def perf_metrics(percpu: bool) -> tuple[MetricSpec, ...]:
    """The ``perf_event`` set; ``percpu`` chooses per-CPU samples over per-event aggregates."""
    return (
        MetricSpec(
            name="container_perf_events_total",
            help="Perf event metric.",
            type=COUNTER,
            extra_labels=("cpu", "event"),
            values=_per_cpu("value") if percpu else _aggregated_events,
        ),
        MetricSpec(
            name="container_perf_events_scaling_ratio",
            help="Perf event metric scaling ratio.",
            type=GAUGE,
            extra_labels=("cpu", "event"),
            values=_per_cpu("scaling_ratio") if percpu else _min_scaling_ratio,
        ),
        MetricSpec(
            name="container_perf_uncore_events_total",
            help="Perf uncore event metric.",
            type=COUNTER,
            extra_labels=("event", "pmu", "socket"),
            values=_uncore("value"),
        ),
        MetricSpec(
            name="container_perf_uncore_events_scaling_ratio",
            help="Perf uncore event metric scaling ratio.",
            type=GAUGE,
            extra_labels=("event", "pmu", "socket"),
            values=_uncore("scaling_ratio"),
        ),
    )
