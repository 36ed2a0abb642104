"""Two checkouts' managers in one process, over the same cgroups at the same time: the A/B of a housekeeping change.

Loads ``pycadvisor`` from ``--old`` (a ``src/`` directory, e.g. ``git archive <commit> src | tar -x -C /tmp/old``;
the native reader ``_cgread*.so`` is copied from ``--new`` when the old tree has none), builds its
:class:`~pycadvisor.manager.manager.Manager`, then loads it again from ``--new`` (default: this checkout's) and
builds a second one. Each runs on its own asyncio loop in its own thread, with cAdvisor's default metric sets,
1 s housekeeping and dynamic housekeeping off, over N cgroups ``/pycadbench-<id>/c<i>`` with one ``sleep`` each
(removed at the end, also on Ctrl-C). Each round measures both threads' CPU (``pthread_getcpuclockid``: the
loop's wake-ups, the samples, the watcher and the global housekeeping, nothing of the other thread) per
container-sample over the same window, so both see the same host; on a loaded host absolute figures drift by 2x
between runs, their ratio does not::

    git archive HEAD src | tar -x -C /tmp/old
    .venv/bin/python bench/housekeeping_ab.py --old /tmp/old/src --containers 100 --rounds 3 --window 20

``--churn K`` makes K empty cgroups a second under ``/pycadbench-<id>/churn`` in every hierarchy and removes the
previous second's, as runtimes do on a busy host (both managers see the same events).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import importlib
import os
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from overhead_kit.cgroups import BenchCgroups, bench_cgroups  # noqa: E402
from overhead_kit.cleanup import Cleanup  # noqa: E402

S = 1_000_000_000


def load(src: str) -> dict[str, Any]:
    """The modules a manager needs, imported afresh from ``src``."""
    for k in [k for k in sys.modules if k == "pycadvisor" or k.startswith("pycadvisor.")]:
        del sys.modules[k]
    sys.path.insert(0, src)
    try:
        return {
            m: importlib.import_module(f"pycadvisor.{m}")
            for m in ("manager.manager", "host.paths", "metrics.sets", "host.cgroups.fdread")
        }
    finally:
        sys.path.remove(src)


def build(mods: dict[str, Any]) -> Any:
    """A manager of ``mods``' checkout, its native reader resolved while that checkout is the one imported."""
    mm, sets = mods["manager.manager"], mods["metrics.sets"]
    enabled = frozenset(sets.MetricSets.from_flags("", None).enabled)
    opts = mm.ManagerOptions(allow_dynamic_housekeeping=False, metric_sets=enabled, housekeeping_interval_ns=S)
    return mm.Manager(opts, mods["host.paths"].HostPaths(), reader=mods["host.cgroups.fdread"].default_reader())


class Runner(threading.Thread):
    """One manager on its own loop, until ``stop`` is set."""

    def __init__(self, manager: Any) -> None:
        super().__init__(daemon=True)
        self.m = manager
        self.stop_evt = threading.Event()
        self.ready = threading.Event()
        self.clock = -1

    def run(self) -> None:
        self.clock = time.pthread_getcpuclockid(threading.get_ident())

        async def main() -> None:
            await self.m.start()
            self.ready.set()
            while not self.stop_evt.is_set():
                await asyncio.sleep(0.2)
            await self.m.stop()

        asyncio.run(main())

    def cpu_ns(self) -> int:
        return time.clock_gettime_ns(self.clock)

    def samples(self) -> int:
        return int(self.m.counters.samples)


def churn(cg: BenchCgroups, per_s: int, stop: threading.Event) -> None:
    """``per_s`` empty cgroups a second in every hierarchy, the previous second's removed."""
    roots = [os.path.join(r, cg.prefix, "churn") for r in cg.layout.unique_roots()]
    for r in roots:
        os.makedirs(r, exist_ok=True)
    gen = 0
    while not stop.wait(1.0):
        for r in roots:
            for i in range(per_s):
                os.mkdir(os.path.join(r, f"g{gen}-{i}"))
        if gen:
            for r in roots:
                for i in range(per_s):
                    os.rmdir(os.path.join(r, f"g{gen - 1}-{i}"))
        gen += 1
    if gen:
        for r in roots:
            for i in range(per_s):
                os.rmdir(os.path.join(r, f"g{gen - 1}-{i}"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", required=True, help="src/ directory of the baseline")
    ap.add_argument("--new", default=str(HERE.parent / "src"))
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=25.0, help="seconds before the first window (new cgroups settle)")
    ap.add_argument("--churn", type=int, default=0, help="empty cgroups made (and removed) per second")
    args = ap.parse_args()
    old_src, new_src = os.path.abspath(args.old), os.path.abspath(args.new)
    if not glob.glob(os.path.join(old_src, "pycadvisor/host/cgroups/_cgread*.so")):
        for so in glob.glob(os.path.join(new_src, "pycadvisor/host/cgroups/_cgread*.so")):
            shutil.copy(so, os.path.join(old_src, "pycadvisor/host/cgroups/"))
    cleanup = Cleanup()
    cleanup.install()
    cg = bench_cgroups(args.containers, cleanup)
    try:
        cg.create()
        runners = [Runner(build(load(old_src))), Runner(build(load(new_src)))]
        for r in runners:
            r.start()
            r.ready.wait()
        stop_churn = threading.Event()
        if args.churn:
            t = threading.Thread(target=churn, args=(cg, args.churn, stop_churn), daemon=True)
            t.start()

            def end_churn() -> None:
                stop_churn.set()
                t.join()

            cleanup.push("churn", end_churn)
        print(
            f"{args.containers} cgroups under {cg.name}, churn {args.churn}/s; warming up {args.warmup:.0f} s",
            flush=True,
        )
        time.sleep(args.warmup)
        per: list[list[float]] = [[], []]
        for rnd in range(args.rounds):
            c0 = [(r.cpu_ns(), r.samples()) for r in runners]
            time.sleep(args.window)
            c1 = [(r.cpu_ns(), r.samples()) for r in runners]
            us = [(b[0] - a[0]) / max(b[1] - a[1], 1) / 1e3 for a, b in zip(c0, c1, strict=True)]
            for k in (0, 1):
                per[k].append(us[k])
            print(
                f"round {rnd + 1}: old {us[0]:6.1f} µs/sample ({c1[0][1] - c0[0][1]} samples), "
                f"new {us[1]:6.1f} µs/sample ({c1[1][1] - c0[1][1]} samples): new/old {us[1] / us[0]:.2f}",
                flush=True,
            )
        ratios = [b / a for a, b in zip(per[0], per[1], strict=True)]
        print(
            f"median: old {statistics.median(per[0]):.1f} µs, new {statistics.median(per[1]):.1f} µs, "
            f"new/old {statistics.median(ratios):.2f}",
            flush=True,
        )
        stop_churn.set()
        time.sleep(3)  # the last churn cgroups removed, and seen
        names = [set(r.m.containers) for r in runners]
        if names[0] != names[1]:
            print(
                f"the two track different containers: old only {sorted(names[0] - names[1])[:5]}, "
                f"new only {sorted(names[1] - names[0])[:5]}",
                flush=True,
            )
        else:
            print(f"both track the same {len(names[0])} containers", flush=True)
        for r in runners:
            r.stop_evt.set()
        for r in runners:
            r.join(timeout=10)
    finally:
        cleanup.run()


if __name__ == "__main__":
    main()
