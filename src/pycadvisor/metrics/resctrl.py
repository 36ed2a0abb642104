"""Intel RDT families: metric set ``resctrl`` (lib/metrics/prometheus.go).

``resctrl.memory_bandwidth[i]`` / ``resctrl.cache[i]`` hold the values of NUMA node ``i``
(``mbm_total_bytes``, ``mbm_local_bytes``, ``llc_occupancy``); ``node_id`` is the index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pycadvisor.metrics.spec import GAUGE, MetricSpec, Number, Sample
from pycadvisor.model.container import ContainerStats


def _per_node(member: str, key: str) -> Callable[[ContainerStats], Sequence[Sample]]:
    def values(s: ContainerStats) -> Sequence[Sample]:
        out: list[Sample] = []
        for i, d in enumerate(getattr(s.resctrl, member)):
            v: Number = getattr(d, key)
            out.append(((str(i),), v))
        return out

    return values


_MBM = "statistics for container counted with RDT Memory Bandwidth Monitoring (MBM)."

RESCTRL_METRICS = (
    MetricSpec(
        name="container_memory_bandwidth_bytes",
        help="Total memory bandwidth usage " + _MBM,
        type=GAUGE,
        extra_labels=("node_id",),
        values=_per_node("memory_bandwidth", "mbm_total_bytes"),
        safe_labels=True,
    ),
    MetricSpec(
        name="container_memory_bandwidth_local_bytes",
        help="Local memory bandwidth usage " + _MBM,
        type=GAUGE,
        extra_labels=("node_id",),
        values=_per_node("memory_bandwidth", "mbm_local_bytes"),
        safe_labels=True,
    ),
    MetricSpec(
        name="container_llc_occupancy_bytes",
        help="Last level cache usage " + _MBM,
        type=GAUGE,
        extra_labels=("node_id",),
        values=_per_node("cache", "llc_occupancy"),
        safe_labels=True,
    ),
)
