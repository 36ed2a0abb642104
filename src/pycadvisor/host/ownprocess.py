"""The exporter's own process from ``<proc>/self``: what ``prometheus_client``'s ``ProcessCollector``
reads (``prometheus_client/process_collector.py``), for the ``process_*`` families of ``/metrics``.

``process_open_fds`` is what a listing of ``<proc>/self/fd`` counts, the listing's own fd included (as
the Python and Go clients report it). The client lists the directory, 8-16 ms per scrape at 12,000
fds (pycadvisor holds about ten per container); since Linux 6.2 (``fs/proc/fd.c``
``proc_readfd_count``) ``stat`` of that directory gives the count in ``st_size``; older kernels report
0 there, and the listing is kept.
"""

from __future__ import annotations

import dataclasses
import os

from pycadvisor.host.paths import HostPaths, read_bytes
from pycadvisor.model.process import OwnProcessStats


def _fd_dir_size_counts_fds(fd_dir: str) -> bool:
    """Whether ``st_size`` of our own ``fd`` directory is the number of open fds (Linux >= 6.2).

    Checked against a listing, which sees one fd more (the directory it has open). Older kernels
    report 0, and a directory that is not procfs (a fixture tree) reports its own size: both fail.
    Another thread opening or closing fds meanwhile makes the two stats differ: try again.
    """
    for _ in range(3):
        before = os.stat(fd_dir).st_size
        listed = len(os.listdir(fd_dir))
        after = os.stat(fd_dir).st_size
        if before != after:
            continue
        return before > 0 and listed == before + 1
    return False


def boot_time(data: bytes) -> float:
    """``btime`` of ``/proc/stat`` (``fs/proc/stat.c``), in seconds since the epoch; 0 if absent."""
    i = data.find(b"\nbtime ")
    if i < 0:
        return 0.0
    return float(data[i + 7 : data.find(b"\n", i + 7)].strip() or b"0")


def max_open_files(limits: bytes) -> float | None:
    """The soft ``Max open files`` of ``/proc/<pid>/limits`` (``fs/proc/base.c`` ``proc_pid_limits``)."""
    i = limits.find(b"Max open file")
    if i < 0:
        return None
    end = limits.find(b"\n", i)
    fields = limits[i : end if end >= 0 else len(limits)].split()
    try:
        return float(fields[3])
    except (IndexError, ValueError):
        return None  # "unlimited" cannot be RLIMIT_NOFILE (bounded by fs.nr_open)


class OwnProcessReader:
    """Reads this process's figures under ``paths.proc``; the boot time and clock tick once.

    Like the client, nothing is read when ``<proc>/stat`` has no boot time, the stat figures are left
    out when ``stat`` cannot be read, and the fd figures when ``limits`` or ``fd`` cannot.
    """

    __slots__ = ("_btime", "_fd_dir", "_limits", "_pagesize", "_size_counts", "_stat", "_ticks")

    def __init__(self, paths: HostPaths) -> None:
        proc = paths.proc
        self._stat = f"{proc}/self/stat"
        self._limits = f"{proc}/self/limits"
        self._fd_dir = f"{proc}/self/fd"
        ticks: float = 100.0
        try:
            ticks = os.sysconf("SC_CLK_TCK")
        except (ValueError, OSError):
            pass
        self._ticks = ticks
        self._pagesize = os.sysconf("SC_PAGE_SIZE")
        self._btime = 0.0
        try:
            self._btime = boot_time(read_bytes(f"{proc}/stat"))
        except (OSError, ValueError):
            pass
        self._size_counts: bool | None = None  # decided at the first read

    def open_fds(self) -> int:
        """Open fds of this process, as ``len(os.listdir('<proc>/self/fd'))`` counts them."""
        if self._size_counts is None:
            self._size_counts = _fd_dir_size_counts_fds(self._fd_dir)
        if self._size_counts:
            n = os.stat(self._fd_dir).st_size
            if n > 0:
                return n + 1  # + the fd a listing holds on the directory
        return len(os.listdir(self._fd_dir))

    def read(self) -> OwnProcessStats | None:
        """The process's figures now; ``None`` without a boot time (as the client: no families)."""
        if not self._btime:
            return None
        base = OwnProcessStats()
        try:
            parts = read_bytes(self._stat).rpartition(b")")[2].split()
            ticks = self._ticks
            base = OwnProcessStats(
                virtual_memory_bytes=float(parts[20]),
                resident_memory_bytes=float(parts[21]) * self._pagesize,
                start_time_seconds=float(parts[19]) / ticks + self._btime,
                cpu_seconds=float(parts[11]) / ticks + float(parts[12]) / ticks,  # utime + stime
            )
        except OSError:
            pass
        try:
            max_fds = max_open_files(read_bytes(self._limits))
            open_fds = self.open_fds()
        except OSError:
            return base
        return base if max_fds is None else dataclasses.replace(base, open_fds=open_fds, max_fds=max_fds)
