"""Derived usage summaries for ``/api/v2.0/summary`` (cAdvisor ``summary/summary.go``, ``percentiles.go``).

Each sample gives an instantaneous CPU rate (millicores, from the delta of cumulative usage) and
the working set. A minute closes after more than 60 s of samples and yields percentiles; the
hour figure aggregates the last 60 minutes, the day figure the last 1440.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from pycadvisor.model.v2 import DerivedStats, InstantUsage, Percentiles, Usage

_MINUTE_NS = 60_000_000_000


def percentile(sorted_vals: list[int], p: float) -> int:
    """cAdvisor's interpolated percentile over ``n + 1`` ranks (``summary/percentiles.go``)."""
    n = len(sorted_vals)
    if n == 0:
        return 0
    rank = p * (n + 1)
    idx = int(rank)
    frac = rank - idx
    if idx < 1:
        return sorted_vals[0]
    if idx >= n:
        return sorted_vals[-1]
    return int(sorted_vals[idx - 1] + frac * (sorted_vals[idx] - sorted_vals[idx - 1]))


def percentiles(values: list[int]) -> Percentiles:
    if not values:
        return Percentiles()
    s = sorted(values)
    mean = sum(s) / len(s)
    std = math.sqrt(sum((v - mean) ** 2 for v in s) / len(s))
    return Percentiles(
        present=True,
        mean=int(mean),
        std=int(std),
        max=s[-1],
        fifty=percentile(s, 0.5),
        ninety=percentile(s, 0.9),
        ninetyfive=percentile(s, 0.95),
        count=len(s),
    )


def combine(items: list[Percentiles]) -> Percentiles:
    """Aggregate minute percentiles into an hour/day figure (``GetDerivedPercentiles``)."""
    present = [p for p in items if p.present]
    if not present:
        return Percentiles()
    count = sum(p.count for p in present)
    mean = sum(p.mean * p.count for p in present) / max(count, 1)
    return Percentiles(
        present=True,
        mean=int(mean),
        std=int(math.sqrt(sum(p.std**2 * p.count for p in present) / max(count, 1))),
        max=max(p.max for p in present),
        fifty=percentile(sorted(p.fifty for p in present), 0.5),
        ninety=percentile(sorted(p.ninety for p in present), 0.9),
        ninetyfive=percentile(sorted(p.ninetyfive for p in present), 0.95),
        count=count,
    )


@dataclass(slots=True)
class _Minute:
    cpu: Percentiles
    memory: Percentiles


class SummaryTracker:
    """Feeds on a container's samples; answers its :class:`DerivedStats`."""

    __slots__ = ("_cpu", "_derived", "_last", "_mem", "_minute_start", "_minutes", "_prev", "_stale")

    def __init__(self) -> None:
        self._prev: tuple[int, int] | None = None  # (timestamp, cumulative cpu ns) of the last sample
        self._cpu: list[int] = []
        self._mem: list[int] = []
        self._minute_start = 0
        self._minutes: deque[_Minute] = deque(maxlen=1440)
        self._last: tuple[int, int, int] | None = None  # timestamp, millicores, working set of the last rate
        self._derived = DerivedStats()
        self._stale = False  # a minute closed since the hour and day figures were combined

    @property
    def derived(self) -> DerivedStats:
        """The container's usage summary (``/api/v2.0/summary``); built when read, not per sample.

        The hour and day figures combine up to 1,440 minutes: done on every minute's close for every
        container that cost more than all its samples of that minute, so it is done when asked for.
        """
        if self._stale:
            self._stale = False
            hour = list(self._minutes)[-60:]
            self._derived.hour_usage = Usage(
                percent_complete=len(hour) * 100 // 60,
                cpu=combine([x.cpu for x in hour]),
                memory=combine([x.memory for x in hour]),
            )
            day = list(self._minutes)
            self._derived.day_usage = Usage(
                percent_complete=len(day) * 100 // 1440,
                cpu=combine([x.cpu for x in day]),
                memory=combine([x.memory for x in day]),
            )
        if self._last is not None:
            ts, cpu, mem = self._last
            self._derived.timestamp = ts
            self._derived.latest_usage = InstantUsage(cpu=cpu, memory=mem)
        return self._derived

    def add(self, timestamp: int, cpu_total: int | None, working_set: int | None) -> None:
        """One sample: its time, cumulative CPU ns and memory working set (``None``: not collected)."""
        prev = self._prev
        self._prev = None if cpu_total is None else (timestamp, cpu_total)
        if cpu_total is None or working_set is None:
            return
        if prev is None or timestamp <= prev[0]:
            self._minute_start = timestamp
            return
        millicores = max(cpu_total - prev[1], 0) * 1000 // (timestamp - prev[0])
        self._cpu.append(millicores)
        self._mem.append(working_set)
        self._last = (timestamp, millicores, working_set)
        if timestamp - self._minute_start > _MINUTE_NS:
            self._close_minute(timestamp)

    def _close_minute(self, now: int) -> None:
        m = _Minute(cpu=percentiles(self._cpu), memory=percentiles(self._mem))
        self._cpu, self._mem = [], []
        self._minute_start = now
        self._minutes.append(m)
        self._derived.minute_usage = Usage(percent_complete=100, cpu=m.cpu, memory=m.memory)
        self._stale = True
