"""Undo everything the benchmark made, on normal exit, on Ctrl-C / SIGTERM / SIGHUP and at exit."""

from __future__ import annotations

import atexit
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """Raised in the main thread when a stop signal arrives, so ``finally`` blocks run."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


class Cleanup:
    """A LIFO of undo actions, each run once; install() also hooks signals and atexit."""

    def __init__(self) -> None:
        self._actions: list[tuple[str, Callable[[], None]]] = []
        self._installed = False
        self._previous: dict[int, Any] = {}  # earlier handlers, restored after run()

    def push(self, what: str, action: Callable[[], None]) -> None:
        """Register ``action`` (idempotent, best effort) to run at cleanup, before earlier ones."""
        self._actions.append((what, action))

    def install(self) -> None:
        """Turn SIGINT/SIGTERM/SIGHUP into :class:`Interrupted` and run the actions at interpreter exit."""
        if self._installed:
            return
        self._installed = True
        for sig in _SIGNALS:
            self._previous[sig] = signal.signal(sig, self._on_signal)
        atexit.register(self.run)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signum)

    def run(self) -> list[str]:
        """Run every pending action, newest first; a second signal cannot cut this short."""
        if self._installed:
            for sig in _SIGNALS:
                signal.signal(sig, signal.SIG_IGN)
        errors: list[str] = []
        while self._actions:
            what, action = self._actions.pop()
            try:
                action()
            except Exception as e:  # keep undoing the rest
                errors.append(f"{what}: {e}")
                print(f"cleanup: {what}: {e}", file=sys.stderr)
        if self._installed:
            for signum, previous in self._previous.items():
                signal.signal(signum, previous)
            self._installed = False
            atexit.unregister(self.run)
        return errors

    def __enter__(self) -> Cleanup:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.run()
