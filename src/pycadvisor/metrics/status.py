"""Families emitted for every container with a sample, whatever the metric sets, and the small
single-value sets ``oom_event`` and ``referenced_memory`` (lib/metrics/prometheus.go)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pycadvisor.metrics.spec import COUNTER, GAUGE, MetricSpec, Number
from pycadvisor.model.container import ContainerStats

if TYPE_CHECKING:
    from pycadvisor.metrics.source import ContainerSnapshot


def _health(s: ContainerStats) -> Number | None:
    # getContainerHealthState: healthy -> 1, no health check ("") -> -1, starting/unhealthy -> 0.
    status = s.health.status
    if status == "healthy":
        return 1
    if status == "":
        return -1
    return 0


ALWAYS_METRICS = (
    MetricSpec(
        name="container_last_seen",
        help="Last time a container was seen by the exporter",
        type=GAUGE,
        scrape_time=True,
    ),
    MetricSpec(
        name="container_health_state",
        help="The result of the container's health check",
        type=GAUGE,
        value=_health,
    ),
)


def _oom(snap: ContainerSnapshot) -> Number:
    return snap.oom_kills


OOM_METRICS = (
    MetricSpec(
        name="container_oom_events_total",
        help="Count of out of memory events observed for the container",
        type=COUNTER,
        snapshot_value=_oom,
    ),
)


REFERENCED_MEMORY_METRICS = (
    MetricSpec(
        name="container_referenced_bytes",
        help="Container referenced bytes during last measurements cycle",
        type=GAUGE,
        path=("referenced_memory",),  # smaps "Referenced:" sum, bytes; always emitted when the set is on
    ),
)
