"""An aiohttp application served from a thread with its own event loop: a fake runtime or agent for tests.

The code under test runs its own loop (``asyncio.run`` in the test), so the server it talks to cannot share
it: it gets a loop of its own, in a daemon thread, on a unix socket or a 127.0.0.1 port.
"""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web


class ThreadedApp:
    """Serve one ``web.Application`` with :meth:`serve` until :meth:`close`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def serve(self, app: web.Application, *, unix: str | None = None, port: int | None = None) -> None:
        """Start serving ``app`` on the unix socket ``unix``, else on ``127.0.0.1:port``; returns once it listens."""

        async def start() -> None:
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
            await self._runner.setup()
            site = web.UnixSite(self._runner, unix) if unix else web.TCPSite(self._runner, "127.0.0.1", port)
            await site.start()

        self._thread.start()
        asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def close(self) -> None:
        """Stop serving, stop the loop and its thread."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
