"""Failed login attempts limited per client address (issue 14, item 6): wrong passwords cannot keep the
cores busy with bcrypt. cAdvisor (go-http-auth) has no such limit; :mod:`pycadvisor.api.auth` asks
:class:`FailureLimiter` before checking a password and answers 429 with ``Retry-After`` when it refuses.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

# ------------------------------------------------------------------ failed attempts


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float  # when ``tokens`` was last brought up to date


class FailureLimiter:
    """Failed login attempts per client address: a token bucket each, in a bounded table.

    Each failure takes a token; a bucket refills one token every ``refill_s`` up to ``burst``. An
    address without a token is refused before any password is checked (429 with ``Retry-After``),
    so wrong passwords cannot keep the cores busy with bcrypt (issue 14, item 6); successful logins
    take nothing. The table holds at most ``max_clients`` addresses, least recently failed dropped
    first (a full bucket is the same as none).
    """

    def __init__(
        self,
        *,
        burst: int = 20,
        refill_s: float = 2.0,
        max_clients: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.refill_s = refill_s
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, addr: str, now: float) -> _Bucket | None:
        b = self._buckets.get(addr)
        if b is not None:
            b.tokens = min(float(self.burst), b.tokens + (now - b.at) / self.refill_s)
            b.at = now
        return b

    def retry_after(self, addr: str) -> int:
        """Seconds until ``addr`` may try again; 0 if it may now."""
        now = self._clock()
        b = self._bucket(addr, now)
        if b is None or b.tokens >= 1.0:
            return 0
        return max(1, math.ceil((1.0 - b.tokens) * self.refill_s))

    def take(self, addr: str) -> int:
        """Take a token for an attempt of ``addr`` before checking it: 0 if taken, else seconds to wait.

        The token is taken before the password is checked, so that concurrent attempts cannot all pass
        while the first ones are still being hashed; :meth:`refund` gives it back when the attempt succeeds.
        """
        wait = self.retry_after(addr)
        if wait:
            return wait
        b = self._buckets.pop(addr, None)  # re-inserted last: the order is least recently failed first
        if b is None:
            while len(self._buckets) >= self.max_clients:
                self._buckets.pop(next(iter(self._buckets)))
            b = _Bucket(tokens=float(self.burst), at=self._clock())
        b.tokens -= 1.0
        self._buckets[addr] = b
        return 0

    def refund(self, addr: str) -> None:
        """Give back the token of an attempt that succeeded (a success is not limited)."""
        b = self._buckets.get(addr)
        if b is not None:
            b.tokens = min(float(self.burst), b.tokens + 1.0)


def too_many_response(retry_after: int) -> web.Response:
    return web.Response(
        status=429,
        body=b"429 Too Many Requests\n",
        headers={"Content-Type": "text/plain", "Retry-After": str(retry_after)},
    )
