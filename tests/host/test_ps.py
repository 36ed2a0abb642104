"""The ``/ps`` process list (host/ps.py): cAdvisor's ps columns from procfs, on a fixture host tree of
real-format files, then on real processes against procps ps(1)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pycadvisor.host.paths import HostPaths
from pycadvisor.host.processes import read_task_stats
from pycadvisor.host.ps import (
    cgroup_matches,
    format_cputime,
    format_stime,
    list_processes,
    parse_passwd,
    parse_proc_cgroup,
    ps_cgroup_path,
    ps_user,
)
from pycadvisor.model.codec import dumps
from pycadvisor.model.process import ProcessInfo
from support.cgroups import TestCgroup
from support.ci import is_root, require
from support.hosts import PROCFS_FIXTURES as FIXTURES
from support.procs import ManagedProcess, sleeper, wait_until

BOOT = 1795749176  # btime of the fixture host: 2026-11-27 03:12:56 UTC
NOW = BOOT + 100_000  # 2026-11-28 06:59:36 UTC
MEM_TOTAL = 4 << 30


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """ps prints local times: pin the zone so the expected STIME strings hold anywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# ---------------------------------------------------------------- ps


def test_process_list_of_the_root_container(host: HostPaths, utc: None) -> None:
    got = list_processes(host, cgroup_filter=None, boot_time_s=BOOT, mem_total_bytes=MEM_TOTAL, now_s=NOW)
    P = ProcessInfo
    assert got == [
        P(user="root", pid=1, parent_pid=0, start_time="Nov27", percent_cpu=0.0, percent_mem=0.2, rss=9216 << 10,
          virtual_size=164864 << 10, status="Ss", running_time="00:00:02", cgroup_path="/", cmd="systemd",
          fd_count=5, psr=1),
        P(user="root", pid=2, parent_pid=0, start_time="Nov27", percent_cpu=0.0, percent_mem=0.0, rss=0,
          virtual_size=0, status="S", running_time="00:00:00", cgroup_path="/", cmd="kthreadd", fd_count=0, psr=1),
        P(user="root", pid=3, parent_pid=2, start_time="Nov27", percent_cpu=0.0, percent_mem=0.0, rss=0,
          virtual_size=0, status="I<", running_time="00:00:00", cgroup_path="/", cmd="kworker/0:1-eve",
          fd_count=0, psr=0),
        P(user="alice", pid=100, parent_pid=1, start_time="Nov27", percent_cpu=0.4, percent_mem=4.8,
          rss=204800 << 10, virtual_size=1 << 30, status="S<Lsl", running_time="00:06:00",
          cgroup_path="/docker/abc", cmd="Web Content", fd_count=4, psr=0),
        P(user="systemd+", pid=101, parent_pid=100, start_time="06:57", percent_cpu=10.0, percent_mem=0.0,
          rss=1 << 20, virtual_size=2 << 20, status="D+", running_time="00:00:10", cgroup_path="/docker/abc",
          cmd="sh", fd_count=3, psr=1),
        P(user="root", pid=102, parent_pid=1, start_time="Nov27", percent_cpu=0.0, percent_mem=0.0,
          rss=2400 << 10, virtual_size=10 << 20, status="TNs", running_time="00:00:00",
          cgroup_path="/docker/def", cmd="nginx", fd_count=1, psr=0),
        P(user="alice", pid=104, parent_pid=100, start_time="01:26", percent_cpu=0.0, percent_mem=0.0, rss=0,
          virtual_size=0, status="Z", running_time="00:00:00", cgroup_path="/", cmd="python3", fd_count=0, psr=1),
        # 2 threads busy for 25 of its 13.9 hours: %CPU over 100 is printed without a decimal
        P(user="4242", pid=200, parent_pid=1, start_time="Nov27", percent_cpu=180.0, percent_mem=0.0,
          rss=400 << 10, virtual_size=4 << 20, status="Rl", running_time="1-01:00:00",
          cgroup_path="/system.slice/busy.service", cmd="busy?loop", fd_count=2, psr=1),
    ]  # fmt: skip
    # 300 is missing: its fd directory cannot be listed (cAdvisor leaves such processes out)


def test_process_list_json_is_cadvisors(host: HostPaths, utc: None) -> None:
    # Go's encoder escapes "<" in strings: the STAT flag of a high-priority process goes out as \u003c
    got = list_processes(host, cgroup_filter=None, boot_time_s=BOOT, mem_total_bytes=MEM_TOTAL, now_s=NOW)
    by_pid = {p.pid: p for p in got}
    assert dumps(by_pid[100]) == (
        b'{"user":"alice","pid":100,"parent_pid":1,"start_time":"Nov27","percent_cpu":0.4,"percent_mem":4.8,'
        b'"rss":209715200,"virtual_size":1073741824,"status":"S\\u003cLsl","running_time":"00:06:00",'
        b'"cgroup_path":"/docker/abc","cmd":"Web Content","fd_count":4,"psr":0}'
    )
    wire = json.loads(dumps(by_pid[200]))
    assert wire["percent_cpu"] == 180 and dumps(by_pid[200]).count(b'"percent_cpu":180,') == 1


def test_process_list_of_a_container_keeps_its_processes_without_cgroup_path(host: HostPaths, utc: None) -> None:
    def pids(name: str, controllers: tuple[str, ...] = ("cpu", "memory")) -> list[tuple[int, str]]:
        got = list_processes(
            host, cgroup_filter=name, hierarchy_controllers=controllers,
            boot_time_s=BOOT, mem_total_bytes=MEM_TOTAL, now_s=NOW,
        )  # fmt: skip
        return [(p.pid, p.cgroup_path) for p in got]

    assert pids("/docker/abc") == [(100, ""), (101, "")]
    assert pids("/docker/def") == [(102, "")]
    assert pids("/docker/def", ("memory",)) == [(102, "")]
    assert pids("/system.slice/busy.service") == [(200, "")]
    assert pids("/docker") == []


def test_process_list_reads_boot_time_from_uptime_by_default(host: HostPaths, utc: None) -> None:
    # proc/uptime says 100000 s: the same instant as BOOT when now is NOW
    got = list_processes(host, cgroup_filter="/docker/abc", mem_total_bytes=MEM_TOTAL, now_s=NOW)
    assert [(p.start_time, p.percent_cpu) for p in got] == [("Nov27", 0.4), ("06:57", 10.0)]


def test_cgroup_of_a_process_on_each_layout() -> None:
    v2 = parse_proc_cgroup(b"0::/system.slice/docker-abc.scope\n")
    assert cgroup_matches(v2, "/system.slice/docker-abc.scope", ("cpu", "memory"))
    assert ps_cgroup_path(v2) == "/system.slice/docker-abc.scope"
    assert ps_cgroup_path(parse_proc_cgroup(b"0::/\n")) == "/"

    # this project's build hosts: cpu and memory mounted separately, memory last of the non-root lines
    v1 = parse_proc_cgroup(b"9:name=systemd:/\n8:pids:/\n4:memory:/a/b\n2:cpuacct:/\n1:cpu:/\n0::/\n")
    assert ps_cgroup_path(v1) == "/a/b"  # cAdvisor's regexp needs a "," after the path and says "/"
    assert cgroup_matches(v1, "/a/b", ("cpu", "memory"))
    assert not cgroup_matches(v1, "/a/b", ("cpu",))
    assert cgroup_matches(v1, "/", ("cpu",))

    # hybrid: v1 controllers at the root, the unified line elsewhere; the v1 hierarchies decide
    hybrid = parse_proc_cgroup(b"4:memory:/\n3:cpu,cpuacct:/\n1:name=systemd:/user.slice\n0::/user.slice\n")
    assert not cgroup_matches(hybrid, "/user.slice", ("cpu", "memory"))
    assert ps_cgroup_path(hybrid) == "/"

    # cpu only differs from memory: cAdvisor shows memory's, either one matches the filter
    split = parse_proc_cgroup(b"5:cpuset:/x\n4:memory:/m\n3:cpu,cpuacct:/c\n")
    assert ps_cgroup_path(split) == "/m"
    assert ps_cgroup_path(split, ("cpu",)) == "/c"
    assert cgroup_matches(split, "/c", ("cpu", "memory")) and cgroup_matches(split, "/m", ("cpu", "memory"))


def test_ps_column_formats(utc: None) -> None:
    now = 1_795_800_000.0  # 2026-11-27 17:20 UTC
    assert format_stime(now - 3600, now) == "16:20"
    assert format_stime(now - 86400 * 3, now) == "Nov24"
    assert format_stime(now - 86400 * 400, now) == "2025"
    assert format_cputime(0) == "00:00:00"
    assert format_cputime(3 * 3600 + 4 * 60 + 5) == "03:04:05"
    assert format_cputime(2 * 86400 + 3600) == "2-01:00:00"
    users = parse_passwd((FIXTURES / "host" / "etc" / "passwd").read_bytes())
    assert users[0] == "root"  # the first entry of a uid wins, as getpwuid
    assert (ps_user(997, users), ps_user(1000, users), ps_user(31337, users)) == ("systemd+", "alice", "31337")
    assert ps_user(8, {8: "abcdefgh"}) == "abcdefgh"


# ---------------------------------------------------------------- real processes


def test_real_process_list_finds_this_test(spawn: Callable[..., ManagedProcess]) -> None:
    host = HostPaths()
    mem_total = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    got = {p.pid: p for p in list_processes(host, cgroup_filter=None, mem_total_bytes=mem_total, now_s=time.time())}
    me = got[os.getpid()]
    assert me.parent_pid == os.getppid()
    assert me.cmd == Path("/proc/self/comm").read_text().strip()[:15]
    assert me.fd_count >= 3 and me.rss > 0 and me.virtual_size >= me.rss
    assert got[1].parent_pid == 0


def test_real_process_list_matches_ps(spawn: Callable[..., ManagedProcess]) -> None:
    ps = shutil.which("ps")
    require(ps, "needs procps ps(1) to compare with")
    assert ps is not None
    kids = [spawn(["sleep", "600"]), spawn(["nice", "-n", "7", "sleep", "600"])]
    if is_root():  # a user name longer than ps's 8-cell column, when the host has one
        long_names = [n for n in parse_passwd(Path("/etc/passwd").read_bytes()).items() if len(n[1]) > 8]
        if long_names:
            uid = long_names[0][0]
            kids.append(spawn(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "sleep", "600"]))

    def sleeping(pid: int) -> bool:
        return read_task_stats(HostPaths(), [pid]).nr_sleeping == 1

    for k in kids:
        wait_until(functools.partial(sleeping, k.pid), timeout=10, what="exec")
    pids = ",".join(str(k.pid) for k in kids)
    fmt = "user,pid,ppid,stime,pcpu,pmem,rss,vsz,stat,time,comm,psr"
    out = subprocess.run([ps, "-o", fmt, "-p", f"1,{pids}"], capture_output=True, text=True, check=True).stdout
    mem_total = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    mine = {p.pid: p for p in list_processes(HostPaths(), cgroup_filter=None, mem_total_bytes=mem_total,
                                             now_s=time.time())}  # fmt: skip
    rows = [ln.split() for ln in out.splitlines()[1:]]
    assert len(rows) == len(kids) + 1
    for f in rows:
        p = mine[int(f[1])]
        theirs = (f[0], int(f[2]), f[3], float(f[5]), int(f[6]) << 10, int(f[7]) << 10, f[8], f[9],
                  " ".join(f[10:-1]), int(f[-1]))  # fmt: skip
        ours = (p.user, p.parent_pid, p.start_time, p.percent_mem, p.rss, p.virtual_size, p.status,
                p.running_time, p.cmd, p.psr)  # fmt: skip
        if f[1] != "1":  # pid 1 may be busy; a sleeping child's cpu share is exactly 0.0 in both
            assert (p.percent_cpu, float(f[4])) == (0.0, 0.0)
            assert ours == theirs
        else:
            assert ours[:3] == theirs[:3] and ours[8] == theirs[8]
    assert mine[kids[1].pid].status == "SNs"  # niced, and ManagedProcess starts a new session


def test_real_cgroup_filter(test_cgroup: TestCgroup, spawn: Callable[..., ManagedProcess]) -> None:
    inside = sleeper(test_cgroup)
    outside = spawn(["sleep", "600"])
    mem_total = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    now = time.time()
    listed = list_processes(HostPaths(), cgroup_filter=test_cgroup.name, mem_total_bytes=mem_total, now_s=now)
    assert [(p.pid, p.cmd, p.cgroup_path) for p in listed] == [(inside.pid, "sleep", "")]
    everything = {p.pid: p for p in list_processes(HostPaths(), cgroup_filter=None, mem_total_bytes=mem_total,
                                                   now_s=now)}  # fmt: skip
    assert everything[inside.pid].cgroup_path == test_cgroup.name
    assert everything[outside.pid].cgroup_path != test_cgroup.name
