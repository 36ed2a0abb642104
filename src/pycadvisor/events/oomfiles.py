"""The files an OOM watch reads besides its counters' wake-ups (:mod:`pycadvisor.events.oom`): pure parsers of
``/proc/vmstat`` and ``cgroup.procs`` (``memory.events`` and ``memory.oom_control`` are the kernel's flat-keyed
files: :func:`pycadvisor.host.cgroups.rows.parse_keyed`), and the notes of a cgroup's processes taken when it
reports a coming OOM (``/proc/<pid>/comm``, ``oom_score``: ``fs/proc/base.c``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

from pycadvisor.host.paths import HostPaths, read_bytes

NOTE_MAX_PROCS: Final = 256  # processes noted per cgroup before an OOM
VMSTAT_READ_SIZE: Final = 4096  # a seq file returns at most one page per read


# ---------------------------------------------------------------- pure parsers


def parse_vmstat_oom_kill(data: bytes) -> int | None:
    """The ``oom_kill`` counter of ``/proc/vmstat`` (Linux >= 4.13), or None when absent."""
    i = data.find(b"\noom_kill ")
    if i < 0:
        if not data.startswith(b"oom_kill "):
            return None
        i = -1
    start = i + len(b"\noom_kill ")
    end = data.find(b"\n", start)
    try:
        return int(data[start : end if end >= 0 else len(data)])
    except ValueError:
        return None


def pread_vmstat_oom_kill(fd: int) -> int | None:
    """``oom_kill`` of a held ``/proc/vmstat`` fd, reading from offset 0 only as far as that line.

    procfs regenerates a seq file when read at offset 0; later chunks follow at the offsets reached.
    """
    data = b""
    while True:
        chunk = os.pread(fd, VMSTAT_READ_SIZE, len(data))
        if not chunk:
            break
        data += chunk
        i = data.find(b"\noom_kill ")
        if i >= 0 and data.find(b"\n", i + 1) >= 0:
            break
    return parse_vmstat_oom_kill(data)


def parse_cgroup_procs(data: bytes) -> list[int]:
    """Pids of ``cgroup.procs``, one per line."""
    return [int(x) for x in data.split()]


# ---------------------------------------------------------------- process notes


@dataclass(frozen=True, slots=True)
class NotedProcess:
    pid: int
    name: str  # /proc/<pid>/comm, as kmsg's task= / Killed process (<name>)
    oom_score: int  # /proc/<pid>/oom_score: the kernel's victim ranking
    seen_ns: int = 0  # when it was last seen in the cgroup


def read_cgroup_pids(cgroup_dir: str) -> set[int] | None:
    try:
        return set(parse_cgroup_procs(read_bytes(os.path.join(cgroup_dir, "cgroup.procs"))))
    except (OSError, ValueError):
        return None


def note_processes(
    paths: HostPaths, cgroup_dir: str, now: int = 0, limit: int = NOTE_MAX_PROCS
) -> dict[int, NotedProcess]:
    """Name and ``oom_score`` of (at most ``limit``) processes now in the cgroup."""
    pids = read_cgroup_pids(cgroup_dir)
    out: dict[int, NotedProcess] = {}
    if not pids:
        return out
    for pid in sorted(pids)[:limit]:
        base = os.path.join(paths.proc, str(pid))
        try:
            name = read_bytes(base + "/comm").rstrip(b"\n").decode("utf-8", "replace")
        except OSError:
            continue
        try:
            score = int(read_bytes(base + "/oom_score"))
        except (OSError, ValueError):
            score = 0
        out[pid] = NotedProcess(pid, name, score, now)
    return out
