"""The resctrl tree (Documentation/arch/x86/resctrl.rst, fs/resctrl/rdtgroup.c): where it is mounted, which
monitoring features it has, monitoring groups and their ``mon_data``. Every function takes the tree's root, so a
fixture tree in the kernel's format stands in for ``/sys/fs/resctrl`` (this project's build hosts have none).

Layout followed (cAdvisor resctrl/intel/utils.go): the container's tasks are found in the root group or one of
its control groups (any directory of the root that is not one of the kernel's own files), and the container's
monitoring group is ``<control group>/mon_groups/cadvisor-<name with / as ->`` unless its tasks are already all
in another monitoring group (made by someone else, which is then read and never removed).
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable

from pycadvisor.errors import ParseError
from pycadvisor.host.paths import HostPaths, read_text
from pycadvisor.model.container import CacheStats, MemoryBandwidthStats, ResctrlStats

MON_GROUP_PREFIX = "cadvisor"  # resctrl/intel/utils.go monGroupPrefix: the groups we made and may remove
LLC_OCCUPANCY, MBM_TOTAL, MBM_LOCAL = "llc_occupancy", "mbm_total_bytes", "mbm_local_bytes"
# A group directory's own entries (resctrl/intel/utils.go groupDirectories): not control groups.
_GROUP_FILES = frozenset({"cpus", "cpus_list", "info", "mon_data", "mon_groups", "schemata", "tasks", "mode", "size"})


def find_root(paths: HostPaths) -> str | None:
    """Where resctrl is mounted (fstype ``resctrl`` in mountinfo, as runc's intelrdt.Root), or None."""
    for candidate in (os.path.join(paths.proc, "1", "mountinfo"), os.path.join(paths.proc, "self", "mountinfo")):
        try:
            text = read_text(candidate)
        except OSError:
            continue
        for line in text.splitlines():
            pre, sep, post = line.partition(" - ")
            fields = pre.split()
            if sep and len(fields) >= 5 and post.split()[:1] == ["resctrl"]:
                return paths.in_rootfs(fields[4].replace("\\040", " "))
        return None
    return None


def read_mon_features(root: str) -> frozenset[str]:
    """``info/L3_MON/mon_features``: the events this machine monitors (empty: no L3 monitoring)."""
    try:
        return frozenset(read_text(os.path.join(root, "info", "L3_MON", "mon_features")).split())
    except FileNotFoundError:
        return frozenset()


def mon_group_name(container: str) -> str:
    """``/my/container`` -> ``cadvisor-my-container`` (resctrl/intel/utils.go prepareMonitoringGroup)."""
    name = container[1:] if len(container) >= 2 and container[0] == "/" else container
    return f"{MON_GROUP_PREFIX}-{name.replace('/', '-')}"


def read_tasks(group: str) -> set[int]:
    path = os.path.join(group, "tasks")
    try:
        return {int(x) for x in read_text(path).split()}
    except ValueError:
        raise ParseError(path, "not a list of task ids") from None


def _subgroups(directory: str) -> list[str]:
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    return [os.path.join(directory, n) for n in names if n not in _GROUP_FILES]


def find_control_group(root: str, pids: Iterable[int]) -> str | None:
    """The control group (the root, or a directory of it) whose tasks hold every one of ``pids``."""
    want = set(pids)
    for group in [root, *_subgroups(root)]:
        if os.path.isdir(group) and want <= read_tasks(group):
            return group
    return None


def find_mon_group(control: str, pids: Iterable[int]) -> str | None:
    """A monitoring group of ``control`` that already holds every one of ``pids``."""
    want = set(pids)
    for group in _subgroups(os.path.join(control, "mon_groups")):
        if os.path.isdir(group) and want <= read_tasks(group):
            return group
    return None


def assign_tasks(group: str, tids: Iterable[int]) -> int:
    """Write each task id into ``group``'s ``tasks``, one id per write as the kernel takes them
    (fs/resctrl/rdtgroup.c ``rdtgroup_tasks_write``); a task that exited meanwhile (ESRCH) is skipped.
    Returns how many were written."""
    fd = os.open(os.path.join(group, "tasks"), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    n = 0
    try:
        for tid in tids:
            try:
                os.write(fd, f"{tid}\n".encode())
                n += 1
            except ProcessLookupError:
                continue
    finally:
        os.close(fd)
    return n


def threads_of(paths: HostPaths, pids: Iterable[int]) -> list[int]:
    """Every thread of ``pids`` (``/proc/<pid>/task``); processes that exited are skipped."""
    out: list[int] = []
    for pid in pids:
        try:
            out.extend(int(t) for t in sorted(os.listdir(os.path.join(paths.proc, str(pid), "task"))))
        except FileNotFoundError:
            continue
    return out


def remove_group(group: str) -> None:
    """Remove a monitoring group we made. The kernel removes a group with one rmdir (its files are its
    own, fs/resctrl/rdtgroup.c ``rdtgroup_rmdir``); a plain directory (a fixture tree) needs its files gone."""
    if not os.path.basename(group).startswith(MON_GROUP_PREFIX):
        return  # resctrl/intel/collector.go clear: only our own groups
    try:
        os.rmdir(group)
    except FileNotFoundError:
        return
    except OSError as e:
        if e.errno != errno.ENOTEMPTY:
            raise
        shutil.rmtree(group)


def parse_counter(text: str, path: str) -> int:
    """One ``mon_data`` value. ``Unavailable``: the kernel could not read the RMID's counter (on AMD, also
    a kernel bug that resctrl/intel/utils.go readStatFrom names in its error)."""
    s = text.strip()
    if s == "Unavailable":
        raise ParseError(path, '"Unavailable"')
    try:
        return int(s)
    except ValueError:
        raise ParseError(path, f"not a counter: {s[:40]!r}") from None


def read_mon_data(group: str, features: frozenset[str]) -> ResctrlStats:
    """Per L3 domain (``mon_data/mon_L3_XX``, in name order, one per NUMA node on most machines) the
    features this machine monitors (resctrl/intel/utils.go getIntelRDTStatsFrom)."""
    base = os.path.join(group, "mon_data")
    try:
        domains = sorted(d for d in os.listdir(base) if d.startswith("mon_L3_"))
    except FileNotFoundError:
        domains = []
    if not domains:
        raise ParseError(base, "no mon_data domains")
    cmt = LLC_OCCUPANCY in features
    mbm = MBM_TOTAL in features or MBM_LOCAL in features
    out = ResctrlStats()
    for d in domains:

        def value(event: str, d: str = d) -> int:
            if event not in features:
                return 0
            path = os.path.join(base, d, event)
            return parse_counter(read_text(path), path)

        if cmt:
            out.cache.append(CacheStats(llc_occupancy=value(LLC_OCCUPANCY)))
        if mbm:
            out.memory_bandwidth.append(
                MemoryBandwidthStats(mbm_total_bytes=value(MBM_TOTAL), mbm_local_bytes=value(MBM_LOCAL))
            )
    return out
