"""Micro-timing for the function benchmarks: median wall and thread-CPU µs per call."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def per_call(fn: Callable[[], Any], seconds: float) -> tuple[float, float, int]:
    """(median wall µs, median thread-CPU µs, calls) over rounds of calls filling ``seconds`` (at least 3 rounds).

    Two warm-up calls size a round to about a tenth of ``seconds``.
    """
    fn()
    t0 = time.perf_counter()
    fn()
    per_round = max(1, int(seconds / 10 / max(time.perf_counter() - t0, 1e-7)))
    walls: list[float] = []
    cpus: list[float] = []
    calls = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(walls) < 3:
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        for _ in range(per_round):
            fn()
        walls.append((time.perf_counter_ns() - w0) / per_round / 1e3)
        cpus.append((time.thread_time_ns() - c0) / per_round / 1e3)
        calls += per_round
    return statistics.median(walls), statistics.median(cpus), calls
