"""Spec families (lib/metrics/prometheus.go ``collectContainersInfo``): emitted for every container,
with or without a sample, and never timestamped."""

from __future__ import annotations

from pycadvisor.metrics.spec import GAUGE, MetricSpec, Number
from pycadvisor.model.container import ContainerSpec

# Go's time.Time{}.Unix(): our model holds Go's zero time as 0 ns (see model/codec.py).
_GO_ZERO_TIME_UNIX = -62135596800
# specMemoryValue: limits above 2^62 mean "unlimited" (kernel-rounded MaxInt64) and are exported as 0.
_MAX_MEMORY = 1 << 62


def unix_seconds(ns: int) -> int:
    """``float64(t.Unix())`` of a model time: whole seconds, Go's zero time for 0."""
    return _GO_ZERO_TIME_UNIX if ns == 0 else ns // 1_000_000_000


def _creation(spec: ContainerSpec) -> Number | None:
    return unix_seconds(spec.creation_time)


def _start(spec: ContainerSpec) -> Number | None:
    return unix_seconds(spec.start_time or spec.creation_time)


def _cpu_period(spec: ContainerSpec) -> Number | None:
    return spec.cpu.period if spec.has_cpu else None


def _cpu_quota(spec: ContainerSpec) -> Number | None:
    return spec.cpu.quota if spec.has_cpu and spec.cpu.quota != 0 else None


def _cpu_shares(spec: ContainerSpec) -> Number | None:
    return spec.cpu.limit if spec.has_cpu else None


def _memory_value(v: int) -> int:
    return 0 if v > _MAX_MEMORY else v


def _mem_limit(spec: ContainerSpec) -> Number | None:
    return _memory_value(spec.memory.limit) if spec.has_memory else None


def _mem_swap(spec: ContainerSpec) -> Number | None:
    return _memory_value(spec.memory.swap_limit) if spec.has_memory else None


def _mem_reservation(spec: ContainerSpec) -> Number | None:
    return _memory_value(spec.memory.reservation) if spec.has_memory else None


SPEC_METRICS = (
    MetricSpec(
        name="container_creation_time_seconds",
        help="Container creation time since unix epoch in seconds.",
        type=GAUGE,
        spec_value=_creation,
    ),
    MetricSpec(
        name="container_start_time_seconds",
        help="Start time of the container since unix epoch in seconds.",
        type=GAUGE,
        spec_value=_start,
    ),
    MetricSpec(
        name="container_spec_cpu_period", help="CPU period of the container.", type=GAUGE, spec_value=_cpu_period
    ),
    MetricSpec(name="container_spec_cpu_quota", help="CPU quota of the container.", type=GAUGE, spec_value=_cpu_quota),
    MetricSpec(
        name="container_spec_cpu_shares", help="CPU share of the container.", type=GAUGE, spec_value=_cpu_shares
    ),
    MetricSpec(
        name="container_spec_memory_limit_bytes",
        help="Memory limit for the container.",
        type=GAUGE,
        spec_value=_mem_limit,
    ),
    MetricSpec(
        name="container_spec_memory_swap_limit_bytes",
        help="Memory swap limit for the container.",
        type=GAUGE,
        spec_value=_mem_swap,
    ),
    MetricSpec(
        name="container_spec_memory_reservation_limit_bytes",
        help="Memory reservation limit for the container.",
        type=GAUGE,
        spec_value=_mem_reservation,
    ),
)
