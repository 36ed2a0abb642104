"""The ``referenced_memory`` set: bytes a cgroup's processes touched since their referenced bits were reset.

A real process in a real cgroup touches 32 MiB once and then sleeps; the collector reports what smaps
says it referenced, and with ``-referenced_reset_interval=1`` the next sample shows that the sleeping
process touched (almost) nothing since the reset, as cAdvisor's ``container_referenced_bytes`` does.
"""

from __future__ import annotations

import os
import sys
import time

from pycadvisor.host.cgroups.collector import CgroupCollector, CollectOptions, cgroup_dirs
from pycadvisor.host.cgroups.detect import detect_cgroup_mounts
from pycadvisor.host.cgroups.files import FdBudget, FileSet
from pycadvisor.host.paths import HostPaths
from pycadvisor.host.processes import parse_referenced_kb
from pycadvisor.model.container import ContainerStats
from support.cgroups import TestCgroup
from support.ci import is_root, require
from support.procs import ManagedProcess

MIB = 1 << 20
_TOUCHER = r"""
import signal
buf = bytearray(32 << 20)
for i in range(0, len(buf), 4096):
    buf[i] = 1  # every page written once: present and referenced
print("ready", flush=True)
signal.pause()
"""


def test_parse_referenced_sums_every_mapping() -> None:
    smaps = (
        b"55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0    [heap]\n"
        b"Size:                132 kB\nRss:                  16 kB\nReferenced:           12 kB\n"
        b"7f1e2c000000-7f1e2c021000 rw-p 00000000 00:00 0\n"
        b"Referenced:            4 kB\nAnonymous:             4 kB\n"
    )
    assert parse_referenced_kb(smaps) == 16
    assert parse_referenced_kb(b"Rss: 4 kB\nReferenced:  7 kB") == 7  # smaps_rollup, no final newline
    assert parse_referenced_kb(b"Rss: 4 kB\n") is None


def _collector(cg: TestCgroup, reset_every: int) -> CgroupCollector:
    paths = HostPaths()
    mounts = detect_cgroup_mounts(paths)
    dirs = {c: d for c, d in cgroup_dirs(mounts, cg.name, paths.in_rootfs).items() if os.path.isdir(d)}
    opts = CollectOptions(
        metric_sets=frozenset({"cpu", "memory", "referenced_memory"}),
        paths=paths,
        referenced_reset_interval=reset_every,
    )
    return CgroupCollector(cg.name, dirs, is_v2=mounts.is_v2, files=FileSet(FdBudget(100)), opts=opts)


def _sample(c: CgroupCollector) -> ContainerStats:
    stats, errors = c.collect(now_ns=time.time_ns(), pid=None)
    assert errors == []
    return stats


def test_referenced_bytes_and_their_reset(test_cgroup: TestCgroup) -> None:
    require(is_root(), "clear_refs of another process and test cgroups need root")
    p = ManagedProcess(
        [sys.executable, "-c", _TOUCHER], what="toucher", cgroup_procs=test_cgroup.procs_files(), stdout_pipe=True
    )
    test_cgroup.adopt(p)
    assert p.read_line(30) == "ready"

    kept, reset = _collector(test_cgroup, 0), _collector(test_cgroup, 1)
    try:
        for _ in range(2):  # never reset: what it touched stays referenced
            assert _sample(kept).referenced_memory >= 32 * MIB  # the 32 MiB it wrote, plus the interpreter
        assert _sample(reset).referenced_memory >= 32 * MIB  # ... and clear_refs is written after this sample
        after_reset = _sample(reset)
        assert after_reset.referenced_memory < 8 * MIB, after_reset.referenced_memory  # it only slept since
    finally:
        kept.close()
        reset.close()
