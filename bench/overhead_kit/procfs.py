"""CPU time and memory of process trees from ``/proc`` (proc(5); fs/proc/array.c ``do_task_stat``).

CPU is utime+stime+cutime+cstime summed over a process and its descendants: a child that exits
and is reaped inside the tree moves its time into its parent's cutime/cstime, so the difference
of two such sums is the tree's CPU time in between. RSS is the sum of ``VmRSS`` (status), PSS the
sum of ``Pss`` (smaps_rollup, Linux 4.14), peak RSS the sum of ``VmHWM``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the benchmark uses (times in clock ticks)."""

    pid: int
    comm: str
    ppid: int
    utime: int
    stime: int
    cutime: int
    cstime: int
    starttime: int

    @property
    def ticks(self) -> int:
        """Own CPU time plus that of reaped children."""
        return self.utime + self.stime + self.cutime + self.cstime


def parse_stat(data: bytes) -> ProcStat:
    """Parse ``/proc/<pid>/stat``; comm may hold spaces and parentheses, so split after the last ``)``."""
    lpar, rpar = data.index(b"("), data.rindex(b")")
    f = data[rpar + 2 :].split()
    # f[0] is field 3 (state): ppid is field 4, utime..cstime fields 14-17, starttime field 22.
    return ProcStat(
        pid=int(data[:lpar]),
        comm=data[lpar + 1 : rpar].decode(errors="replace"),
        ppid=int(f[1]),
        utime=int(f[11]),
        stime=int(f[12]),
        cutime=int(f[13]),
        cstime=int(f[14]),
        starttime=int(f[19]),
    )


def read_stat(pid: int, proc: str = "/proc") -> ProcStat | None:
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            return parse_stat(f.read())
    except (OSError, ValueError):
        return None


def start_time(pid: int, proc: str = "/proc") -> int | None:
    """Start time in ticks since boot, to tell a live process from a reused PID."""
    st = read_stat(pid, proc)
    return st.starttime if st else None


def scan(proc: str = "/proc") -> dict[int, ProcStat]:
    """Every process now running."""
    out: dict[int, ProcStat] = {}
    for name in os.listdir(proc):
        if name.isdigit():
            st = read_stat(int(name), proc)
            if st is not None:
                out[st.pid] = st
    return out


def descendants(root: int, table: dict[int, ProcStat]) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for st in table.values():
        children.setdefault(st.ppid, []).append(st.pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            out.append(pid)
            todo.extend(children.get(pid, ()))
    return out


def read_cmdline(pid: int, proc: str = "/proc") -> list[str]:
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


# ---------------------------------------------------------------- memory


@dataclass(frozen=True, slots=True)
class Memory:
    rss_kib: int
    pss_kib: int
    hwm_kib: int

    @property
    def rss_mib(self) -> float:
        return self.rss_kib / 1024

    @property
    def pss_mib(self) -> float:
        return self.pss_kib / 1024

    @property
    def hwm_mib(self) -> float:
        return self.hwm_kib / 1024


def field_kib(text: str, key: str) -> int:
    """The ``<key>: <n> kB`` value of a status or smaps_rollup text (0 when absent, as for kernel threads)."""
    for line in text.splitlines():
        if line.startswith(key) and line[len(key) : len(key) + 1] == ":":
            return int(line.split()[1])
    return 0


def memory(pids: Iterable[int], proc: str = "/proc") -> Memory:
    """Summed VmRSS, Pss and VmHWM of ``pids`` (processes gone meanwhile count 0)."""
    rss = pss = hwm = 0
    for pid in pids:
        try:
            with open(f"{proc}/{pid}/status") as f:
                status = f.read()
            rss += field_kib(status, "VmRSS")
            hwm += field_kib(status, "VmHWM")
            with open(f"{proc}/{pid}/smaps_rollup") as f:
                pss += field_kib(f.read(), "Pss")
        except OSError:
            continue
    return Memory(rss, pss, hwm)


# ---------------------------------------------------------------- CPU meter


class CgroupCounter(Protocol):
    def usage_ns(self) -> int: ...


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    wall_ns: int
    ticks: int
    cgroup_ns: int | None


@dataclass(frozen=True, slots=True)
class CpuUse:
    """CPU used between two snapshots, as % of one core (cgroup figure when there is one)."""

    seconds: float
    cpu_s: float
    pct: float
    pct_ticks: float

    @property
    def cpu_us(self) -> float:
        return self.cpu_s * 1e6


class TreeMeter:
    """Measures the CPU of a set of processes: ``pids()`` from /proc ticks, and a meter cgroup if given."""

    def __init__(self, pids: Callable[[dict[int, ProcStat]], list[int]], cgroup: CgroupCounter | None = None) -> None:
        self._pids = pids
        self._cgroup = cgroup

    def snapshot(self, table: dict[int, ProcStat] | None = None) -> CpuSnapshot:
        table = table if table is not None else scan()
        ticks = sum(table[p].ticks for p in self._pids(table) if p in table)
        cg = self._cgroup.usage_ns() if self._cgroup is not None else None
        return CpuSnapshot(time.monotonic_ns(), ticks, cg)

    def pids(self, table: dict[int, ProcStat] | None = None) -> list[int]:
        return self._pids(table if table is not None else scan())

    @staticmethod
    def use(a: CpuSnapshot, b: CpuSnapshot) -> CpuUse:
        wall = (b.wall_ns - a.wall_ns) / 1e9
        tick_s = (b.ticks - a.ticks) / CLK_TCK
        cpu_s = (b.cgroup_ns - a.cgroup_ns) / 1e9 if a.cgroup_ns is not None and b.cgroup_ns is not None else tick_s
        return CpuUse(seconds=wall, cpu_s=cpu_s, pct=100 * cpu_s / wall, pct_ticks=100 * tick_s / wall)


def tree_of(root: int) -> Callable[[dict[int, ProcStat]], list[int]]:
    """A ``pids`` function for :class:`TreeMeter`: ``root`` and its descendants."""
    return lambda table: descendants(root, table)
