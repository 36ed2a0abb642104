"""Task counts: the pids family's slots (``ProcessStats.threads_current``, ``threads_max``), its parser
and its derived value.

The same files on cgroup v1 (the pids hierarchy) and v2. Sources:
Documentation/admin-guide/cgroup-v1/pids.rst, Documentation/admin-guide/cgroup-v2.rst ("PID Interface
Files"), kernel/cgroup/pids.c; what cAdvisor makes of them: container/libcontainer/handler.go
``processStatsFromProcs`` over runc's libcontainer/cgroups/fs/pids.go and fs2/pids.go.
"""

from __future__ import annotations

from pycadvisor.host.cgroups.rows import Row, Table

PIDS_SLOTS = ("threads_current", "threads_max")
ROWS = (
    Row("threads_current", "pids.current", source="kernel/cgroup/pids.c pids_current_read; without it, the "
        "cgroup.procs lines (kernel/cgroup/cgroup.c cgroup_procs_show)"),
    Row("threads_max", "pids.max", source="kernel/cgroup/pids.c pids_max_show: 'max' (no limit) is 0, as runc"),
)  # fmt: skip
#: The files in the order they are read; pids.current first (without it, the family is the procs count).
PIDS = Table(ROWS, ("pids.current", "pids.max"), PIDS_SLOTS)


def parse_pids_max(data: bytes | None) -> int:
    """``pids.max``: the limit, 0 for ``max`` or a missing file (runc fs2/pids.go: no limit is 0)."""
    if data is None:
        return 0
    s = data.strip()
    return 0 if s == b"max" else int(s)


def pids_values(current: bytes | None, limit: bytes | None, procs: int) -> tuple[int, int]:
    """The family's slots from pids.current and pids.max (``None``: not there) and the number of
    cgroup.procs lines, which stands for the current count without the pids controller."""
    return (int(current) if current is not None else procs, parse_pids_max(limit))
