"""Bounds on what serving may cost: heavy responses, their encoding, and how long a client may stall.

Housekeeping and serving share one event loop (manager.py). A callback that runs for 100 ms holds
every sample due meanwhile, and a loop iteration runs every ready callback before it looks at its
timers: 200 clients each asking for ``/api/v2.0/stats?recursive=true`` (60–210 ms of encoding each)
left 32 s between two samples of ``/`` and 1.3 MB per response in flight (issue 14, items 3 and 4).

So a heavy response (the REST API but events, and ``/metrics``) first takes a slot of a
:class:`HeavyGate`: at most ``active`` run at once, ``queued`` more wait, and beyond that the client
is told ``503`` with ``Retry-After`` at once. A running one encodes container by container, writes
each piece as it is made, and yields to the loop between pieces (:class:`ChunkWriter`), so a tick
waits at most one piece and memory is held by a few responses' pieces, not all of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Final

from aiohttp import web

log = logging.getLogger(__name__)

# Heavy responses encoding at once: they share one thread, so more would only interleave; a few let
# one response's writes to a slow network overlap another's encoding.
ACTIVE: Final = 4
# Heavy requests waiting for a slot; a 100-container stats response costs ~100 ms, so the last in the
# queue waits a few seconds, which is still worth waiting for.
QUEUED: Final = 32
RETRY_AFTER_S: Final = 1
# A piece of a streamed response goes out once it holds this much (aiohttp's own write buffer limit).
CHUNK_BYTES: Final = 64 * 1024
# Encoding runs at most this long before it yields to the loop (the housekeeping tick).
SLICE_S: Final = 0.005
# A client that reads nothing for this long while its response is written is dropped: it would hold
# a slot of the gate forever.
WRITE_TIMEOUT_S: Final = 10.0
# The body of a request (v1 JSON bodies) must arrive within this time.
BODY_TIMEOUT_S: Final = 10.0


class Overloaded(Exception):
    """The gate's queue is full: answer 503 with ``Retry-After``."""


def overloaded_response() -> web.Response:
    return web.Response(
        status=503,
        text="too many requests in progress, retry later\n",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


class HeavyGate:
    """At most ``active`` heavy responses at once, ``queued`` waiting; more are refused (:class:`Overloaded`).

    ``on_idle`` runs when the last running heavy response is done and none waits: the app gives the freed
    pieces' memory back to the kernel there (``host/malloc.py``), once per burst rather than per response.
    """

    def __init__(
        self, *, active: int = ACTIVE, queued: int = QUEUED, on_idle: Callable[[], object] | None = None
    ) -> None:
        self._sem = asyncio.Semaphore(active)
        self._queued = queued
        self._waiting = 0
        self._running = 0
        self._on_idle = on_idle
        self.refused = 0  # 503s answered, for the benchmark and tests

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._sem.locked():
            if self._waiting >= self._queued:
                self.refused += 1
                raise Overloaded
            self._waiting += 1
            try:
                await self._sem.acquire()
            finally:
                self._waiting -= 1
        else:
            await self._sem.acquire()
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            self._sem.release()
            if self._on_idle is not None and not self._running and not self._waiting:
                try:
                    self._on_idle()
                except Exception:  # never the response's failure
                    log.exception("after heavy responses: %r failed", self._on_idle)


class ChunkWriter:
    """Writes a JSON response piece by piece: buffered to :data:`CHUNK_BYTES`, yielding every :data:`SLICE_S`.

    A response that ends before its first chunk is full goes out whole, with ``Content-Length``; a
    longer one is chunked, as Go's ``net/http`` does for a handler that writes more than its buffer.
    """

    def __init__(self, request: web.Request, response: web.StreamResponse) -> None:
        self._req = request
        self._resp = response
        self._buf: list[bytes] = []
        self._size = 0
        self._since = time.monotonic()

    async def add(self, piece: bytes) -> None:
        self._buf.append(piece)
        self._size += len(piece)
        if self._size >= CHUNK_BYTES:
            await self._flush()
        if time.monotonic() - self._since >= SLICE_S:
            await asyncio.sleep(0)  # let due timers (the housekeeping tick) and other clients run
            self._since = time.monotonic()

    def abort_if_started(self, err: BaseException) -> None:
        """After a failure: once headers went out no error status can follow, so cut the connection."""
        if self._resp.prepared and not isinstance(err, ConnectionError):
            log.error("response to %s cut short: %r", self._req.path, err)
            raise ConnectionResetError("response cut short") from err

    async def _write(self, data: bytes) -> None:
        try:
            await asyncio.wait_for(self._resp.write(data), WRITE_TIMEOUT_S)
        except TimeoutError:
            raise ConnectionResetError("client did not read its response") from None

    async def _flush(self) -> None:
        data = b"".join(self._buf)
        self._buf.clear()
        self._size = 0
        if not self._resp.prepared:
            self._resp.enable_chunked_encoding()
            await self._resp.prepare(self._req)
        await self._write(data)

    async def finish(self) -> web.StreamResponse:
        data = b"".join(self._buf)
        self._buf.clear()
        if not self._resp.prepared:
            self._resp.content_length = len(data)
            await self._resp.prepare(self._req)
        if data:
            await self._write(data)
        await self._resp.write_eof()
        return self._resp


async def send_body(request: web.Request, response: web.StreamResponse, body: bytes) -> web.StreamResponse:
    """Send ``body`` with ``Content-Length`` in :data:`CHUNK_BYTES` pieces, each within :data:`WRITE_TIMEOUT_S`."""
    response.content_length = len(body)
    await response.prepare(request)
    view = memoryview(body)
    for i in range(0, len(body), CHUNK_BYTES):
        try:
            # asyncio.timeout, not wait_for: wait_for wraps each write in a task that runs a loop iteration
            # later (asyncio/tasks.py): a task and a loop iteration more per piece of every /metrics body.
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await response.write(view[i : i + CHUNK_BYTES])
        except TimeoutError:
            raise ConnectionResetError("client did not read its response") from None
    await response.write_eof()
    return response


async def read_body(request: web.Request) -> bytes:
    """The request body, or 408 if it does not arrive within :data:`BODY_TIMEOUT_S`."""
    try:
        return await asyncio.wait_for(request.read(), BODY_TIMEOUT_S)
    except TimeoutError:
        raise web.HTTPRequestTimeout(text="request body not received in time\n") from None
