"""HTTP/JSON over a container runtime's unix socket (or TCP), with fail-fast availability tracking.

Shared by the Docker, Podman and CRI-O factories: one ``aiohttp`` session per endpoint, one retry
when a kept-alive connection turns out dead (the runtime restarted), a probe interval during which
a runtime that did not answer is not asked again (so a dead socket never slows housekeeping), and
event streams whose connecting is bounded by the timeout but whose reading is not. Callers see
:class:`RuntimeTransportError`, never an ``aiohttp`` exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from pycadvisor.errors import RuntimeUnavailable

_log = logging.getLogger(__name__)


def split_endpoint(endpoint: str, *, tls: bool = False, unix_host: str = "d", kind: str = "") -> tuple[str, str | None]:
    """(base URL, unix socket path or None) for ``unix:///path``, a bare ``/path``, ``tcp://host:port`` or ``http(s)://…``.

    ``tls``: ``tcp://`` stands for ``https://`` (Docker's convention with ``--tlsverify``);
    ``unix_host``: the ``Host`` of requests over a unix socket; ``kind`` names the runtime in errors.
    """
    what = f"{kind} endpoint" if kind else "endpoint"
    if endpoint.startswith("unix://"):
        path = endpoint[len("unix://") :]
        if not path.startswith("/"):
            raise ValueError(f"invalid {what} {endpoint!r}: unix socket path must be absolute")
        return f"http://{unix_host}", path
    if endpoint.startswith("/"):
        return f"http://{unix_host}", endpoint
    if endpoint.startswith("tcp://"):
        return ("https://" if tls else "http://") + endpoint[len("tcp://") :].rstrip("/"), None
    if endpoint.startswith(("http://", "https://")):
        return endpoint.rstrip("/"), None
    raise ValueError(f"invalid {what} {endpoint!r}: expected unix://, tcp:// or http(s)://")


class RuntimeTransportError(Exception):
    """The runtime's API did not answer (no socket, refused, reset, stream broken)."""


def _transport_error(e: BaseException) -> RuntimeTransportError:
    return RuntimeTransportError(str(e) or type(e).__name__)


class RuntimeHttpClient:
    """HTTP/JSON over a runtime's unix socket (or TCP) with fail-fast availability tracking.

    :meth:`ready` runs the runtime's ``probe`` once and then fails fast (``RuntimeUnavailable``) for
    ``retry_after_s`` after any failure reported with :meth:`mark_down`; going down and coming back
    are each logged once, on ``log``.

    ``tls``: an ``SSLContext`` is the client's TLS (and ``tcp://`` means ``https://``); ``True``
    verifies ``https://`` endpoints against the system CAs, ``False`` does not verify them.
    """

    def __init__(
        self,
        what: str,
        endpoint: str,
        *,
        timeout_s: float,
        retry_after_s: float = 1.0,
        tls: ssl.SSLContext | bool = True,
        unix_host: str = "d",
        log: logging.Logger = _log,
    ) -> None:
        self.what = what
        self.endpoint = endpoint
        self.base_url, self.socket_path = split_endpoint(
            endpoint, tls=isinstance(tls, ssl.SSLContext), unix_host=unix_host
        )
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self.up = False
        self._tls = tls
        self._log = log
        self._session: aiohttp.ClientSession | None = None
        self._next_probe = 0.0
        self._down_logged = False
        self.closed = False
        self.lock = asyncio.Lock()

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector: aiohttp.BaseConnector
            if self.socket_path is not None:
                connector = aiohttp.UnixConnector(path=self.socket_path)
            else:
                connector = aiohttp.TCPConnector(ssl=self._tls)
            timeout = aiohttp.ClientTimeout(total=self.timeout_s if self.timeout_s > 0 else None)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self._session

    async def get(self, path: str) -> tuple[int, bytes]:
        """GET ``path``; one retry when a kept-alive connection turns out dead (runtime restarted)."""
        return await self._request("GET", path)

    async def post_json(self, path: str, body: Any) -> tuple[int, bytes]:
        """POST ``body`` as JSON to ``path`` asking for JSON back; one retry as :meth:`get`."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        return await self._request("POST", path, data=orjson.dumps(body), headers=headers)

    async def _request(
        self, method: str, path: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        for attempt in (0, 1):
            try:
                async with self.session().request(method, self.base_url + path, data=data, headers=headers) as resp:
                    return resp.status, await resp.read()
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as e:
                if attempt:
                    raise _transport_error(e) from e
            except aiohttp.ClientError as e:
                raise _transport_error(e) from e
        raise AssertionError("unreachable")

    async def get_json(self, path: str) -> Any:
        """GET ``path`` and decode its JSON body; any status but 200 is a transport error (a probe failed)."""
        status, body = await self.get(path)
        if status != 200:
            raise RuntimeTransportError(f"{path} answered {status}")
        return orjson.loads(body)

    @contextlib.asynccontextmanager
    async def event_stream(self, path: str) -> AsyncIterator[AsyncIterable[bytes]]:
        """GET ``path``, a stream the runtime keeps open (``/events``): yields its body's lines.

        Connecting is bounded by ``timeout_s``, reading is not (an idle stream is no fault). Raises
        :class:`RuntimeTransportError` when the answer is not 200, and when connecting or reading
        fails, also from the ``async with`` body.
        """
        timeout = aiohttp.ClientTimeout(total=None, connect=self.timeout_s, sock_connect=self.timeout_s)
        try:
            async with self.session().get(self.base_url + path, timeout=timeout) as resp:
                if resp.status != 200:
                    raise RuntimeTransportError(f"events answered {resp.status}")
                yield resp.content
        except (aiohttp.ClientError, OSError) as e:
            raise _transport_error(e) from e

    @contextlib.asynccontextmanager
    async def answering(self) -> AsyncIterator[None]:
        """Bound the ``async with`` body by ``timeout_s``; its timeout or transport error marks the runtime down.

        Raises :class:`RuntimeUnavailable` naming the runtime in both cases (and lets the body's own
        ``RuntimeUnavailable``, from :meth:`ready`, through).
        """
        try:
            async with asyncio.timeout(self.timeout_s):
                yield
        except TimeoutError as e:
            self.mark_down(f"no answer within {self.timeout_s:g} s")
            raise RuntimeUnavailable(f"{self.what} at {self.endpoint} did not answer in time") from e
        except RuntimeTransportError as e:
            self.mark_down(str(e))
            raise RuntimeUnavailable(f"{self.what} at {self.endpoint} unavailable: {e}") from e

    async def ready(self, probe: Callable[[], Awaitable[str]]) -> None:
        """Return at once while the runtime is up; else run ``probe`` (one caller at a time) to bring it up.

        ``probe`` asks the runtime what the factory needs to know (version, storage) and returns the
        text logged with it; its :class:`RuntimeTransportError` or ``ValueError`` (a garbled answer)
        marks the runtime down. Raises :class:`RuntimeUnavailable` when the probe fails, and at once,
        without asking, for ``retry_after_s`` after a failure.
        """
        if self.up:
            return
        if self.failing_fast():
            raise RuntimeUnavailable(f"{self.what} at {self.endpoint} unavailable")
        async with self.lock:
            if self.up:
                return
            if self.failing_fast():  # the probe this caller waited for failed
                raise RuntimeUnavailable(f"{self.what} at {self.endpoint} unavailable")
            try:
                detail = await probe()
            except (RuntimeTransportError, ValueError) as e:
                self.mark_down(str(e))
                raise RuntimeUnavailable(f"{self.what} at {self.endpoint} unavailable: {e}") from e
            self.mark_up(detail)

    def failing_fast(self) -> bool:
        return not self.up and time.monotonic() < self._next_probe

    def mark_up(self, detail: str) -> None:
        self.up = True
        self._next_probe = 0.0
        if self._down_logged:
            self._log.warning("%s at %s is back: %s", self.what, self.endpoint, detail)
            self._down_logged = False
        else:
            self._log.info("%s at %s: %s", self.what, self.endpoint, detail)

    def mark_down(self, reason: str) -> None:
        self.up = False
        self._next_probe = time.monotonic() + self.retry_after_s
        if not self._down_logged and not self.closed:
            self._down_logged = True
            self._log.warning(
                "%s at %s unavailable (%s): its containers are monitored as raw cgroups until it answers again",
                self.what,
                self.endpoint,
                reason,
            )

    async def close(self) -> None:
        self.closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None
