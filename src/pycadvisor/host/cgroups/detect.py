"""Find the cgroup hierarchies of a host from mountinfo: v1, v2 or hybrid.

Format of ``/proc/<pid>/mountinfo``: Documentation/filesystems/proc.rst §3.5
(``id parent maj:min root mountpoint opts [optional...] - fstype source superopts``).
On a hybrid host (systemd "hybrid" mode: v1 controllers plus a cgroup2 mount at
``/sys/fs/cgroup/unified`` with no controllers of note) the v1 tree names containers;
reading the unified tree for names would miss every v1-only cgroup (Netdata's mistake on such hosts).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pycadvisor.host.paths import HostPaths, read_text

# v1 controllers pycadvisor reads, in the order names are gathered.
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "blkio", "pids", "hugetlb", "perf_event", "devices")


@dataclass(frozen=True, slots=True)
class CgroupMounts:
    mode: str  # "v1", "v2" or "hybrid"
    v1: dict[str, str] = field(default_factory=dict)  # controller -> mountpoint (host path)
    v2: str | None = None  # unified mountpoint (host path)

    @property
    def is_v2(self) -> bool:
        """True when container stats come from the unified hierarchy."""
        return self.mode == "v2"


def _unescape(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal (\040 ...).
    if "\\" not in path:
        return path
    out, i = [], 0
    while i < len(path):
        if path[i] == "\\" and i + 3 < len(path) + 0 and path[i + 1 : i + 4].isdigit():
            out.append(chr(int(path[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def parse_cgroup_mounts(mountinfo: str) -> CgroupMounts:
    """Return the cgroup v1 controller mounts and the cgroup2 mount described by ``mountinfo``."""
    v1: dict[str, str] = {}
    v2: str | None = None
    for line in mountinfo.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        fields = pre.split()
        rest = post.split()
        if len(fields) < 5 or len(rest) < 3:
            continue
        fstype, superopts = rest[0], rest[2]
        mountpoint = _unescape(fields[4])
        if fstype == "cgroup2":
            if v2 is None or mountpoint == "/sys/fs/cgroup":
                v2 = mountpoint
        elif fstype == "cgroup":
            for opt in superopts.split(","):
                if opt in V1_CONTROLLERS and opt not in v1:
                    v1[opt] = mountpoint
    if v1:
        return CgroupMounts(mode="hybrid" if v2 else "v1", v1=v1, v2=v2)
    if v2:
        return CgroupMounts(mode="v2", v2=v2)
    return CgroupMounts(mode="v1")


def detect_cgroup_mounts(paths: HostPaths) -> CgroupMounts:
    """Read the host's mountinfo (pid 1's view when readable, as cAdvisor does in a container) and parse it."""
    for candidate in (
        os.path.join(paths.proc, "1", "mountinfo"),
        os.path.join(paths.proc, "self", "mountinfo"),
    ):
        try:
            return parse_cgroup_mounts(read_text(candidate))
        except OSError:
            continue
    return CgroupMounts(mode="v1")
