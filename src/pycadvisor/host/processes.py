"""Per-process procfs readers: fd/socket counts, ulimits, schedstat and task states (the ``ps`` list: :mod:`.ps`).

Pure parsers (``parse_*``) take the bytes of one file; readers (``read_*``) take
a :class:`~pycadvisor.host.paths.HostPaths` and a list of pids. A pid that exits while it is read is
skipped: ``/proc/<pid>`` vanishing (ENOENT, ESRCH) is normal churn, not an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from pycadvisor.errors import ParseError
from pycadvisor.host.paths import HostPaths, read_bytes
from pycadvisor.model.container import CpuSchedstat, LoadStats, ProcessStats, UlimitSpec

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
