"""Smoke run of ``bench/torture.py``: each quick section runs at a tiny size, prints its JSON line and
leaves no cgroup behind. Not a timed test, and not the suite's reliability checks (tests/reliability)."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

from support.cgroups import host_layout
from support.ci import cannot_run, is_root

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "torture.py"


def test_torture_bench_runs_and_cleans_up() -> None:
    if not is_root():
        cannot_run("the torture bench makes cgroups: it needs root")
    argv = [
        sys.executable,
        str(SCRIPT),
        "--only",
        "fuzz,churn",
        "--fuzz-examples",
        "1",
    ]  # serving: test_serving_smoke.py
    argv += ["--churn-pods", "2", "--churn-batch", "2", "--settle-timeout", "10"]
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    p = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert p.returncode == 0, f"torture.py failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    lines = [json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith("{")]
    by_section = {doc["section"]: doc for doc in lines}
    assert set(by_section) == {"fuzz", "churn"}
    assert by_section["fuzz"]["requests"] > by_section["fuzz"]["operations"] > 0
    assert by_section["churn"]["cgroups"] == 4
    layout = host_layout()
    assert layout is not None
    left = [p for root in layout.unique_roots() for p in glob.glob(f"{root}/pycadtest-*/torture-churn")]
    assert not left, f"torture.py left {left}"
