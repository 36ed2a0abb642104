"""Where the daemon's RSS goes (issue 18, item 5), this tree against a baseline commit in the same run.

Run as root; it makes ``--containers`` (100) cgroups ``/pycadbench-<id>/c<i>`` with one ``sleep`` each and
removes them, also on Ctrl-C or SIGTERM::

    sudo .venv/bin/python bench/rss.py                            # against main
    sudo .venv/bin/python bench/rss.py --baseline 198981f --seconds 130
    sudo .venv/bin/python bench/rss.py --imports-only             # the import table, no root needed

Two tables, each with a column for this tree, one for the baseline (``git archive`` of ``--baseline`` into a
temporary directory, with this tree's built native modules copied in) and their ratio:

1. **Imports**: a fresh interpreter per tree imports, in order, what the daemon imports (the steps of
   ``STEPS``) and reports its ``VmRSS`` and module count after each step (file-backed pages of the shared
   libraries count in RSS, as they do in overhead.py's figure).
2. **The running daemon**: both trees' daemons started together with default flags over the same cgroups (and,
   unless ``--only-bench``, the rest of the host's, as overhead.py's daemons); once each tracks every benchmark
   cgroup, they run ``--seconds`` (130: the default two minutes of history filled), then ``VmRSS``/``Pss`` are
   read before and after ``--scrapes`` (3) ``/metrics`` scrapes, and the high-water mark.

With ``--heap``, a third daemon of this tree runs with ``-profiling`` over the same cgroups and its
``/debug/pprof/heap`` (tracemalloc: the Python heap still held, by line) is printed at the end: what the
remaining MiB are beyond the imports.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from overhead_kit import httpprobe, procfs
from overhead_kit.cgroups import bench_cgroups
from overhead_kit.cleanup import Cleanup
from overhead_kit.daemon import REPO, Daemon, default_python

# What the daemon imports, in the order it comes to need it; each step is a comma list of modules.
STEPS: tuple[tuple[str, str], ...] = (
    ("asyncio (+ ssl: _ssl, libssl, libcrypto)", "asyncio"),
    ("json, email.parser", "json,email.parser"),
    ("uvloop", "uvloop"),
    ("multidict, yarl", "multidict,yarl"),
    ("aiohttp", "aiohttp"),
    ("aiohttp.web", "aiohttp.web"),
    ("orjson", "orjson"),
    ("prometheus_client", "prometheus_client"),
    ("grpclib", "grpclib.client"),
    ("pycadvisor model, collector, manager", "pycadvisor.model,pycadvisor.host.cgroups.collector,pycadvisor.manager"),
    ("pycadvisor metrics.render", "pycadvisor.metrics.render"),
    ("pycadvisor api.server, app", "pycadvisor.api.server,pycadvisor.app"),
)

# Run in the measured interpreter: imports each step (a missing module is reported, not fatal) and prints
# one JSON line per step. The library steps are imported whether or not pycadvisor would import them, so
# the table shows their price; the last line is a separate interpreter importing pycadvisor.app alone.
PROBE = r"""
import importlib, json, sys
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
print(json.dumps({"step": "start", "kib": rss(), "modules": len(sys.modules)}), flush=True)
for step, mods in json.loads(sys.argv[1]):
    err = None
    for m in mods.split(","):
        try:
            importlib.import_module(m)
        except ImportError as e:
            err = str(e)
    print(json.dumps({"step": step, "kib": rss(), "modules": len(sys.modules), "error": err}), flush=True)
"""

APP_ONLY = r"""
import json, sys
import pycadvisor.app
with open("/proc/self/status") as f:
    kib = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
libs = ("aiohttp", "uvloop", "yarl", "multidict", "orjson", "prometheus_client", "grpclib", "bcrypt", "email", "ssl")
print(json.dumps({"kib": kib, "modules": len(sys.modules), "top": [m for m in libs if m in sys.modules]}))
"""


def mib(kib: float | None) -> str:
    return "—" if kib is None else f"{kib / 1024:6.1f}"


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or not b else f"{a / b:5.2f}x"


@dataclass
class Tree:
    label: str
    repo: Path

    @property
    def src(self) -> Path:
        return self.repo / "src"


def baseline_tree(rev: str, workdir: str) -> Tree:
    """``rev``'s ``src/`` exported under ``workdir`` (no worktree), with this tree's built extensions."""
    dest = Path(workdir) / f"baseline-{rev.replace('/', '_')}"
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    # The native reader is built in place and not committed: the baseline uses this tree's build.
    for so in (REPO / "src").rglob("*.so"):
        target = dest / so.relative_to(REPO)
        if not target.exists():
            shutil.copy2(so, target)
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", rev], capture_output=True, text=True)
    return Tree(f"{rev} ({sha.stdout.strip()})", dest)


def import_steps(tree: Tree, python: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(tree.src)}
    out = subprocess.run(
        [python, "-c", PROBE, json.dumps(STEPS)], env=env, cwd=tree.repo, capture_output=True, text=True, check=True
    )
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    app = subprocess.run([python, "-c", APP_ONLY], env=env, cwd=tree.repo, capture_output=True, text=True, check=True)
    oo = subprocess.run(
        [python, "-OO", "-c", APP_ONLY], env=env, cwd=tree.repo, capture_output=True, text=True, check=True
    )
    return rows, {**json.loads(app.stdout), "oo_kib": json.loads(oo.stdout)["kib"]}


def print_imports(trees: list[Tree], python: str) -> dict[str, Any]:
    results = {t.label: import_steps(t, python) for t in trees}
    head = f"{'imports (cumulative, one interpreter per tree)':44}"
    print("\n" + head + "".join(f"{t.label[:22]:>24}" for t in trees) + ("    ratio" if len(trees) > 1 else ""))
    base_rows = results[trees[-1].label][0]
    prev: dict[str, int] = {}
    for i, row in enumerate(results[trees[0].label][0]):
        cells = []
        for t in trees:
            r = results[t.label][0][i]
            delta = r["kib"] - prev.get(t.label, r["kib"])
            prev[t.label] = r["kib"]
            cells.append(f"{mib(r['kib'])} (+{delta / 1024:4.1f}) {r['modules']:4d}m")
        line = f"{row['step'][:44]:44}" + "".join(f"{c:>24}" for c in cells)
        if len(trees) > 1:
            line += f"   {ratio(row['kib'], base_rows[i]['kib'])}"
        if row.get("error"):
            line += f"  ({row['error']})"
        print(line)
    apps = [results[t.label][1] for t in trees]
    for label, key in (
        ("pycadvisor.app alone (a fresh interpreter)", "kib"),
        ("... under -OO (no docstrings)", "oo_kib"),
    ):
        line = f"{label:44}" + "".join(f"{mib(a[key]) + ' ' * 18:>24}" for a in apps)
        if len(trees) > 1:
            line += f"   {ratio(apps[0][key], apps[-1][key])}"
        print(line)
    for t in trees:
        libs = " ".join(results[t.label][1]["top"])
        print(f"  {t.label}: of the libraries in the table, pycadvisor.app imports: {libs}")
    return {label: {"steps": rows, "app": app} for label, (rows, app) in results.items()}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_daemons(trees: list[Tree], args: argparse.Namespace, python: str) -> dict[str, Any]:
    cleanup = Cleanup()
    cleanup.install()
    cg = bench_cgroups(args.containers, cleanup)
    try:
        cg.create()
        print(f"\nmade {args.containers} cgroups under {cg.name}", flush=True)
        flags = args.flags.split()
        if args.only_bench:
            flags += ["-docker_only=true", f"-raw_cgroup_prefix_whitelist={cg.name}"]
        daemons: list[tuple[str, Daemon]] = []
        runs = [(t.label, t, flags) for t in trees]
        if args.heap:
            runs.append(("heap (-profiling)", trees[0], [*flags, "-profiling"]))
        for label, tree, fl in runs:
            d = Daemon(
                label, free_port(), fl, log_path=f"{args.workdir}/{len(daemons)}.log", python=python, repo=tree.repo
            )
            cleanup.push(f"daemon {label}", d.stop)
            d.start()
            daemons.append((label, d))
        for _, d in daemons:
            d.wait_ready()
            d.wait_for(cg.leaf_names(), timeout=120)
        tracked = {label: len(d.container_names()) for label, d in daemons}
        print(f"all daemons track the {args.containers} cgroups ({tracked}); running {args.seconds:.0f} s", flush=True)
        time.sleep(args.seconds)
        before = {label: procfs.memory([d.pid]) for label, d in daemons}
        body = {}
        for label, d in daemons:
            for _ in range(args.scrapes):
                body[label] = len(httpprobe.get(d.port, "/metrics").body)
        time.sleep(2.0)
        after = {label: procfs.memory([d.pid]) for label, d in daemons}
        heap = httpprobe.get(daemons[-1][1].port, "/debug/pprof/heap?top=25").body.decode() if args.heap else None
        for label, d in daemons:
            if not d.alive():
                raise SystemExit(f"{label} exited")
        cols = [label for label, _ in daemons if not label.startswith("heap")]
        print(f"\n{'running daemon, default flags ' + args.flags:44}" + "".join(f"{c[:22]:>24}" for c in cols))
        b = cols[-1]
        for name, table, attr in (
            ("RSS before scrapes (MiB)", before, "rss_kib"),
            ("RSS after scrapes (MiB)", after, "rss_kib"),
            ("PSS after scrapes (MiB)", after, "pss_kib"),
            ("VmHWM (MiB)", after, "hwm_kib"),
        ):
            line = f"{name:44}" + "".join(f"{mib(getattr(table[c], attr)):>24}" for c in cols)
            if len(cols) > 1:
                line += f"   {ratio(getattr(table[cols[0]], attr), getattr(table[b], attr))}"
            print(line)
        print(f"{'containers tracked':44}" + "".join(f"{tracked[c]:>24}" for c in cols))
        print(f"{'/metrics bytes':44}" + "".join(f"{body[c]:>24}" for c in cols))
        if heap is not None:
            print(f"\nheap (-profiling daemon, RSS {mib(after[daemons[-1][0]].rss_kib)} MiB with tracemalloc on):")
            print(heap)
        return {
            c: {
                "rss_before_mib": round(before[c].rss_mib, 2),
                "rss_after_mib": round(after[c].rss_mib, 2),
                "pss_after_mib": round(after[c].pss_mib, 2),
                "hwm_mib": round(after[c].hwm_mib, 2),
                "containers": tracked[c],
                "metrics_bytes": body[c],
            }
            for c in cols
        }
    finally:
        cleanup.run()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", default="main", help="git revision to compare with ('none': this tree only)")
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=130.0, help="run time after every cgroup is tracked")
    ap.add_argument("--scrapes", type=int, default=3)
    ap.add_argument("--flags", default="", help="extra daemon flags, space-separated")
    ap.add_argument("--only-bench", action="store_true", help="watch only the benchmark's cgroups")
    ap.add_argument("--heap", action="store_true", help="also a -profiling daemon: its tracemalloc heap by line")
    ap.add_argument("--imports-only", action="store_true")
    ap.add_argument("--save", help="append the JSON figures to this file")
    args = ap.parse_args()
    python = default_python()
    with tempfile.TemporaryDirectory(prefix="pycad-rss-") as workdir:
        args.workdir = workdir
        trees = [Tree("this tree", REPO)]
        if args.baseline != "none":
            trees.append(baseline_tree(args.baseline, workdir))
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        print(
            f"# bench/rss.py at {head.stdout.strip()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"Python {sys.version.split()[0]}"
        )
        out: dict[str, Any] = {"bench": "rss", "head": head.stdout.strip(), "baseline": args.baseline}
        out["imports"] = print_imports(trees, python)
        if not args.imports_only:
            if os.geteuid() != 0:
                raise SystemExit("rss: run as root for the daemon table (it makes cgroups), or --imports-only")
            out["daemons"] = run_daemons(trees, args, python)
        if args.save:
            with open(args.save, "a") as f:
                f.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
