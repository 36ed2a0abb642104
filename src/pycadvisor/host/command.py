"""External storage tools (``dmsetup``, ``thin_ls``, ``zfs``) run without blocking the event loop.

cAdvisor runs them with ``exec.Command(...).Output()`` (``devicemapper/dmsetup_client.go``,
``devicemapper/thin_ls_client.go``, ``lib/fs/zfs/stats.go``). Here every caller takes a :data:`Runner`, the
command as a parameter, so the parsers and watchers run the real tools on a host and fixture outputs in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

Runner = Callable[[Sequence[str]], Coroutine[Any, Any, bytes]]


class CommandError(Exception):
    """A tool could not be started, failed, or took longer than its timeout; the message names the command."""


def subprocess_runner(timeout_s: float = 10.0) -> Runner:
    """A :data:`Runner` that executes the command, returns its stdout, and raises :class:`CommandError` on a
    missing tool, a non-zero exit (with the tool's stderr) or a run longer than ``timeout_s`` (the tool is killed)."""

    async def run(argv: Sequence[str]) -> bytes:
        cmd = " ".join(argv)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as e:
            raise CommandError(f"`{cmd}`: {e.strerror or e}") from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise CommandError(f"`{cmd}` took longer than {timeout_s:g} s") from None
        except BaseException:  # cancelled (the daemon stops): never leave the tool running
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise
        if proc.returncode != 0:
            detail = err.decode(errors="replace").strip() or out.decode(errors="replace").strip()
            raise CommandError(f"`{cmd}` exited with {proc.returncode}: {detail[:300]}")
        return out

    return run
