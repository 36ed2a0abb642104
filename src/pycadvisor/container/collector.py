"""Per-container stats from cgroup files, for cgroup v1 and v2 (cadvisor-interfaces §7).

One :class:`CgroupCollector` per container holds its file descriptors (:class:`FileSet`) and
turns the bytes it re-reads each sample into a :class:`ContainerStats`. A file that does not
exist means "not collected" (the member stays ``None``); malformed content raises
:class:`pycadvisor.errors.ParseError` for that family only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pycadvisor.container.files import ContainerGone, FileSet
from pycadvisor.errors import ParseError
from pycadvisor.host.cgroups.blkio import Device, parse_blkio_v1, parse_io_stat
from pycadvisor.host.cgroups.cpu import KeyedInts, parse_keyed, parse_percpu
from pycadvisor.host.cgroups.detect import CgroupMounts
from pycadvisor.host.cgroups.pressure import parse_pressure
from pycadvisor.host.net import parse_net_dev, parse_tcp_advanced, parse_tcp_states, parse_udp_stats, tcp_advanced_zero
from pycadvisor.host.paths import HostPaths
from pycadvisor.host.processes import SchedstatAccumulator, read_process_stats, read_schedstat_by_pid
from pycadvisor.model.container import (
    TCP_STATE_NAMES,
    UDP_STAT_NAMES,
    ContainerStats,
    CpuCFS,
    CpuSchedstat,
    CpuSetStats,
    CpuStats,
    CpuUsage,
    DiskIoStats,
    Health,
    HugetlbStats,
    LoadStats,
    MemoryEvents,
    MemoryNumaStats,
    MemoryStats,
    MemoryStatsMemoryData,
    NetworkStats,
    PerDiskStats,
    PSIStats,
    ResctrlStats,
)

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000

__all__ = ["SHARED_ZEROS", "CgroupCollector", "CollectOptions", "ContainerGone", "cgroup_dirs"]


class _Zeros:
    """Zero-valued members shared by every sample that has nothing to report there.

    Samples are never mutated once taken, so one instance serves them all: it saves an object per
    member per sample, and the compact history stores them by reference (``SHARED_ZEROS``).
    """

    task_stats = LoadStats()
    resctrl = ResctrlStats()
    cpuset = CpuSetStats()
    health = Health()
    cfs = CpuCFS()
    schedstat = CpuSchedstat()
    psi = PSIStats()
    events = MemoryEvents()
    numa = MemoryNumaStats()
    tcp = dict.fromkeys(TCP_STATE_NAMES, 0)
    udp = dict.fromkeys(UDP_STAT_NAMES, 0)
    tcp_advanced = tcp_advanced_zero()  # cAdvisor always sends the 99 keys
    no_ifaces: list[object] = []  # noqa: RUF012


SHARED_ZEROS: tuple[object, ...] = tuple(v for k, v in vars(_Zeros).items() if not k.startswith("__"))
_Z = _Zeros


@dataclass(frozen=True, slots=True)
class CollectOptions:
    """What to collect; metric-set names as in cAdvisor's ``--enable_metrics`` (§2.4)."""

    metric_sets: frozenset[str]
    clk_tck: int = 100
    paths: HostPaths = HostPaths()  # network and per-process counters come from <proc>/<pid>/...
    # maj, min -> "/dev/<name>" ("" when unknown), from the machine's disk map.
    device_name: Callable[[int, int], str] = lambda _maj, _min: ""

    def has(self, metric_set: str) -> bool:
        return metric_set in self.metric_sets


def cgroup_dirs(mounts: CgroupMounts, name: str, rootfs_map: Callable[[str], str]) -> dict[str, str]:
    """Map each controller (``"unified"`` on v2) to the container's directory on this host."""
    rel = name.lstrip("/")
    if mounts.is_v2:
        assert mounts.v2 is not None
        return {"unified": os.path.join(rootfs_map(mounts.v2), rel)}
    dirs = {ctrl: os.path.join(rootfs_map(mp), rel) for ctrl, mp in mounts.v1.items()}
    if mounts.v2:  # hybrid: the unified tree may hold PSI files for this cgroup (docker creates them)
        dirs["unified"] = os.path.join(rootfs_map(mounts.v2), rel)
    return dirs


def _psi(files: FileSet, path: str) -> object:
    data = files.read(path)
    return parse_pressure(data) if data is not None else None


def _disk_list(devs: dict[Device, dict[str, int]], device_name: Callable[[int, int], str]) -> list[PerDiskStats]:
    return [
        PerDiskStats(device=device_name(maj, mnr), major=maj, minor=mnr, stats=ops)
        for (maj, mnr), ops in sorted(devs.items())
    ]


_BLKIO_GROUPS = (
    ("blkio.bfq.io_service_bytes_recursive", "blkio.bfq.io_serviced_recursive"),
    ("blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive"),
    ("blkio.throttle.io_service_bytes", "blkio.throttle.io_serviced"),
)
_BLKIO_RECHECK = 10


def _int(data: bytes | None) -> int:
    return int(data) if data else 0


class CgroupCollector:
    """Collects one container's samples from its cgroup directories through held descriptors."""

    __slots__ = (
        "_blkio_idle",
        "_dirs",
        "_files",
        "_init_pid",
        "_is_root",
        "_net_pid",
        "_opts",
        "_paths",
        "_sched",
        "_use_hierarchy",
        "_v2",
        "name",
    )

    def __init__(
        self,
        name: str,
        dirs: dict[str, str],
        *,
        is_v2: bool,
        files: FileSet,
        opts: CollectOptions,
    ) -> None:
        self.name = name
        self._dirs = dirs
        self._v2 = is_v2
        self._files = files
        self._opts = opts
        self._is_root = name == "/"
        self._use_hierarchy = True
        self._paths: dict[tuple[str, str], str] = {}
        self._blkio_idle = 0  # samples left before empty blkio groups are read again
        self._net_pid: int | None = None
        self._init_pid: int | None = None
        self._sched: SchedstatAccumulator | None = None
        if not is_v2 and "memory" in dirs:
            uh = self._read_opt("memory", "memory.use_hierarchy")
            self._use_hierarchy = uh is None or uh.strip() != b"0"

    # ------------------------------------------------------------------ helpers

    def _read_opt(self, ctrl: str, fname: str) -> bytes | None:
        # Paths are joined once per container, not once per read (os.path.join was 18 % of a sample).
        key = (ctrl, fname)
        p = self._paths.get(key)
        if p is None:
            d = self._dirs.get(ctrl)
            if d is None:
                return None
            p = self._paths[key] = d + "/" + fname
        return self._files.read(p)

    @property
    def dirs(self) -> dict[str, str]:
        """The container's directory per controller (``"unified"`` on v2)."""
        return self._dirs

    def exists(self) -> bool:
        """True while any of the container's cgroup directories exists."""
        return any(os.path.isdir(d) for c, d in self._dirs.items() if c != "unified" or self._v2)

    def close(self) -> None:
        self._files.close()

    def forget_missing(self) -> None:
        self._files.forget_missing()

    # ------------------------------------------------------------------ sample

    def collect(self, *, now_ns: int, pid: int | None) -> tuple[ContainerStats, list[tuple[str, Exception]]]:
        """Read one sample; return it with the (family, error) pairs of families that failed."""
        st = ContainerStats(
            timestamp=now_ns, task_stats=_Z.task_stats, resctrl=_Z.resctrl, cpuset=_Z.cpuset, health=_Z.health
        )
        self._init_pid = pid
        errors: list[tuple[str, Exception]] = []
        families: Iterable[tuple[str, Callable[[ContainerStats], None]]] = (
            ("cpu", self._cpu),
            ("memory", self._memory),
            ("diskIO", self._diskio),
            ("hugetlb", self._hugetlb),
            ("process", self._processes),
            ("sched", self._schedstat),
        )
        for fam, fn in families:
            if fam not in ("cpu", "memory") and not self._opts.has(fam):
                continue
            try:
                fn(st)
            except ContainerGone:
                raise
            except (ValueError, IndexError, KeyError) as e:
                errors.append((fam, ParseError(self.name, f"{fam}: {e}")))
            except OSError as e:
                errors.append((fam, e))
        if pid and self._opts.has("network"):
            try:
                st.network = self._network(pid)
            except ParseError as e:
                errors.append(("network", e))
            except (ValueError, IndexError) as e:
                errors.append(("network", ParseError(f"{self._opts.paths.proc}/{pid}/net", str(e))))
            except OSError as e:
                errors.append(("network", e))
        return st, errors

    # ------------------------------------------------------------------ cpu

    def _cpu(self, st: ContainerStats) -> None:
        if self._v2:
            data = self._read_opt("unified", "cpu.stat")
            if data is None:
                return
            s = parse_keyed(data)
            usage = CpuUsage(
                total=s.get(b"usage_usec", 0) * 1000,
                user=s.get(b"user_usec", 0) * 1000,
                system=s.get(b"system_usec", 0) * 1000,
            )
            cfs = CpuCFS(
                periods=s.get(b"nr_periods", 0),
                throttled_periods=s.get(b"nr_throttled", 0),
                throttled_time=s.get(b"throttled_usec", 0) * 1000,
                bursts_periods=s.get(b"nr_bursts", 0),
                burst_time=s.get(b"burst_usec", 0) * 1000,
            )
            cpu = CpuStats(usage=usage, cfs=cfs, schedstat=_Z.schedstat, psi=_Z.psi)
            if self._opts.has("pressure"):
                psi = _psi(self._files, self._dirs["unified"] + "/cpu.pressure")
                if psi is not None:
                    cpu.psi = psi  # type: ignore[assignment]
            st.cpu = cpu
            return
        # v1: cpuacct.usage_percpu sums to cpuacct.usage exactly (kernel/sched/cpuacct.c: cpuusage_read
        # sums the same per-CPU counters), so with per-CPU enabled one read gives both.
        percpu: list[int] = []
        if self._opts.has("percpu"):
            raw = self._read_opt("cpuacct", "cpuacct.usage_percpu")
            if raw is not None:
                percpu = parse_percpu(raw)
        if percpu:
            total = sum(percpu)
        else:
            raw = self._read_opt("cpuacct", "cpuacct.usage")
            if raw is None:
                return
            total = int(raw)
        usage = CpuUsage(total=total, per_cpu_usage=percpu)
        stat = self._read_opt("cpuacct", "cpuacct.stat")
        if stat is not None:
            s = parse_keyed(stat)
            scale = NS_PER_S // self._opts.clk_tck  # USER_HZ ticks -> ns
            usage.user = s.get(b"user", 0) * scale
            usage.system = s.get(b"system", 0) * scale
        cpu = CpuStats(usage=usage, cfs=_Z.cfs, schedstat=_Z.schedstat, psi=_Z.psi)
        cs = self._read_opt("cpu", "cpu.stat")
        if cs is not None:
            s = parse_keyed(cs)
            cpu.cfs = CpuCFS(
                periods=s.get(b"nr_periods", 0),
                throttled_periods=s.get(b"nr_throttled", 0),
                throttled_time=s.get(b"throttled_time", 0),
            )
        if self._opts.has("pressure") and "unified" in self._dirs:
            psi = _psi(self._files, self._dirs["unified"] + "/cpu.pressure")
            if psi is not None:
                cpu.psi = psi  # type: ignore[assignment]
        st.cpu = cpu

    # ------------------------------------------------------------------ memory

    def _memory(self, st: ContainerStats) -> None:
        if self._v2:
            self._memory_v2(st)
        else:
            self._memory_v1(st)

    def _memory_v1(self, st: ContainerStats) -> None:
        usage_raw = self._read_opt("memory", "memory.usage_in_bytes")
        if usage_raw is None:
            return
        usage = int(usage_raw)
        s = KeyedInts(self._read_opt("memory", "memory.stat") or b"")
        p = b"total_" if self._use_hierarchy else b""
        inactive = s.opt(p + b"inactive_file")
        m = MemoryStats(
            usage=usage,
            max_usage=_int(self._read_opt("memory", "memory.max_usage_in_bytes")),
            cache=s.get(p + b"cache", 0),
            rss=s.get(p + b"rss", 0),
            swap=s.get(p + b"swap", 0),
            mapped_file=s.get(p + b"mapped_file", 0),
            working_set=usage if inactive is None else max(usage - inactive, 0),
            total_active_file=s.get(p + b"active_file", 0),
            total_inactive_file=inactive or 0,
            workingset_refault_file=s.get(b"workingset_refault_file", 0),
            workingset_refault_anon=s.get(b"workingset_refault_anon", 0),
            failcnt=_int(self._read_opt("memory", "memory.failcnt")),
            kernel=_int(self._read_opt("memory", "memory.kmem.usage_in_bytes")),
            psi=_Z.psi,
            events=_Z.events,
        )
        pgf, pgmaj = s.get(b"pgfault", 0), s.get(b"pgmajfault", 0)
        m.container_data = MemoryStatsMemoryData(pgfault=pgf, pgmajfault=pgmaj, numa_stats=_Z.numa)
        # cAdvisor reports the ``pgfault``/``pgmajfault`` keys in both scopes (interfaces §7).
        m.hierarchical_data = MemoryStatsMemoryData(pgfault=pgf, pgmajfault=pgmaj, numa_stats=_Z.numa)
        if self._opts.has("pressure") and "unified" in self._dirs:
            psi = _psi(self._files, self._dirs["unified"] + "/memory.pressure")
            if psi is not None:
                m.psi = psi  # type: ignore[assignment]
        st.memory = m

    def _memory_v2(self, st: ContainerStats) -> None:
        d = self._dirs["unified"]
        stat_raw = self._files.read(d + "/memory.stat")
        if stat_raw is None:
            return
        s = KeyedInts(stat_raw)
        cur = self._files.read(d + "/memory.current")
        # The root of a v2 hierarchy has no memory.current: cAdvisor sums anon and file.
        usage = s.get(b"anon", 0) + s.get(b"file", 0) if cur is None else int(cur)
        inactive = s.opt(b"inactive_file")
        swap_raw = self._files.read(d + "/memory.swap.current")
        m = MemoryStats(
            usage=usage,
            max_usage=_int(self._files.read(d + "/memory.peak")),
            cache=s.get(b"file", 0),
            rss=s.get(b"anon", 0),
            swap=_int(swap_raw),
            mapped_file=s.get(b"file_mapped", 0),
            working_set=usage if inactive is None else max(usage - inactive, 0),
            total_active_file=s.get(b"active_file", 0),
            total_inactive_file=inactive or 0,
            file_dirty=s.get(b"file_dirty", 0),
            file_writeback=s.get(b"file_writeback", 0),
            pgscan=s.get(b"pgscan", 0),
            pgsteal=s.get(b"pgsteal", 0),
            workingset_refault_file=s.get(b"workingset_refault_file", 0),
            workingset_refault_anon=s.get(b"workingset_refault_anon", 0),
            psi=_Z.psi,
            events=_Z.events,
        )
        pgf, pgmaj = s.get(b"pgfault", 0), s.get(b"pgmajfault", 0)
        m.container_data = MemoryStatsMemoryData(pgfault=pgf, pgmajfault=pgmaj, numa_stats=_Z.numa)
        m.hierarchical_data = MemoryStatsMemoryData(pgfault=pgf, pgmajfault=pgmaj, numa_stats=_Z.numa)
        ev = self._files.read(d + "/memory.events")
        if ev is not None:
            e = parse_keyed(ev)
            m.events = MemoryEvents(high=e.get(b"high", 0), max=e.get(b"max", 0))
        if self._opts.has("pressure"):
            psi = _psi(self._files, d + "/memory.pressure")
            if psi is not None:
                m.psi = psi  # type: ignore[assignment]
        st.memory = m

    # ------------------------------------------------------------------ block IO

    def _diskio(self, st: ContainerStats) -> None:
        name_of = self._opts.device_name
        if self._v2:
            raw = self._read_opt("unified", "io.stat")
            if raw is None:
                return
            io = DiskIoStats(psi=_Z.psi)
            for member, devs in parse_io_stat(raw).items():
                setattr(io, member, _disk_list(devs, name_of))
            if self._opts.has("pressure"):
                psi = _psi(self._files, self._dirs["unified"] + "/io.pressure")
                if psi is not None:
                    io.psi = psi  # type: ignore[assignment]
            st.diskio = io
            return
        if "blkio" not in self._dirs:
            return
        # runc's order (libcontainer/cgroups/fs/blkio.go): the first group whose first file has device
        # lines wins: BFQ, then throttle recursive, then plain throttle. CFQ went away in Linux 5.0.
        # Most cgroups show only "Total 0" in every group (blk-throttle counts only under a rule, BFQ
        # only with that scheduler): then the groups are looked at again every _BLKIO_RECHECK-th sample
        # instead of three empty reads per sample; the counters are cumulative, so nothing is lost.
        if self._blkio_idle > 0:
            self._blkio_idle -= 1
            st.diskio = DiskIoStats(psi=_Z.psi)
            return
        for bytes_file, ops_file in _BLKIO_GROUPS:
            raw = self._read_opt("blkio", bytes_file)
            if raw is None:
                continue
            devs = parse_blkio_v1(raw)
            if not devs:
                continue
            io = DiskIoStats(io_service_bytes=_disk_list(devs, name_of), psi=_Z.psi)
            ops = self._read_opt("blkio", ops_file)
            if ops is not None:
                io.io_serviced = _disk_list(parse_blkio_v1(ops), name_of)
            st.diskio = io
            return
        self._blkio_idle = _BLKIO_RECHECK - 1
        st.diskio = DiskIoStats(psi=_Z.psi)

    # ------------------------------------------------------------------ hugetlb, processes

    def _hugetlb(self, st: ContainerStats) -> None:
        ctrl = "unified" if self._v2 else "hugetlb"
        d = self._dirs.get(ctrl)
        if d is None:
            return
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return
        sizes = sorted({n.split(".")[1] for n in names if n.startswith("hugetlb.") and n.count(".") >= 2})
        if not sizes:
            return
        out: dict[str, HugetlbStats] = {}
        for size in sizes:
            if self._v2:
                cur = self._files.read(f"{d}/hugetlb.{size}.rsvd.current") or self._files.read(
                    f"{d}/hugetlb.{size}.current"
                )
                ev = parse_keyed(self._files.read(f"{d}/hugetlb.{size}.events") or b"")
                out[size] = HugetlbStats(usage=_int(cur), failcnt=ev.get(b"max", 0))
            else:
                use = self._files.read(f"{d}/hugetlb.{size}.rsvd.usage_in_bytes") or self._files.read(
                    f"{d}/hugetlb.{size}.usage_in_bytes"
                )
                out[size] = HugetlbStats(
                    usage=_int(use),
                    max_usage=_int(self._files.read(f"{d}/hugetlb.{size}.max_usage_in_bytes")),
                    failcnt=_int(self._files.read(f"{d}/hugetlb.{size}.failcnt")),
                )
        st.hugetlb = out

    def _pids(self) -> list[int]:
        raw = self._read_opt("unified" if self._v2 else "cpu", "cgroup.procs")
        return [int(x) for x in raw.split()] if raw else []

    def _processes(self, st: ContainerStats) -> None:
        """``process`` set (off by default: it walks /proc/<pid>/fd of every process)."""
        ctrl = "unified" if self._v2 else "pids"
        cur = self._read_opt(ctrl, "pids.current")
        mx = self._read_opt(ctrl, "pids.max")
        threads_max = 0 if mx is None or mx.strip() == b"max" else int(mx)
        pids = self._pids()
        threads = int(cur) if cur is not None else len(pids)
        st.processes = read_process_stats(
            self._opts.paths, pids, self._init_pid, threads_current=threads, threads_max=threads_max
        )

    def _schedstat(self, st: ContainerStats) -> None:
        """``sched`` set (off by default): /proc/<pid>/schedstat of the cgroup's processes."""
        if st.cpu is None:
            return
        if self._sched is None:
            self._sched = SchedstatAccumulator()
        st.cpu.schedstat = self._sched.update(read_schedstat_by_pid(self._opts.paths, self._pids()))

    # ------------------------------------------------------------------ network

    def _network(self, pid: int) -> NetworkStats | None:
        proc = self._opts.paths.proc
        if self._net_pid != pid:
            if self._net_pid is not None:
                for f in ("dev", "tcp", "tcp6", "udp", "udp6", "netstat", "snmp"):
                    self._files.forget(f"{proc}/{self._net_pid}/net/{f}")
            self._net_pid = pid
        base = f"{proc}/{pid}/net/"
        try:
            raw = self._files.read(base + "dev")
            if raw is None:
                return None
            ifaces = parse_net_dev(raw, source=base + "dev")
            net = NetworkStats(
                interfaces=ifaces, tcp=_Z.tcp, tcp6=_Z.tcp, udp=_Z.udp, udp6=_Z.udp, tcp_advanced=_Z.tcp_advanced
            )
            opts = self._opts
            if opts.has("tcp"):
                net.tcp = parse_tcp_states(self._files.read(base + "tcp") or b"", source=base + "tcp")
                net.tcp6 = parse_tcp_states(self._files.read(base + "tcp6") or b"", source=base + "tcp6")
            if opts.has("udp"):
                net.udp = parse_udp_stats(self._files.read(base + "udp") or b"", source=base + "udp")
                net.udp6 = parse_udp_stats(self._files.read(base + "udp6") or b"", source=base + "udp6")
            if opts.has("advtcp"):
                net.tcp_advanced = parse_tcp_advanced(
                    self._files.read(base + "netstat") or b"", self._files.read(base + "snmp") or b""
                )
        except ContainerGone:  # the process went away, not the cgroup
            for f in ("dev", "tcp", "tcp6", "udp", "udp6", "netstat", "snmp"):
                self._files.forget(base + f)
            self._net_pid = None
            return None
        if ifaces:
            first = ifaces[0]
            net.name = first.name
            net.rx_bytes, net.rx_packets, net.rx_errors, net.rx_dropped = (
                first.rx_bytes, first.rx_packets, first.rx_errors, first.rx_dropped)  # fmt: skip
            net.tx_bytes, net.tx_packets, net.tx_errors, net.tx_dropped = (
                first.tx_bytes, first.tx_packets, first.tx_errors, first.tx_dropped)  # fmt: skip
        return net
