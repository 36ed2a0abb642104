"""Where a ``/metrics`` scrape's time goes in the running daemon: py-spy over back-to-back scrapes, by stage.

Starts the daemon (this checkout's ``src``, or ``--src``) over N bench cgroups as ``bench/overhead.py`` does
(``-housekeeping_interval=1s -allow_dynamic_housekeeping=false``), waits until every leaf is in ``/metrics``,
then scrapes ``/metrics`` (identity encoding) back to back for ``--seconds`` while ``py-spy`` samples the
daemon, and splits the samples of the scrape's task by the stage they are in: the manager's snapshot
(``metrics/source.py``'s ``snapshot``), label binding, each kind of family (spec, one value, extra labels,
machine, runtime), assembly of the body, and the rest of the request in aiohttp (parsing, sending). Samples
outside a scrape (housekeeping) are counted apart. Prints ms per scrape of each stage (samples x period /
scrapes: a sampling estimate, on a loaded host the figures carry its noise; compare shares)::

    .venv/bin/python bench/scrape_profile.py --containers 100 --seconds 20
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from overhead_kit import httpprobe  # noqa: E402
from overhead_kit.cgroups import BenchCgroups, host_layout  # noqa: E402
from overhead_kit.cleanup import Cleanup  # noqa: E402
from overhead_kit.daemon import Daemon, default_python  # noqa: E402
from overhead_kit.profile import Recording, find_py_spy  # noqa: E402

# The first entry found in a stack wins: (substring of a py-spy frame "function (path:line)", stage).
STAGES: list[tuple[str, str]] = [
    ("pycadvisor/model/", "stats objects built (model)"),
    ("pycadvisor/metrics/cpu.py", "value readers (spec tables)"),
    ("pycadvisor/metrics/memory.py", "value readers (spec tables)"),
    ("pycadvisor/metrics/diskio.py", "value readers (spec tables)"),
    ("pycadvisor/metrics/network.py", "value readers (spec tables)"),
    ("pycadvisor/metrics/fs.py", "value readers (spec tables)"),
    ("pycadvisor/metrics/pressure.py", "value readers (spec tables)"),
    ("pycadvisor/metrics/process.py", "value readers (spec tables)"),
    ("pycadvisor/metrics/status.py", "value readers (spec tables)"),
    ("pycadvisor/metrics/containerspec.py", "value readers (spec tables)"),
    ("pycadvisor/metrics/spec.py", "value readers (spec tables)"),  # declared readers, in Python (PyWriter)
    ("send_body (", "send (api/limits.py send_body)"),
    ("assemble (", "assemble body"),
    ("_spec_family (", "spec families"),
    ("_multi (", "families with extra labels"),
    ("_stats_family (", "one-value families"),
    ("_machine_blocks (", "machine families"),
    ("_app_families (", "app families"),
    ("labels_for (", "label binding"),
    ("_container_blocks (", "rows, sort, columns"),
    ("blocks (pycadvisor/metrics/runtime.py", "runtime families"),
    ("render (pycadvisor/metrics/render.py", "render, other"),
    ("snapshot (", "snapshot (manager)"),
    ("handle_metrics (", "handler, send"),
]


def stage_of(stack: str) -> str:
    frames = stack.split(";")
    for needle, stage in STAGES:  # the first stage of the table found anywhere in the stack
        if any(needle in frame for frame in frames):
            return stage
    if any("aiohttp" in f for f in frames) and not any("housekeep" in f for f in frames):
        return "aiohttp (parse, write)"
    return "outside the scrape"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--src", default=None, help="a src/ directory to run instead of this checkout's")
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--native", action="store_true", help="py-spy --native: C frames too (top frames printed)")
    ap.add_argument(
        "--ab",
        metavar="OLD_SRC",
        help="no profile: run this checkout's daemon and OLD_SRC's over the same cgroups, scrape them alternately "
        "for --seconds and print each one's wall p50/p90 and the median ratio new/old of back-to-back pairs",
    )
    args = ap.parse_args()
    if args.ab:
        ab(args.containers, args.seconds, args.ab)
        return
    layout = host_layout()
    if layout is None:
        raise SystemExit("no cgroup hierarchy found")
    py_spy = find_py_spy(default_python())
    if py_spy is None:
        raise SystemExit("py-spy not found")
    work = tempfile.mkdtemp(prefix="scrape-profile-")
    with Cleanup() as cleanup:
        cg = BenchCgroups(args.containers, layout)
        cleanup.push("remove bench cgroups", cg.close)
        cg.create()
        port = _free_port()
        repo = Path(args.src).resolve().parent if args.src else HERE.parent
        d = Daemon(
            "pycadvisor",
            port,
            ["-housekeeping_interval=1s", "-allow_dynamic_housekeeping=false"],
            log_path=os.path.join(work, "daemon.log"),
            repo=repo,
            python=default_python(),
        )
        cleanup.push("stop daemon", d.stop)
        d.start()
        d.wait_ready()
        d.wait_for(cg.leaf_names(), timeout=120)
        for _ in range(5):
            httpprobe.get(port, "/metrics")
        stop = threading.Event()
        scrapes: list[tuple[float, int]] = []

        def scrape_loop() -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                r = httpprobe.get(port, "/metrics")
                scrapes.append((time.perf_counter() - t0, len(r.body)))

        out = os.path.join(work, "profile.txt")
        t = threading.Thread(target=scrape_loop)
        if args.native:
            cmd = [py_spy, "record", "--native", "--pid", str(d.pid), "--duration", str(args.seconds)]
            cmd += ["--rate", str(args.rate), "--format", "raw", "--output", out]
            t.start()
            subprocess.run(cmd, check=True, capture_output=True, timeout=args.seconds + 120)
            raw = Path(out).read_text()
        else:
            rec = Recording(py_spy, d.pid, args.seconds, out, rate=args.rate)
            t.start()
            raw = rec.wait()
        stop.set()
        t.join()
    per_stage: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            per_stage[stage_of(stack)] += int(count)
    if args.native:
        top: Counter[str] = Counter()
        for line in raw.splitlines():
            stack, _, count = line.rpartition(" ")
            if count.isdigit() and stage_of(stack) != "outside the scrape":
                top[stack.split(";")[-1].split(" (")[0]] += int(count)
        print("# innermost frames of the scrape:", ", ".join(f"{k} {v}" for k, v in top.most_common(15)))
    n = len(scrapes)
    period_ms = 1000 / args.rate
    walls = sorted(w for w, _ in scrapes)
    print(f"# {args.containers} cgroups, {n} scrapes in {args.seconds} s, body {scrapes[-1][1]:,} B")
    print(f"# client wall p50 {walls[n // 2] * 1000:.1f} ms; py-spy {args.rate}/s, ms per scrape by stage:")
    in_scrape = sum(c for s, c in per_stage.items() if s != "outside the scrape")
    for stage, samples in per_stage.most_common():
        share = "" if stage == "outside the scrape" else f"{100 * samples / in_scrape:5.1f} %"
        print(f"{stage:32} {samples * period_ms / n:7.2f} ms  {share}")
    print(f"{'scrape total':32} {in_scrape * period_ms / n:7.2f} ms")


def _start(label: str, repo: Path, work: str, cleanup: Cleanup) -> Daemon:
    d = Daemon(
        label,
        _free_port(),
        ["-housekeeping_interval=1s", "-allow_dynamic_housekeeping=false"],
        log_path=os.path.join(work, f"{label}.log"),
        repo=repo,
        python=default_python(),
    )
    cleanup.push(f"stop {label}", d.stop)
    d.start()
    return d


def ab(containers: int, seconds: int, old_src: str) -> None:
    """Both daemons over the same cgroups, scraped alternately (order swapped every pair): the host's load hits both."""
    layout = host_layout()
    if layout is None:
        raise SystemExit("no cgroup hierarchy found")
    work = tempfile.mkdtemp(prefix="scrape-ab-")
    with Cleanup() as cleanup:
        cg = BenchCgroups(containers, layout)
        cleanup.push("remove bench cgroups", cg.close)
        cg.create()
        new = _start("new", HERE.parent, work, cleanup)
        old = _start("old", Path(old_src).resolve().parent, work, cleanup)
        for d in (new, old):
            d.wait_ready()
            d.wait_for(cg.leaf_names(), timeout=120)
            for _ in range(5):
                httpprobe.get(d.port, "/metrics")
        walls: dict[str, list[float]] = {"new": [], "old": []}
        sizes: dict[str, int] = {}
        ratios: list[float] = []
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            pair: dict[str, float] = {}
            for d in (new, old) if i % 2 == 0 else (old, new):
                r = httpprobe.get(d.port, "/metrics")
                pair[d.label] = r.seconds
                sizes[d.label] = len(r.body)
                walls[d.label].append(r.seconds * 1000)
            ratios.append(pair["new"] / pair["old"])
            i += 1
    print(
        f"# {containers} bench cgroups (plus the host's own), {i} pairs of /metrics scrapes in {seconds} s, alternating"
    )
    for label in ("old", "new"):
        w = sorted(walls[label])
        print(f"{label}: wall p50 {w[len(w) // 2]:.1f} ms, p90 {w[len(w) * 9 // 10]:.1f} ms, {sizes[label]:,} B")
    ratios.sort()
    print(f"new/old, median of back-to-back pairs: {ratios[len(ratios) // 2]:.2f}")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


if __name__ == "__main__":
    main()
