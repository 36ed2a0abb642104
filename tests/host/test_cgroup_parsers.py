"""Pure cgroup parsers on strings in the kernels' formats."""

from __future__ import annotations

import pytest

from pycadvisor.host.cgroups.blkio import parse_blkio_v1, parse_io_stat
from pycadvisor.host.cgroups.cpu import (
    MAX_U64,
    parse_cpu_max,
    parse_limit,
    weight_to_shares,
)
from pycadvisor.host.cgroups.detect import parse_cgroup_mounts
from pycadvisor.host.cgroups.pressure import parse_pressure
from pycadvisor.host.cgroups.rows import parse_keyed

HYBRID_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

V2_MOUNTINFO = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"

V1_COMBINED = "25 23 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"


def test_hybrid_host_names_come_from_v1() -> None:
    m = parse_cgroup_mounts(HYBRID_MOUNTINFO)
    assert m.mode == "hybrid"
    assert not m.is_v2
    assert m.v1["cpu"] == "/sys/fs/cgroup/cpu"
    assert m.v1["memory"] == "/sys/fs/cgroup/memory"
    assert "name=systemd" not in m.v1
    assert m.v2 == "/sys/fs/cgroup/unified"


def test_pure_v2_host() -> None:
    m = parse_cgroup_mounts(V2_MOUNTINFO)
    assert m.mode == "v2" and m.is_v2 and m.v2 == "/sys/fs/cgroup"


def test_combined_v1_mount_serves_both_controllers() -> None:
    m = parse_cgroup_mounts(V1_COMBINED)
    assert m.mode == "v1"
    assert m.v1 == {"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct"}


def test_keyed_and_percpu() -> None:
    assert parse_keyed(b"usage_usec 123\nuser_usec 100\nsystem_usec 23\n") == {
        b"usage_usec": 123,
        b"user_usec": 100,
        b"system_usec": 23,
    }
    # The OOM watchers' files: v2 memory.events, v1 memory.oom_control.
    events = parse_keyed(b"low 0\nhigh 2\nmax 17\noom 1\noom_kill 1\noom_group_kill 0\n")
    assert events == {b"low": 0, b"high": 2, b"max": 17, b"oom": 1, b"oom_kill": 1, b"oom_group_kill": 0}
    assert parse_keyed(b"oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")[b"oom_kill"] == 3
    assert parse_keyed(b"") == {}
    # A line cut short or not "key integer" is skipped; the others still count.
    assert parse_keyed(b"junk\nmax x\noom 1\noom_kill 4\noom_gro") == {b"oom": 1, b"oom_kill": 4}


def test_cpu_max_weight_and_limits() -> None:
    assert parse_cpu_max(b"max 100000\n") == (0, 100000)
    assert parse_cpu_max(b"50000 100000\n") == (50000, 100000)
    # runc maps shares 1024 -> weight 39 and 2048 -> 79; cAdvisor maps back with its formula.
    assert weight_to_shares(100) == 2597
    assert weight_to_shares(79) == 2046
    assert parse_limit(b"max\n") == MAX_U64
    assert parse_limit(b"1073741824\n") == 1073741824


def test_pressure() -> None:
    psi = parse_pressure(
        b"some avg10=0.54 avg60=1.03 avg300=1.87 total=15366348\nfull avg10=0.00 avg60=0.10 avg300=0.00 total=42\n"
    )
    assert psi.some.total == 15366348 and psi.some.avg10 == pytest.approx(0.54)
    assert psi.full.total == 42 and psi.full.avg60 == pytest.approx(0.10)


def test_blkio_v1_skips_total_line() -> None:
    data = b"254:0 Read 4096\n254:0 Write 8192\n254:0 Sync 0\n254:0 Async 12288\n254:0 Total 12288\nTotal 12288\n"
    assert parse_blkio_v1(data) == {(254, 0): {"Read": 4096, "Write": 8192, "Sync": 0, "Async": 12288, "Total": 12288}}
    assert parse_blkio_v1(b"Total 0\n") == {}


def test_io_stat_v2() -> None:
    data = b"8:0 rbytes=4096 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0 cost.usage=7\n259:0 rbytes=1 wbytes=2\n"
    out = parse_io_stat(data)
    assert out["io_service_bytes"][(8, 0)] == {"Read": 4096, "Write": 1024}
    assert out["io_serviced"][(8, 0)] == {"Read": 1, "Write": 2}
    assert out["io_cost_usage"][(8, 0)] == {"Count": 7}
    assert out["io_service_bytes"][(259, 0)] == {"Read": 1, "Write": 2}
