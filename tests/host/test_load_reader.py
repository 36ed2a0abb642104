"""``-enable_load_reader``: task states of a cgroup from the kernel's taskstats netlink family (cgroup v1).

Parsers are checked on answers laid out as the kernel sends them; the client and the collector against
the real kernel, on real cgroups holding a busy process and sleeping ones.
"""

from __future__ import annotations

import errno
import math
import os
import struct
import sys
import time
from collections.abc import Callable

import pytest

from pycadvisor.host.cgroups.collector import CgroupCollector, CollectOptions, cgroup_dirs
from pycadvisor.host.cgroups.detect import detect_cgroup_mounts
from pycadvisor.host.cgroups.files import FdBudget, FileSet
from pycadvisor.host.cgroups.load import (
    CgroupTasks,
    TaskstatsClient,
    cgroupstats_request,
    family_request,
    open_cgroup_dir,
    parse_cgroupstats,
    parse_family_id,
)
from pycadvisor.host.paths import HostPaths
from support.cgroups import TestCgroup
from support.ci import is_root, require
from support.procs import ManagedProcess


def _answer(msg_type: int, cmd: int, attrs: list[tuple[int, bytes]]) -> bytes:
    body = b""
    for atype, payload in attrs:
        raw = struct.pack("=HH", 4 + len(payload), atype) + payload
        body += raw + b"\0" * (-len(raw) % 4)
    return struct.pack("=IHHII", 20 + len(body), msg_type, 0, 7, 0) + struct.pack("=BBH", cmd, 1, 0) + body


def test_requests_are_laid_out_as_genetlink_wants() -> None:
    req = family_request(5)
    length, msg_type, flags, seq, _pid = struct.unpack_from("=IHHII", req)
    assert (length, msg_type, flags, seq) == (len(req), 0x10, 1, 5) and len(req) % 4 == 0
    assert req[16] == 3 and b"TASKSTATS\0" in req  # CTRL_CMD_GETFAMILY with the family name
    req = cgroupstats_request(31, 6, 9)
    assert struct.unpack_from("=IHHII", req)[:2] == (len(req), 31) and req[16] == 4  # CGROUPSTATS_CMD_GET
    assert struct.unpack_from("=HHI", req, 20) == (8, 1, 9)  # CGROUPSTATS_CMD_ATTR_FD = the descriptor


def test_answers_are_parsed() -> None:
    assert parse_family_id(_answer(0x10, 1, [(2, b"TASKSTATS\0"), (1, struct.pack("=H", 31))])) == 31
    stats = _answer(31, 5, [(1, struct.pack("=5Q", 73, 2, 1, 4, 3))])
    assert parse_cgroupstats(stats) == CgroupTasks(73, 2, 1, 4, 3)
    err = struct.pack("=IHHII", 36, 2, 0, 7, 0) + struct.pack("=i", -errno.EINVAL) + b"\0" * 16
    with pytest.raises(OSError) as e:
        parse_cgroupstats(err)
    assert e.value.errno == errno.EINVAL  # what the kernel answers for a cgroup2 directory
    with pytest.raises(ValueError):
        parse_cgroupstats(_answer(31, 5, []))


def _require_v1() -> None:
    require(is_root(), "taskstats netlink and test cgroups need root")
    require(not detect_cgroup_mounts(HostPaths()).is_v2, "the kernel's cgroupstats answer only cgroup v1 directories")


_BUSY = "import time\nprint('ready', flush=True)\nwhile True: pass\n"
_IDLE = "import signal\nprint('ready', flush=True)\nsignal.pause()\n"


def _start(cg: TestCgroup, script: str) -> None:
    p = ManagedProcess([sys.executable, "-c", script], what="load", cgroup_procs=cg.procs_files(), stdout_pipe=True)
    cg.adopt(p)
    assert p.read_line(30) == "ready"


def test_the_kernel_counts_a_cgroups_tasks(cgroup_factory: Callable[[str], TestCgroup]) -> None:
    _require_v1()
    busy, idle = cgroup_factory("busy"), cgroup_factory("idle")
    _start(busy, _BUSY)
    for _ in range(2):
        _start(idle, _IDLE)
    client = TaskstatsClient()

    def tasks(cg: TestCgroup) -> CgroupTasks:
        fd = open_cgroup_dir(cg.path("cpu"))
        try:
            return client.cgroup_tasks(fd)
        finally:
            os.close(fd)

    def settles(cg: TestCgroup, want: Callable[[CgroupTasks], bool]) -> CgroupTasks:
        """The counts once they match (a process that just said "ready" may still be on a CPU)."""
        deadline = time.monotonic() + 5
        got = tasks(cg)
        while not want(got) and time.monotonic() < deadline:
            time.sleep(0.02)
            got = tasks(cg)
        return got

    try:
        got = settles(busy, lambda t: t.nr_running == 1)
        assert (got.nr_running, got.nr_stopped, got.nr_uninterruptible) == (1, 0, 0), got
        got = settles(idle, lambda t: t.nr_sleeping == 2)
        assert (got.nr_running, got.nr_sleeping, got.nr_stopped, got.nr_uninterruptible) == (0, 2, 0, 0), got
    finally:
        client.close()


def test_collector_reports_task_states_and_a_decaying_load(test_cgroup: TestCgroup) -> None:
    _require_v1()
    _start(test_cgroup, _BUSY)
    paths = HostPaths()
    mounts = detect_cgroup_mounts(paths)
    dirs = {c: d for c, d in cgroup_dirs(mounts, test_cgroup.name, paths.in_rootfs).items() if os.path.isdir(d)}
    client = TaskstatsClient()
    decay = math.exp(-1 / 10)
    opts = CollectOptions(metric_sets=frozenset({"cpu", "memory"}), paths=paths, load_reader=client, load_decay=decay)
    c = CgroupCollector(test_cgroup.name, dirs, is_v2=False, files=FileSet(FdBudget(100)), opts=opts)
    try:
        loads = []
        for _ in range(20):
            stats, errors = c.collect(now_ns=time.time_ns(), pid=None)
            assert errors == [] and stats.cpu is not None
            assert stats.task_stats.nr_running + stats.task_stats.nr_sleeping == 1  # the one busy process
            loads.append(stats.cpu.load_average)
            time.sleep(0.01)
        assert loads[0] in (0, 1000)  # the first sample sets the average: 0 or 1 running task, x 1000
        assert max(loads) > 0 and all(0 <= x <= 1000 for x in loads)
    finally:
        c.close()
        client.close()
