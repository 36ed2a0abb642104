"""Bounded per-driver buffer, batching, retry with backoff, and delivery counters.

Unlike cAdvisor, where ``AddStats`` writes inline from housekeeping (a slow backend stalls collection)
and the Redis driver keeps only one sample per ``storage_driver_buffer_duration``
(``cmd/internal/storage/redis/redis.go``), here:

- ``put`` appends to a deque and returns: housekeeping and the API never wait for a backend;
- one task per driver sends batches of at most ``batch_size`` samples, either as soon as samples are
  there or, for drivers that honour ``storage_driver_buffer_duration`` (influxdb, redis), when that much
  time has passed since the last write or a full batch is waiting;
- a failed write is retried with exponential backoff (250 ms doubling up to ``retry_max``) until it
  succeeds, so a backend that comes back gets everything that was kept;
- samples are dropped only when ``capacity`` samples are already waiting, oldest first, or when the
  backend refuses them for good (e.g. HTTP 400); drops and errors are counted and logged at most
  once a minute per kind.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import ClassVar, TypeVar

from pycadvisor.model.container import ContainerReference, ContainerSpec, ContainerStats
from pycadvisor.storage.base import DriverStats, Sample, StorageDriver
from pycadvisor.storage.options import StorageOptions

_log = logging.getLogger("pycadvisor.storage")

R = TypeVar("R")
WriteFn = Callable[[Sequence[Sample]], Awaitable[None]]

_NS = 1e-9
RETRY_INITIAL_S = 0.25
CLOSING_RETRY_S = 0.5  # retry pace while flushing at shutdown
LOG_INTERVAL_S = 60.0


class PartialWrite(Exception):
    """Part of a batch was not written: ``retry`` (indexes into the batch) may succeed later,
    ``rejected`` samples were refused for good (bad data) and must not be resent."""

    def __init__(self, retry: Sequence[int], rejected: int, detail: str) -> None:
        super().__init__(detail)
        self.retry = list(retry)
        self.rejected = rejected
        self.detail = detail


class RateLimitedLog:
    """Logs a message of a given key at most once per ``interval_s``, counting what it held back."""

    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float = LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def log(self, level: int, key: str, msg: str, *args: object) -> bool:
        """Log unless ``key`` was logged less than ``interval_s`` ago; return whether it logged."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            msg += " (%d similar messages in the last minute not logged)"
            args = (*args, held)
        self._logger.log(level, msg, *args)
        return True


def encode_batch(
    batch: Sequence[Sample], encode: Callable[[Sample], R], log: RateLimitedLog, driver: str
) -> tuple[list[R], list[int]]:
    """Encode each sample; return the records and their indexes in ``batch``.

    A sample that fails to encode (a bug, not a backend problem) is logged and left out; callers
    report it as rejected so it is counted as dropped instead of being retried forever.
    """
    records: list[R] = []
    index: list[int] = []
    for i, sample in enumerate(batch):
        try:
            records.append(encode(sample))
        except Exception as exc:
            log.log(
                logging.ERROR,
                "encode",
                "storage %s: cannot encode a sample of %s: %r",
                driver,
                sample.ref.name,
                exc,
            )
            continue
        index.append(i)
    return records, index


class SampleBuffer:
    """The deque, the writer task and the counters of one driver."""

    def __init__(
        self,
        name: str,
        *,
        capacity: int,
        batch_size: int,
        linger_s: float,
        retry_max_s: float,
        close_timeout_s: float,
        logger: logging.Logger = _log,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._capacity = max(1, capacity)
        self._batch = max(1, min(batch_size, self._capacity))
        self._linger = max(0.0, linger_s)
        self._retry_max = max(RETRY_INITIAL_S, retry_max_s)
        self._close_timeout = max(0.0, close_timeout_s)
        self._clock = clock
        self._log = RateLimitedLog(logger, clock=clock)
        self._q: deque[Sample] = deque()
        self._inflight = 0
        self._stats = DriverStats()
        self._failures = 0  # consecutive failed attempts, for the "resumed" message
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._wake: asyncio.Event | None = None
        self._wake_at = 0  # queue length at which put() wakes the writer; 0 = writer not waiting
        self._close_evt: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False

    # ---------------------------------------------------------------- producer side (housekeeping)

    def put(self, sample: Sample) -> None:
        """Queue ``sample``; when ``capacity`` samples are waiting, drop the oldest queued one."""
        if self._closed:
            self._drop(1, "closed", "storage %s: sample after close dropped", self.name)
            return
        q = self._q
        if len(q) + self._inflight >= self._capacity:
            if not q:  # everything waiting is in flight: the new sample is the one that cannot be held
                self._drop(1, "full", "storage %s: buffer full (%d samples), dropping", self.name, self._capacity)
                return
            q.popleft()
            self._drop(1, "full", "storage %s: buffer full (%d samples), dropping oldest", self.name, self._capacity)
        q.append(sample)
        if self._wake_at and len(q) >= self._wake_at:
            self._wake_at = 0
            self._notify()

    def _notify(self) -> None:
        wake, loop = self._wake, self._loop
        if wake is None or loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    def _drop(self, n: int, key: str, msg: str, *args: object) -> None:
        self._stats.dropped += n
        self._log.log(logging.WARNING, "drop-" + key, msg, *args)

    # ---------------------------------------------------------------- counters

    def stats(self) -> DriverStats:
        s = self._stats
        return DriverStats(
            written=s.written, dropped=s.dropped, errors=s.errors, buffered=len(self._q) + self._inflight
        )

    # ---------------------------------------------------------------- writer task

    def start(self, write: WriteFn) -> None:
        """Start the writer task on the running loop; ``write`` is an ``async`` callable."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._close_evt = asyncio.Event()
        self._task = asyncio.create_task(self._run(write), name=f"pycadvisor-storage-{self.name}")

    async def _run(self, write: WriteFn) -> None:
        assert self._wake is not None
        wake = self._wake
        q = self._q
        last_write = self._clock()
        while True:
            if not q:
                if self._closing:
                    return
                wake.clear()
                self._wake_at = 1
                await wake.wait()
                continue
            if self._linger and not self._closing and len(q) < self._batch:
                remaining = last_write + self._linger - self._clock()
                if remaining > 0:
                    wake.clear()
                    self._wake_at = self._batch
                    try:
                        await asyncio.wait_for(wake.wait(), remaining)
                    except TimeoutError:
                        pass
                    self._wake_at = 0
                    continue
            n = min(len(q), self._batch)
            batch = [q.popleft() for _ in range(n)]
            self._inflight = n
            await self._deliver(write, batch)  # if cancelled by close(), _inflight still counts the batch
            self._inflight = 0
            last_write = self._clock()

    async def _deliver(self, write: WriteFn, batch: list[Sample]) -> None:
        delay = RETRY_INITIAL_S
        while batch:
            try:
                await write(batch)
            except PartialWrite as exc:
                retry = [batch[i] for i in exc.retry if 0 <= i < len(batch)]
                self._stats.written += len(batch) - len(retry) - exc.rejected
                if exc.rejected:
                    self._drop(
                        exc.rejected,
                        "rejected",
                        "storage %s: %d samples refused for good: %s",
                        self.name,
                        exc.rejected,
                        exc.detail,
                    )
                batch = retry
                self._inflight = len(batch)
                detail = exc.detail
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                detail = f"{type(exc).__name__}: {exc}"
            else:
                self._stats.written += len(batch)
                self._resumed()
                return
            self._stats.errors += 1
            if not batch:  # nothing left worth retrying
                self._log.log(logging.WARNING, "error", "storage %s: write incomplete: %s", self.name, detail)
                self._resumed()
                return
            self._failures += 1
            self._log.log(
                logging.WARNING,
                "error",
                "storage %s: write failed, retrying (%d samples waiting): %s",
                self.name,
                len(batch) + len(self._q),
                detail,
            )
            await self._backoff(delay)
            delay = min(delay * 2, self._retry_max)

    def _resumed(self) -> None:
        if self._failures:
            _log.info("storage %s: delivery resumed after %d failed attempts", self.name, self._failures)
            self._failures = 0

    async def _backoff(self, delay: float) -> None:
        if self._closing or self._close_evt is None:
            await asyncio.sleep(min(delay, CLOSING_RETRY_S))
            return
        try:  # a close() cuts the wait short: flush at once
            await asyncio.wait_for(self._close_evt.wait(), delay)
        except TimeoutError:
            pass

    async def close(self) -> None:
        """Flush within the close timeout, then count whatever is left as dropped."""
        if self._closed:
            return
        self._closing = True
        task = self._task
        if task is not None and self._wake is not None and self._close_evt is not None:
            self._close_evt.set()
            self._wake.set()
            try:
                await asyncio.wait_for(task, self._close_timeout)
            except (TimeoutError, asyncio.CancelledError):
                pass
            except Exception as exc:  # the task itself failed: a bug, but shutdown must go on
                _log.error("storage %s: writer task failed: %r", self.name, exc)
        self._closed = True
        left = len(self._q) + self._inflight
        self._q.clear()
        self._inflight = 0
        if left:
            self._stats.dropped += left
            _log.warning("storage %s: %d samples not delivered before shutdown", self.name, left)


class BufferedDriver(ABC):
    """Base of the drivers: ``add_stats`` → buffer → ``write(batch)`` with retries."""

    name: ClassVar[str]
    # cAdvisor's influxdb and redis drivers hold samples for storage_driver_buffer_duration; the others
    # write every sample at once (linger 0).
    honours_buffer_duration: ClassVar[bool] = False
    # The longest such a driver holds samples, whatever storage_driver_buffer_duration says (None: no cap).
    max_linger_s: ClassVar[float | None] = None

    def __init__(self, opts: StorageOptions, *, machine_name: str) -> None:
        self.opts = opts
        self.machine_name = machine_name
        self.include_labels = opts.storage_driver_include_labels
        self.log = RateLimitedLog(logging.getLogger(f"pycadvisor.storage.{self.name}"))
        linger = opts.storage_driver_buffer_duration * _NS if self.honours_buffer_duration else 0.0
        if self.max_linger_s is not None:
            linger = min(linger, self.max_linger_s)
        self._buffer = SampleBuffer(
            self.name,
            capacity=opts.storage_driver_buffer_size,
            batch_size=opts.storage_driver_batch_size,
            linger_s=linger,
            retry_max_s=opts.storage_driver_retry_max_interval * _NS,
            close_timeout_s=opts.storage_driver_close_timeout * _NS,
        )

    def add_stats(self, ref: ContainerReference, spec: ContainerSpec, stats: ContainerStats) -> None:
        self._buffer.put(Sample(ref, spec, stats, time.time_ns()))

    async def start(self) -> None:
        await self.open()
        self._buffer.start(self.write)

    async def close(self) -> None:
        try:
            await self._buffer.close()
        finally:
            await self.close_client()

    def stats(self) -> DriverStats:
        return self._buffer.stats()

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Prepare the client; must not require the backend to be up."""

    @abstractmethod
    async def write(self, batch: Sequence[Sample]) -> None:
        """Send ``batch``; raise to have it retried, :class:`PartialWrite` when only part was taken."""

    async def close_client(self) -> None:  # noqa: B027 - optional hook
        """Release the client (called after the last write)."""


def storage_stats(drivers: Iterable[StorageDriver]) -> dict[str, dict[str, int]]:
    """``{driver name: {"written", "dropped", "errors", "buffered"}}`` for the ``/metrics`` families."""
    out: dict[str, dict[str, int]] = {}
    for d in drivers:
        s = d.stats()
        out[d.name] = {"written": s.written, "dropped": s.dropped, "errors": s.errors, "buffered": s.buffered}
    return out
