"""The container families cAdvisor emits on a cgroup v2 only host, and those it cannot, as data.

Read from cAdvisor's ``lib/metrics/prometheus.go`` and ``lib/container/libcontainer/handler.go`` at commit
6a0c4f2539a8b1c11215804dee404c06fe3e0218, and the cgroup v2 reader they call, opencontainers/cgroups
``fs2/`` (commit 30a2293c0b0325280ea70a86fe991ec1e87b5d00). A family is emitted for a container when its
metric set is enabled and its ``getValues`` returns a value: most return one value from a struct field
(0 when v2 has no such file), so they are present; those that return one value per entry of a map or a
list are present only when v2 fills it. ``ENABLE_METRICS`` turns on every set with a family whose
presence differs between v1 and v2 (``percpu``, ``memory_numa``, ``hugetlb``, ``cpuset``).

Two containers are compared (tests/v2): a raw cgroup with cpu, memory, io and pids enabled, a ``cpu.max``
quota and writes on a block device; and a Docker container (cgroupfs driver) with ``--cpus``, a memory
limit, writes on a block device (its engine's data root is on it) and a bridge network.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The ``-enable_metrics`` the v2 tests pass: cAdvisor's default sets plus the v1/v2-dependent ones.
ENABLE_METRICS = "cpu,percpu,memory,memory_numa,hugetlb,cpuset,disk,diskIO,network,oom_event,pressure"


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    raw: bool  # present for the raw cgroup
    docker: bool  # present for the Docker container
    why: str  # where cAdvisor decides it (lib/metrics/prometheus.go unless named)
    needs_quota: bool = False  # emitted only while the served spec has a CPU quota (cpu.max not "max")


_ALWAYS = "one value per container"
_FS = "fsValues/ioValues over Filesystem: only containers with a filesystem (Docker's writable layer)"
_IO_V1 = (
    "ioValues over DiskIo lists v2 never fills (fs2/io.go reads only rbytes/wbytes/rios/wios and cost.*), "
    "plus Filesystem: present only through a filesystem"
)

FAMILIES: tuple[Family, ...] = (
    Family("container_last_seen", True, True, f"prometheus.go:127, {_ALWAYS}"),
    Family("container_health_state", True, True, "prometheus.go:138 getContainerHealthState:2465, -1 unchecked"),
    Family("container_creation_time_seconds", True, True, "prometheus.go:2294"),
    Family("container_start_time_seconds", True, True, "prometheus.go:2297"),
    Family("container_spec_cpu_period", True, True, "prometheus.go:2305, Spec.HasCpu"),
    Family(
        "container_spec_cpu_quota",
        True,
        True,
        "prometheus.go:2308, Spec.Cpu.Quota != 0 (cpu.max set)",
        needs_quota=True,
    ),
    Family("container_spec_cpu_shares", True, True, "prometheus.go:2311, Spec.HasCpu"),
    Family("container_spec_memory_limit_bytes", True, True, "prometheus.go:2316, Spec.HasMemory"),
    Family("container_spec_memory_swap_limit_bytes", True, True, "prometheus.go:2318"),
    Family("container_spec_memory_reservation_limit_bytes", True, True, "prometheus.go:2320"),
    # cpu
    Family("container_cpu_user_seconds_total", True, True, f"prometheus.go:150, {_ALWAYS}"),
    Family("container_cpu_system_seconds_total", True, True, f"prometheus.go:165, {_ALWAYS}"),
    Family(
        "container_cpu_usage_seconds_total",
        True,
        True,
        'prometheus.go:180-196: PerCpu empty on v2 (fs2/cpu.go has no per-CPU file), so cpu="total" only',
    ),
    Family(
        "container_cpu_cfs_periods_total",
        True,
        True,
        "prometheus.go:210, condition Spec.Cpu.Quota != 0",
        needs_quota=True,
    ),
    Family("container_cpu_cfs_throttled_periods_total", True, True, "prometheus.go:225, Quota != 0", needs_quota=True),
    Family("container_cpu_cfs_throttled_seconds_total", True, True, "prometheus.go:240, Quota != 0", needs_quota=True),
    Family("container_cpu_cfs_burst_periods_total", True, True, "prometheus.go:255, Quota != 0", needs_quota=True),
    Family("container_cpu_cfs_burst_seconds_total", True, True, "prometheus.go:270, Quota != 0", needs_quota=True),
    # memory (handler.go setMemoryStats:820: struct fields, 0 where v2 has no file)
    Family("container_memory_cache", True, True, "prometheus.go:447, memory.stat file (handler.go:831)"),
    Family("container_memory_rss", True, True, "prometheus.go:457, memory.stat anon"),
    Family("container_memory_kernel_usage", True, True, "prometheus.go:467, 0 on v2 (fs2 fills no KernelUsage)"),
    Family("container_memory_mapped_file", True, True, "prometheus.go:477"),
    Family("container_memory_swap", True, True, "prometheus.go:487"),
    Family("container_memory_failcnt", True, True, "prometheus.go:497, 0 on v2 (no failcnt file)"),
    Family("container_memory_usage_bytes", True, True, "prometheus.go:510"),
    Family("container_memory_max_usage_bytes", True, True, "prometheus.go:521, memory.peak (fs2/memory.go:145)"),
    Family("container_memory_working_set_bytes", True, True, "prometheus.go:531"),
    Family("container_memory_total_active_file_bytes", True, True, "prometheus.go:542"),
    Family("container_memory_total_inactive_file_bytes", True, True, "prometheus.go:553"),
    Family(
        "container_memory_failures_total",
        True,
        True,
        "prometheus.go:564, both scopes; v2 gives container and hierarchy the same pgfault (handler.go:846-853)",
    ),
    Family("container_memory_events_high_total", True, True, "prometheus.go:596, memory.events (handler.go:902)"),
    Family("container_memory_events_max_total", True, True, "prometheus.go:606"),
    Family("container_memory_file_dirty_bytes", True, True, "prometheus.go:616"),
    Family("container_memory_file_writeback_bytes", True, True, "prometheus.go:626"),
    Family("container_memory_pgscan_total", True, True, "prometheus.go:636"),
    Family("container_memory_pgsteal_total", True, True, "prometheus.go:646"),
    Family("container_memory_workingset_refault_file_total", True, True, "prometheus.go:656"),
    Family("container_memory_workingset_refault_anon_total", True, True, "prometheus.go:666"),
    Family("container_memory_migrate", True, True, "prometheus.go:680, CpuSet.MemoryMigrate: 0 on v2"),
    Family(
        "container_memory_numa_pages",
        False,
        False,
        "prometheus.go:691 per NUMA node of PageUsageByNUMA, which fs2 never fills (no memory.numa_stat read)",
    ),
    Family(
        "container_hugetlb_failcnt",
        False,
        True,
        "prometheus.go:393, per entry of Hugetlb: fs2/hugetlb.go reads hugetlb.<size>.* only where the "
        "controller is enabled (runc enables every controller for Docker; the raw cgroup has none)",
    ),
    Family("container_hugetlb_usage_bytes", False, True, "prometheus.go:409, as container_hugetlb_failcnt"),
    Family("container_hugetlb_max_usage_bytes", False, True, "prometheus.go:426, as container_hugetlb_failcnt"),
    # disk usage: Filesystem only
    Family("container_fs_inodes_free", False, True, f"prometheus.go:721, {_FS}"),
    Family("container_fs_inodes_total", False, True, f"prometheus.go:731, {_FS}"),
    Family("container_fs_limit_bytes", False, True, f"prometheus.go:741, {_FS}"),
    Family("container_fs_usage_bytes", False, True, f"prometheus.go:751, {_FS}"),
    # disk io: DiskIo (io.stat) and Filesystem
    Family("container_fs_reads_bytes_total", True, True, "prometheus.go:766, IoServiceBytes (io.stat rbytes)"),
    Family("container_fs_reads_total", True, True, "prometheus.go:781, IoServiced (io.stat rios)"),
    Family("container_fs_sector_reads_total", False, True, f"prometheus.go:798, Sectors: {_IO_V1}"),
    Family("container_fs_reads_merged_total", False, True, f"prometheus.go:815, IoMerged: {_IO_V1}"),
    Family("container_fs_read_seconds_total", False, True, f"prometheus.go:832, IoServiceTime: {_IO_V1}"),
    Family("container_fs_writes_bytes_total", True, True, "prometheus.go:849, IoServiceBytes (io.stat wbytes)"),
    Family("container_fs_writes_total", True, True, "prometheus.go:864, IoServiced (io.stat wios)"),
    Family("container_fs_sector_writes_total", False, True, f"prometheus.go:881, Sectors: {_IO_V1}"),
    Family("container_fs_writes_merged_total", False, True, f"prometheus.go:898, IoMerged: {_IO_V1}"),
    Family("container_fs_write_seconds_total", False, True, f"prometheus.go:915, IoServiceTime: {_IO_V1}"),
    Family("container_fs_io_current", False, True, f"prometheus.go:932, IoQueued: {_IO_V1}"),
    Family("container_fs_io_time_seconds_total", False, True, f"prometheus.go:949, IoServiceTime: {_IO_V1}"),
    Family("container_fs_io_time_weighted_seconds_total", False, True, f"prometheus.go:966, {_FS}"),
    Family(
        "container_fs_io_cost_usage_seconds_total",
        False,
        False,
        "prometheus.go:976, IoCostUsage: io.stat cost.* only with blk-iocost enabled (io.cost.qos), not here",
    ),
    Family("container_fs_io_cost_wait_seconds_total", False, False, "prometheus.go:991, as cost usage"),
    Family("container_fs_io_cost_indebt_seconds_total", False, False, "prometheus.go:1006, as cost usage"),
    Family("container_fs_io_cost_indelay_seconds_total", False, False, "prometheus.go:1021, as cost usage"),
    Family("container_blkio_device_usage_total", True, True, "prometheus.go:1037, per IoServiceBytes entry"),
    # network: per interface of the container's network namespace; a raw cgroup has none (handler.go)
    Family("container_network_receive_bytes_total", False, True, "prometheus.go:1066, per interface"),
    Family("container_network_receive_packets_total", False, True, "prometheus.go:1085"),
    Family("container_network_receive_packets_dropped_total", False, True, "prometheus.go:1104"),
    Family("container_network_receive_errors_total", False, True, "prometheus.go:1123"),
    Family("container_network_transmit_bytes_total", False, True, "prometheus.go:1142"),
    Family("container_network_transmit_packets_total", False, True, "prometheus.go:1161"),
    Family("container_network_transmit_packets_dropped_total", False, True, "prometheus.go:1180"),
    Family("container_network_transmit_errors_total", False, True, "prometheus.go:1199"),
    Family("container_oom_events_total", True, True, f"prometheus.go:2088, {_ALWAYS}"),
    # pressure: v2's cpu/memory/io.pressure (fs2/fs2.go Stats: statPSI)
    Family("container_pressure_cpu_stalled_seconds_total", True, True, "prometheus.go:2100"),
    Family("container_pressure_cpu_waiting_seconds_total", True, True, "prometheus.go:2110"),
    Family("container_pressure_memory_stalled_seconds_total", True, True, "prometheus.go:2120"),
    Family("container_pressure_memory_waiting_seconds_total", True, True, "prometheus.go:2130"),
    Family("container_pressure_io_stalled_seconds_total", True, True, "prometheus.go:2140"),
    Family("container_pressure_io_waiting_seconds_total", True, True, "prometheus.go:2150"),
)


def expected(kind: str, *, quota: bool = True) -> tuple[frozenset[str], frozenset[str]]:
    """(present, absent) family names for ``kind`` ``"raw"`` or ``"docker"``; ``quota``: the spec served has
    a CPU quota."""
    present = frozenset(f.name for f in FAMILIES if getattr(f, kind) and (quota or not f.needs_quota))
    return present, frozenset(f.name for f in FAMILIES) - present


#: Families pycadvisor emits on v2 where cAdvisor cannot, on purpose (additions, not differences), and why.
BEYOND_CADVISOR = {
    "container_memory_numa_pages": "src/pycadvisor/host/cgroups/numa.py reads v2's memory.numa_stat (Linux 5.10)",
}


def pycadvisor_expected(kind: str, *, quota: bool = True) -> tuple[frozenset[str], frozenset[str]]:
    """:func:`expected` with pycadvisor's additions (``BEYOND_CADVISOR``) moved to the present side."""
    present, absent = expected(kind, quota=quota)
    beyond = frozenset(BEYOND_CADVISOR)
    return present | beyond, absent - beyond
