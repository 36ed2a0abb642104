"""A one-thread executor for a driver whose client library blocks (influxdb, kafka-python, BigQuery).

Each driver gets its own thread, so a backend that hangs until its timeout delays only that driver's
writes, never the event loop or the other drivers (the default executor is shared by everyone).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class BlockingWorker:
    """Runs blocking calls of one driver, in order, on a thread of its own (created on first use)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"pycadvisor-storage-{self._name}")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def shutdown(self) -> None:
        """Stop the thread once its current call returns; queued calls are cancelled."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
