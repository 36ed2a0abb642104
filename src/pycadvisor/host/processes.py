"""Per-process procfs readers: fd/socket counts, ulimits, schedstat, task states and the ``ps`` list.

Pure parsers (``parse_*``) take the bytes of one file; readers (``read_*``, :func:`list_processes`) take
a :class:`~pycadvisor.host.paths.HostPaths` and a list of pids. A pid that exits while it is read is
skipped: ``/proc/<pid>`` vanishing (ENOENT, ESRCH) is normal churn, not an error.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from pycadvisor.errors import ParseError
from pycadvisor.host.paths import HostPaths, read_bytes
from pycadvisor.model.container import CpuSchedstat, LoadStats, ProcessStats, UlimitSpec
from pycadvisor.model.process import ProcessInfo

# ---------------------------------------------------------------- fds, sockets, ulimits

_MAX_OPEN_FILES = b"Max open files"


def _parse_ulimit(raw: bytes) -> int | None:
    """One limit value of /proc/<pid>/limits; ``unlimited`` is -1 (cAdvisor ``parseUlimit``)."""
    try:
        return int(raw)
    except ValueError:
        return -1 if raw.lower() == b"unlimited" else None


def parse_limits(data: bytes) -> list[UlimitSpec]:
    """Return the ulimits cAdvisor reports from /proc/<pid>/limits: only ``max_open_files``.

    fs/proc/base.c ``proc_pid_limits`` prints ``Max open files  <soft> <hard> files``; a line whose
    values do not parse is left out (cAdvisor ``processLimitsFile``).
    """
    out: list[UlimitSpec] = []
    for line in data.split(b"\n"):
        if not line.startswith(_MAX_OPEN_FILES):
            continue
        fields = line[len(_MAX_OPEN_FILES) :].split()
        if len(fields) != 3:
            continue
        soft, hard = _parse_ulimit(fields[0]), _parse_ulimit(fields[1])
        if soft is None or hard is None:
            continue
        out.append(UlimitSpec(name="max_open_files", soft_limit=soft, hard_limit=hard))
    return out


def _count_fds(fd_dir: str) -> tuple[int, int] | None:
    """(fds, sockets) of one /proc/<pid>/fd directory; ``None`` when it cannot be listed."""
    try:
        dfd = os.open(fd_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            names = os.listdir(dfd)
        except OSError:
            return None
        sockets = 0
        for name in names:
            try:  # readlink relative to the open directory: no path walk per fd
                if os.readlink(name, dir_fd=dfd).startswith("socket:"):
                    sockets += 1
            except OSError:
                continue  # closed since the listing
        return len(names), sockets
    finally:
        os.close(dfd)


def read_process_stats(
    paths: HostPaths,
    pids: list[int],
    init_pid: int | None,
    *,
    threads_current: int | None,
    threads_max: int | None,
) -> ProcessStats:
    """Return ``processes`` of a container whose cgroup lists ``pids`` (cAdvisor ``processStatsFromProcs``).

    ``process_count`` is ``len(pids)`` (the cgroup.procs lines, as in cAdvisor); ``fd_count`` sums the
    entries of every /proc/<pid>/fd and ``socket_count`` those linking to ``socket:[inode]``; pids gone
    or unreadable meanwhile add nothing. ``ulimits`` come from the init process's limits file (empty when
    there is no init pid or it is gone). ``threads_*`` are pids.current / pids.max read by the caller.
    """
    fd_count = socket_count = 0
    for pid in pids:
        counted = _count_fds(f"{paths.proc}/{pid}/fd")
        if counted is not None:
            fd_count += counted[0]
            socket_count += counted[1]
    ulimits: list[UlimitSpec] = []
    if init_pid is not None and init_pid > 0:
        try:
            ulimits = parse_limits(read_bytes(f"{paths.proc}/{init_pid}/limits"))
        except OSError:
            ulimits = []
    return ProcessStats(
        process_count=len(pids),
        fd_count=fd_count,
        socket_count=socket_count,
        threads_current=threads_current or 0,
        threads_max=threads_max or 0,
        ulimits=ulimits,
    )


# ---------------------------------------------------------------- schedstat


def parse_schedstat(data: bytes, *, source: str = "schedstat") -> tuple[int, int, int]:
    """Return (run_time ns, runqueue_time ns, run_periods) of /proc/<pid>/schedstat.

    kernel/sched/stats.c ``proc_pid_schedstat``: ``sum_exec_runtime run_delay pcount`` of the task
    (for /proc/<pid>, the thread-group leader only, as cAdvisor reads it).
    """
    f = data.split()
    if len(f) != 3:
        raise ParseError(source, f"expected 3 fields, got {len(f)}")
    try:
        return int(f[0]), int(f[1]), int(f[2])
    except ValueError:
        raise ParseError(source, f"non-numeric field in {data!r}") from None


def read_schedstat_by_pid(paths: HostPaths, pids: Iterable[int]) -> dict[int, tuple[int, int, int]]:
    """Return the schedstat triple of each pid still present."""
    out: dict[int, tuple[int, int, int]] = {}
    for pid in pids:
        path = f"{paths.proc}/{pid}/schedstat"
        try:
            data = read_bytes(path)
        except OSError:
            continue
        out[pid] = parse_schedstat(data, source=path)
    return out


def _schedstat(run_time: int, runqueue_time: int, run_periods: int) -> CpuSchedstat:
    return CpuSchedstat(run_time=run_time, runqueue_time=runqueue_time, run_periods=run_periods)


def read_schedstat(paths: HostPaths, pids: Iterable[int]) -> CpuSchedstat:
    """Return the sum of /proc/<pid>/schedstat over the pids still present."""
    rt = rq = rp = 0
    for a, b, c in read_schedstat_by_pid(paths, pids).values():
        rt += a
        rq += b
        rp += c
    return _schedstat(rt, rq, rp)


def parse_referenced_kb(smaps: bytes) -> int | None:
    """Sum of the ``Referenced:`` lines (kB) of ``/proc/<pid>/smaps`` or ``smaps_rollup``; None when there are none.

    fs/proc/task_mmu.c prints ``Referenced: %8lu kB`` per mapping in smaps and once, summed over all
    mappings, in smaps_rollup. cAdvisor (container/libcontainer/handler.go ``getReferencedKBytes``) sums
    the smaps lines with a regexp; the rollup gives the same total in one line.
    """
    total, found, i = 0, False, smaps.find(b"Referenced:")
    while i >= 0:
        end = smaps.find(b"\n", i)
        total += int(smaps[i + 11 : end if end >= 0 else len(smaps)].split()[0])
        found = True
        i = smaps.find(b"Referenced:", i + 11)
    return total if found else None


def read_referenced_bytes(paths: HostPaths, pids: Iterable[int]) -> int:
    """Bytes the processes referenced since their ``clear_refs`` was last written (``referenced_memory`` set).

    A process that exited meanwhile is skipped (cAdvisor: "smaps file does not exist for all PIDs").
    """
    total = 0
    for pid in pids:
        base = f"{paths.proc}/{pid}/"
        try:
            try:
                data = read_bytes(base + "smaps_rollup")  # Linux >= 4.14
            except FileNotFoundError:
                data = read_bytes(base + "smaps")
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += parse_referenced_kb(data) or 0
    return total * 1024


def clear_referenced(paths: HostPaths, pids: Iterable[int]) -> None:
    """Reset the processes' referenced bits: ``1`` to ``/proc/<pid>/clear_refs`` (Documentation/filesystems/proc.rst).

    As cAdvisor, a process whose file cannot be opened (gone, or a kernel thread) is skipped.
    """
    for pid in pids:
        try:
            fd = os.open(f"{paths.proc}/{pid}/clear_refs", os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            os.write(fd, b"1\n")
        except OSError:  # exited between open and write
            pass
        finally:
            os.close(fd)


class SchedstatAccumulator:
    """A container's schedstat that keeps the last values of its exited pids (cAdvisor ``schedulerStatsFromProcs``).

    cAdvisor's handler holds ``pidMetricsCache`` and ``pidMetricsSaved``: the sum never drops when a
    process exits or leaves the cgroup. One instance per container; feed it every sample.
    """

    __slots__ = ("_last", "_saved")

    def __init__(self) -> None:
        self._last: dict[int, tuple[int, int, int]] = {}
        self._saved = (0, 0, 0)

    def update(self, current: Mapping[int, tuple[int, int, int]]) -> CpuSchedstat:
        """Return saved totals + ``current`` (from :func:`read_schedstat_by_pid`), retiring pids now gone."""
        rt, rq, rp = self._saved
        for pid, (a, b, c) in self._last.items():
            if pid not in current:
                rt, rq, rp = rt + a, rq + b, rp + c
        self._saved = (rt, rq, rp)
        self._last = dict(current)
        for a, b, c in current.values():
            rt, rq, rp = rt + a, rq + b, rp + c
        return _schedstat(rt, rq, rp)


# ---------------------------------------------------------------- task states


def parse_stat_state(data: bytes, *, source: str = "stat") -> str:
    """Return the state letter of a /proc/<pid>/stat line (the field after the ``(comm)``)."""
    end = data.rfind(b")")
    if end < 0 or len(data) < end + 3:
        raise ParseError(source, "no state after the command name")
    return chr(data[end + 2])


def read_task_stats(paths: HostPaths, pids: Iterable[int]) -> LoadStats:
    """Return ``task_stats`` counted from /proc/<id>/stat state letters.

    cAdvisor fills this only through the taskstats netlink ``CGROUPSTATS_CMD_GET``, where the kernel
    (kernel/cgroup/cgroup-v1.c ``cgroupstats_build``) walks every *task* of the cgroup and counts
    TASK_RUNNING, TASK_INTERRUPTIBLE, TASK_UNINTERRUPTIBLE and TASK_STOPPED; any other state counts as
    io-wait only if ``in_iowait``. Here, from procfs: ``R`` running, ``S`` sleeping, ``D`` uninterruptible,
    ``T`` stopped; ``t`` (traced), ``I`` (idle kernel thread), ``Z``, ``X``, ``P`` are not counted, and
    ``nr_io_wait`` stays 0 (procfs does not show ``in_iowait``; io sleepers are ``D`` and land in
    ``nr_uninterruptible``, as they do in the kernel's count). To count tasks like the kernel does,
    pass thread ids (``tasks`` / ``cgroup.threads``): /proc/<tid>/stat is readable for any tid.
    """
    running = sleeping = stopped = uninterruptible = 0
    for pid in pids:
        path = f"{paths.proc}/{pid}/stat"
        try:
            data = read_bytes(path)
        except OSError:
            continue
        state = parse_stat_state(data, source=path)
        if state == "S":
            sleeping += 1
        elif state == "R":
            running += 1
        elif state == "D":
            uninterruptible += 1
        elif state == "T":
            stopped += 1
    return LoadStats(
        nr_sleeping=sleeping,
        nr_running=running,
        nr_stopped=stopped,
        nr_uninterruptible=uninterruptible,
        nr_io_wait=0,
    )


# ---------------------------------------------------------------- ps


class PidStat(NamedTuple):
    """The /proc/<pid>/stat fields ``ps`` uses (proc(5) numbering in comments)."""

    comm: str  # (2)
    state: str  # (3)
    ppid: int  # (4)
    pgrp: int  # (5)
    session: int  # (6)
    tpgid: int  # (8)
    utime: int  # (14) clock ticks
    stime: int  # (15) clock ticks
    nice: int  # (19)
    num_threads: int  # (20)
    starttime: int  # (22) clock ticks after boot
    vsize: int  # (23) bytes
    rss: int  # (24) pages
    processor: int  # (39)


def parse_pid_stat(data: bytes, *, source: str = "stat") -> PidStat:
    """Parse one /proc/<pid>/stat line; ``comm`` may hold spaces and parentheses (last ``)`` ends it)."""
    start = data.find(b"(")
    end = data.rfind(b")")
    if start < 0 or end < start:
        raise ParseError(source, "no (comm) field")
    r = data[end + 2 :].split()
    if len(r) < 22:
        raise ParseError(source, f"only {len(r) + 2} fields")
    try:
        return PidStat(
            comm=data[start + 1 : end].decode("utf-8", "replace"),
            state=r[0].decode("ascii", "replace"),
            ppid=int(r[1]),
            pgrp=int(r[2]),
            session=int(r[3]),
            tpgid=int(r[5]),
            utime=int(r[11]),
            stime=int(r[12]),
            nice=int(r[16]),
            num_threads=int(r[17]),
            starttime=int(r[19]),
            vsize=int(r[20]),
            rss=int(r[21]),
            processor=int(r[36]) if len(r) > 36 else 0,
        )
    except ValueError:
        raise ParseError(source, "non-numeric field") from None


def _status_value(status: bytes, key: bytes) -> bytes | None:
    """The text after ``<key>:`` on its /proc/<pid>/status line (``key`` never the first line)."""
    i = status.find(b"\n" + key + b":")
    if i < 0:
        return None
    i += len(key) + 2
    j = status.find(b"\n", i)
    return status[i : j if j >= 0 else len(status)]


class PidStatus(NamedTuple):
    """The /proc/<pid>/status fields ``ps`` uses; the ``Vm*`` lines are absent for tasks without an mm."""

    euid: int
    vm_lck_kb: int
    vm_rss_kb: int | None
    vm_size_kb: int | None


def _status_kb(status: bytes, key: bytes) -> int | None:
    v = _status_value(status, key)
    return int(v.split()[0]) if v is not None else None


def parse_pid_status(data: bytes) -> PidStatus:
    """Parse the ``Uid``, ``VmLck``, ``VmRSS`` and ``VmSize`` lines of /proc/<pid>/status (fs/proc/array.c)."""
    uid = _status_value(data, b"Uid")
    return PidStatus(
        euid=int(uid.split()[1]) if uid is not None else 0,
        vm_lck_kb=_status_kb(data, b"VmLck") or 0,
        vm_rss_kb=_status_kb(data, b"VmRSS"),
        vm_size_kb=_status_kb(data, b"VmSize"),
    )


def parse_uptime(data: bytes) -> float:
    """Return the seconds since boot from /proc/uptime (``<uptime> <idle>``, fs/proc/uptime.c)."""
    f = data.split()
    if not f:
        raise ParseError("uptime", "empty")
    return float(f[0])


def read_uptime(paths: HostPaths) -> float:
    """Return the host's uptime in seconds from <proc>/uptime."""
    return parse_uptime(read_bytes(f"{paths.proc}/uptime"))


def parse_passwd(data: bytes) -> dict[int, str]:
    """Return uid -> user name from an /etc/passwd file (the first entry of a uid wins, as getpwuid)."""
    out: dict[int, str] = {}
    for line in data.split(b"\n"):
        f = line.split(b":", 3)
        if len(f) < 4 or line.startswith(b"#"):
            continue
        try:
            uid = int(f[2])
        except ValueError:
            continue
        out.setdefault(uid, f[0].decode("utf-8", "replace"))
    return out


def read_passwd(paths: HostPaths) -> dict[int, str]:
    """Return the rootfs's uid -> name map; empty when there is no <etc>/passwd."""
    try:
        return parse_passwd(read_bytes(os.path.join(paths.etc, "passwd")))
    except OSError:
        return {}


class CgroupEntry(NamedTuple):
    hierarchy: str  # hierarchy id; "0" is the cgroup v2 (unified) line
    controllers: tuple[str, ...]  # () on the v2 line; ("name=systemd",) for named v1 hierarchies
    path: str


def parse_proc_cgroup(data: bytes) -> list[CgroupEntry]:
    """Parse /proc/<pid>/cgroup: ``hierarchy-ID:controller-list:cgroup-path`` lines (cgroups(7))."""
    out: list[CgroupEntry] = []
    for line in data.decode("utf-8", "replace").split("\n"):
        f = line.split(":", 2)
        if len(f) != 3:
            continue
        out.append(CgroupEntry(f[0], tuple(f[1].split(",")) if f[1] else (), f[2]))
    return out


def cgroup_matches(entries: list[CgroupEntry], name: str, controllers: tuple[str, ...]) -> bool:
    """Whether the process is in cgroup ``name`` of any v1 hierarchy holding one of ``controllers``,
    or, when none of them is mounted as v1, in ``name`` of the unified hierarchy."""
    v1 = False
    for e in entries:
        if e.controllers and any(c in e.controllers for c in controllers):
            v1 = True
            if e.path == name:
                return True
    if v1:
        return False
    return any(e.hierarchy == "0" and not e.controllers and e.path == name for e in entries)


def ps_cgroup_path(entries: list[CgroupEntry], controllers: tuple[str, ...] = ("memory", "cpu")) -> str:
    """The cgroup cAdvisor shows for a process: what it parses out of ps's CGROUP column.

    procps (``fill_cgroup_cvt``) joins the lines whose path is not the root with ``,`` (``-`` if none,
    which cAdvisor reads as ``/``). cAdvisor (``getCgroupPath``) takes the path after a leading ``0::``,
    else the memory hierarchy's path, else the cpu one's, else ``/``. Its regexp misses a memory entry
    that ends the column (no ``,`` after it) and can pick ``cpuset`` for ``cpu``; those slips are not
    copied: controllers are matched by name, memory first.
    """
    shown = [e for e in entries if not e.path.endswith("/")]
    if not shown:
        return "/"
    if shown[0].hierarchy == "0" and not shown[0].controllers:
        return shown[0].path
    for want in sorted(controllers, key=lambda c: c != "memory"):
        for e in shown:
            if want in e.controllers:
                return e.path
    return "/"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_stime(start_s: float, now_s: float) -> str:
    """ps STIME (procps ``pr_stime``, local time): ``HH:MM`` today, ``MonDD`` this year, else ``YYYY``."""
    now = time.localtime(now_s)
    t = time.localtime(start_s)
    if now.tm_year != t.tm_year:
        return f"{t.tm_year:d}"
    if now.tm_yday != t.tm_yday:
        return f"{_MONTHS[t.tm_mon - 1]}{t.tm_mday:02d}"
    return f"{t.tm_hour:02d}:{t.tm_min:02d}"


def format_cputime(seconds: int) -> str:
    """ps TIME (procps ``pr_time``): ``HH:MM:SS``, with ``D-`` in front from one day on."""
    minutes, ss = divmod(seconds, 60)
    hours, mm = divmod(minutes, 60)
    dd, hh = divmod(hours, 24)
    if dd:
        return f"{dd}-{hh:02d}:{mm:02d}:{ss:02d}"
    return f"{hh:02d}:{mm:02d}:{ss:02d}"


def format_stat(st: PidStat, pid: int, vmlck_kb: int) -> str:
    """ps STAT (procps ``pr_stat``): state, then ``<`` / ``N`` (nice), ``L`` (locked pages),
    ``s`` (session leader), ``l`` (multi-threaded), ``+`` (foreground process group)."""
    out = st.state
    if st.nice < 0:
        out += "<"
    elif st.nice > 0:
        out += "N"
    if vmlck_kb:
        out += "L"
    if st.session == pid:
        out += "s"
    if st.num_threads > 1:
        out += "l"
    if st.pgrp == st.tpgid:
        out += "+"
    return out


def ps_user(euid: int, users: Mapping[int, str]) -> str:
    """ps USER (procps ``do_pr_name``): the name, cut to 7 characters + ``+`` beyond the 8-cell
    column (``systemd+``), or the decimal uid when the name is unknown."""
    name = users.get(euid)
    if name is None:
        return str(euid)
    return name if len(name) <= 8 else name[:7] + "+"


def ps_command(comm: str) -> str:
    """ps COMMAND for ``comm`` in a 15-cell column, as cAdvisor reads it back.

    procps prints control characters as ``?`` and cuts the name to the column; cAdvisor splits the
    line on whitespace and joins the command's words with one space.
    """
    clean = "".join("?" if (ord(ch) < 32 or ord(ch) == 127 or ch == "\ufffd") else ch for ch in comm)
    return " ".join(clean[:15].split())


def permille_cpu(cpu_ticks: int, elapsed_s: int, clk_tck: int) -> float:
    """ps %CPU (procps ``pr_pcpu``): integer per-mille of cpu time over lifetime, shown with one decimal
    below 100 %, as a whole number from 100 % on."""
    if elapsed_s <= 0:
        return 0.0
    pm = (cpu_ticks * 1000 // clk_tck) // elapsed_s
    return float(pm // 10) if pm > 999 else pm / 10


def permille_mem(rss_kb: int, mem_total_kb: int) -> float:
    """ps %MEM (procps ``pr_pmem``): integer per-mille of MemTotal, capped at 99.9."""
    if mem_total_kb <= 0:
        return 0.0
    return min(rss_kb * 1000 // mem_total_kb, 999) / 10


def list_processes(
    paths: HostPaths,
    *,
    cgroup_filter: str | None,
    hierarchy_controllers: tuple[str, ...] = ("cpu", "memory"),
    boot_time_s: float | None = None,
    clk_tck: int = 100,
    page_size: int = 4096,
    mem_total_bytes: int,
    now_s: float,
) -> list[ProcessInfo]:
    """Return the host's processes as cAdvisor's ``/ps`` shows them, read from procfs in pid order.

    Values are those of ``ps -e -o user,pid,ppid,stime,pcpu,pmem,rss,vsz,stat,time,comm,psr,cgroup``
    (procps-ng) after cAdvisor's parsing. ``cgroup_filter=None`` lists every process (the root
    container) with its cgroup path; a container name keeps only processes in that cgroup of one of
    ``hierarchy_controllers`` (v1) or of the unified hierarchy (v2), and their ``cgroup_path`` is ``""``
    (cAdvisor ``parsePsLine``). A process whose fd directory cannot be listed is left out, as in cAdvisor.
    ``clk_tck``/``page_size`` are the host's ``sysconf(_SC_CLK_TCK)``/``(_SC_PAGESIZE)``; ``now_s`` is
    the wall clock (seconds since the epoch) the times are computed against; ``boot_time_s`` defaults
    to ``now_s`` minus <proc>/uptime. ``mem_total_bytes`` is MemTotal (the machine's memory capacity).
    """
    if boot_time_s is None:
        # procps measures a process's age against /proc/uptime; btime in /proc/stat is whole seconds.
        boot_time_s = now_s - read_uptime(paths)
    boot_s = int(boot_time_s)
    users = read_passwd(paths)
    mem_total_kb = mem_total_bytes // 1024
    proc = paths.proc
    pids = sorted(int(n) for n in os.listdir(proc) if n.isdigit())
    out: list[ProcessInfo] = []
    for pid in pids:
        base = f"{proc}/{pid}"
        try:
            entries = parse_proc_cgroup(read_bytes(base + "/cgroup"))
            if cgroup_filter is not None and not cgroup_matches(entries, cgroup_filter, hierarchy_controllers):
                continue
            stat_raw = read_bytes(base + "/stat")
            status_raw = read_bytes(base + "/status")
            fds = os.listdir(base + "/fd")
        except OSError:
            continue  # exited meanwhile, or unreadable
        st = parse_pid_stat(stat_raw, source=base + "/stat")
        status = parse_pid_status(status_raw)
        cpu_ticks = st.utime + st.stime
        start_s = boot_s + st.starttime // clk_tck
        # procps 4 reads RSS/VSZ from status. On Linux 6.18 stat's rss field (an approximate read of
        # the per-CPU rss counters) trailed VmRSS (and statm) by up to ~250 kB. stat is the fallback.
        rss_kb = status.vm_rss_kb if status.vm_rss_kb is not None else st.rss * page_size // 1024
        vsz_kb = status.vm_size_kb if status.vm_size_kb is not None else st.vsize // 1024
        out.append(
            ProcessInfo(
                user=ps_user(status.euid, users),
                pid=pid,
                parent_pid=st.ppid,
                start_time=format_stime(start_s, now_s),
                percent_cpu=permille_cpu(cpu_ticks, int(now_s - boot_time_s - st.starttime / clk_tck), clk_tck),
                percent_mem=permille_mem(rss_kb, mem_total_kb),
                rss=rss_kb * 1024,
                virtual_size=vsz_kb * 1024,
                status=format_stat(st, pid, status.vm_lck_kb),
                running_time=format_cputime(cpu_ticks // clk_tck),
                cgroup_path=ps_cgroup_path(entries, hierarchy_controllers) if cgroup_filter is None else "",
                cmd=ps_command(st.comm),
                fd_count=len(fds),
                psr=st.processor,
            )
        )
    return out
