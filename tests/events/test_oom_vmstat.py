"""Global OOM kills on cgroup v1: the ``/proc/vmstat`` ``oom_kill`` check, polled or woken by kmsg.

Fixture trees: ``proc/vmstat`` and v1 ``memory.oom_control`` files rewritten in place (as procfs and
cgroupfs present the same inode), no ``cgroup.event_control`` (a global OOM signals no eventfd, so
only the vmstat check can find it) and a FIFO standing in for ``/dev/kmsg``.
"""

from __future__ import annotations

import asyncio
import errno
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from pycadvisor.events import oom
from pycadvisor.events.kmsg import OomInstance
from pycadvisor.events.oom import OomWatcher
from pycadvisor.events.oomfiles import VMSTAT_READ_SIZE, pread_vmstat_oom_kill
from pycadvisor.events.oomjoin import OomJoin
from pycadvisor.events.request import EventsRequest
from pycadvisor.events.service import EventService
from pycadvisor.events.store import EventStore
from pycadvisor.host.paths import HostPaths
from pycadvisor.model.events import EventType

# The lines mm/oom_kill.c prints for a global OOM (Linux >= 4.19; see fixtures/linux-6.1-global.txt).
GLOBAL_REPORT = (
    "stress invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0",
    "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
    "task_memcg=/ctr,task=stress,pid=4242,uid=0",
    "Out of memory: Killed process 4242 (stress) total-vm:1000kB, anon-rss:900kB, file-rss:0kB, shmem-rss:0kB",
)


def write_in_place(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class FakeHost:
    """``<root>/proc/vmstat`` with an ``oom_kill`` line amid the others, and v1 memory cgroups."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths = HostPaths.under(str(root))
        (root / "proc").mkdir(parents=True)
        (root / "dev").mkdir()
        self.vmstat = root / "proc" / "vmstat"
        self.oom_kill = 7
        self.write_vmstat()

    def vmstat_text(self) -> bytes:
        # Longer than one read (VMSTAT_READ_SIZE) before oom_kill, as on hosts with many zones.
        head = "".join(f"nr_stat_{i} {i * 1000}\n" for i in range(600))
        return f"{head}oom_kill {self.oom_kill}\nnuma_hit 5\n".encode()

    def write_vmstat(self) -> None:
        write_in_place(self.vmstat, self.vmstat_text())

    def global_oom(self, *cgroups: V1Cgroup) -> None:
        """A kill as the kernel counts it: the task's memcg and /proc/vmstat (nanoseconds apart)."""
        for cg in cgroups:
            cg.write(cg.kills + 1)
        self.oom_kill += 1
        self.write_vmstat()

    def cgroup(self, name: str) -> V1Cgroup:
        return V1Cgroup(self.root / "cgroup" / name)


class V1Cgroup:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        (path / "cgroup.procs").write_text("")
        self.kills = 0
        self.write(0)

    def write(self, kills: int) -> None:
        self.kills = kills
        write_in_place(
            self.path / "memory.oom_control", f"oom_kill_disable 0\nunder_oom 0\noom_kill {kills}\n".encode()
        )


@pytest.fixture
def host(tmp_path: Path) -> FakeHost:
    return FakeHost(tmp_path)


@pytest.fixture
def vmstat_reads(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Monotonic times of the watcher's reads of /proc/vmstat."""
    times: list[float] = []

    def counting(fd: int) -> int | None:
        times.append(time.monotonic())
        return pread_vmstat_oom_kill(fd)

    monkeypatch.setattr(oom, "pread_vmstat_oom_kill", counting)
    return times


async def until(pred: Callable[[], object], what: str, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def run_watcher(
    host: FakeHost,
    scenario: Callable[[OomWatcher, list[OomInstance]], Awaitable[None]],
    **kw: float,
) -> list[OomInstance]:
    got: list[OomInstance] = []

    async def main() -> None:
        w = OomWatcher(host.paths, got.append, time.time_ns, **kw)
        w.start(asyncio.get_running_loop())
        try:
            await scenario(w, got)
        finally:
            w.stop()

    asyncio.run(main())
    return got


def open_fds_to(path: Path) -> int:
    """This process's fds open on ``path`` (also once it is unlinked: `` (deleted)``)."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(os.path.join("/proc/self/fd", fd))
        except OSError:
            continue
        if target in (str(path), f"{path} (deleted)"):
            n += 1
    return n


# ---------------------------------------------------------------- reading /proc/vmstat


def test_pread_reads_past_a_page_and_again_from_offset_0(host: FakeHost) -> None:
    fd = os.open(host.vmstat, os.O_RDONLY)
    try:
        assert host.vmstat.stat().st_size > 2 * VMSTAT_READ_SIZE
        assert pread_vmstat_oom_kill(fd) == 7
        host.global_oom()
        assert pread_vmstat_oom_kill(fd) == 8  # the same fd, regenerated from offset 0
    finally:
        os.close(fd)


def test_real_proc_vmstat_through_a_held_fd() -> None:
    fd = os.open("/proc/vmstat", os.O_RDONLY)
    try:
        first = pread_vmstat_oom_kill(fd)
        assert first is not None and first >= 0
        again = pread_vmstat_oom_kill(fd)
        assert again is not None and again >= first
    finally:
        os.close(fd)


def test_vmstat_is_held_open_reopened_after_an_error_and_closed_on_stop(
    host: FakeHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    cg = host.cgroup("ctr")
    reads: list[str] = []

    def flaky(fd: int) -> int | None:
        reads.append("fail" if not reads else "ok")
        if len(reads) == 1:
            raise OSError(errno.EIO, "injected")
        return pread_vmstat_oom_kill(fd)

    async def scenario(w: OomWatcher, got: list[OomInstance]) -> None:
        assert w.watch("/ctr", str(cg.path))
        assert reads == ["fail", "ok"]  # the baseline at watch time: one failed read, one through a re-opened fd
        await until(lambda: len(reads) >= 4, "two polls")
        assert open_fds_to(host.vmstat) == 1
        # Held, not re-opened: a kill written through the file's inode after its path is gone is seen.
        wfd = os.open(host.vmstat, os.O_WRONLY)
        try:
            os.unlink(host.vmstat)
            cg.write(1)
            host.oom_kill += 1
            os.ftruncate(wfd, 0)
            os.pwrite(wfd, host.vmstat_text(), 0)
        finally:
            os.close(wfd)
        await until(lambda: got, "the kill")
        assert open_fds_to(host.vmstat) == 1

    monkeypatch.setattr(oom, "pread_vmstat_oom_kill", flaky)
    got = run_watcher(host, scenario, vmstat_interval=0.02)
    assert [(g.container_name, g.victim_container_name, g.constraint) for g in got] == [("/ctr", "/", "")]
    assert open_fds_to(host.vmstat) == 0  # closed on stop


# ---------------------------------------------------------------- the watcher's schedule


def test_without_kmsg_the_poll_finds_a_global_oom(host: FakeHost, vmstat_reads: list[float]) -> None:
    cg = host.cgroup("ctr")

    async def scenario(w: OomWatcher, got: list[OomInstance]) -> None:
        assert w.watch("/ctr", str(cg.path))
        delay = w.vmstat_delay()
        assert delay is not None and 0.05 < delay <= 0.1
        await asyncio.sleep(0.35)
        assert 2 <= len(vmstat_reads) - 1 <= 5  # a poll every 0.1 s (beside the baseline at watch time)
        host.global_oom(cg)
        await until(lambda: got, "the kill", timeout=0.5)

    [inst] = run_watcher(host, scenario, vmstat_interval=0.1)
    assert (inst.container_name, inst.victim_container_name, inst.pid) == ("/ctr", "/", 0)


def test_with_kmsg_the_poll_is_a_backstop(host: FakeHost, vmstat_reads: list[float]) -> None:
    cg = host.cgroup("ctr")

    async def scenario(w: OomWatcher, got: list[OomInstance]) -> None:
        w.follow_kmsg(lambda: True)
        assert w.watch("/ctr", str(cg.path))
        delay = w.vmstat_delay()
        assert delay is not None and 9.5 < delay <= 10.0  # the default backstop, not vmstat_interval
        await asyncio.sleep(1.5)
        assert len(vmstat_reads) == 1  # the baseline only: no poll in 1.5 s
        host.global_oom(cg)
        await asyncio.sleep(0.3)
        assert got == []  # unseen until kmsg reports it (or the backstop polls)
        w.kmsg_oom()
        assert [(g.container_name, g.victim_container_name) for g in got] == [("/ctr", "/")]  # at once
        delay = w.vmstat_delay()
        assert delay is not None and 0.05 < delay <= 0.1  # an OOM burst: polled fast for a while

    run_watcher(host, scenario, vmstat_interval=0.1)


def test_following_kmsg_after_start_rearms_the_armed_poll(host: FakeHost) -> None:
    cg = host.cgroup("ctr")

    async def scenario(w: OomWatcher, got: list[OomInstance]) -> None:
        assert w.watch("/ctr", str(cg.path))
        delay = w.vmstat_delay()
        assert delay is not None and delay <= 1.0
        w.follow_kmsg(lambda: True)
        delay = w.vmstat_delay()
        assert delay is not None and 29 < delay <= 30
        w.follow_kmsg(None)
        delay = w.vmstat_delay()
        assert delay is not None and delay <= 1.0

    run_watcher(host, scenario, vmstat_backstop_interval=30)


def test_a_kmsg_report_before_the_counters_rise_is_rechecked_shortly(host: FakeHost) -> None:
    """dump_oom_summary prints the report just before __oom_kill_process bumps the counters."""
    cg = host.cgroup("ctr")

    async def scenario(w: OomWatcher, got: list[OomInstance]) -> None:
        w.follow_kmsg(lambda: True)
        assert w.watch("/ctr", str(cg.path))
        w.kmsg_oom()
        assert got == []
        host.global_oom(cg)
        t0 = time.monotonic()
        await until(lambda: got, "the kill", timeout=1.0)
        assert time.monotonic() - t0 < 0.5  # a recheck, not the 2 s poll

    [inst] = run_watcher(host, scenario, vmstat_interval=2.0)
    assert (inst.container_name, inst.victim_container_name) == ("/ctr", "/")


def test_after_an_oom_burst_the_backstop_returns(
    host: FakeHost, vmstat_reads: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oom, "KMSG_FAST_HOLD", 0.3)
    cg = host.cgroup("ctr")

    async def scenario(w: OomWatcher, got: list[OomInstance]) -> None:
        w.follow_kmsg(lambda: True)
        assert w.watch("/ctr", str(cg.path))
        host.global_oom(cg)
        w.kmsg_oom()
        assert len(got) == 1
        # A kill whose report the kernel's ratelimit suppressed: no kmsg report, found by the fast poll.
        host.global_oom(cg)
        await until(lambda: len(got) == 2, "the unreported kill", timeout=0.5)
        await asyncio.sleep(0.4)
        delay = w.vmstat_delay()
        assert delay is not None and delay > 9  # the burst is over
        n = len(vmstat_reads)
        await asyncio.sleep(0.3)
        assert len(vmstat_reads) == n

    run_watcher(host, scenario, vmstat_interval=0.05)


def test_when_kmsg_stops_the_fast_poll_resumes(host: FakeHost, vmstat_reads: list[float]) -> None:
    cg = host.cgroup("ctr")
    alive = [True]

    async def scenario(w: OomWatcher, got: list[OomInstance]) -> None:
        w.follow_kmsg(lambda: alive[0])
        assert w.watch("/ctr", str(cg.path))
        delay = w.vmstat_delay()
        assert delay is not None and 0.25 < delay <= 0.3
        alive[0] = False  # e.g. a read error: KmsgOomSource stops itself and reports nothing
        await asyncio.sleep(0.35)  # the backstop poll notices
        delay = w.vmstat_delay()
        assert delay is not None and delay <= 0.05
        host.global_oom(cg)
        await until(lambda: got, "the kill", timeout=0.3)

    run_watcher(host, scenario, vmstat_interval=0.05, vmstat_backstop_interval=0.3)


def test_no_v1_watch_no_poll(host: FakeHost, vmstat_reads: list[float]) -> None:
    async def scenario(w: OomWatcher, got: list[OomInstance]) -> None:
        w.follow_kmsg(lambda: True)
        w.kmsg_oom()
        assert w.vmstat_delay() is None
        assert vmstat_reads == []

    run_watcher(host, scenario, vmstat_interval=0.05)


# ---------------------------------------------------------------- through EventService


class FakeKmsg:
    """A FIFO at ``<root>/dev/kmsg`` (KmsgOomSource reads one record per read, as from the device)."""

    def __init__(self, root: Path) -> None:
        self.path = root / "dev" / "kmsg"
        os.mkfifo(self.path)
        self.seq = 0
        self.wfd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)  # a writer, so the reader never sees EOF

    def write(self, *messages: str) -> None:
        for m in messages:
            self.seq += 1
            os.write(self.wfd, f"3,{self.seq},{self.seq * 1000},-;{m}\n".encode())

    def close(self) -> None:
        os.close(self.wfd)


@pytest.fixture
def kmsg(host: FakeHost) -> Iterator[FakeKmsg]:
    k = FakeKmsg(host.root)
    try:
        yield k
    finally:
        k.close()


def run_service(
    host: FakeHost, scenario: Callable[[EventService], Awaitable[None]], *, kmsg: bool, vmstat_interval: float
) -> EventStore:
    store = EventStore()

    async def main() -> None:
        service = EventService(store, host.paths, kmsg=kmsg, vmstat_interval=vmstat_interval)
        await service.start()
        try:
            assert service.kmsg_active == kmsg
            await scenario(service)
        finally:
            await service.stop()

    asyncio.run(main())
    return store


def oom_events(store: EventStore) -> list[tuple[str, str]]:
    req = EventsRequest(event_types=frozenset({EventType.OOM, EventType.OOM_KILL}), include_subcontainers=True)
    return [(e.event_type, e.container_name) for e in store.query(req)]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[OomInstance]:
    """The kills the counters reported to the join (kmsg's twin of each is dropped there)."""
    got: list[OomInstance] = []
    from_counter = OomJoin.from_counter

    def spy(self: OomJoin, inst: OomInstance, now: int) -> None:
        got.append(inst)
        from_counter(self, inst, now)

    monkeypatch.setattr(OomJoin, "from_counter", spy)
    return got


def test_service_with_kmsg_does_not_poll_every_interval(
    host: FakeHost, kmsg: FakeKmsg, vmstat_reads: list[float]
) -> None:
    cg = host.cgroup("ctr")

    async def scenario(service: EventService) -> None:
        service.on_container_added("/ctr", time.time_ns(), str(cg.path))
        await asyncio.sleep(1.5)
        assert len(vmstat_reads) == 1  # the baseline only; without kmsg, ~15 reads (test below)

    run_service(host, scenario, kmsg=True, vmstat_interval=0.1)


def test_service_checks_the_counters_at_each_kmsg_oom(
    host: FakeHost, kmsg: FakeKmsg, counted: list[OomInstance]
) -> None:
    cg = host.cgroup("ctr")

    async def scenario(service: EventService) -> None:
        service.on_container_added("/ctr", time.time_ns(), str(cg.path))
        await asyncio.sleep(0.1)
        host.global_oom(cg)
        t0 = time.monotonic()
        kmsg.write(*GLOBAL_REPORT)
        # No poll before 10 s (the backstop) or 2 s (the burst's fast poll): only the kmsg wake-up finds it.
        await until(lambda: counted, "the counter side of the kill", timeout=1.5)
        assert time.monotonic() - t0 < 1.0
        await asyncio.sleep(0.6)  # past the join's grace: still one report

    store = run_service(host, scenario, kmsg=True, vmstat_interval=2.0)
    assert [(c.container_name, c.victim_container_name) for c in counted] == [("/ctr", "/")]
    assert oom_events(store) == [(EventType.OOM, "/ctr"), (EventType.OOM_KILL, "/")]
    [kill] = store.query(EventsRequest(container_name="/", event_types=frozenset({EventType.OOM_KILL})))
    assert kill.event_data.oom is not None and kill.event_data.oom.pid == 4242  # kmsg's details
    assert store.oom_kill_count("/ctr") == 1


def test_service_without_kmsg_polls_at_vmstat_interval(
    host: FakeHost, vmstat_reads: list[float], counted: list[OomInstance]
) -> None:
    cg = host.cgroup("ctr")

    async def scenario(service: EventService) -> None:
        service.on_container_added("/ctr", time.time_ns(), str(cg.path))
        await asyncio.sleep(1.5)
        assert len(vmstat_reads) >= 10  # the baseline and a poll every 0.1 s
        host.global_oom(cg)
        await until(lambda: oom_events(service.store), "the kill", timeout=0.5)

    store = run_service(host, scenario, kmsg=False, vmstat_interval=0.1)
    assert [(c.container_name, c.victim_container_name) for c in counted] == [("/ctr", "/")]
    assert oom_events(store) == [(EventType.OOM, "/ctr"), (EventType.OOM_KILL, "/")]


def test_service_polls_at_vmstat_interval_as_soon_as_kmsg_fails(
    host: FakeHost, kmsg: FakeKmsg, vmstat_reads: list[float], counted: list[OomInstance],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    cg = host.cgroup("ctr")
    kmsg_fd = -1
    real_read = os.read

    def read(fd: int, n: int) -> bytes:
        nonlocal kmsg_fd
        if fd == kmsg_fd:  # the device failing under the reader (EIO), once: the number is reused after
            kmsg_fd = -1
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_read(fd, n)

    async def scenario(service: EventService) -> None:
        nonlocal kmsg_fd
        service.on_container_added("/ctr", time.time_ns(), str(cg.path))
        await asyncio.sleep(0.5)
        assert len(vmstat_reads) == 1  # kmsg is read: the 10 s backstop only
        kmsg_fd = next(
            int(fd)
            for fd in os.listdir("/proc/self/fd")
            if os.path.realpath(f"/proc/self/fd/{fd}") == str(kmsg.path) and int(fd) != kmsg.wfd
        )
        monkeypatch.setattr(os, "read", read)
        kmsg.write("a record the reader fails on")
        await until(lambda: not service.kmsg_active, "kmsg stopped", timeout=2.0)
        n = len(vmstat_reads)
        await asyncio.sleep(0.55)
        assert len(vmstat_reads) - n >= 3  # polled every 0.1 s again, not in 10 s
        host.global_oom(cg)
        await until(lambda: oom_events(service.store), "the kill, found by the poll", timeout=1.0)

    store = run_service(host, scenario, kmsg=True, vmstat_interval=0.1)
    assert [(c.container_name, c.victim_container_name) for c in counted] == [("/ctr", "/")]
    # Without kmsg there is no twin to wait for: both events reported at once by the counter side.
    assert oom_events(store) == [(EventType.OOM, "/ctr"), (EventType.OOM_KILL, "/")]
