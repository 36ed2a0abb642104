"""A container's processes (host/processes.py): ulimits, fds and sockets, schedstat and task states, on a
fixture host tree of real-format files, then on real processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pycadvisor.errors import ParseError
from pycadvisor.host.paths import HostPaths
from pycadvisor.host.processes import (
    SchedstatAccumulator,
    parse_limits,
    parse_schedstat,
    read_process_stats,
    read_schedstat,
    read_schedstat_by_pid,
    read_task_stats,
)
from pycadvisor.model.codec import dumps
from pycadvisor.model.container import CpuSchedstat, LoadStats, ProcessStats, UlimitSpec
from support.hosts import PROCFS_FIXTURES as FIXTURES
from support.procs import ManagedProcess, wait_until

# ---------------------------------------------------------------- ulimits, fds, sockets


def test_limits_file_gives_max_open_files_only() -> None:
    assert parse_limits((FIXTURES / "limits").read_bytes()) == [
        UlimitSpec(name="max_open_files", soft_limit=20000, hard_limit=20000)
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"Limit                     Soft Limit           Hard Limit           Units     \n", []),
        (b"Max open files            8192                 8192                 files     \n", [(8192, 8192)]),
        (b"Max open files            85899345920          85899345920          files     \n",
         [(85899345920, 85899345920)]),
        (b"Max open files            unlimited            Unlimited            files     \n", [(-1, -1)]),
        (b"Max open files            gibberish1           8192                 files     \n", []),
        (b"Max open files            8192                 8192\n", []),
        (b"Max stack size            8192                 8192                 files     \n", []),
    ],
)  # fmt: skip
def test_limits_lines_as_cadvisor_reads_them(line: bytes, expected: list[tuple[int, int]]) -> None:
    assert [(u.soft_limit, u.hard_limit) for u in parse_limits(line)] == expected


def test_process_stats_sum_fds_and_sockets_and_skip_vanished_pids(host: HostPaths) -> None:
    # 100: 4 fds (2 sockets), 101: 3 fds, 300: fd dir gone, 999: process gone
    got = read_process_stats(host, [100, 101, 300, 999], 100, threads_current=7, threads_max=None)
    assert got == ProcessStats(
        process_count=4,
        fd_count=7,
        socket_count=2,
        threads_current=7,
        threads_max=0,
        ulimits=[UlimitSpec(name="max_open_files", soft_limit=1048576, hard_limit=1048576)],
    )
    assert json.loads(dumps(got)) == {
        "process_count": 4,
        "fd_count": 7,
        "socket_count": 2,
        "threads_current": 7,
        "ulimits": [{"name": "max_open_files", "soft_limit": 1048576, "hard_limit": 1048576}],
    }


def test_process_stats_without_an_init_process_have_no_ulimits(host: HostPaths) -> None:
    for init in (None, 0, 999):
        got = read_process_stats(host, [1], init, threads_current=None, threads_max=None)
        assert (got.fd_count, got.socket_count, got.ulimits) == (5, 1, [])
        assert "ulimits" not in json.loads(dumps(got))


# ---------------------------------------------------------------- schedstat


def test_schedstat_sums_present_pids(host: HostPaths) -> None:
    got = read_schedstat(host, [100, 101, 999])
    assert got == CpuSchedstat(run_time=123456789 + 1000, runqueue_time=2345678 + 2000, run_periods=93)


def test_schedstat_file_must_hold_three_numbers() -> None:
    assert parse_schedstat(b"1 2 3\n") == (1, 2, 3)
    with pytest.raises(ParseError):
        parse_schedstat(b"1 2\n")
    with pytest.raises(ParseError):
        parse_schedstat(b"1 2 x\n")


def test_schedstat_accumulator_keeps_exited_pids(host: HostPaths) -> None:
    acc = SchedstatAccumulator()
    first = acc.update(read_schedstat_by_pid(host, [100, 101, 102]))
    assert first == CpuSchedstat(run_time=123456789 + 1000 + 5, runqueue_time=2345678 + 2000 + 6, run_periods=100)

    shutil.rmtree(Path(host.proc) / "102")  # 102 exits
    (Path(host.proc) / "100" / "schedstat").write_text("123457789 2345678 95\n")  # 100 ran 1 µs more
    second = acc.update(read_schedstat_by_pid(host, [100, 101, 102]))
    assert second == CpuSchedstat(run_time=first.run_time + 1000, runqueue_time=first.runqueue_time, run_periods=105)

    # a plain read has no memory of 102
    assert read_schedstat(host, [100, 101]).run_time == second.run_time - 5


# ---------------------------------------------------------------- task states


def test_task_stats_count_procfs_states(host: HostPaths) -> None:
    # 1, 2, 100: S; 101: D; 102: T; 200: R; 3: I and 104: Z are not counted; 999 is gone
    got = read_task_stats(host, [1, 2, 3, 100, 101, 102, 104, 200, 999])
    assert got == LoadStats(nr_sleeping=3, nr_running=1, nr_stopped=1, nr_uninterruptible=1, nr_io_wait=0)


# ---------------------------------------------------------------- real processes

_IDLE = r"""
import signal
print("ready", flush=True)
signal.pause()
"""

_FD_HOLDER = r"""
import os, resource, signal, socket
socks = [socket.socket() for _ in range(3)]
files = [open(os.devnull) for _ in range(5)]
resource.setrlimit(resource.RLIMIT_NOFILE, (777, 888))
print("ready", flush=True)
signal.pause()
"""


def test_real_process_fds_sockets_and_ulimits(spawn: Callable[..., ManagedProcess]) -> None:
    holder = spawn([sys.executable, "-c", _FD_HOLDER], ready=True)
    # An idle process that says when it is settled: `sleep` opens locale files while it starts,
    # and a read in that window counts one fd more than a listdir a moment later.
    idle = spawn([sys.executable, "-c", _IDLE], ready=True)
    host = HostPaths()
    got = read_process_stats(host, [holder.pid], holder.pid, threads_current=None, threads_max=None)
    # stdin (/dev/null), stdout (pipe), stderr (log file) + 3 sockets + 5 files
    assert (got.process_count, got.fd_count, got.socket_count) == (1, 11, 3)
    assert got.ulimits == [UlimitSpec(name="max_open_files", soft_limit=777, hard_limit=888)]

    both = read_process_stats(host, [holder.pid, idle.pid], None, threads_current=None, threads_max=None)
    idle_fds = len(os.listdir(f"/proc/{idle.pid}/fd"))  # 3, plus whatever the test runner lets children inherit
    assert (both.process_count, both.fd_count, both.socket_count, both.ulimits) == (2, 11 + idle_fds, 3, [])

    idle.kill()  # reaped: its pid is gone from /proc
    gone = read_process_stats(host, [holder.pid, idle.pid], None, threads_current=None, threads_max=None)
    assert (gone.process_count, gone.fd_count, gone.socket_count) == (2, 11, 3)


def test_real_task_states_and_schedstat(spawn: Callable[..., ManagedProcess]) -> None:
    host = HostPaths()
    asleep = spawn(["sleep", "600"])
    stopped = spawn(["sleep", "600"])
    busy = spawn(["/bin/sh", "-c", "while :; do :; done"])
    stopped.signal(signal.SIGSTOP)
    wait_until(lambda: read_task_stats(host, [stopped.pid]).nr_stopped == 1, timeout=10, what="SIGSTOP to land")
    wait_until(lambda: read_task_stats(host, [asleep.pid]).nr_sleeping == 1, timeout=10, what="sleep to block")
    wait_until(lambda: read_task_stats(host, [busy.pid]).nr_running == 1, timeout=10, what="busy loop to spin")
    assert read_task_stats(host, [asleep.pid, stopped.pid, busy.pid]) == LoadStats(
        nr_sleeping=1, nr_running=1, nr_stopped=1
    )

    # schedstat of a process that burned CPU; the sum survives its exit
    wait_until(lambda: read_schedstat(host, [busy.pid]).run_time > 0, timeout=10, what="busy loop to run")
    acc = SchedstatAccumulator()
    before = acc.update(read_schedstat_by_pid(host, [busy.pid, asleep.pid]))
    assert before.run_time > 0 and before.run_periods > 0
    busy.kill()
    after = acc.update(read_schedstat_by_pid(host, [busy.pid, asleep.pid]))
    assert after.run_time >= before.run_time
    assert read_schedstat(host, [busy.pid]) == CpuSchedstat()
