"""Event storage limits, cAdvisor's query semantics, watches and the OOM kill tally."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pycadvisor.events.limits import LimitKind, parse_limits
from pycadvisor.events.request import EventsRequest
from pycadvisor.events.store import EventStore
from pycadvisor.model.events import (
    ALL_EVENT_TYPES,
    ContainerDeletionEventData,
    Event,
    EventData,
    EventType,
)

S = 1_000_000_000
T0 = 1_784_582_701 * S


class Clock:
    def __init__(self, t: int = T0) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


def ev(name: str, t: int, kind: str = EventType.OOM) -> Event:
    return Event(container_name=name, timestamp=T0 + t * S, event_type=kind)


def req(
    name: str = "/", *types: str, sub: bool = False, n: int = 10, start: int | None = None, end: int | None = None
) -> EventsRequest:
    return EventsRequest(
        container_name=name,
        event_types=frozenset(types or ALL_EVENT_TYPES),
        include_subcontainers=sub,
        max_events=n,
        start_ns=None if start is None else T0 + start * S,
        end_ns=None if end is None else T0 + end * S,
    )


def names_and_times(events: list[Event]) -> list[tuple[str, int]]:
    return [(e.container_name, (e.timestamp - T0) // S) for e in events]


# ---------------------------------------------------------------- limits flags


def test_parse_limits_defaults() -> None:
    assert parse_limits("default=24h", "age") == {"default": 24 * 3600 * S}
    assert parse_limits("default=100000", "count") == {"default": 100000}
    assert parse_limits("", "count") == {"default": 100000}


def test_parse_limits_per_type_overrides() -> None:
    assert parse_limits("default=24h,oom=1h,oomKill=90m", "age") == {
        "default": 24 * 3600 * S,
        "oom": 3600 * S,
        "oomKill": 5400 * S,
    }
    assert parse_limits("default=5,oomKill=10,containerCreation=0", "count") == {
        "default": 5,
        "oomKill": 10,
        "containerCreation": 0,
    }


def test_parse_limits_skips_malformed_parts_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        got = parse_limits("oom=1h,garbage,oomKill=soon,a=b=c", "age")
    assert got == {"default": 24 * 3600 * S, "oom": 3600 * S}
    assert len(caplog.records) == 3


@pytest.mark.parametrize(
    ("flag", "kind"), [("oom=1h,garbage", "age"), ("oomKill=soon", "age"), ("oom=1e3", "count"), ("ooms=5", "count")]
)
def test_parse_limits_strict_rejects_what_it_would_skip(flag: str, kind: LimitKind) -> None:
    with pytest.raises(ValueError):
        parse_limits(flag, kind, strict=True)
    assert parse_limits("default=24h,oom=1h", "age", strict=True)["oom"] == 3600 * S


def test_parse_limits_count_syntax_is_go_atoi(caplog: pytest.LogCaptureFixture) -> None:
    assert parse_limits("oom=1e3,oomKill=-1", "count") == {"default": 100000, "oomKill": -1}


# ---------------------------------------------------------------- query semantics


def test_no_type_requested_means_no_events() -> None:
    s = EventStore(clock=Clock())
    s.add(ev("/a", 1))
    assert s.query(EventsRequest(container_name="/a")) == []


def test_newest_events_oldest_first() -> None:
    s = EventStore(clock=Clock(T0 + 100 * S))
    for t in range(20):
        s.add(ev("/a", t))
    assert names_and_times(s.query(req("/a", "oom"))) == [("/a", t) for t in range(10, 20)]
    assert names_and_times(s.query(req("/a", "oom", n=3))) == [("/a", 17), ("/a", 18), ("/a", 19)]


@pytest.mark.parametrize("n", [0, -1])
def test_max_events_zero_or_negative_returns_all(n: int) -> None:
    s = EventStore(clock=Clock(T0 + 100 * S))
    for t in range(25):
        s.add(ev("/a", t))
    assert len(s.query(req("/a", "oom", n=n))) == 25


def test_per_type_cap_applies_before_the_container_filter() -> None:
    # cAdvisor GetEvents: InTimeRange(..., MaxEventsReturned) per type, then the container check.
    s = EventStore(clock=Clock(T0 + 100 * S))
    for t in range(15):
        s.add(ev("/a", t))
    for t in range(15, 20):
        s.add(ev("/b", t))
    assert names_and_times(s.query(req("/a", "oom"))) == [("/a", t) for t in range(10, 15)]


def test_types_are_merged_by_time_then_capped() -> None:
    s = EventStore(clock=Clock(T0 + 100 * S))
    for t in range(0, 20, 2):
        s.add(ev("/a", t, EventType.CONTAINER_CREATION))
    for t in range(1, 20, 2):
        s.add(ev("/a", t, EventType.CONTAINER_DELETION))
    got = s.query(req("/a", EventType.CONTAINER_CREATION, EventType.CONTAINER_DELETION, n=4))
    assert [(e.event_type, (e.timestamp - T0) // S) for e in got] == [
        ("containerCreation", 16),
        ("containerDeletion", 17),
        ("containerCreation", 18),
        ("containerDeletion", 19),
    ]


def test_equal_timestamps_keep_oom_before_oom_kill() -> None:
    s = EventStore(clock=Clock(T0 + 100 * S))
    s.add(ev("/a", 5, EventType.OOM_KILL))
    s.add(ev("/a", 5, EventType.OOM))
    assert [e.event_type for e in s.query(req("/a"))] == ["oom", "oomKill"]


def test_subcontainers_prefix_and_root() -> None:
    s = EventStore(clock=Clock(T0 + 100 * S))
    for i, name in enumerate(["/", "/a", "/a/b", "/ab", "/c"]):
        s.add(ev(name, i))
    assert names_and_times(s.query(req("/a", sub=True))) == [("/a", 1), ("/a/b", 2)]
    assert names_and_times(s.query(req("/a"))) == [("/a", 1)]
    assert len(s.query(req("/", sub=True))) == 5
    assert names_and_times(s.query(req("/"))) == [("/", 0)]


def test_time_window_is_inclusive() -> None:
    s = EventStore(clock=Clock(T0 + 100 * S))
    for t in range(10):
        s.add(ev("/a", t))
    assert [t for _, t in names_and_times(s.query(req("/a", start=3, end=6)))] == [3, 4, 5, 6]
    assert s.query(req("/a", start=11)) == []
    assert s.query(req("/a", end=-1)) == []
    # max_events takes the newest within the window
    assert [t for _, t in names_and_times(s.query(req("/a", start=2, end=8, n=2)))] == [7, 8]


def test_out_of_order_events_are_sorted() -> None:
    s = EventStore(clock=Clock(T0 + 100 * S))
    for t in [5, 1, 9, 3, 7]:
        s.add(ev("/a", t))
    assert [t for _, t in names_and_times(s.query(req("/a")))] == [1, 3, 5, 7, 9]


# ---------------------------------------------------------------- storage limits


def test_count_limit_per_type_keeps_the_newest() -> None:
    s = EventStore(count_limits={"default": 1000, "oom": 3}, clock=Clock(T0 + 10_000 * S))
    for t in range(500):
        s.add(ev("/a", t))
        s.add(ev("/a", t, EventType.OOM_KILL))
    assert s.stored_count("oom") == 3
    assert s.stored_count("oomKill") == 500
    assert [t for _, t in names_and_times(s.query(req("/a", "oom", n=-1)))] == [497, 498, 499]


def test_count_limit_zero_disables_storing_a_type() -> None:
    s = EventStore(count_limits={"containerCreation": 0}, clock=Clock(T0 + 100 * S))
    s.add(ev("/a", 1, EventType.CONTAINER_CREATION))
    s.add(ev("/a", 2, EventType.CONTAINER_DELETION))
    assert [e.event_type for e in s.query(req("/a"))] == ["containerDeletion"]


def test_age_limit_forgets_old_events_as_time_passes() -> None:
    clock = Clock(T0)
    s = EventStore(age_limits={"default": 3600 * S, "oom": 60 * S}, clock=clock)
    s.add(ev("/a", 0))
    s.add(ev("/a", 0, EventType.OOM_KILL))
    clock.t = T0 + 61 * S
    assert [e.event_type for e in s.query(req("/a"))] == ["oomKill"]
    clock.t = T0 + 3601 * S
    assert s.query(req("/a")) == []
    assert s.stored_count() == 0


def test_events_older_than_the_age_limit_are_not_kept() -> None:
    s = EventStore(age_limits={"default": 60 * S}, clock=Clock(T0 + 1000 * S))
    s.add(ev("/old", 0, EventType.CONTAINER_CREATION))
    s.add(ev("/new", 990, EventType.CONTAINER_CREATION))
    assert names_and_times(s.query(req("/", sub=True))) == [("/new", 990)]


def test_memory_stays_bounded_by_the_count_limit() -> None:
    s = EventStore(count_limits={"default": 1000}, clock=Clock(T0 + 20_000 * S))
    for t in range(20_000):
        s.add(ev("/a", t))
    assert s.stored_count("oom") == 1000
    assert len(s._logs["oom"].stamps) <= 1000 + 1000 // 8 + 64  # trimmed in batches


# ---------------------------------------------------------------- watches


def test_watch_receives_matching_events_in_order() -> None:
    async def main() -> None:
        s = EventStore(clock=Clock(T0 + 100 * S))
        w = s.watch(req("/a", EventType.OOM, EventType.CONTAINER_DELETION, sub=True))
        assert s.watch_count() == 1
        s.add(ev("/a/x", 1))
        s.add(ev("/b", 2))  # other container
        s.add(ev("/a", 3, EventType.CONTAINER_CREATION))  # other type
        s.add(ev("/a", 4, EventType.CONTAINER_DELETION))
        got = [await w.__anext__(), await w.__anext__()]
        assert names_and_times(got) == [("/a/x", 1), ("/a", 4)]
        assert await w.next_event(timeout=0.01) is None
        w.close()
        assert s.watch_count() == 0
        with pytest.raises(StopAsyncIteration):
            await w.next_event(timeout=0.01)

    asyncio.run(main())


def test_waiting_watch_wakes_on_a_new_event() -> None:
    async def main() -> None:
        s = EventStore(clock=Clock(T0 + 100 * S))
        w = s.watch(req("/", sub=True))
        task = asyncio.ensure_future(w.__anext__())
        await asyncio.sleep(0)
        assert not task.done()
        s.add(ev("/z", 7))
        got = await asyncio.wait_for(task, 5)
        assert got.container_name == "/z"
        w.close()

    asyncio.run(main())


def test_close_wakes_a_waiting_consumer() -> None:
    async def main() -> None:
        s = EventStore(clock=Clock(T0 + 100 * S))
        w = s.watch(req("/", sub=True))

        async def consume() -> list[Event]:
            return [e async for e in w]

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0)
        s.add(ev("/z", 1))
        w.close()  # drops the queued event and ends the iteration of the waiting consumer
        assert await asyncio.wait_for(task, 5) == []

    asyncio.run(main())


def test_a_slow_watch_is_detached_and_ends_after_its_queue() -> None:
    async def main() -> None:
        s = EventStore(clock=Clock(T0 + 100 * S), watch_queue=5)
        slow = s.watch(req("/", sub=True))
        fast = s.watch(req("/", sub=True))
        for t in range(8):
            s.add(ev("/a", t))
            assert await fast.__anext__() is not None
        assert slow.overflowed and slow.closed
        assert s.watch_count() == 1  # the slow one no longer counts, nor receives
        got = [e async for e in slow]
        assert [t for _, t in names_and_times(got)] == [0, 1, 2, 3, 4]
        fast.close()
        assert s.watch_count() == 0

    asyncio.run(main())


# ---------------------------------------------------------------- OOM kill tally


def test_oom_kill_count_counts_oom_events_of_the_task_cgroup() -> None:
    s = EventStore(clock=Clock(T0))
    s.add(ev("/a", 0, EventType.CONTAINER_CREATION))
    s.add(ev("/a", 1, EventType.OOM))
    s.add(ev("/p", 1, EventType.OOM_KILL))  # the limit's cgroup: not the counted one
    s.add(ev("/a", 2, EventType.OOM))
    assert s.oom_kill_count("/a") == 2
    assert s.oom_kill_count("/p") == 0
    assert s.oom_kill_counts() == {"/a": 2}


def test_oom_kill_count_survives_restart_under_the_same_name() -> None:
    clock = Clock(T0)
    s = EventStore(age_limits={"default": 3600 * S}, clock=clock)
    s.add(ev("/a", 0, EventType.CONTAINER_CREATION))
    s.add(ev("/a", 1, EventType.OOM))
    del_data = EventData(container_deletion=ContainerDeletionEventData(exit_code=137))
    s.add(
        Event(container_name="/a", timestamp=T0 + 2 * S, event_type=EventType.CONTAINER_DELETION, event_data=del_data)
    )
    clock.t += 600 * S
    assert s.oom_kill_count("/a") == 1  # gone, but within the window
    s.add(Event(container_name="/a", timestamp=clock.t, event_type=EventType.CONTAINER_CREATION))
    s.add(Event(container_name="/a", timestamp=clock.t, event_type=EventType.OOM))
    clock.t += 10 * 3600 * S  # alive: kept however long
    assert s.oom_kill_count("/a") == 2


def test_oom_kill_count_is_forgotten_after_the_window_once_gone() -> None:
    clock = Clock(T0)
    s = EventStore(age_limits={"default": 3600 * S}, clock=clock)
    s.add(ev("/a", 0, EventType.CONTAINER_CREATION))
    s.add(ev("/a", 1, EventType.OOM))
    s.add(ev("/a", 2, EventType.CONTAINER_DELETION))
    clock.t += 3601 * S
    assert s.oom_kill_count("/a") == 0
    assert s.oom_kill_counts() == {}


def test_oom_kill_count_does_not_depend_on_event_storage() -> None:
    s = EventStore(count_limits={"oom": 0}, clock=Clock(T0))
    s.add(ev("/a", 0, EventType.CONTAINER_CREATION))
    for t in range(3):
        s.add(ev("/a", t))
    assert s.query(req("/a", "oom")) == []
    assert s.oom_kill_count("/a") == 3
