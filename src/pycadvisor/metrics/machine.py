"""Machine families (lib/metrics/prometheus_machine.go): base labels ``boot_id``, ``machine_id``,
``system_uuid``, every sample timestamped with ``MachineInfo.timestamp``; the topology families only
with the ``cpu_topology`` metric set."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pycadvisor.metrics import sets
from pycadvisor.metrics.source import MachineInfoLike
from pycadvisor.metrics.spec import GAUGE, Sample


@dataclass(frozen=True, slots=True, kw_only=True)
class MachineMetricSpec:
    name: str
    help: str
    extra_labels: tuple[str, ...] = ()  # sorted by name; values come in this order
    values: Callable[[MachineInfoLike], Sequence[Sample]]
    condition: Callable[[MachineInfoLike], bool] | None = None
    type: str = GAUGE  # every machine family is a gauge

    def __post_init__(self) -> None:
        if list(self.extra_labels) != sorted(self.extra_labels):
            raise ValueError(f"{self.name}: extra_labels must be sorted by name")


def _one(read: Callable[[MachineInfoLike], int]) -> Callable[[MachineInfoLike], Sequence[Sample]]:
    def values(m: MachineInfoLike) -> Sequence[Sample]:
        return (((), read(m)),)

    return values


def _memory_by_type(dimm_count: bool) -> Callable[[MachineInfoLike], Sequence[Sample]]:
    def values(m: MachineInfoLike) -> Sequence[Sample]:
        return [((kind,), info.dimm_count if dimm_count else info.capacity) for kind, info in m.memory_by_type.items()]

    return values


def _nvm_capacity(m: MachineInfoLike) -> Sequence[Sample]:
    return (
        (("app_direct_mode",), m.nvm.app_direct_mode_capacity),
        (("memory_mode",), m.nvm.memory_mode_capacity),
    )


def _caches(m: MachineInfoLike) -> Sequence[Sample]:
    # labels (core_id, level, node_id, type); node-level caches have core_id="".
    out: list[Sample] = []
    for node in m.topology or ():
        node_id = str(node.node_id)
        for core in node.cores or ():
            core_id = str(core.core_id)
            for c in core.caches or ():
                out.append(((core_id, str(c.level), node_id, c.type), c.size))
        for c in node.caches or ():
            out.append((("", str(c.level), node_id, c.type), c.size))
    return out


def _thread_siblings(m: MachineInfoLike) -> Sequence[Sample]:
    # labels (core_id, node_id, thread_id): the number of threads of the thread's core.
    out: list[Sample] = []
    for node in m.topology or ():
        node_id = str(node.node_id)
        for core in node.cores or ():
            core_id = str(core.core_id)
            siblings = len(core.thread_ids)
            for t in core.thread_ids:
                out.append(((core_id, node_id, str(t)), siblings))
    return out


def _node_memory(m: MachineInfoLike) -> Sequence[Sample]:
    return [((str(node.node_id),), node.memory) for node in m.topology or ()]


def _node_hugepages(m: MachineInfoLike) -> Sequence[Sample]:
    # labels (node_id, page_size); page_size in kB as in MachineInfo.
    out: list[Sample] = []
    for node in m.topology or ():
        node_id = str(node.node_id)
        for hp in node.hugepages or ():
            out.append(((node_id, str(hp.page_size)), hp.num_pages))
    return out


def _node_distance(m: MachineInfoLike) -> Sequence[Sample]:
    # labels (node_id, target_node_id): node.distances[i] is the distance to node i.
    out: list[Sample] = []
    for node in m.topology or ():
        node_id = str(node.node_id)
        for target, d in enumerate(node.distances or ()):
            out.append(((node_id, str(target)), d))
    return out


def _has_memory_by_type(m: MachineInfoLike) -> bool:
    return len(m.memory_by_type) != 0


BASE_MACHINE_METRICS = (
    MachineMetricSpec(
        name="machine_cpu_physical_cores",
        help="Number of physical CPU cores.",
        values=_one(lambda m: m.num_physical_cores),
    ),
    MachineMetricSpec(
        name="machine_cpu_cores", help="Number of logical CPU cores.", values=_one(lambda m: m.num_cores)
    ),
    MachineMetricSpec(name="machine_cpu_sockets", help="Number of CPU sockets.", values=_one(lambda m: m.num_sockets)),
    MachineMetricSpec(
        name="machine_cpu_books",
        help="Number of CPU books.",
        values=_one(lambda m: int(getattr(m, "num_books", 0) or 0)),
    ),
    MachineMetricSpec(
        name="machine_cpu_drawers",
        help="Number of CPU drawers.",
        values=_one(lambda m: int(getattr(m, "num_drawers", 0) or 0)),
    ),
    MachineMetricSpec(
        name="machine_memory_bytes",
        help="Amount of memory installed on the machine.",
        values=_one(lambda m: m.memory_capacity),
    ),
    MachineMetricSpec(
        name="machine_swap_bytes",
        help="Amount of swap memory available on the machine.",
        values=_one(lambda m: m.swap_capacity),
    ),
    MachineMetricSpec(
        name="machine_dimm_count",
        help="Number of RAM DIMM (all types memory modules) value labeled by dimm type.",
        extra_labels=("type",),
        values=_memory_by_type(dimm_count=True),
        condition=_has_memory_by_type,
    ),
    MachineMetricSpec(
        name="machine_dimm_capacity_bytes",
        help="Total RAM DIMM capacity (all types memory modules) value labeled by dimm type.",
        extra_labels=("type",),
        values=_memory_by_type(dimm_count=False),
        condition=_has_memory_by_type,
    ),
    MachineMetricSpec(
        name="machine_nvm_capacity",
        help="NVM capacity value labeled by NVM mode (memory mode or app direct mode).",
        extra_labels=("mode",),
        values=_nvm_capacity,
    ),
    MachineMetricSpec(
        name="machine_nvm_avg_power_budget_watts",
        help="NVM power budget.",
        values=_one(lambda m: m.nvm.avg_power_budget),
    ),
)

TOPOLOGY_MACHINE_METRICS = (
    MachineMetricSpec(
        name="machine_cpu_cache_capacity_bytes",
        help="Cache size in bytes assigned to NUMA node and CPU core.",
        extra_labels=("core_id", "level", "node_id", "type"),
        values=_caches,
    ),
    MachineMetricSpec(
        name="machine_thread_siblings_count",
        help="Number of CPU thread siblings.",
        extra_labels=("core_id", "node_id", "thread_id"),
        values=_thread_siblings,
    ),
    MachineMetricSpec(
        name="machine_node_memory_capacity_bytes",
        help="Amount of memory assigned to NUMA node.",
        extra_labels=("node_id",),
        values=_node_memory,
    ),
    MachineMetricSpec(
        name="machine_node_hugepages_count",
        help="Numer of hugepages assigned to NUMA node.",  # sic, cAdvisor's HELP
        extra_labels=("node_id", "page_size"),
        values=_node_hugepages,
    ),
    MachineMetricSpec(
        name="machine_node_distance",
        help="Distance between NUMA node and target NUMA node.",
        extra_labels=("node_id", "target_node_id"),
        values=_node_distance,
    ),
)


def machine_metrics(enabled: sets.MetricSets) -> tuple[MachineMetricSpec, ...]:
    """The machine families registered for ``enabled``."""
    if enabled.has(sets.CPU_TOPOLOGY):
        return BASE_MACHINE_METRICS + TOPOLOGY_MACHINE_METRICS
    return BASE_MACHINE_METRICS


def machine_base_labels(m: MachineInfoLike) -> tuple[tuple[str, str], ...]:
    """``(boot_id, machine_id, system_uuid)`` pairs, sorted by name."""
    return (("boot_id", m.boot_id), ("machine_id", m.machine_id), ("system_uuid", m.system_uuid))
