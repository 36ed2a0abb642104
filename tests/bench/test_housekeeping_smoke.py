"""Smoke run of ``bench/housekeeping.py``: both subjects sample, the JSON line is complete, nothing is left.

Not a timed test: the figures are only checked for being present and plausible.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from support.ci import cannot_run, is_root

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "housekeeping.py"


def test_housekeeping_bench_runs_and_cleans_up() -> None:
    if not is_root():
        cannot_run("the housekeeping bench makes cgroups: it needs root")
    p = subprocess.run(
        [sys.executable, str(SCRIPT), "--containers", "3", "--rounds", "1", "--window", "2", "--warmup", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert p.returncode == 0, f"housekeeping.py failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    doc = json.loads(p.stdout.strip().splitlines()[-1])
    assert doc["bench"] == "housekeeping" and doc["containers"] == 3
    assert doc["manager_samples"] > 0 and doc["floor_samples"] > 0  # both subjects sampled the cgroups
    assert doc["manager_us_per_sample"] > 0 and doc["pread_floor_us_per_sample"] > 0
    assert doc["ratio_vs_pread_floor"] > 0
    prefix = re.search(r"under (/pycadbench-[0-9a-f]{8})", p.stdout)
    assert prefix, p.stdout
    left = [c for c in os.listdir("/sys/fs/cgroup") if os.path.isdir(f"/sys/fs/cgroup/{c}{prefix.group(1)}")]
    assert not left, f"{prefix.group(1)} left in {left}"
