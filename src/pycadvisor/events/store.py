"""The event store: per-type storage bounded by age and count, past-event queries and live watches.

Follows cAdvisor ``events/handler.go`` (``GetEvents``, ``WatchEvents``, ``AddEvent``) and
``utils/timed_store.go``, with these deliberate differences:

- Age eviction is against the injected clock (``now - age``), not against the timestamp of the
  event being added, so a quiet store still forgets old events.
- A watch has a bounded queue. cAdvisor's watch channel holds 10 events and ``AddEvent`` blocks
  every producer while a slow client's channel is full; here a watch whose queue overflows is
  *detached*: it gets no further events, still yields the ones already queued, then ends (its
  ``overflowed`` flag is set). The API then ends the stream, so the client knows it fell behind
  instead of silently missing events, and one slow client can neither block producers nor grow memory.
- ``max_events <= 0`` returns everything (``events/handler.go``: a negative ``MaxEventsReturned`` means no limit).

``oom_kill_count`` is independent of storage limits: a per-container tally of ``oom`` events (the
killed task's cgroup, cAdvisor's ``container_oom_events_total`` key). It survives the container's
deletion and re-creation under the same name, and is forgotten once the container has been gone
for longer than the ``oom`` age limit.

Not thread-safe: call every method from the event loop's thread.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pycadvisor.events.limits import DEFAULT_AGE_NS, DEFAULT_COUNT, limit_for, parse_limits
from pycadvisor.events.request import EventsRequest
from pycadvisor.model.events import ALL_EVENT_TYPES, Event, EventType

__all__ = ["DEFAULT_WATCH_QUEUE", "EventStore", "EventWatch", "parse_limits"]

log = logging.getLogger(__name__)

DEFAULT_WATCH_QUEUE = 1000  # events a watch may hold undelivered before it is detached


class _TypeLog:
    """Events of one type, sorted by timestamp (ties in arrival order), bounded by age and count."""

    __slots__ = ("age_ns", "events", "max_count", "slack", "stamps")

    def __init__(self, age_ns: int, max_count: int) -> None:
        self.age_ns = age_ns
        self.max_count = max_count  # < 0: unbounded; 0: nothing stored
        # Trimming the front of a Python list moves the whole list; let it overshoot the count
        # cap by 1/8 and trim in one go (reads only ever look at the newest ``max_count``).
        self.slack = max(64, max_count // 8) if max_count > 0 else 0
        self.stamps: list[int] = []
        self.events: list[Event] = []

    def add(self, event: Event, now: int) -> None:
        if self.max_count == 0:
            return
        ts = event.timestamp
        if not self.stamps or ts >= self.stamps[-1]:
            self.stamps.append(ts)
            self.events.append(event)
        else:  # out of order: insert after any equal timestamps
            i = bisect.bisect_right(self.stamps, ts)
            self.stamps.insert(i, ts)
            self.events.insert(i, event)
        self.evict(now)
        if self.max_count > 0 and len(self.stamps) > self.max_count + self.slack:
            cut = len(self.stamps) - self.max_count
            del self.stamps[:cut]
            del self.events[:cut]

    def evict(self, now: int) -> None:
        cutoff = now - self.age_ns
        if self.stamps and self.stamps[0] < cutoff:
            cut = bisect.bisect_left(self.stamps, cutoff)
            del self.stamps[:cut]
            del self.events[:cut]

    def first_index(self) -> int:
        if self.max_count > 0:
            return max(0, len(self.stamps) - self.max_count)
        return 0

    def __len__(self) -> int:
        return len(self.stamps) - self.first_index()

    def select(self, req: EventsRequest) -> list[Event]:
        """cAdvisor ``TimedStore.InTimeRange`` (newest ``max_events`` in the window), then the container filter."""
        lo = self.first_index()
        hi = len(self.stamps)
        if req.start_ns is not None:
            lo = max(lo, bisect.bisect_left(self.stamps, req.start_ns))
        if req.end_ns is not None:
            hi = bisect.bisect_right(self.stamps, req.end_ns)
        if req.max_events > 0 and hi - lo > req.max_events:
            lo = hi - req.max_events
        if lo >= hi:
            return []
        match = req.matches_container
        return [e for e in self.events[lo:hi] if match(e.container_name)]


@dataclass(slots=True)
class _OomTally:
    count: int
    gone_since: int | None  # ns; None while the container exists


class EventWatch:
    """Future events matching a request, as an async iterator; ``close()`` releases it.

    Created by :meth:`EventStore.watch`. Iteration ends after ``close()`` or after an overflow
    (see the module docstring).
    """

    def __init__(self, store: EventStore, watch_id: int, request: EventsRequest, max_queue: int) -> None:
        self.request = request
        self.id = watch_id
        self.overflowed = False
        self._store: EventStore | None = store
        self._queue: deque[Event] = deque()
        self._max_queue = max_queue
        self._ready = asyncio.Event()

    @property
    def closed(self) -> bool:
        """True once no more events will be delivered to this watch (closed or overflowed)."""
        return self._store is None

    def _push(self, event: Event) -> bool:
        """Queue ``event``; False when the queue is full (the store then detaches this watch)."""
        if len(self._queue) >= self._max_queue:
            self.overflowed = True
            return False
        self._queue.append(event)
        self._ready.set()
        return True

    def _detach(self) -> None:
        self._store = None
        self._ready.set()  # wake a waiting consumer so it sees the end

    def close(self) -> None:
        """Stop receiving events and drop the queued ones; idempotent."""
        store = self._store
        if store is not None:
            store._remove_watch(self.id)
        self._detach()
        self._queue.clear()

    async def next_event(self, timeout: float | None = None) -> Event | None:
        """The next event; ``None`` if none came within ``timeout`` s; ``StopAsyncIteration`` at the end."""
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._store is None:
                raise StopAsyncIteration
            self._ready.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
            except TimeoutError:
                return None

    def __aiter__(self) -> EventWatch:
        return self

    async def __anext__(self) -> Event:
        while True:
            ev = await self.next_event()
            if ev is not None:
                return ev

    def __enter__(self) -> EventWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventStore:
    """Stores events by type, answers past-event queries, feeds watches, tallies OOM kills."""

    def __init__(
        self,
        age_limits: Mapping[str, int] | None = None,
        count_limits: Mapping[str, int] | None = None,
        clock: Callable[[], int] = time.time_ns,
        *,
        watch_queue: int = DEFAULT_WATCH_QUEUE,
    ) -> None:
        """``age_limits`` in ns and ``count_limits`` per event type or ``default`` (see :func:`parse_limits`)."""
        ages = dict(age_limits or {})
        counts = dict(count_limits or {})
        self._clock = clock
        self._logs: dict[str, _TypeLog] = {
            t: _TypeLog(limit_for(ages, t, DEFAULT_AGE_NS), limit_for(counts, t, DEFAULT_COUNT))
            for t in ALL_EVENT_TYPES
        }
        self._oom_age_ns = self._logs[EventType.OOM].age_ns
        self._watches: dict[int, EventWatch] = {}
        self._ids = itertools.count(1)
        self._watch_queue = watch_queue
        self._oom: dict[str, _OomTally] = {}
        self._alive: set[str] = set()

    # ---------------------------------------------------------------- adding

    def add(self, event: Event) -> None:
        """Store ``event`` (subject to its type's limits), tally OOMs, and deliver it to matching watches."""
        now = self._clock()
        log_ = self._logs.get(event.event_type)
        if log_ is None:
            raise ValueError(f"unknown event type {event.event_type!r}")
        log_.add(event, now)
        self._track(event, now)
        if self._watches:
            overflowed: list[int] = []
            for wid, w in self._watches.items():
                if w.request.matches(event.event_type, event.container_name, event.timestamp) and not w._push(event):
                    overflowed.append(wid)
            for wid in overflowed:
                w = self._watches.pop(wid)
                log.warning(
                    "event watch %d for %s fell %d events behind; ending it",
                    wid,
                    w.request.container_name,
                    self._watch_queue,
                )
                w._detach()

    def _track(self, event: Event, now: int) -> None:
        name = event.container_name
        et = event.event_type
        if et == EventType.OOM:
            tally = self._oom.get(name)
            if tally is None:
                # A kill in a cgroup not (or no longer) known to exist ages out like a deleted one.
                tally = self._oom[name] = _OomTally(0, None if name in self._alive else now)
            tally.count += 1
        elif et == EventType.CONTAINER_CREATION:
            self._alive.add(name)
            tally = self._oom.get(name)
            if tally is not None:
                tally.gone_since = None
        elif et == EventType.CONTAINER_DELETION:
            self._alive.discard(name)
            tally = self._oom.get(name)
            if tally is not None:
                tally.gone_since = now
            self._forget_old_tallies(now)

    def _forget_old_tallies(self, now: int) -> None:
        cutoff = now - self._oom_age_ns
        stale = [n for n, t in self._oom.items() if t.gone_since is not None and t.gone_since < cutoff]
        for n in stale:
            del self._oom[n]

    # ---------------------------------------------------------------- reading

    def query(self, req: EventsRequest) -> list[Event]:
        """Stored events matching ``req``, oldest first (cAdvisor ``GetEvents`` semantics).

        For each requested type the newest ``max_events`` events within the time window are taken
        *before* the container filter, then the union is sorted by time and cut to the newest
        ``max_events`` again. No type requested means no events.
        """
        now = self._clock()
        out: list[Event] = []
        for t in ALL_EVENT_TYPES:  # fixed order: equal timestamps keep oom, oomKill, creation, deletion
            if t not in req.event_types:
                continue
            tl = self._logs[t]
            tl.evict(now)
            out.extend(tl.select(req))
        out.sort(key=_timestamp)
        if req.max_events > 0 and len(out) > req.max_events:
            out = out[len(out) - req.max_events :]
        return out

    def stored_count(self, event_type: str | None = None) -> int:
        """How many events are held (of one type, or all)."""
        if event_type is not None:
            return len(self._logs[event_type])
        return sum(len(tl) for tl in self._logs.values())

    def oom_kill_count(self, name: str) -> int:
        """OOM kills of tasks in container ``name`` (cAdvisor ``container_oom_events_total``)."""
        tally = self._oom.get(name)
        if tally is None:
            return 0
        if tally.gone_since is not None and tally.gone_since < self._clock() - self._oom_age_ns:
            del self._oom[name]
            return 0
        return tally.count

    def oom_kill_counts(self) -> dict[str, int]:
        """Every container with a non-zero OOM kill tally."""
        self._forget_old_tallies(self._clock())
        return {n: t.count for n, t in self._oom.items()}

    # ---------------------------------------------------------------- watching

    def watch(self, req: EventsRequest) -> EventWatch:
        """A new watch receiving every later event that matches ``req`` (its time bounds are ignored)."""
        wid = next(self._ids)
        w = EventWatch(self, wid, req, self._watch_queue)
        self._watches[wid] = w
        return w

    def watch_count(self) -> int:
        """Watches currently attached (open streams)."""
        return len(self._watches)

    def _remove_watch(self, watch_id: int) -> None:
        self._watches.pop(watch_id, None)


def _timestamp(e: Event) -> int:
    return e.timestamp
