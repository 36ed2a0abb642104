"""Two checkouts' ``/metrics`` renderers in one process, interleaved: the A/B of a render change on a busy host.

Loads ``pycadvisor`` from ``--old`` (a ``src/`` directory, e.g. ``git archive <commit> src | tar -x -C /tmp/old``),
then again from ``--new`` (default: this checkout's), renders ``bench/exposition.py``'s synthetic containers with
both, checks that the bodies are byte-identical, then alternates the two (order swapped every round) and prints
the median thread-CPU time of each and the median of the per-round ratios new/old. On a loaded host absolute
times drift by 2x between runs; a ratio of two renders taken back to back does not::

    git archive d546d0c src | tar -x -C /tmp/old
    .venv/bin/python bench/render_ab.py --old /tmp/old/src --sizes 100,1000 --workloads plain,compose
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def load(src: str) -> tuple[Any, Any, Any]:
    """The render, options and sets modules of the ``pycadvisor`` under ``src`` (a fresh import)."""
    for k in [k for k in sys.modules if k == "pycadvisor" or k.startswith("pycadvisor.")]:
        del sys.modules[k]
    sys.path.insert(0, src)
    try:
        mods = tuple(importlib.import_module(f"pycadvisor.metrics.{m}") for m in ("render", "options", "sets"))
    finally:
        sys.path.remove(src)
    return mods[0], mods[1], mods[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", required=True, help="src/ directory of the baseline")
    ap.add_argument("--new", default=str(HERE.parent / "src"))
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--workloads", default="plain,compose")
    ap.add_argument("--padding", default="pad,nopad", help="pad: cAdvisor's; nopad: -prometheus_no_empty_labels")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    old, new = load(os.path.abspath(args.old)), load(os.path.abspath(args.new))
    sys.path.insert(0, os.path.abspath(args.new))
    from exposition import NOW, synthetic

    print(f"{'workload':8} {'n':>5} {'labels':6} {'old ms':>8} {'new ms':>8} {'new/old':>8}")
    for workload in args.workloads.split(","):
        for n in (int(x) for x in args.sizes.split(",")):
            snaps = synthetic(n, workload == "compose")
            for pad in args.padding.split(","):
                renderers = []
                for render, options, sets in (old, new):
                    opts = options.ExpositionOptions(
                        metric_sets=sets.MetricSets.default(),
                        runtime_metrics=False,
                        self_metrics=False,
                        no_empty_label_padding=pad == "nopad",
                    )
                    renderers.append(render.ExpositionRenderer(opts))
                bodies = [r.render(snaps, machine=None, version=None, now_ns=NOW) for r in renderers]
                if bodies[0] != bodies[1]:
                    raise SystemExit(f"{workload} {n} {pad}: the two renderers' bodies differ")
                cpu: list[list[float]] = [[], []]
                gc.collect()
                for i in range(args.rounds):
                    order = (0, 1) if i % 2 == 0 else (1, 0)
                    for k in order:
                        c0 = time.thread_time()
                        renderers[k].render(snaps, machine=None, version=None, now_ns=NOW)
                        cpu[k].append((time.thread_time() - c0) * 1000)
                ratio = statistics.median(b / a for a, b in zip(cpu[0], cpu[1], strict=True))
                a50, b50 = statistics.median(cpu[0]), statistics.median(cpu[1])
                print(f"{workload:8} {n:>5} {pad:6} {a50:>8.1f} {b50:>8.1f} {ratio:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
