"""Derived usage for /api/v2.0/summary (cAdvisor summary/summary.go): rates, minutes, hour and day."""

from __future__ import annotations

from pycadvisor.manager.summary import SummaryTracker, percentile

S = 1_000_000_000


def feed(t: SummaryTracker, seconds: int, *, start: int = 0, millicores: int = 500, ws: int = 4096) -> None:
    for i in range(start, start + seconds + 1):
        t.add(i * S, i * millicores * S // 1000, ws + i)


def test_instant_usage_is_the_rate_between_the_last_two_samples() -> None:
    t = SummaryTracker()
    t.add(10 * S, 0, 100)
    assert t.derived.latest_usage.cpu == 0 and t.derived.timestamp == 0  # one sample gives no rate yet
    t.add(12 * S, 3 * S, 200)  # 3 s of CPU in 2 s: 1.5 cores
    d = t.derived
    assert (d.timestamp, d.latest_usage.cpu, d.latest_usage.memory) == (12 * S, 1500, 200)


def test_minute_hour_and_day_figures() -> None:
    t = SummaryTracker()
    feed(t, 150)  # two minutes close (after more than 60 s each)
    d = t.derived
    assert d.minute_usage.percent_complete == 100
    assert d.minute_usage.cpu.present and d.minute_usage.cpu.mean == 500 and d.minute_usage.cpu.max == 500
    assert d.minute_usage.memory.count == 61
    assert d.hour_usage.percent_complete == 2 * 100 // 60  # two of sixty minutes
    assert d.hour_usage.cpu.count == 122 and d.hour_usage.cpu.fifty == 500
    assert d.day_usage.percent_complete == 0 and d.day_usage.cpu.present
    feed(t, 70, start=151, millicores=500)
    assert t.derived.hour_usage.percent_complete == 3 * 100 // 60  # recombined when read


def test_missing_cpu_or_memory_adds_nothing() -> None:
    t = SummaryTracker()
    t.add(1 * S, None, 5)
    t.add(2 * S, 10, None)
    t.add(3 * S, 20, 7)
    assert t.derived.latest_usage.memory == 7 and t.derived.latest_usage.cpu == 0  # 10 ns in 1 s


def test_percentile_interpolates_over_n_plus_one_ranks() -> None:
    vals = list(range(1, 11))
    assert percentile(vals, 0.5) == 5  # rank 5.5 -> 5 + 0.5 * (6 - 5), truncated
    assert percentile(vals, 0.9) == 9
    assert percentile(vals, 0.95) == 10
    assert percentile([], 0.5) == 0
