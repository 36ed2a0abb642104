"""One row of the ``/api/v2.x/ps`` process list (cAdvisor ``lib/model`` ``ProcessInfo``, Go field order kept).

cAdvisor fills these from ``ps -e -o user,pid,ppid,stime,pcpu,pmem,rss,vsz,stat,time,comm,psr,cgroup``
(``cmd/internal/processlist``); :func:`pycadvisor.host.ps.list_processes` builds the same values
from procfs without forking ``ps``. No member is ``omitempty`` on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, kw_only=True)
class ProcessInfo:
    user: str  # effective user name as ps prints it (names over 8 chars cut to 7 + "+"), else the uid
    pid: int
    parent_pid: int
    start_time: str  # ps STIME: "HH:MM" today, "MonDD" this year, else "YYYY" (local time)
    percent_cpu: float  # ps %CPU: cpu time / elapsed time, in tenths of a percent (float32 in Go)
    percent_mem: float  # ps %MEM: rss / MemTotal, in tenths of a percent, capped at 99.9
    rss: int  # bytes (ps RSS kB x 1024)
    virtual_size: int  # bytes (ps VSZ kB x 1024)
    status: str  # ps STAT: state letter + "<" "N" "L" "s" "l" "+" flags
    running_time: str  # ps TIME: cumulative cpu time "HH:MM:SS" or "D-HH:MM:SS"
    cgroup_path: str  # the process's cgroup for the root container's list; "" in a container's list
    cmd: str  # ps COMMAND column (comm, at most 15 characters)
    fd_count: int  # entries of /proc/<pid>/fd
    psr: int  # CPU the process last ran on


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnProcessStats:
    """The exporter's own process, what ``prometheus_client``'s ``ProcessCollector`` reports of it
    (``process_*``); ``None``: not read (``stat``, or ``limits`` and ``fd``, could not be)."""

    virtual_memory_bytes: float | None = None  # bytes (stat vsize)
    resident_memory_bytes: float | None = None  # bytes (stat rss pages x page size)
    start_time_seconds: float | None = None  # seconds since the epoch (stat starttime + btime)
    cpu_seconds: float | None = None  # seconds (stat utime + stime)
    open_fds: int | None = None  # entries of <proc>/self/fd, the listing's own included
    max_fds: float | None = None  # the soft "Max open files" of <proc>/self/limits
