"""Housekeeping cost in one process: pycadvisor's manager against a pread-only reader of the same files.

Run as root (it makes N cgroups ``/pycadbench-<id>/c<i>`` with one ``sleep`` each and removes them, also
on Ctrl-C)::

    .venv/bin/python bench/housekeeping.py                  # 100 cgroups, 3 rounds of 20 s windows
    .venv/bin/python bench/housekeeping.py --containers 1000 --window 30

One process, one asyncio loop, the same schedule for both subjects (1 s housekeeping with cAdvisor's
jitter, dynamic housekeeping off, samples due within a tick taken together), measured in alternating
windows so that both see the same host conditions:

- **manager**: :class:`pycadvisor.manager.manager.Manager` with cAdvisor's default metric sets, doing
  everything it does per sample (read, parse, store, summary, schedule);
- **pread floor**: the files the manager's collectors hold open, re-read with ``os.pread`` at offset 0 on
  the same tick schedule (the blkio files every tenth sample, as the collector reads empty groups), nothing
  parsed or stored: what Python cannot do with less.

Each window gives process CPU (``time.process_time``) per container-sample; the ratio manager / floor is
printed per round and as the median. It complements ``overhead.py`` (the daemon from outside, against C
and Netdata): this one is quick, needs no service, and isolates the Python cost of a sample.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from overhead_kit.cgroups import bench_cgroups
from overhead_kit.cleanup import Cleanup
from pycadvisor.host.paths import HostPaths
from pycadvisor.manager.manager import Manager, ManagerOptions
from pycadvisor.metrics.sets import MetricSets

S = 1_000_000_000
TICK_S = 0.25  # the manager's tick at a 1 s housekeeping interval


@dataclass
class Window:
    cpu_s: float
    samples: int

    @property
    def us_per_sample(self) -> float:
        return self.cpu_s / max(self.samples, 1) * 1e6


class PreadFloor:
    """The same files, held open and re-read on the manager's schedule, nothing else.

    ``fds`` are read every sample; ``rare`` every tenth, as the collector reads the blkio groups of a
    cgroup whose block IO counters are all empty (``_BLKIO_RECHECK``).
    """

    def __init__(self, fds: list[list[int]], rare: list[list[int]]) -> None:
        self.fds = fds
        self.rare = rare
        self.samples = 0
        self._heap: list[tuple[int, int]] = []
        self._handle: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        now = time.monotonic_ns()
        self._heap = [(now + int(random.random() * S), i) for i in range(len(self.fds))]
        heapq.heapify(self._heap)
        self._tick(loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = time.monotonic_ns()
        heap, pread = self._heap, os.pread
        while heap and heap[0][0] <= now:
            _, i = heapq.heappop(heap)
            for fd in self.fds[i]:
                pread(fd, 16384, 0)
            if self.samples % 10 == 0:
                for fd in self.rare[i]:
                    pread(fd, 16384, 0)
            self.samples += 1
            heapq.heappush(heap, (now + S + int(random.random() * S), i))  # cAdvisor's jitter: [1 s, 2 s)
        self._handle = loop.call_later(TICK_S, self._tick, loop)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


class Counted(Protocol):
    @property
    def samples(self) -> int: ...


def samples_of(counted: Counted) -> Callable[[], int]:
    """A reader of ``counted.samples`` as it is when called (for :func:`measure`)."""
    return lambda: counted.samples


async def measure(seconds: float, count: Callable[[], int]) -> Window:
    s0, c0 = count(), time.process_time()
    await asyncio.sleep(seconds)
    return Window(time.process_time() - c0, count() - s0)


async def run(n: int, rounds: int, window: float, warmup: float) -> dict[str, object]:
    cleanup = Cleanup()
    cleanup.install()
    cg = bench_cgroups(n, cleanup)
    try:
        cg.create()
        print(f"made {n} cgroups under {cg.name} with one sleep each", flush=True)
        sets = frozenset(MetricSets.from_flags("", None).enabled)
        opts = ManagerOptions(allow_dynamic_housekeeping=False, metric_sets=sets, housekeeping_interval_ns=S)
        results: list[tuple[Window, Window]] = []
        for r in range(rounds):
            m = Manager(opts, HostPaths())
            await m.start()
            await asyncio.sleep(warmup)
            mine = [st for name, st in m.containers.items() if name.startswith(cg.name + "/")]
            a = await measure(window, samples_of(m.counters))
            # The floor holds the very descriptors the collectors opened (dup'ed: the manager closes its own).
            held = [[(p, fd) for p, fd in st.collector._files._fds.items() if fd >= 0] for st in mine]
            fds = [[os.dup(fd) for p, fd in h if "/blkio." not in p] for h in held]
            rare = [[os.dup(fd) for p, fd in h if "/blkio." in p] for h in held]
            await m.stop()
            floor = PreadFloor(fds, rare)
            floor.start(asyncio.get_running_loop())
            await asyncio.sleep(min(warmup, 5))
            b = await measure(window, samples_of(floor))
            floor.stop()
            for group in fds + rare:
                for fd in group:
                    os.close(fd)
            results.append((a, b))
            files = sum(map(len, fds)) / max(len(fds), 1)
            print(
                f"round {r + 1}: manager {a.us_per_sample:6.1f} µs/sample ({a.samples} samples, "
                f"{a.cpu_s / window * 100:.2f} % CPU), pread floor {b.us_per_sample:5.1f} µs/sample "
                f"({files:.1f} files each): {a.us_per_sample / b.us_per_sample:.2f}x",
                flush=True,
            )
        ratios = [a.us_per_sample / b.us_per_sample for a, b in results]
        out = {
            "bench": "housekeeping",
            "containers": n,
            "window_s": window,
            "rounds": rounds,
            "manager_us_per_sample": round(statistics.median(a.us_per_sample for a, _ in results), 1),
            "pread_floor_us_per_sample": round(statistics.median(b.us_per_sample for _, b in results), 1),
            "ratio_vs_pread_floor": round(statistics.median(ratios), 2),
            "manager_samples": sum(a.samples for a, _ in results),
            "floor_samples": sum(b.samples for _, b in results),
        }
        print(json.dumps(out))
        return out
    finally:
        cleanup.run()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--window", type=float, default=20.0, help="seconds measured per subject and round")
    ap.add_argument("--warmup", type=float, default=8.0)
    args = ap.parse_args()
    asyncio.run(run(args.containers, args.rounds, args.window, args.warmup))


if __name__ == "__main__":
    main()
