"""Background tasks of the runtime factories (event watchers, pid pollers): how they are stopped."""

from __future__ import annotations

import asyncio
import contextlib


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` and wait until it has ended, so nothing of it runs after a factory's ``close``.

    ``None`` (no task started) is a no-op. The task's ``CancelledError`` is not re-raised.
    """
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
