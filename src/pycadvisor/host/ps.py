"""The host's processes as cAdvisor's ``/ps`` lists them (``cmd/internal/processlist``; the values of procps-ng
``ps -e -o user,pid,ppid,stime,pcpu,pmem,rss,vsz,stat,time,comm,psr,cgroup``), read from procfs in pid order.

Pure parsers (``parse_*``) take the bytes of one file; :func:`list_processes` takes a
:class:`~pycadvisor.host.paths.HostPaths`. A pid that exits while it is read is skipped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import NamedTuple

from pycadvisor.errors import ParseError
from pycadvisor.host.paths import HostPaths, read_bytes
from pycadvisor.model.process import ProcessInfo


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
