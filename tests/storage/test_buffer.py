"""The shared buffer: nothing lost while the backend keeps up, oldest dropped only when full, retries, close.

A small in-process backend (``Backend``) stands for the server: it records what it accepted and can be
told to fail or to hang, which a real server cannot do on cue. The drivers' real servers are
exercised in the per-driver tests.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence

import pytest

from pycadvisor.model.container import ContainerReference, ContainerSpec, ContainerStats
from pycadvisor.storage.base import Sample
from pycadvisor.storage.buffer import PartialWrite, RateLimitedLog, SampleBuffer

WAIT = 30.0  # generous cap for things that happen "at once"; never a measured duration


def mk(i: int) -> Sample:
    return Sample(ContainerReference(name=f"/c{i}"), ContainerSpec(), ContainerStats(timestamp=i + 1), i)


class Backend:
    def __init__(self) -> None:
        self.accepted: list[int] = []
        self.batches: list[int] = []
        self.fail_next = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.calls = 0
        self.partial: PartialWrite | None = None

    async def write(self, batch: Sequence[Sample]) -> None:
        self.calls += 1
        await self.gate.wait()
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionRefusedError("backend down")
        if self.partial is not None:
            p, self.partial = self.partial, None
            skip = set(p.retry) | set(range(len(batch) - p.rejected, len(batch)))
            self.accepted.extend(s.added_ns for i, s in enumerate(batch) if i not in skip)
            raise p
        self.batches.append(len(batch))
        self.accepted.extend(s.added_ns for s in batch)


async def until(cond: Callable[[], bool], what: str) -> None:
    async def loop() -> None:
        while not cond():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(loop(), WAIT)


def buffer(**kw: float) -> SampleBuffer:
    args: dict[str, float] = {"capacity": 10_000, "batch_size": 100, "linger_s": 0.0, "retry_max_s": 0.05}
    args.update(kw)
    return SampleBuffer(
        "test",
        capacity=int(args["capacity"]),
        batch_size=int(args["batch_size"]),
        linger_s=args["linger_s"],
        retry_max_s=args["retry_max_s"],
        close_timeout_s=args.get("close_timeout_s", 5.0),
    )


def test_every_sample_of_a_burst_is_written_in_order_and_in_batches() -> None:
    async def main() -> None:
        b, backend = buffer(), Backend()
        b.start(backend.write)
        for i in range(2_000):
            b.put(mk(i))
        await until(lambda: len(backend.accepted) == 2_000, "all written")
        await b.close()
        assert backend.accepted == list(range(2_000))
        assert max(backend.batches) <= 100
        s = b.stats()
        assert (s.written, s.dropped, s.errors, s.buffered) == (2_000, 0, 0, 0)

    asyncio.run(main())


def test_when_full_the_oldest_waiting_samples_are_dropped_and_counted() -> None:
    async def main() -> None:
        b, backend = buffer(capacity=100, batch_size=10), Backend()
        backend.gate.clear()  # the backend hangs
        b.start(backend.write)
        b.put(mk(0))
        await until(lambda: backend.calls == 1, "first batch in flight")  # sample 0 in flight
        for i in range(1, 150):
            b.put(mk(i))
        assert b.stats().dropped == 50
        assert b.stats().buffered == 100
        backend.gate.set()
        await until(lambda: len(backend.accepted) == 100, "the rest written")
        await b.close()
        # The in-flight sample 0, then the newest 99: samples 1..50 were dropped, oldest first.
        assert backend.accepted == [0, *range(51, 150)]
        assert b.stats().written == 100

    asyncio.run(main())


def test_a_failing_backend_is_retried_until_it_takes_the_batch() -> None:
    async def main() -> None:
        b, backend = buffer(), Backend()
        backend.fail_next = 3
        b.start(backend.write)
        for i in range(10):
            b.put(mk(i))
        await until(lambda: len(backend.accepted) == 10, "written after retries")
        await b.close()
        assert backend.accepted == list(range(10))
        s = b.stats()
        assert (s.written, s.dropped, s.errors) == (10, 0, 3)

    asyncio.run(main())


def test_partial_write_retries_the_rest_and_drops_the_refused() -> None:
    async def main() -> None:
        b, backend = buffer(), Backend()
        backend.partial = PartialWrite(retry=[1], rejected=1, detail="one refused, one to retry")
        backend.gate.clear()
        b.start(backend.write)
        for i in range(4):
            b.put(mk(i))
        backend.gate.set()
        await until(lambda: len(backend.accepted) == 3, "written")
        await b.close()
        # 0 and 2 went in the first write, 1 on the retry; 3 (the last) was refused for good.
        assert backend.accepted == [0, 2, 1]
        s = b.stats()
        assert (s.written, s.dropped, s.errors) == (3, 1, 1)

    asyncio.run(main())


def test_a_full_batch_is_sent_without_waiting_for_the_buffer_duration() -> None:
    async def main() -> None:
        b, backend = buffer(batch_size=10, linger_s=3600.0), Backend()
        b.start(backend.write)
        for i in range(25):
            b.put(mk(i))
        await until(lambda: len(backend.accepted) == 20, "two full batches")
        assert backend.batches == [10, 10]
        await b.close()  # close flushes the partial batch at once
        assert backend.accepted == list(range(25))

    asyncio.run(main())


def test_close_gives_up_on_a_dead_backend_and_counts_what_is_left() -> None:
    async def main() -> None:
        b, backend = buffer(close_timeout_s=0.2), Backend()
        backend.fail_next = 10**9
        b.start(backend.write)
        for i in range(30):
            b.put(mk(i))
        await until(lambda: b.stats().errors >= 1, "a failed attempt")
        await b.close()
        s = b.stats()
        assert (s.written, s.dropped, s.buffered) == (0, 30, 0)
        b.put(mk(99))  # after close: dropped, counted, no error
        assert b.stats().dropped == 31

    asyncio.run(main())


def test_samples_from_another_thread_are_delivered() -> None:
    async def main() -> None:
        b, backend = buffer(), Backend()
        b.start(backend.write)

        def produce() -> None:
            for i in range(500):
                b.put(mk(i))

        t = threading.Thread(target=produce)
        t.start()
        await asyncio.to_thread(t.join)
        await until(lambda: len(backend.accepted) == 500, "written")
        await b.close()
        assert sorted(backend.accepted) == list(range(500))

    asyncio.run(main())


def test_rate_limited_log_says_how_many_it_held_back(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = RateLimitedLog(logging.getLogger("pycadvisor.storage.test"), interval_s=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="pycadvisor.storage.test"):
        assert log.log(logging.WARNING, "k", "down: %s", "a")
        for _ in range(5):
            now[0] += 10
            assert not log.log(logging.WARNING, "k", "down: %s", "b")
        assert log.log(logging.WARNING, "other", "another kind")
        now[0] += 15
        assert log.log(logging.WARNING, "k", "down: %s", "c")
    assert [r.getMessage() for r in caplog.records] == [
        "down: a",
        "another kind",
        "down: c (5 similar messages in the last minute not logged)",
    ]
