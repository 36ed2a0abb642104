"""Connections: how long an idle or stalling client may hold one, how many may be open, what is logged.

aiohttp keeps an idle connection for 3,630 s by default and has no limit on open connections, so
500 half-open connections stayed open and, under ``ulimit -n 1024``, 900 idle ones used the
descriptors the collectors need (``/proc/diskstats`` failed with EMFILE, and ``/healthz``); it logs
every malformed request at ERROR with a traceback, so any client could fill the disk (issue 14,
items 7 and 8). Here:

- ``keepalive_timeout`` (aiohttp's own setting) is :data:`IDLE_TIMEOUT_S`. aiohttp arms that timer
  when a connection opens and after each response, and closes the connection if no *complete*
  request head arrived by then: it is also the header read timeout that ends slowloris clients,
  however slowly they trickle bytes. Bodies are bounded in ``api/limits.py``.
- :class:`CappedServer` keeps at most :func:`connection_cap` connections (5 % of the descriptor limit,
  less when the collectors hold most of it): a new one past the cap
  closes the oldest connection that is not in a request (idle keep-alive or still sending its head),
  so a flood of idle connections never keeps ``/healthz`` out.
- :class:`ClientErrorLog` turns client faults (malformed requests, clients gone mid-response) into
  one summary line a minute, and server faults into one traceback a minute per exception type.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

# Apache's KeepAliveTimeout is 5 s, nginx's 75 s; Prometheus scrapes every 15 s or more and
# reconnecting costs it a handshake. Also the time a client has to send a whole request head.
IDLE_TIMEOUT_S: Final = 10.0
# Part of the descriptor limit that connections may use: the collectors hold up to 80 % of it
# (manager.py ``_fd_budget``), the rest is for runtime sockets, inotify, storage drivers, files.
CONNECTION_SHARE: Final = 0.05
MIN_CONNECTIONS: Final = 16
# Connections the kernel completes before the daemon accepts them (``listen(2)``). The loop accepts a
# whole queue before it runs the ``connection_made`` calls that close the evicted ones, and their
# descriptors are freed an iteration later: during a flood, the open connections exceed the cap by
# two or three queues, so the queue is kept short (aiohttp's default is 128).
BACKLOG: Final = 32
LOG_EVERY_S: Final = 60.0


# Descriptors kept free of connections beyond the ones everything else holds: a flood's accepted but
# not yet closed connections (two queues, see BACKLOG) and the files a sample opens and closes.
RESERVE: Final = 2 * BACKLOG + 32
RECOUNT_S: Final = 1.0


def connection_cap(fds_in_use: int | None = None, connections: int = 0) -> int:
    """Open connections allowed under the current ``RLIMIT_NOFILE`` soft limit.

    At most :data:`CONNECTION_SHARE` of the limit, and no more than leaves :data:`RESERVE` free besides
    the ``fds_in_use - connections`` descriptors everything else holds (the collectors may hold up to
    80 % of the limit on a host with many cgroups); never fewer than :data:`MIN_CONNECTIONS`.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    cap = int(soft * CONNECTION_SHARE)
    if fds_in_use is not None:
        cap = min(cap, soft - (fds_in_use - connections) - RESERVE)
    return max(MIN_CONNECTIONS, cap)


def _fds_in_use() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))  # this process's own table, not the monitored host's
    except OSError:
        return None


class CappedServer(web.Server):
    """aiohttp's server with a cap on open connections; the cap follows the descriptor limit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.evicted = 0
        self._cap = MIN_CONNECTIONS
        self._cap_at = float("-inf")

    def cap(self) -> int:
        """:func:`connection_cap`, with the descriptors in use counted again at most every :data:`RECOUNT_S`."""
        now = time.monotonic()
        if now - self._cap_at >= RECOUNT_S:
            self._cap = connection_cap(_fds_in_use(), len(self._connections))
            self._cap_at = now
        return self._cap

    def connection_made(self, handler: RequestHandler, transport: Any) -> None:
        super().connection_made(handler, transport)
        conns = self._connections
        if len(conns) <= MIN_CONNECTIONS:
            return
        cap = self.cap()
        if len(conns) <= cap:
            return
        # Evicted connections stay listed until their handler task ends: count and pick live ones only.
        live = [h for h in conns if h.transport is not None]
        if len(live) <= cap:
            return
        # dicts keep insertion order: the first idle one is the oldest. A handler that is in a
        # request (a scrape, an event stream) is left alone; aiohttp's flag is the only record of it.
        victim = next((h for h in live if h is not handler and not getattr(h, "_request_in_progress", False)), handler)
        self.evicted += 1
        victim.force_close()


class CappedRunner(web.AppRunner):
    """An ``AppRunner`` whose server is a :class:`CappedServer`."""

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # runs the app's startup and freezes it
        return CappedServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            **self._kwargs,
        )


class ClientErrorLog(logging.Filter):
    """Rate limits what aiohttp's request handler logs (attach to the logger given as ``logger=``).

    A client's fault (a malformed request: :class:`HttpProcessingError`; a client gone mid-response:
    :class:`ConnectionError`) is counted and reported as one WARNING line at most every
    :data:`LOG_EVERY_S`, without a traceback, or each at DEBUG under ``-v=4``. Anything else is a
    server bug: its traceback is logged once per :data:`LOG_EVERY_S` per exception type, the rest counted.
    """

    def __init__(self, clock: Any = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._client_faults = 0
        self._client_last = float("-inf")
        self._bugs: dict[type[BaseException], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        now = self._clock()
        if isinstance(exc, HttpProcessingError | ConnectionError):
            self._client_faults += 1
            what = record.getMessage()
            record.exc_info = record.exc_text = None
            if logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
                record.levelno, record.levelname = logging.DEBUG, "DEBUG"
                record.msg, record.args = "%s: %s", (what, _one_line(exc))
                return True
            if now - self._client_last < LOG_EVERY_S:
                return False
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = "%d malformed or abandoned requests since the last report; the latest: %s: %s"
            record.args = (self._client_faults, what, _one_line(exc))
            self._client_faults, self._client_last = 0, now
            return True
        last, dropped = self._bugs.get(type(exc), (float("-inf"), 0))
        if now - last < LOG_EVERY_S:
            self._bugs[type(exc)] = (last, dropped + 1)
            return False
        if dropped:
            record.msg = f"{record.msg} (and {dropped} more like it since the last report)"
        self._bugs[type(exc)] = (now, 0)
        return True


def _one_line(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ").replace("\r", " ")
    return f"{type(exc).__name__}: {text[:200]}"


def http_logger() -> logging.Logger:
    """The logger aiohttp's request handlers write to, with :class:`ClientErrorLog` on it (once)."""
    logger = logging.getLogger("pycadvisor.http")
    if not any(isinstance(f, ClientErrorLog) for f in logger.filters):
        logger.addFilter(ClientErrorLog())
    return logger
