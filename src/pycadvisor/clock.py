"""Time sources, injected so tests can drive time (cAdvisor injects ``clock.Clock`` into its manager)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Wall-clock time, ns since the Unix epoch (sample timestamps)."""
        ...


class RealClock:
    def now_ns(self) -> int:
        return time.time_ns()


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start_ns: int = 1_395_066_363_000_000_000) -> None:
        self.t = start_ns

    def now_ns(self) -> int:
        return self.t

    def advance(self, ns: int) -> None:
        self.t += ns
