"""cAdvisor's info/v2 types and their conversion from v1 (``info/v2/conversion.go``), wire quirks kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pycadvisor.model.base import STRUCT, jfield, opt, time_field
from pycadvisor.model.container import (
    ContainerInfo,
    ContainerSpec,
    ContainerStats,
    CpuSpec,
    CpuStats,
    DiskIoStats,
    FsStats,
    HugetlbStats,
    InterfaceStats,
    LoadStats,
    MemorySpec,
    MemoryStats,
    PerfStat,
    PerfUncoreStat,
    ProcessSpec,
    ProcessStats,
    ResctrlStats,
)
from pycadvisor.model.machine import MachineFsStats, machine_fs_stats

# The ``type`` of a request (v2 ``RequestOptions.IdType``, ``/metrics?type=``): a cgroup name, or a runtime
# namespace whose aliases the path names. cAdvisor takes name, docker and podman (info/v2/container.go,
# cmd/internal/api/versions.go GetRequestOptions); the other runtimes it names containers of
# (containerd, crio, and mesos until cAdvisor removed it, cmd/internal/container/mesos/factory.go MesosNamespace)
# are accepted too.
ID_TYPES = ("name", "docker", "podman", "containerd", "crio", "mesos")


@dataclass(slots=True, kw_only=True)
class ContainerSpecV2:
    creation_time: int = time_field()
    start_time: int = time_field()
    aliases: list[str] = jfield(omitempty=True, default_factory=list)
    namespace: str = jfield(omitempty=True, default="")
    labels: dict[str, str] = jfield(omitempty=True, default_factory=dict)
    envs: dict[str, str] = jfield(omitempty=True, default_factory=dict)
    has_cpu: bool = False
    cpu: CpuSpec = field(default_factory=CpuSpec)
    has_memory: bool = False
    memory: MemorySpec = field(default_factory=MemorySpec)
    has_hugetlb: bool = False
    has_custom_metrics: bool = False
    custom_metrics: list[Any] = jfield(omitempty=True, default_factory=list)
    has_processes: bool = False
    processes: ProcessSpec = field(default_factory=ProcessSpec)
    has_network: bool = False
    has_filesystem: bool = False
    has_diskio: bool = False
    image: str = jfield(omitempty=True, default="")


@dataclass(slots=True, kw_only=True)
class CpuInstUsage:
    total: int = 0  # ns per second
    per_cpu_usage: list[int] = jfield(omitempty=True, default_factory=list)
    user: int = 0
    system: int = 0


@dataclass(slots=True, kw_only=True)
class CpuInstStats:
    usage: CpuInstUsage = field(default_factory=CpuInstUsage)


@dataclass(slots=True, kw_only=True)
class NetworkStatsV2:
    interfaces: list[InterfaceStats] = jfield(omitempty=True, default_factory=list)
    tcp: dict[str, int] = jfield(kind=STRUCT, default_factory=dict)
    tcp6: dict[str, int] = jfield(kind=STRUCT, default_factory=dict)
    udp: dict[str, int] = jfield(kind=STRUCT, default_factory=dict)
    udp6: dict[str, int] = jfield(kind=STRUCT, default_factory=dict)
    tcp_advanced: dict[str, int] = jfield(kind=STRUCT, default_factory=dict)


@dataclass(slots=True, kw_only=True)
class FilesystemStatsV2:
    totalUsageBytes: int | None = opt()
    baseUsageBytes: int | None = opt()
    containter_inode_usage: int | None = opt()  # sic: cAdvisor's typo is on the wire


@dataclass(slots=True, kw_only=True)
class ContainerStatsV2:
    timestamp: int = time_field()
    cpu: CpuStats | None = opt()
    cpu_inst: CpuInstStats | None = opt()
    diskio: DiskIoStats | None = opt()
    memory: MemoryStats | None = opt()
    hugetlb: dict[str, HugetlbStats] | None = opt()
    network: NetworkStatsV2 | None = opt()
    processes: ProcessStats | None = opt()
    filesystem: FilesystemStatsV2 | None = opt()
    load_stats: LoadStats | None = opt()  # never set, as cAdvisor (info/v2 ContainerStats.Load)
    accelerators: list[dict[str, object]] | None = opt()
    custom_metrics: Any = opt()
    perf_stats: list[PerfStat] | None = opt()
    perf_uncore_stats: list[PerfUncoreStat] | None = opt()
    referenced_memory: int = jfield(omitempty=True, default=0)
    resctrl: ResctrlStats = field(default_factory=ResctrlStats)


@dataclass(slots=True, kw_only=True)
class DeprecatedContainerStats:
    timestamp: int = time_field()
    has_cpu: bool = False
    cpu: CpuStats = field(default_factory=CpuStats)
    cpu_inst: CpuInstStats | None = opt()
    has_diskio: bool = False
    diskio: DiskIoStats = field(default_factory=DiskIoStats)
    has_memory: bool = False
    memory: MemoryStats = field(default_factory=MemoryStats)
    has_hugetlb: bool = False
    hugetlb: dict[str, HugetlbStats] | None = opt()
    has_network: bool = False
    network: NetworkStatsV2 = field(default_factory=NetworkStatsV2)
    has_processes: bool = False  # always false on the wire: cAdvisor never copies it
    processes: ProcessStats = field(default_factory=ProcessStats)
    has_filesystem: bool = False
    filesystem: list[FsStats] | None = opt()
    has_load: bool = False
    load_stats: dict[str, int] = jfield(
        kind=STRUCT,
        default_factory=lambda: {
            "nr_sleeping": 0, "nr_running": 0, "nr_stopped": 0, "nr_uninterruptible": 0, "nr_io_wait": 0,
        },
    )  # fmt: skip
    has_custom_metrics: bool = False
    custom_metrics: Any = opt()
    perf_stats: list[PerfStat] | None = opt()
    perf_uncore_stats: list[PerfUncoreStat] | None = opt()
    referenced_memory: int = jfield(omitempty=True, default=0)
    resctrl: ResctrlStats = field(default_factory=ResctrlStats)


@dataclass(slots=True, kw_only=True)
class Percentiles:
    present: bool = False
    mean: int = 0
    std: int = 0
    max: int = 0
    fifty: int = 0
    ninety: int = 0
    ninetyfive: int = 0
    count: int = 0


@dataclass(slots=True, kw_only=True)
class Usage:
    percent_complete: int = 0
    cpu: Percentiles = field(default_factory=Percentiles)
    memory: Percentiles = field(default_factory=Percentiles)


@dataclass(slots=True, kw_only=True)
class InstantUsage:
    cpu: int = 0  # millicores
    memory: int = 0  # working set bytes


@dataclass(slots=True, kw_only=True)
class DerivedStats:
    timestamp: int = time_field()
    latest_usage: InstantUsage = field(default_factory=InstantUsage)
    minute_usage: Usage = field(default_factory=Usage)
    hour_usage: Usage = field(default_factory=Usage)
    day_usage: Usage = field(default_factory=Usage)


# ---------------------------------------------------------------------------- conversion


def spec_v2(info: ContainerInfo) -> ContainerSpecV2:
    """v1 spec -> v2 spec: quota, period and processes.limit are not copied (cAdvisor quirk)."""
    s = info.spec
    return ContainerSpecV2(
        creation_time=s.creation_time,
        start_time=s.start_time,
        aliases=list(info.aliases),
        namespace=info.namespace,
        labels=dict(s.labels),
        envs=dict(s.envs),
        has_cpu=s.has_cpu,
        cpu=CpuSpec(limit=s.cpu.limit, max_limit=s.cpu.max_limit, mask=s.cpu.mask),
        has_memory=s.has_memory,
        memory=s.memory,
        has_hugetlb=s.has_hugetlb,
        has_custom_metrics=s.has_custom_metrics,
        custom_metrics=list(s.custom_metrics),
        has_processes=s.has_processes,
        processes=ProcessSpec(),
        has_network=s.has_network,
        has_filesystem=s.has_filesystem,
        has_diskio=s.has_diskio,
        image=s.image,
    )


def cpu_inst(prev: ContainerStats | None, cur: ContainerStats) -> CpuInstStats | None:
    """Instantaneous CPU rates (ns per second) between two samples, as ``InstCpuStats`` does."""
    if prev is None or prev.cpu is None or cur.cpu is None:
        return None
    dt = cur.timestamp - prev.timestamp
    if dt <= 0:
        return None
    a, b = prev.cpu.usage, cur.cpu.usage

    def rate(x: int, y: int) -> int:
        return max(y - x, 0) * 1_000_000_000 // dt

    per = [rate(x, y) for x, y in zip(a.per_cpu_usage, b.per_cpu_usage, strict=False)] if (
        len(a.per_cpu_usage) == len(b.per_cpu_usage)) else []  # fmt: skip
    return CpuInstStats(
        usage=CpuInstUsage(
            total=rate(a.total, b.total),
            per_cpu_usage=per,
            user=rate(a.user, b.user),
            system=rate(a.system, b.system),
        )
    )


def _net_v2(st: ContainerStats) -> NetworkStatsV2:
    n = st.network
    if n is None:
        return NetworkStatsV2()
    return NetworkStatsV2(interfaces=n.interfaces, tcp=n.tcp, tcp6=n.tcp6, udp=n.udp, udp6=n.udp6,
                          tcp_advanced=n.tcp_advanced)  # fmt: skip


def stats_v2(spec: ContainerSpec, prev: ContainerStats | None, st: ContainerStats) -> ContainerStatsV2:
    """v1 sample -> ``/api/v2.1/stats`` sample; members only where the spec says the container has them."""
    out = ContainerStatsV2(timestamp=st.timestamp, resctrl=st.resctrl, referenced_memory=st.referenced_memory)
    if spec.has_cpu:
        out.cpu = st.cpu
        out.cpu_inst = cpu_inst(prev, st)
    if spec.has_memory:
        out.memory = st.memory
    if spec.has_hugetlb:
        out.hugetlb = st.hugetlb
    if spec.has_network and st.network is not None:
        n = _net_v2(st)
        out.network = NetworkStatsV2(interfaces=n.interfaces, tcp=n.tcp, tcp6=n.tcp6)
    if spec.has_processes:
        out.processes = st.processes
    if spec.has_diskio:
        out.diskio = st.diskio
    if spec.has_filesystem and st.filesystem and len(st.filesystem) == 1:
        fs = st.filesystem[0]
        out.filesystem = FilesystemStatsV2(
            totalUsageBytes=fs.usage, baseUsageBytes=fs.base_usage, containter_inode_usage=fs.inodes
        )
    if spec.has_custom_metrics:
        out.custom_metrics = st.custom_metrics
    _copy_perf(st, out)
    return out


def _copy_perf(st: ContainerStats, out: ContainerStatsV2 | DeprecatedContainerStats) -> None:
    """Whatever the spec says (info/v2/conversion.go ContainerStatsFromV1, DeprecatedStatsFromV1)."""
    if st.perf_stats:
        out.perf_stats = st.perf_stats
    if st.perf_uncore_stats:
        out.perf_uncore_stats = st.perf_uncore_stats


def deprecated_stats(spec: ContainerSpec, prev: ContainerStats | None, st: ContainerStats) -> DeprecatedContainerStats:
    """v1 sample -> ``/api/v2.0/stats`` sample (``DeprecatedContainerStats``)."""
    out = DeprecatedContainerStats(
        timestamp=st.timestamp,
        has_cpu=spec.has_cpu,
        has_diskio=spec.has_diskio,
        has_memory=spec.has_memory,
        has_hugetlb=spec.has_hugetlb,
        has_network=spec.has_network,
        has_filesystem=spec.has_filesystem,
        has_custom_metrics=spec.has_custom_metrics,
        referenced_memory=st.referenced_memory,
        resctrl=st.resctrl,
    )
    if spec.has_cpu and st.cpu is not None:
        out.cpu = st.cpu
        out.cpu_inst = cpu_inst(prev, st)
    if spec.has_diskio and st.diskio is not None:
        out.diskio = st.diskio
    if spec.has_memory and st.memory is not None:
        out.memory = st.memory
    if spec.has_hugetlb:
        out.hugetlb = st.hugetlb
    if spec.has_network and st.network is not None:
        out.network = NetworkStatsV2(interfaces=st.network.interfaces, tcp=st.network.tcp,
                                     tcp6=st.network.tcp6, udp=st.network.udp, udp6=st.network.udp6,
                                     tcp_advanced=st.network.tcp_advanced)  # fmt: skip
    if spec.has_filesystem:
        out.filesystem = st.filesystem
    if spec.has_custom_metrics:
        out.custom_metrics = st.custom_metrics
    _copy_perf(st, out)
    return out


@dataclass(slots=True, kw_only=True)
class MachineStats:
    """``/api/v2.1/machinestats``: the root container's samples in machine terms."""

    timestamp: int = time_field()
    cpu: CpuStats | None = opt()
    cpu_inst: CpuInstStats | None = opt()
    memory: MemoryStats | None = opt()
    network: NetworkStatsV2 | None = opt()
    filesystem: list[MachineFsStats] | None = opt()
    load_stats: LoadStats | None = opt()  # never set, as cAdvisor (info/v2 MachineStats.Load)


def machine_stats(prev: ContainerStats | None, st: ContainerStats) -> MachineStats:
    """One root sample -> ``MachineStats`` (cAdvisor ``cmd/internal/api/versions.go``: machinestats)."""
    out = MachineStats(timestamp=st.timestamp, cpu=st.cpu, cpu_inst=cpu_inst(prev, st), memory=st.memory)
    if st.network is not None:
        out.network = NetworkStatsV2(interfaces=st.network.interfaces, tcp=st.network.tcp, tcp6=st.network.tcp6)
    if st.filesystem:
        out.filesystem = machine_fs_stats(st.filesystem)
    return out
