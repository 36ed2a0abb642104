"""A container's spec from its cgroup files (cAdvisor ``container/common/helpers.go: GetSpec``).

Read when the container is found and again on every global housekeeping, so limits changed
with ``docker update`` or by hand show up within a minute.
"""

from __future__ import annotations

import os

from pycadvisor.host.cgroups.cpu import MAX_U64, parse_cpu_max, parse_limit, weight_to_shares
from pycadvisor.host.paths import read_bytes
from pycadvisor.model.container import ContainerSpec, CpuSpec, MemorySpec, ProcessSpec

_LIVE_WINDOW_NS = 1_000_000_000


def _read(path: str) -> bytes | None:
    try:
        return read_bytes(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return None


def _int_or(path: str, default: int = 0) -> int:
    raw = _read(path)
    if raw is None:
        return default
    try:
        return parse_limit(raw)
    except ValueError:
        return default


def _mtime_ns(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def creation_time_ns(dirs: dict[str, str], *, v2: bool, boot_time_ns: int, found_ns: int | None = None) -> int:
    """Earliest mtime of the container's cgroup dirs and their marker file, not before boot.

    cAdvisor uses ``cgroup.clone_children`` (v1) / ``cgroup.events`` (v2) mtimes as well, since a
    directory's mtime moves when children are added.

    ``found_ns``: when inotify reported the cgroup. The kernel stamps inodes from the coarse clock
    (fs/inode.c ``current_time`` -> ``ktime_get_coarse_real_ts64``), which trails the real time by a
    tick or more (4 ms per tick here; up to 5.6 ms seen): 198 of 200 cgroups made on this host had an
    mtime before a time read just before their mkdir, so a client asking for the events since then
    lost their ``containerCreation``. A cgroup seen within ``_LIVE_WINDOW_NS`` of its mtime is
    therefore stamped when it was seen, which is after its mkdir and within milliseconds of it.
    """
    marker = "cgroup.events" if v2 else "cgroup.clone_children"
    times = []
    for ctrl, d in dirs.items():
        if ctrl == "unified" and not v2:
            continue
        for p in (d, os.path.join(d, marker)):
            t = _mtime_ns(p)
            if t is not None:
                times.append(t)
    if not times:
        return boot_time_ns
    t = max(min(times), boot_time_ns)
    if found_ns is not None and t <= found_ns <= t + _LIVE_WINDOW_NS:
        return found_ns
    return t


def read_spec(
    dirs: dict[str, str],
    *,
    v2: bool,
    num_cpus: int,
    boot_time_ns: int,
    is_root: bool,
    machine_memory: int,
    machine_swap: int,
    creation_time: int | None = None,
    found_ns: int | None = None,
) -> ContainerSpec:
    """Return the spec of the container whose controller directories are ``dirs``.

    ``creation_time``: the one found when the container was first read (a refresh), kept instead of
    looking at two mtimes per controller again: the limits change, the creation does not."""
    if creation_time is None:
        creation_time = creation_time_ns(dirs, v2=v2, boot_time_ns=boot_time_ns, found_ns=found_ns)
    spec = ContainerSpec(creation_time=creation_time)
    if v2:
        d = dirs.get("unified", "")
        controllers = set((_read(os.path.join(d, "cgroup.controllers")) or b"").split())
        if not is_root:
            parent = os.path.dirname(d)
            controllers = set((_read(os.path.join(parent, "cgroup.subtree_control")) or b"").split())
        spec.has_cpu = b"cpu" in controllers or is_root
        spec.has_memory = b"memory" in controllers or is_root
        spec.has_diskio = b"io" in controllers or is_root
        spec.has_processes = b"pids" in controllers or is_root
        spec.has_hugetlb = b"hugetlb" in controllers
        if spec.has_cpu:
            # Where cpu.weight or cpu.max is absent (the root cgroup has neither: kernel/sched/core.c
            # cpu_files are CFTYPE_NOT_ON_ROOT) the shares and the period are 0, as cAdvisor's
            # lib/container/common/helpers.go getSpecInternal leaves them; not v1's defaults 1024 and 100000.
            w = _read(os.path.join(d, "cpu.weight"))
            cpu_max = _read(os.path.join(d, "cpu.max"))
            quota, period = parse_cpu_max(cpu_max) if cpu_max else (0, 0)
            spec.cpu = CpuSpec(
                limit=weight_to_shares(int(w)) if w else 0,
                quota=quota,
                period=period,
                mask=_cpu_mask(_read(os.path.join(d, "cpuset.cpus.effective")), num_cpus),
            )
        if spec.has_memory:
            spec.memory = MemorySpec(
                limit=_int_or(os.path.join(d, "memory.max"), MAX_U64),
                reservation=_int_or(os.path.join(d, "memory.min")),
                swap_limit=_int_or(os.path.join(d, "memory.swap.max"), 0),
            )
        if spec.has_processes:
            spec.processes = ProcessSpec(limit=_int_or(os.path.join(d, "pids.max"), MAX_U64))
    else:
        spec.has_cpu = "cpu" in dirs and os.path.isdir(dirs["cpu"])
        spec.has_memory = "memory" in dirs and os.path.isdir(dirs["memory"])
        spec.has_diskio = "blkio" in dirs and os.path.isdir(dirs["blkio"])
        spec.has_processes = "pids" in dirs and os.path.isdir(dirs["pids"])
        spec.has_hugetlb = "hugetlb" in dirs and os.path.isdir(dirs["hugetlb"])
        if spec.has_cpu:
            c = dirs["cpu"]
            quota = _int_or(os.path.join(c, "cpu.cfs_quota_us"), 0)
            cpuset = dirs.get("cpuset")
            spec.cpu = CpuSpec(
                limit=_int_or(os.path.join(c, "cpu.shares"), 1024),
                quota=0 if quota in (-1, MAX_U64) or quota < 0 else quota,
                period=_int_or(os.path.join(c, "cpu.cfs_period_us"), 0),
                mask=_cpu_mask(_read(os.path.join(cpuset, "cpuset.cpus")) if cpuset else None, num_cpus),
            )
        if spec.has_memory:
            m = dirs["memory"]
            spec.memory = MemorySpec(
                limit=_int_or(os.path.join(m, "memory.limit_in_bytes")),
                reservation=_int_or(os.path.join(m, "memory.soft_limit_in_bytes")),
                swap_limit=_int_or(os.path.join(m, "memory.memsw.limit_in_bytes")),
            )
        if spec.has_processes:
            spec.processes = ProcessSpec(limit=_int_or(os.path.join(dirs["pids"], "pids.max"), MAX_U64))
    if is_root:
        # cAdvisor's raw handler: the root's limits are the machine's memory and swap.
        spec.memory = MemorySpec(limit=machine_memory, swap_limit=machine_swap)
        spec.has_memory = True
    return spec


def _cpu_mask(raw: bytes | None, num_cpus: int) -> str:
    text = (raw or b"").strip().decode()
    if text:
        return text
    return f"0-{num_cpus - 1}" if num_cpus > 1 else "0"
