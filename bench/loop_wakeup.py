"""CPU of one idle wake-up of the event loop: asyncio's own loop against uvloop, and a C sleep for scale.

    .venv/bin/python bench/loop_wakeup.py            # 40 wake-ups 250 ms apart per loop, 3 rounds

The daemon's housekeeping wakes its loop up to four times a second at a 1 s interval (a tick at most
every quarter interval) and the OOM watcher once a second; each wake-up costs CPU whether or not any
sample is due then. The figure is process CPU (``time.process_time_ns``) per wake-up of a loop whose only
work is one ``call_later`` callback, which re-arms itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import uvloop


async def wakeups(n: int, period_s: float) -> float:
    """CPU µs per wake-up over ``n`` wake-ups of the running loop."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    count = 0

    def tick() -> None:
        nonlocal count
        count += 1
        if count < n:
            loop.call_later(period_s, tick)
        else:
            done.set_result(None)

    c0 = time.process_time_ns()
    loop.call_later(period_s, tick)
    await done
    return (time.process_time_ns() - c0) / n / 1000


def sleeps(n: int, period_s: float) -> float:
    """The same wake-ups with ``time.sleep`` (one syscall each, no loop): the floor for Python."""
    c0 = time.process_time_ns()
    for _ in range(n):
        time.sleep(period_s)
    return (time.process_time_ns() - c0) / n / 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wakeups", type=int, default=40)
    ap.add_argument("--period", type=float, default=0.25)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    runners: dict[str, Callable[[Coroutine[Any, Any, float]], float]] = {
        "asyncio": asyncio.run,
        "uvloop": uvloop.run,
    }
    res: dict[str, list[float]] = {"asyncio": [], "uvloop": [], "time.sleep": []}
    for _ in range(args.rounds):  # alternate, so both see the same host conditions
        for name, run in runners.items():
            res[name].append(run(wakeups(args.wakeups, args.period)))
        res["time.sleep"].append(sleeps(args.wakeups, args.period))
    med = {k: round(statistics.median(v), 1) for k, v in res.items()}
    for k, v in med.items():
        print(f"{k:10s} {v:7.1f} µs CPU per wake-up   (rounds: {', '.join(f'{x:.0f}' for x in res[k])})")
    print(f"uvloop / asyncio: {med['uvloop'] / med['asyncio']:.2f}x")
    print(json.dumps({"bench": "loop_wakeup", "period_s": args.period, "wakeups": args.wakeups, "us": med}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
