"""HTTP/JSON over a container runtime's unix socket (or TCP), with fail-fast availability tracking.

Shared by the Podman and CRI-O factories: one ``aiohttp`` session per endpoint, one retry when a
kept-alive connection turns out dead (the runtime restarted), and a probe interval during which a
runtime that did not answer is not asked again, so a dead socket never slows housekeeping.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp

_log = logging.getLogger(__name__)


def split_endpoint(endpoint: str) -> tuple[str, str | None]:
    """(base URL, unix socket path or None) for ``unix:///path``, a bare ``/path``, ``tcp://host:port`` or ``http://…``."""
    if endpoint.startswith("unix://"):
        path = endpoint[len("unix://") :]
        if not path.startswith("/"):
            raise ValueError(f"invalid endpoint {endpoint!r}: unix socket path must be absolute")
        return "http://d", path
    if endpoint.startswith("/"):
        return "http://d", endpoint
    if endpoint.startswith("tcp://"):
        return "http://" + endpoint[len("tcp://") :].rstrip("/"), None
    if endpoint.startswith(("http://", "https://")):
        return endpoint.rstrip("/"), None
    raise ValueError(f"invalid endpoint {endpoint!r}: expected unix://, tcp:// or http(s)://")


class RuntimeTransportError(Exception):
    """The runtime's API did not answer (no socket, refused, reset)."""


class RuntimeHttpClient:
    """HTTP/JSON over a runtime's unix socket (or TCP) with fail-fast availability tracking.

    ``ready()`` runs the runtime's ``probe`` once and then fails fast (``RuntimeUnavailable``) for
    ``retry_after_s`` after any failure reported with ``mark_down``; going down and coming back
    are each logged once.
    """

    def __init__(self, what: str, endpoint: str, *, timeout_s: float, retry_after_s: float = 1.0) -> None:
        self.what = what
        self.endpoint = endpoint
        self.base_url, self.socket_path = split_endpoint(endpoint)
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self.up = False
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
                connector = aiohttp.TCPConnector()
            timeout = aiohttp.ClientTimeout(total=self.timeout_s if self.timeout_s > 0 else None)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self._session

    async def get(self, path: str) -> tuple[int, bytes]:
        """GET ``path``; one retry when a kept-alive connection turns out dead (runtime restarted)."""
        for attempt in (0, 1):
            try:
                async with self.session().get(self.base_url + path) as resp:
                    return resp.status, await resp.read()
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as e:
                if attempt:
                    raise RuntimeTransportError(str(e) or type(e).__name__) from e
            except aiohttp.ClientError as e:
                raise RuntimeTransportError(str(e) or type(e).__name__) from e
        raise AssertionError("unreachable")

    def failing_fast(self) -> bool:
        return not self.up and time.monotonic() < self._next_probe

    def mark_up(self, detail: str) -> None:
        self.up = True
        self._next_probe = 0.0
        if self._down_logged:
            _log.warning("%s at %s is back: %s", self.what, self.endpoint, detail)
            self._down_logged = False
        else:
            _log.info("%s at %s: %s", self.what, self.endpoint, detail)

    def mark_down(self, reason: str) -> None:
        self.up = False
        self._next_probe = time.monotonic() + self.retry_after_s
        if not self._down_logged and not self.closed:
            self._down_logged = True
            _log.warning(
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
