"""Embedding the manager in a program that is not asyncio-based (as the kubelet embeds cAdvisor).

The manager runs on its own event loop in one background thread; these methods hand calls over
to that loop and wait for the answer, so callers on any thread see a plain blocking API::

    from pycadvisor.manager.embed import EmbeddedManager
    with EmbeddedManager() as m:
        print(m.machine_info().num_cores)
        info = m.container_info("/", num_stats=1)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from pycadvisor.host.paths import HostPaths
from pycadvisor.manager.manager import Manager, ManagerOptions
from pycadvisor.model.container import ContainerInfo
from pycadvisor.model.machine import MachineInfo

T = TypeVar("T")


class EmbeddedManager:
    """A :class:`Manager` on a private loop thread, with blocking accessors."""

    def __init__(
        self,
        opts: ManagerOptions | None = None,
        paths: HostPaths | None = None,
        *,
        make: Callable[[ManagerOptions, HostPaths], Manager] | None = None,
    ) -> None:
        self._opts = opts or ManagerOptions()
        self._paths = paths or HostPaths()
        self._make = make or (lambda o, p: Manager(o, p))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.manager: Manager | None = None

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="pycadvisor-manager", daemon=True)
        self._thread.start()
        ready.wait()
        self._loop = loop
        self.manager = self._make(self._opts, self._paths)
        self._call(self.manager.start())

    def stop(self) -> None:
        if self._loop is None or self.manager is None:
            return
        self._call(self.manager.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop.close()
        self._loop = None

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _sync(self, fn: Callable[[], T]) -> T:
        async def wrap() -> T:
            return fn()

        return self._call(wrap())

    def machine_info(self) -> MachineInfo:
        m = self.manager
        assert m is not None, "start() first"
        return self._sync(lambda: m.machine_info)

    def container_names(self) -> list[str]:
        m = self.manager
        assert m is not None, "start() first"
        return self._sync(lambda: sorted(m.containers))

    def container_info(self, name: str, *, num_stats: int = 60) -> ContainerInfo:
        """The v1 ``ContainerInfo``; raises :class:`pycadvisor.errors.ContainerNotFound` for an unknown name."""
        m = self.manager
        assert m is not None, "start() first"
        return self._sync(lambda: m.info(m.get(name), count=num_stats))

    def __enter__(self) -> EmbeddedManager:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
