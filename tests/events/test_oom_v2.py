"""cgroup v2 OOM kill counting (``memory.events[.local]`` woken by inotify) on fixture trees.

This host is cgroup v1, so the v2 files are plain files in a temporary tree written the way the
kernel presents them; the processes noted as victims are real (``sleep``), read through /proc.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from pycadvisor.events.kmsg import OomInstance
from pycadvisor.events.oom import OomWatcher
from pycadvisor.events.oomfiles import parse_vmstat_oom_kill
from pycadvisor.host.paths import HostPaths
from support.procs import wait_until

EVENT_KEYS = ("low", "high", "max", "oom", "oom_kill", "oom_group_kill")


class FixtureCgroup:
    """A directory holding v2 memory files in the kernel's format."""

    def __init__(self, path: Path, events_file: str = "memory.events.local") -> None:
        self.path = path
        path.mkdir(parents=True)
        self.events_file = path / events_file
        self.counts = dict.fromkeys(EVENT_KEYS, 0)
        self.write_events()
        self.set_procs([])

    def write_events(self, **bump: int) -> None:
        for k, v in bump.items():
            self.counts[k] += v
        text = "".join(f"{k} {v}\n" for k, v in self.counts.items())
        fd = os.open(self.events_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)

    def set_procs(self, pids: list[int]) -> None:
        (self.path / "cgroup.procs").write_text("".join(f"{p}\n" for p in pids))


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    p = subprocess.Popen(["sleep", "300"])
    try:
        # Until the child has exec'd, /proc/<pid>/comm still names the test runner.
        wait_until(lambda: Path(f"/proc/{p.pid}/comm").read_text().strip() == "sleep", timeout=5, what="sleep's exec")
        yield p
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


async def until(pred: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def kill(p: subprocess.Popen[bytes]) -> None:
    p.kill()
    p.wait()


def run(coro_fn: Callable[[OomWatcher, list[OomInstance]], Awaitable[None]]) -> list[OomInstance]:
    got: list[OomInstance] = []

    async def main() -> None:
        w = OomWatcher(HostPaths(), got.append, time.time_ns)
        w.start(asyncio.get_running_loop())
        try:
            await coro_fn(w, got)
        finally:
            w.stop()

    asyncio.run(main())
    return got


def test_parsers() -> None:
    assert parse_vmstat_oom_kill(b"nr_free_pages 1\noom_kill 5\nnr_x 2\n") == 5
    assert parse_vmstat_oom_kill(b"oom_kill 2\n") == 2
    assert parse_vmstat_oom_kill(b"nr_free_pages 1\n") is None


def test_kill_in_a_cgroup_at_its_limit_names_the_process(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    cg = FixtureCgroup(tmp_path / "ctr")
    cg.set_procs([sleeper.pid])

    async def scenario(w: OomWatcher, got: list[OomInstance]) -> None:
        assert w.watch("/ctr", str(cg.path))
        cg.write_events(max=3, oom=1)  # the limit is hit: the kernel is about to pick a victim
        await asyncio.sleep(0.05)
        kill(sleeper)
        cg.set_procs([])
        cg.write_events(oom_kill=1)
        await until(lambda: got, "the kill")

    [inst] = run(scenario)
    assert inst.container_name == "/ctr"
    assert inst.victim_container_name == "/ctr"
    assert (inst.pid, inst.process_name, inst.constraint) == (sleeper.pid, "sleep", "CONSTRAINT_MEMCG")
    assert abs(inst.time_ns - time.time_ns()) < 60 * 10**9


def test_limit_of_a_parent_and_task_in_a_child(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    pod = FixtureCgroup(tmp_path / "pod")
    ctr = FixtureCgroup(tmp_path / "pod" / "ctr")
    ctr.set_procs([sleeper.pid])

    async def scenario(w: OomWatcher, got: list[OomInstance]) -> None:
        assert w.watch("/pod", str(pod.path)) and w.watch("/pod/ctr", str(ctr.path))
        pod.write_events(max=1, oom=1)  # local events: the pod's limit was hit
        await asyncio.sleep(0.05)
        kill(sleeper)
        ctr.set_procs([])
        ctr.write_events(oom_kill=1)  # the task was in the container
        await until(lambda: got, "the kill")
        await asyncio.sleep(0.05)

    [inst] = run(scenario)
    assert (inst.container_name, inst.victim_container_name) == ("/pod/ctr", "/pod")
    assert (inst.pid, inst.process_name) == (sleeper.pid, "sleep")


def test_kill_without_warning_is_counted_without_a_name(tmp_path: Path) -> None:
    """A global OOM: no memcg limit was hit, nothing was noted before the kill."""
    cg = FixtureCgroup(tmp_path / "svc")

    async def scenario(w: OomWatcher, got: list[OomInstance]) -> None:
        assert w.watch("/svc", str(cg.path))
        cg.write_events(oom_kill=2)
        await until(lambda: len(got) == 2, "two kills")

    got = run(scenario)
    assert [(g.container_name, g.victim_container_name, g.pid, g.process_name, g.constraint) for g in got] == [
        ("/svc", "/", 0, "", ""),
        ("/svc", "/", 0, "", ""),
    ]


def test_counters_present_at_watch_time_are_not_kills(tmp_path: Path) -> None:
    cg = FixtureCgroup(tmp_path / "old")
    cg.write_events(oom=4, oom_kill=4)

    async def scenario(w: OomWatcher, got: list[OomInstance]) -> None:
        assert w.watch("/old", str(cg.path))
        cg.write_events(max=1)  # a change that is not a kill
        await asyncio.sleep(0.05)
        cg.write_events(oom_kill=1)
        await until(lambda: got, "the new kill")
        await asyncio.sleep(0.05)

    assert len(run(scenario)) == 1


def test_hierarchical_memory_events_when_there_is_no_local_file(tmp_path: Path) -> None:
    cg = FixtureCgroup(tmp_path / "old-kernel", events_file="memory.events")

    async def scenario(w: OomWatcher, got: list[OomInstance]) -> None:
        assert w.watch("/old-kernel", str(cg.path))
        cg.write_events(oom=1, oom_kill=1)
        await until(lambda: got, "the kill")

    [inst] = run(scenario)
    assert (inst.container_name, inst.victim_container_name) == ("/old-kernel", "/old-kernel")


def test_unwatch_releases_the_watch(tmp_path: Path) -> None:
    cg = FixtureCgroup(tmp_path / "gone")

    async def scenario(w: OomWatcher, got: list[OomInstance]) -> None:
        assert w.watch("/gone", str(cg.path))
        assert w.watch_count() == 1
        w.unwatch("/gone")
        assert w.watch_count() == 0
        cg.write_events(oom_kill=1)  # no longer watched: not reported
        await asyncio.sleep(0.05)

    assert run(scenario) == []


def test_directory_without_oom_counters_is_not_watched(tmp_path: Path) -> None:
    (tmp_path / "cpu-only").mkdir()
    (tmp_path / "cpu-only" / "cpu.stat").write_text("usage_usec 1\n")

    async def scenario(w: OomWatcher, got: list[OomInstance]) -> None:
        assert not w.watch("/cpu-only", str(tmp_path / "cpu-only"))
        assert w.watch_count() == 0

    run(scenario)
