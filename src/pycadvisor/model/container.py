"""cAdvisor's info/v1 container types (``lib/model/container.go``), Go field order kept.

Units follow cAdvisor: CPU times in nanoseconds, memory in bytes, times as int ns since the epoch.
A member that was not collected is ``None`` (omitted on the wire), never a fake zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pycadvisor.model.base import STRUCT, jfield, opt, time_field

# ---------------------------------------------------------------- spec


@dataclass(slots=True, kw_only=True)
class CpuSpec:
    limit: int = 0  # relative shares (cpu.shares; v2 derived from cpu.weight)
    max_limit: int = 0  # always 0 in cAdvisor
    mask: str = jfield(omitempty=True, default="")  # allowed CPUs, e.g. "0-7"
    quota: int = jfield(omitempty=True, default=0)  # µs per period; 0 = unlimited
    period: int = jfield(omitempty=True, default=0)  # µs


@dataclass(slots=True, kw_only=True)
class MemorySpec:
    limit: int = jfield(omitempty=True, default=0)  # bytes
    reservation: int = jfield(omitempty=True, default=0)  # bytes
    swap_limit: int = jfield(omitempty=True, default=0)  # bytes


@dataclass(slots=True, kw_only=True)
class ProcessSpec:
    limit: int = jfield(omitempty=True, default=0)  # pids.max; 2^64-1 when "max"


@dataclass(slots=True, kw_only=True)
class MetricSpec:
    name: str
    type: str  # "gauge" | "cumulative"
    format: str  # "int" | "float"
    units: str


@dataclass(slots=True, kw_only=True)
class ContainerSpec:
    creation_time: int = time_field()
    start_time: int = time_field()
    labels: dict[str, str] = jfield(omitempty=True, default_factory=dict)
    envs: dict[str, str] = jfield(omitempty=True, default_factory=dict)
    has_cpu: bool = False
    cpu: CpuSpec = field(default_factory=CpuSpec)
    has_memory: bool = False
    memory: MemorySpec = field(default_factory=MemorySpec)
    has_hugetlb: bool = False
    has_network: bool = False
    has_processes: bool = False
    processes: ProcessSpec = field(default_factory=ProcessSpec)
    has_filesystem: bool = False
    has_diskio: bool = False
    has_custom_metrics: bool = False
    custom_metrics: list[MetricSpec] = jfield(omitempty=True, default_factory=list)
    image: str = jfield(omitempty=True, default="")


# ---------------------------------------------------------------- stats: cpu


@dataclass(slots=True, kw_only=True)
class CpuUsage:
    total: int = 0  # ns
    per_cpu_usage: list[int] = jfield(omitempty=True, default_factory=list)  # ns per CPU (cgroup v1 only)
    user: int = 0  # ns
    system: int = 0  # ns


@dataclass(slots=True, kw_only=True)
class CpuCFS:
    periods: int = 0
    throttled_periods: int = 0
    throttled_time: int = 0  # ns
    bursts_periods: int = 0
    burst_time: int = 0  # ns


@dataclass(slots=True, kw_only=True)
class CpuSchedstat:
    run_time: int = 0  # ns
    runqueue_time: int = 0  # ns
    run_periods: int = 0


@dataclass(slots=True, kw_only=True)
class PSIData:
    total: int = 0  # µs stalled
    avg10: float = 0.0  # percent
    avg60: float = 0.0
    avg300: float = 0.0


@dataclass(slots=True, kw_only=True)
class PSIStats:
    full: PSIData = field(default_factory=PSIData)
    some: PSIData = field(default_factory=PSIData)


@dataclass(slots=True, kw_only=True)
class CpuStats:
    usage: CpuUsage = field(default_factory=CpuUsage)
    cfs: CpuCFS = field(default_factory=CpuCFS)
    schedstat: CpuSchedstat = field(default_factory=CpuSchedstat)
    load_average: int = 0  # load x 1000
    load_d_average: int = 0  # load x 1000
    psi: PSIStats = field(default_factory=PSIStats)


# ---------------------------------------------------------------- stats: block IO


@dataclass(slots=True, kw_only=True)
class PerDiskStats:
    device: str = ""  # /dev/<name> from the disk map, "" when unknown
    major: int = 0
    minor: int = 0
    stats: dict[str, int] = field(default_factory=dict)  # op -> value


@dataclass(slots=True, kw_only=True)
class DiskIoStats:
    io_service_bytes: list[PerDiskStats] = jfield(omitempty=True, default_factory=list)
    io_serviced: list[PerDiskStats] = jfield(omitempty=True, default_factory=list)
    io_queued: list[PerDiskStats] = jfield(omitempty=True, default_factory=list)
    sectors: list[PerDiskStats] = jfield(omitempty=True, default_factory=list)
    io_service_time: list[PerDiskStats] = jfield(omitempty=True, default_factory=list)
    io_wait_time: list[PerDiskStats] = jfield(omitempty=True, default_factory=list)
    io_merged: list[PerDiskStats] = jfield(omitempty=True, default_factory=list)
    io_time: list[PerDiskStats] = jfield(omitempty=True, default_factory=list)
    io_cost_usage: list[PerDiskStats] = jfield(omitempty=True, default_factory=list)
    io_cost_wait: list[PerDiskStats] = jfield(omitempty=True, default_factory=list)
    io_cost_indebt: list[PerDiskStats] = jfield(omitempty=True, default_factory=list)
    io_cost_indelay: list[PerDiskStats] = jfield(omitempty=True, default_factory=list)
    psi: PSIStats = field(default_factory=PSIStats)


# ---------------------------------------------------------------- stats: memory


@dataclass(slots=True, kw_only=True)
class MemoryNumaStats:
    file: dict[int, int] = jfield(omitempty=True, default_factory=dict)  # node -> pages
    anon: dict[int, int] = jfield(omitempty=True, default_factory=dict)
    unevictable: dict[int, int] = jfield(omitempty=True, default_factory=dict)


@dataclass(slots=True, kw_only=True)
class MemoryStatsMemoryData:
    pgfault: int = 0
    pgmajfault: int = 0
    numa_stats: MemoryNumaStats = field(default_factory=MemoryNumaStats)


@dataclass(slots=True, kw_only=True)
class MemoryEvents:
    high: int = 0
    max: int = 0


@dataclass(slots=True, kw_only=True)
class MemoryStats:
    usage: int = 0  # bytes
    max_usage: int = 0  # bytes
    cache: int = 0
    rss: int = 0
    swap: int = 0
    mapped_file: int = 0
    working_set: int = 0  # usage - inactive file
    total_active_file: int = 0
    total_inactive_file: int = 0
    file_dirty: int = 0
    file_writeback: int = 0
    pgscan: int = 0
    pgsteal: int = 0
    workingset_refault_file: int = 0
    workingset_refault_anon: int = 0
    failcnt: int = 0
    kernel: int = 0
    container_data: MemoryStatsMemoryData = field(default_factory=MemoryStatsMemoryData)
    hierarchical_data: MemoryStatsMemoryData = field(default_factory=MemoryStatsMemoryData)
    psi: PSIStats = field(default_factory=PSIStats)
    events: MemoryEvents = field(default_factory=MemoryEvents)


@dataclass(slots=True, kw_only=True)
class HugetlbStats:
    usage: int = jfield(omitempty=True, default=0)
    max_usage: int = jfield(omitempty=True, default=0)
    failcnt: int = 0


# ---------------------------------------------------------------- stats: network


@dataclass(slots=True, kw_only=True)
class InterfaceStats:
    name: str = ""
    rx_bytes: int = 0
    rx_packets: int = 0
    rx_errors: int = 0
    rx_dropped: int = 0
    tx_bytes: int = 0
    tx_packets: int = 0
    tx_errors: int = 0
    tx_dropped: int = 0


TCP_STATE_NAMES = (
    "Established", "SynSent", "SynRecv", "FinWait1", "FinWait2", "TimeWait",
    "Close", "CloseWait", "LastAck", "Listen", "Closing",
)  # fmt: skip
UDP_STAT_NAMES = ("Listen", "Dropped", "RxQueued", "TxQueued")


def _tcp_zero() -> dict[str, int]:
    return dict.fromkeys(TCP_STATE_NAMES, 0)


def _udp_zero() -> dict[str, int]:
    return dict.fromkeys(UDP_STAT_NAMES, 0)


@dataclass(slots=True, kw_only=True)
class NetworkStats:
    """First interface inlined (Go embedded struct), then the rest; tcp maps keep Go names."""

    name: str = ""
    rx_bytes: int = 0
    rx_packets: int = 0
    rx_errors: int = 0
    rx_dropped: int = 0
    tx_bytes: int = 0
    tx_packets: int = 0
    tx_errors: int = 0
    tx_dropped: int = 0
    interfaces: list[InterfaceStats] = jfield(omitempty=True, default_factory=list)
    # Key order of Go struct fields is kept by insertion order of these dicts.
    tcp: dict[str, int] = jfield(kind=STRUCT, default_factory=_tcp_zero)
    tcp6: dict[str, int] = jfield(kind=STRUCT, default_factory=_tcp_zero)
    udp: dict[str, int] = jfield(kind=STRUCT, default_factory=_udp_zero)
    udp6: dict[str, int] = jfield(kind=STRUCT, default_factory=_udp_zero)
    tcp_advanced: dict[str, int] = jfield(kind=STRUCT, default_factory=dict)


# ---------------------------------------------------------------- stats: filesystem, tasks, processes


@dataclass(slots=True, kw_only=True)
class FsStats:
    device: str = jfield(omitempty=True, default="")
    type: str = ""
    capacity: int = 0  # bytes
    usage: int = 0  # bytes
    base_usage: int = 0  # bytes
    available: int = 0  # bytes
    has_inodes: bool = False
    inodes: int = 0
    inodes_free: int = 0
    reads_completed: int = 0
    reads_merged: int = 0
    sectors_read: int = 0
    read_time: int = 0  # ms
    writes_completed: int = 0
    writes_merged: int = 0
    sectors_written: int = 0
    write_time: int = 0  # ms
    io_in_progress: int = 0
    io_time: int = 0  # ms
    weighted_io_time: int = 0  # ms


@dataclass(slots=True, kw_only=True)
class LoadStats:
    nr_sleeping: int = 0
    nr_running: int = 0
    nr_stopped: int = 0
    nr_uninterruptible: int = 0
    nr_io_wait: int = 0


@dataclass(slots=True, kw_only=True)
class UlimitSpec:
    name: str
    soft_limit: int
    hard_limit: int


@dataclass(slots=True, kw_only=True)
class ProcessStats:
    process_count: int = 0
    fd_count: int = 0
    socket_count: int = 0
    threads_current: int = jfield(omitempty=True, default=0)
    threads_max: int = jfield(omitempty=True, default=0)
    ulimits: list[UlimitSpec] = jfield(omitempty=True, default_factory=list)


@dataclass(slots=True, kw_only=True)
class MetricVal:
    label: str = jfield(omitempty=True, default="")
    labels: dict[str, str] = jfield(omitempty=True, default_factory=dict)
    timestamp: int = time_field()
    int_value: int = jfield(omitempty=True, default=0)
    float_value: float = jfield(omitempty=True, default=0.0)


@dataclass(slots=True, kw_only=True)
class MetricValBasic:
    """One value of ``/api/v2.0/appmetrics`` (info/v1/metric.go ``MetricValBasic``)."""

    timestamp: int = time_field()
    int_value: int = jfield(omitempty=True, default=0)
    float_value: float = jfield(omitempty=True, default=0.0)


@dataclass(slots=True, kw_only=True)
class CpuSetStats:
    memory_migrate: int = 0


@dataclass(slots=True, kw_only=True)
class Health:
    status: str = ""  # "", "starting", "healthy", "unhealthy"


@dataclass(slots=True, kw_only=True)
class MemoryBandwidthStats:
    """One NUMA node's (L3 domain's) ``mon_data/mon_L3_XX/mbm_{total,local}_bytes``."""

    mbm_total_bytes: int = jfield(omitempty=True, default=0)
    mbm_local_bytes: int = jfield(omitempty=True, default=0)


@dataclass(slots=True, kw_only=True)
class CacheStats:
    """One NUMA node's (L3 domain's) ``mon_data/mon_L3_XX/llc_occupancy``."""

    llc_occupancy: int = jfield(omitempty=True, default=0)


@dataclass(slots=True, kw_only=True)
class ResctrlStats:
    memory_bandwidth: list[MemoryBandwidthStats] = jfield(omitempty=True, default_factory=list)
    cache: list[CacheStats] = jfield(omitempty=True, default_factory=list)


@dataclass(slots=True, kw_only=True)
class PerfStat:
    """A core perf event on one CPU (cAdvisor ``PerfStat``: the embedded ``PerfValue``'s fields, then ``cpu``)."""

    scaling_ratio: float = 0.0  # time_running / time_enabled; 1.0: never multiplexed
    value: int = 0  # the count scaled by 1 / scaling_ratio
    name: str = ""
    cpu: int = 0


@dataclass(slots=True, kw_only=True)
class PerfUncoreStat:
    """An uncore perf event on one PMU of one socket (cAdvisor ``PerfUncoreStat``)."""

    scaling_ratio: float = 0.0
    value: int = 0
    name: str = ""
    socket: int = 0
    pmu: str = ""


@dataclass(slots=True, kw_only=True)
class ContainerStats:
    timestamp: int = time_field()
    cpu: CpuStats | None = opt()
    cpu_inst: CpuStats | None = opt()
    diskio: DiskIoStats | None = opt()
    memory: MemoryStats | None = opt()
    hugetlb: dict[str, HugetlbStats] | None = opt()
    network: NetworkStats | None = opt()
    filesystem: list[FsStats] | None = opt()
    task_stats: LoadStats = field(default_factory=LoadStats)
    accelerators: list[dict[str, object]] | None = opt()
    processes: ProcessStats | None = opt()
    custom_metrics: dict[str, list[MetricVal]] | None = opt()
    perf_stats: list[PerfStat] | None = opt()
    perf_uncore_stats: list[PerfUncoreStat] | None = opt()
    referenced_memory: int = jfield(omitempty=True, default=0)
    resctrl: ResctrlStats = field(default_factory=ResctrlStats)
    cpuset: CpuSetStats = field(default_factory=CpuSetStats)
    oom_events: int = jfield(omitempty=True, default=0)
    health: Health = field(default_factory=Health)


# ---------------------------------------------------------------- container info


@dataclass(slots=True, kw_only=True)
class ContainerReference:
    id: str = jfield(omitempty=True, default="")
    name: str = ""
    aliases: list[str] = jfield(omitempty=True, default_factory=list)
    namespace: str = jfield(omitempty=True, default="")


@dataclass(slots=True, kw_only=True)
class ContainerInfo:
    id: str = jfield(omitempty=True, default="")
    name: str = ""
    aliases: list[str] = jfield(omitempty=True, default_factory=list)
    namespace: str = jfield(omitempty=True, default="")
    subcontainers: list[ContainerReference] = jfield(omitempty=True, default_factory=list)
    spec: ContainerSpec = field(default_factory=ContainerSpec)
    stats: list[ContainerStats] = jfield(omitempty=True, default_factory=list)
