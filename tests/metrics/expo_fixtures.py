"""Fixture data for the exposition tests: a fixed set of containers of every kind, a machine, versions.

The containers cover what changes the output: a cgroup v1 root with per-CPU usage and every optional
member, a docker container on cgroup v2 (total-only CPU, PSI, io.cost, labels, envs, health, custom
metrics, OOM kills), a containerd container known only by its spec (no sample yet), and a raw systemd
slice with a zero per-CPU entry and no network.
"""

from __future__ import annotations

from pycadvisor.host.ownprocess import OwnProcessReader
from pycadvisor.host.paths import HostPaths
from pycadvisor.metrics.source import ContainerSnapshot, VersionInfo
from pycadvisor.model.container import (
    CacheStats,
    ContainerSpec,
    ContainerStats,
    CpuCFS,
    CpuSchedstat,
    CpuSetStats,
    CpuSpec,
    CpuStats,
    CpuUsage,
    DiskIoStats,
    FsStats,
    Health,
    HugetlbStats,
    InterfaceStats,
    LoadStats,
    MemoryBandwidthStats,
    MemoryEvents,
    MemoryNumaStats,
    MemorySpec,
    MemoryStats,
    MemoryStatsMemoryData,
    MetricVal,
    NetworkStats,
    PerDiskStats,
    PerfStat,
    PerfUncoreStat,
    ProcessSpec,
    ProcessStats,
    PSIData,
    PSIStats,
    ResctrlStats,
    UlimitSpec,
)
from pycadvisor.model.machine import Cache, Core, HugePagesInfo, MachineInfo, MemoryInfo, Node, NVMInfo
from pycadvisor.model.process import OwnProcessStats

S = 1_000_000_000
SAMPLE_TIME = 1_395_066_363 * S + 123_456_789  # cAdvisor's fake clock, plus sub-ms ns that must be truncated
SCRAPE_TIME = 1_395_066_364 * S + 999_000_000
DOCKER_ID = "4d3c" + "a1" * 30
CONTAINERD_ID = "9f" * 32


def _eth(name: str, base: int) -> InterfaceStats:
    return InterfaceStats(
        name=name,
        rx_bytes=base,
        rx_packets=base + 1,
        rx_errors=base + 2,
        rx_dropped=base + 3,
        tx_bytes=base + 4,
        tx_packets=base + 5,
        tx_errors=base + 6,
        tx_dropped=base + 7,
    )


def _v1_disk(device: str, major: int, minor: int, base: int) -> PerDiskStats:
    ops = ("Async", "Discard", "Read", "Sync", "Total", "Write")
    return PerDiskStats(device=device, major=major, minor=minor, stats={op: base + i for i, op in enumerate(ops)})


def root_snapshot() -> ContainerSnapshot:
    """``/`` on cgroup v1: per-CPU usage, blkio with every op, hugetlb, numa, perf, resctrl."""
    spec = ContainerSpec(
        creation_time=1_395_000_000 * S,
        has_cpu=True,
        cpu=CpuSpec(limit=1024, mask="0-1", period=100_000),
        has_memory=True,
        memory=MemorySpec(limit=25_769_803_776, swap_limit=9_223_372_036_854_771_712),
        has_network=True,
        has_filesystem=True,
        has_diskio=True,
        has_processes=True,
        processes=ProcessSpec(limit=18_446_744_073_709_551_615),
        has_hugetlb=True,
    )
    fs = FsStats(
        device="/dev/vda1",
        type="vfs",
        capacity=105_088_212_992,
        usage=20_000_000_000,
        available=80_000_000_000,
        has_inodes=True,
        inodes=6_553_600,
        inodes_free=6_400_000,
        reads_completed=24,
        reads_merged=25,
        sectors_read=26,
        read_time=27,
        writes_completed=28,
        writes_merged=39,
        sectors_written=40,
        write_time=41,
        io_in_progress=42,
        io_time=43,
        weighted_io_time=44,
    )
    stats = ContainerStats(
        timestamp=SAMPLE_TIME,
        cpu=CpuStats(
            usage=CpuUsage(total=5_000_000_000, per_cpu_usage=[2_000_000_000, 3_000_000_000], user=6, system=7),
            cfs=CpuCFS(periods=723, throttled_periods=18, throttled_time=1_724_314_000),
            schedstat=CpuSchedstat(run_time=53_643_567, runqueue_time=479_424_566_378, run_periods=984_285),
            load_average=2000,
        ),
        diskio=DiskIoStats(
            io_service_bytes=[_v1_disk("/dev/vda", 252, 0, 100)],
            io_serviced=[_v1_disk("/dev/vda", 252, 0, 200)],
            io_queued=[_v1_disk("/dev/vda", 252, 0, 300)],
            sectors=[_v1_disk("/dev/vda", 252, 0, 400)],
            io_service_time=[_v1_disk("/dev/vda", 252, 0, 500_000_000)],
            io_merged=[_v1_disk("/dev/vda", 252, 0, 600)],
        ),
        memory=MemoryStats(
            usage=8_589_934_592,
            max_usage=9_000_000_000,
            cache=14,
            rss=15,
            mapped_file=16,
            kernel=17,
            working_set=8_000_000_000,
            total_active_file=7,
            total_inactive_file=6,
            failcnt=0,
            container_data=MemoryStatsMemoryData(
                pgfault=10,
                pgmajfault=11,
                numa_stats=MemoryNumaStats(file={0: 16649, 1: 10000}, anon={0: 10000}, unevictable={0: 8900}),
            ),
            hierarchical_data=MemoryStatsMemoryData(
                pgfault=12,
                pgmajfault=13,
                numa_stats=MemoryNumaStats(file={0: 36649, 1: 10000}, anon={0: 20000}, unevictable={1: 20000}),
            ),
        ),
        hugetlb={"2MB": HugetlbStats(usage=4_194_304, max_usage=10_485_760, failcnt=1), "1GB": HugetlbStats()},
        network=NetworkStats(
            name="eth0",
            interfaces=[_eth("eth0", 14), _eth("ens5", 1_000_000_000_000)],
            tcp={
                "Established": 13,
                "SynSent": 0,
                "SynRecv": 0,
                "FinWait1": 0,
                "FinWait2": 0,
                "TimeWait": 2,
                "Close": 0,
                "CloseWait": 0,
                "LastAck": 0,
                "Listen": 3,
                "Closing": 0,
            },
            tcp_advanced={
                "RtoAlgorithm": 1,
                "RtoMin": 200,
                "RtoMax": 120_000,
                "MaxConn": -1,
                "ActiveOpens": 11_038_621,
            },
        ),
        filesystem=[fs],
        task_stats=LoadStats(nr_sleeping=50, nr_running=51, nr_stopped=52, nr_uninterruptible=53, nr_io_wait=54),
        processes=ProcessStats(
            process_count=1,
            fd_count=5,
            socket_count=3,
            threads_current=5,
            threads_max=100,
            ulimits=[UlimitSpec(name="max_open_files", soft_limit=16384, hard_limit=16384)],
        ),
        # cAdvisor's lib/metrics/prometheus_fake.go values (its golden testdata/prometheus_metrics).
        perf_stats=[
            PerfStat(scaling_ratio=1.0, value=123, name="instructions", cpu=0),
            PerfStat(scaling_ratio=0.66666666666, value=321, name="instructions_retired", cpu=0),
            PerfStat(scaling_ratio=0.5, value=456, name="instructions", cpu=1),
            PerfStat(scaling_ratio=0.33333333333, value=789, name="instructions_retired", cpu=1),
        ],
        perf_uncore_stats=[
            PerfUncoreStat(scaling_ratio=1.0, value=1_231_231_512, name="cas_count_read", socket=0, pmu="uncore_imc_0"),
            PerfUncoreStat(scaling_ratio=1.0, value=1_111_231_331, name="cas_count_read", socket=1, pmu="uncore_imc_0"),
        ],
        referenced_memory=1234,
        resctrl=ResctrlStats(
            memory_bandwidth=[
                MemoryBandwidthStats(mbm_total_bytes=4_512_312, mbm_local_bytes=2_390_393),
                MemoryBandwidthStats(mbm_total_bytes=2_173_713, mbm_local_bytes=1_231_233),
            ],
            cache=[CacheStats(llc_occupancy=162_626), CacheStats(llc_occupancy=213_777)],
        ),
        cpuset=CpuSetStats(memory_migrate=1),
    )
    return ContainerSnapshot(name="/", id="", aliases=(), namespace="", spec=spec, stats=stats, oom_kills=0)


def docker_snapshot() -> ContainerSnapshot:
    """A docker container on cgroup v2: total-only CPU, PSI, io.stat with io.cost, labels and envs."""
    spec = ContainerSpec(
        creation_time=1_395_066_000 * S + 500_000_000,
        start_time=1_395_066_001 * S,
        labels={
            "com.docker.compose.service": "web",
            "maintainer": 'Jane "JD" Doe \\ ops',
            "restartcount": "2",
        },
        envs={"test_var": "FOO", "test_path": "/usr/bin:/bin"},
        has_cpu=True,
        cpu=CpuSpec(limit=4537, mask="0", quota=50_000, period=100_000),
        has_memory=True,
        memory=MemorySpec(limit=536_870_912, reservation=268_435_456, swap_limit=18_446_744_073_709_551_615),
        has_network=True,
        has_diskio=True,
        has_filesystem=True,
        image="nginx:1.25-alpine",
    )
    psi = PSIStats(full=PSIData(total=100), some=PSIData(total=200, avg10=1.5))
    stats = ContainerStats(
        timestamp=SAMPLE_TIME + 250 * 1_000_000,
        cpu=CpuStats(
            usage=CpuUsage(total=81_234_000, user=50_000_000, system=31_234_000),
            cfs=CpuCFS(
                periods=40, throttled_periods=3, throttled_time=12_000_000, bursts_periods=25, burst_time=500_000_000
            ),
            psi=psi,
        ),
        diskio=DiskIoStats(
            io_service_bytes=[PerDiskStats(device="/dev/vda", major=252, minor=0, stats={"Read": 4096, "Write": 8192})],
            io_serviced=[PerDiskStats(device="/dev/vda", major=252, minor=0, stats={"Read": 1, "Write": 2})],
            io_cost_usage=[PerDiskStats(device="/dev/vda", major=252, minor=0, stats={"Count": 1_500_000})],
            io_cost_wait=[PerDiskStats(device="/dev/vda", major=252, minor=0, stats={"Count": 2_500_000})],
            io_cost_indebt=[PerDiskStats(device="/dev/vda", major=252, minor=0, stats={"Count": 500_000})],
            io_cost_indelay=[PerDiskStats(device="/dev/vda", major=252, minor=0, stats={"Count": 750_000})],
            psi=PSIStats(full=PSIData(total=1100), some=PSIData(total=2200)),
        ),
        memory=MemoryStats(
            usage=1_458_176,
            max_usage=2_084_864,
            rss=389_120,
            working_set=1_458_176,
            file_dirty=19,
            file_writeback=20,
            pgscan=21,
            pgsteal=22,
            workingset_refault_file=23,
            workingset_refault_anon=24,
            container_data=MemoryStatsMemoryData(pgfault=120),
            hierarchical_data=MemoryStatsMemoryData(pgfault=120),
            psi=PSIStats(full=PSIData(total=1000), some=PSIData(total=2000)),
            events=MemoryEvents(high=42, max=5),
        ),
        network=NetworkStats(name="eth0", rx_bytes=906, interfaces=[_eth("eth0", 906)]),
        filesystem=[
            FsStats(device="/dev/vda1", type="vfs", capacity=105_088_212_992, usage=12_288, base_usage=12_288, inodes=3)
        ],
        custom_metrics={
            "nginx_requests_total": [
                MetricVal(labels={"path": "/", "code": "200"}, timestamp=SAMPLE_TIME, float_value=1.5),
                MetricVal(labels={"path": "/login", "code": "500"}, timestamp=SAMPLE_TIME, float_value=2),
            ],
            # cAdvisor's own (metrics/prometheus_fake.go, golden lines in metrics/testdata/prometheus_metrics).
            "container_custom_app_metric_1": [
                MetricVal(
                    label="testlabel_1_1_1",
                    labels={"test_label": "1_1", "test_label_2": "2_1"},
                    timestamp=SAMPLE_TIME,
                    float_value=1.1,
                ),
                MetricVal(
                    label="testlabel_1_1_2",
                    labels={"test_label": "1_2", "test_label_2": "2_2"},
                    timestamp=SAMPLE_TIME,
                    float_value=1.2,
                ),
            ],
            "container_custom_app_metric_2": [
                MetricVal(label="testlabel2", labels={"test_label": "test_value"}, timestamp=SAMPLE_TIME, float_value=2)
            ],
            "container_custom_app_metric_3": [
                MetricVal(label="testlabel3", labels={"test_label": "test_value"}, timestamp=SAMPLE_TIME, float_value=3)
            ],
            # A generic collector's "int" metric: its int_value is exported (cAdvisor exports its float_value, 0).
            "nginx_active_connections": [MetricVal(timestamp=SAMPLE_TIME, int_value=7)],
        },
        health=Health(status="healthy"),
    )
    return ContainerSnapshot(
        name=f"/system.slice/docker-{DOCKER_ID}.scope",
        id=DOCKER_ID,
        aliases=("web-1", DOCKER_ID),
        namespace="docker",
        spec=spec,
        stats=stats,
        oom_kills=2,
    )


def containerd_snapshot() -> ContainerSnapshot:
    """A containerd container whose first sample has not been taken: spec families only."""
    spec = ContainerSpec(
        creation_time=1_395_066_300 * S,
        labels={"io.kubernetes.pod.name": "api-0", "io.cri-containerd.kind": "container"},
        has_cpu=True,
        cpu=CpuSpec(limit=2, period=100_000),
        has_memory=True,
        memory=MemorySpec(limit=25_769_803_776),
        image="registry.local/api:3",
    )
    return ContainerSnapshot(
        name=f"/kubepods/besteffort/pod1234/{CONTAINERD_ID}",
        id=CONTAINERD_ID,
        aliases=(CONTAINERD_ID, "api"),
        namespace="containerd",
        spec=spec,
        stats=None,
        oom_kills=0,
    )


def slice_snapshot() -> ContainerSnapshot:
    """A raw systemd slice on cgroup v1: a zero per-CPU entry (skipped), no network, health "starting"."""
    spec = ContainerSpec(
        creation_time=1_395_000_100 * S,
        has_cpu=True,
        cpu=CpuSpec(limit=1024, period=100_000),
        has_memory=True,
        memory=MemorySpec(limit=18_446_744_073_709_551_615),
    )
    stats = ContainerStats(
        timestamp=SAMPLE_TIME,
        cpu=CpuStats(usage=CpuUsage(total=9_000_000_000, per_cpu_usage=[0, 9_000_000_000], user=8 * S, system=S)),
        memory=MemoryStats(usage=4096, working_set=4096),
        health=Health(status="starting"),
    )
    return ContainerSnapshot(name="/system.slice", id="", aliases=(), namespace="", spec=spec, stats=stats, oom_kills=0)


def fixture_snapshots() -> list[ContainerSnapshot]:
    return [docker_snapshot(), root_snapshot(), containerd_snapshot(), slice_snapshot()]


def fixture_machine() -> MachineInfo:
    """Two NUMA nodes, four cores with L1/L2, a node-level L3, hugepages, DIMMs, NVM."""

    def core(cid: int, threads: list[int]) -> Core:
        return Core(
            core_id=cid,
            thread_ids=threads,
            caches=[
                Cache(id=cid, size=32768, type="Data", level=1),
                Cache(id=cid, size=32768, type="Instruction", level=1),
                Cache(id=cid, size=262144, type="Unified", level=2),
            ],
        )

    return MachineInfo(
        timestamp=1_395_066_363 * S,
        num_cores=4,
        num_physical_cores=2,
        num_sockets=1,
        memory_capacity=25_769_803_776,
        swap_capacity=0,
        memory_by_type={
            "Unbuffered-DDR4": MemoryInfo(capacity=412_316_860_416, dimm_count=12),
            "Non-volatile-RAM": MemoryInfo(capacity=2_168_421_613_568, dimm_count=8),
        },
        nvm=NVMInfo(memory_mode_capacity=429_496_729_600, app_direct_mode_capacity=1_735_166_787_584),
        machine_id="machine-id-test",
        system_uuid="system-uuid-test",
        boot_id="boot-id-test",
        topology=[
            Node(
                node_id=0,
                memory=33_604_804_608,
                hugepages=[HugePagesInfo(page_size=2048, num_pages=0), HugePagesInfo(page_size=1048576, num_pages=0)],
                cores=[core(0, [0, 1])],
                caches=[Cache(id=0, size=8_388_608, type="Unified", level=3)],
                distances=[10, 12],
            ),
            Node(
                node_id=1,
                memory=33_604_804_606,
                hugepages=[HugePagesInfo(page_size=2048, num_pages=4)],
                cores=[core(1, [2, 3])],
                caches=None,
                distances=[12, 10],
            ),
        ],
    )


def fixture_version() -> VersionInfo:
    return VersionInfo(
        kernel_version="6.18.0-test",
        os_version="Debian GNU/Linux 12 (bookworm)",
        docker_version="",
        cadvisor_version="0.1.0",
        cadvisor_revision="",
    )


def parse_series(text: str) -> dict[str, list[tuple[dict[str, str], float, int | None]]]:
    """Sample name -> [(labels, value, timestamp ms)], parsed with the Python client's parser.

    Keyed by sample name: the parser names counter families without their ``_total``.
    """
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, list[tuple[dict[str, str], float, int | None]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            ts = None if s.timestamp is None else round(float(s.timestamp) * 1000)
            out.setdefault(s.name, []).append((dict(s.labels), s.value, ts))
    return out


class OwnProcess:
    """The exporter's own figures as the manager's ``HostInfo`` gives them (``metrics.runtime.OwnProcessSource``),
    read under ``proc``."""

    def __init__(self, proc: str = "/proc") -> None:
        self._reader = OwnProcessReader(HostPaths(proc=proc))

    def own_process(self) -> OwnProcessStats | None:
        return self._reader.read()
