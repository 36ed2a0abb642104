"""Real OOM kills and real cgroups on this host, through :class:`EventService`.

A test cgroup gets a 32 MiB memory limit and a process that allocates 256 MiB: the kernel kills it.
Within 2 s of its death the ``oom`` and ``oomKill`` events must be in the store and in a stream
opened before, naming the killed process, and the container's OOM kill count must read 1, once with
/dev/kmsg and once with kmsg switched off (cgroup counters only). Needs root (fails under CI=true).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from pycadvisor.events.request import EventsRequest
from pycadvisor.events.service import EventService
from pycadvisor.events.store import EventStore
from pycadvisor.host.paths import HostPaths
from pycadvisor.model.events import ALL_EVENT_TYPES, Event, EventType
from support.cgroups import TestCgroup
from support.ci import require
from support.procs import ManagedProcess

pytestmark = pytest.mark.root

LIMIT = 32 << 20
ALLOC_MIB = 256
HOG_NAME = "pycad-oomhog"  # the comm the kernel reports: the name the binary was exec'd under
_HOG = "import sys; b = bytearray(int(sys.argv[1]) << 20); sys.exit(3)"  # bytearray(n) touches every page


def limit_memory(cg: TestCgroup, limit: int) -> None:
    if cg.version == 1:
        cg.set("memory.limit_in_bytes", limit)
        memsw = os.path.join(cg.path("memory"), "memory.memsw.limit_in_bytes")
        if os.path.exists(memsw):  # no escape into swap
            cg.set("memory.memsw.limit_in_bytes", limit)
    else:
        cg.set("memory.max", limit)
        if os.path.exists(os.path.join(cg.path("memory"), "memory.swap.max")):
            cg.set("memory.swap.max", 0)


def hog_binary(tmp_path: Path) -> str:
    link = tmp_path / HOG_NAME
    if not link.exists():
        link.symlink_to(os.path.realpath(sys.executable))
    return str(link)


async def run_hog(cg: TestCgroup, tmp_path: Path) -> tuple[ManagedProcess, float]:
    """Start the hog inside ``cg`` and wait for its death; returns it and the monotonic time of death."""
    hog = ManagedProcess(
        [hog_binary(tmp_path), "-c", _HOG, str(ALLOC_MIB)], what="OOM hog", cgroup_procs=cg.procs_files()
    )
    cg.adopt(hog)
    deadline = time.monotonic() + 60
    while hog.alive():
        assert time.monotonic() < deadline, "the hog neither died nor finished"
        await asyncio.sleep(0.005)
    assert hog.returncode == -9, f"the hog was not OOM-killed (exit {hog.returncode})"
    return hog, time.monotonic()


async def collect(
    watch_next: Callable[[float | None], Awaitable[Event | None]], until: Callable[[list[Event]], bool], by: float
) -> list[Event]:
    got: list[Event] = []
    while not until(got):
        left = by - time.monotonic()
        if left <= 0:
            break
        ev = await watch_next(left)
        if ev is not None:
            got.append(ev)
    return got


def both_oom_events(events: list[Event]) -> bool:
    return {e.event_type for e in events} >= {EventType.OOM, EventType.OOM_KILL}


@pytest.mark.parametrize("kmsg", [True, False], ids=["kmsg", "counters-only"])
def test_oom_kill_is_reported_with_the_process_name(kmsg: bool, test_cgroup: TestCgroup, tmp_path: Path) -> None:
    cg = test_cgroup
    limit_memory(cg, LIMIT)

    async def main() -> None:
        store = EventStore()
        service = EventService(store, HostPaths(), kmsg=kmsg)
        await service.start()
        try:
            if kmsg:
                require(service.kmsg_active, "/dev/kmsg is not readable here")
            every = frozenset(ALL_EVENT_TYPES)
            watch = store.watch(EventsRequest(container_name=cg.name, event_types=every))  # a stream opened before
            service.on_container_added(cg.name, time.time_ns(), cg.path("memory"))
            assert service.oom_watch_count() == 1
            assert [e.event_type for e in await collect(watch.next_event, lambda g: bool(g), time.monotonic() + 1)] == [
                EventType.CONTAINER_CREATION
            ]

            hog, died = await run_hog(cg, tmp_path)
            streamed = await collect(watch.next_event, both_oom_events, died + 2.0)  # at most 2 s after the death
            stored = store.query(EventsRequest(container_name=cg.name, event_types=every, max_events=-1))

            for events in (streamed, stored):
                oom = [e for e in events if e.event_type == EventType.OOM]
                kill = [e for e in events if e.event_type == EventType.OOM_KILL]
                assert len(oom) == 1 and len(kill) == 1, events
                assert oom[0].container_name == cg.name
                assert kill[0].container_name == cg.name  # the cgroup whose limit was hit
                data = kill[0].event_data.oom
                assert data is not None
                assert (data.pid, data.process_name, data.constraint) == (hog.pid, HOG_NAME, "CONSTRAINT_MEMCG")
                assert abs(oom[0].timestamp - time.time_ns()) < 10 * 10**9
            assert store.oom_kill_count(cg.name) == 1

            # Reported once: nothing more arrives after the kmsg/counter grace period.
            assert await collect(watch.next_event, lambda g: False, time.monotonic() + 1.0) == []
            assert store.oom_kill_count(cg.name) == 1
            watch.close()
        finally:
            service.on_container_removed(cg.name, None)
            await service.stop()

    asyncio.run(main())


@pytest.mark.parametrize("kmsg", [True, False], ids=["kmsg", "counters-only"])
def test_kill_below_a_limited_parent_names_both_cgroups(kmsg: bool, test_cgroup: TestCgroup, tmp_path: Path) -> None:
    """oom: the killed task's cgroup (the child); oomKill: the cgroup whose limit was hit (the parent)."""
    parent = test_cgroup
    limit_memory(parent, LIMIT)
    child = parent.child("job")

    async def main() -> None:
        store = EventStore()
        service = EventService(store, HostPaths(), kmsg=kmsg)
        await service.start()
        try:
            if kmsg:
                require(service.kmsg_active, "/dev/kmsg is not readable here")
            for cg in (parent, child):
                service.on_container_added(cg.name, time.time_ns(), cg.path("memory"))
            watch = store.watch(
                EventsRequest(
                    container_name=parent.name,
                    include_subcontainers=True,
                    event_types=frozenset({EventType.OOM, EventType.OOM_KILL}),
                )
            )
            hog, died = await run_hog(child, tmp_path)
            got = await collect(watch.next_event, both_oom_events, died + 2.0)
            assert [(e.event_type, e.container_name) for e in got] == [
                (EventType.OOM, child.name),
                (EventType.OOM_KILL, parent.name),
            ]
            data = got[1].event_data.oom
            assert data is not None and (data.pid, data.process_name) == (hog.pid, HOG_NAME)
            assert store.oom_kill_count(child.name) == 1
            assert store.oom_kill_count(parent.name) == 0
            watch.close()
        finally:
            for cg in (child, parent):
                service.on_container_removed(cg.name, None)
            await service.stop()

    asyncio.run(main())


def test_count_survives_the_container_restarting_under_the_same_name(test_cgroup: TestCgroup, tmp_path: Path) -> None:
    async def main() -> None:
        store = EventStore()
        service = EventService(store, HostPaths(), kmsg=False)
        await service.start()
        try:
            for life in (1, 2):
                app = test_cgroup.child("app")  # the same cgroup path, hence the same name, each time
                limit_memory(app, LIMIT)
                service.on_container_added(app.name, time.time_ns(), app.path("memory"))
                watch = store.watch(EventsRequest(container_name=app.name, event_types=frozenset({EventType.OOM})))
                _, died = await run_hog(app, tmp_path)
                assert len(await collect(watch.next_event, bool, died + 2.0)) == 1
                watch.close()
                assert store.oom_kill_count(app.name) == life
                app.close()
                service.on_container_removed(app.name, 137)
                assert store.oom_kill_count(app.name) == life  # gone, still counted
        finally:
            await service.stop()

    asyncio.run(main())


def test_creation_and_deletion_of_cgroups_stream_live(test_cgroup: TestCgroup) -> None:
    async def main() -> None:
        store = EventStore()
        service = EventService(store, HostPaths(), kmsg=False)
        await service.start()
        try:
            watch = store.watch(
                EventsRequest(
                    container_name=test_cgroup.name,
                    include_subcontainers=True,
                    event_types=frozenset({EventType.CONTAINER_CREATION, EventType.CONTAINER_DELETION}),
                )
            )
            kids = [test_cgroup.child(f"c{i}") for i in range(3)]
            for k in kids:
                created = int(os.stat(k.path("memory")).st_mtime * 1e9)
                service.on_container_added(k.name, created, k.path("memory"))
            assert service.oom_watch_count() == 3
            got = await collect(watch.next_event, lambda g: len(g) == 3, time.monotonic() + 2)
            assert [(e.event_type, e.container_name) for e in got] == [
                (EventType.CONTAINER_CREATION, k.name) for k in kids
            ]

            kids[1].close()
            if test_cgroup.version == 1:  # rmdir: the kernel signals the OOM eventfd once more, the counter is gone
                for _ in range(200):
                    if service.oom_watch_count() == 2:
                        break
                    await asyncio.sleep(0.01)
                assert service.oom_watch_count() == 2
            # v2 watches memory.events.local through inotify, and cgroupfs sends no IN_IGNORED when the
            # cgroup goes (kernfs removes it without the VFS): the removal gives the watch back.
            service.on_container_removed(kids[1].name, None)
            assert service.oom_watch_count() == 2
            [deleted] = await collect(watch.next_event, bool, time.monotonic() + 2)
            assert deleted.event_type == EventType.CONTAINER_DELETION
            assert deleted.container_name == kids[1].name
            assert deleted.event_data.container_deletion is not None
            assert deleted.event_data.container_deletion.exit_code == -1
            watch.close()
        finally:
            await service.stop()
        assert service.oom_watch_count() == 0

    asyncio.run(main())
