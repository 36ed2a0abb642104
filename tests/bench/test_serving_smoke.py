"""A smoke run of ``bench/serving.py``: every phase runs end to end, prints its JSON line, and leaves nothing behind.

Not a timed test: the figures are only checked for being present and plausible.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.ci import cannot_run, is_root

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "serving.py"
QUICK = ["--containers", "3", "--warmup", "1", "--clients", "8", "--seconds", "3", "--slow", "10",
         "--slow-seconds", "2", "--probe-seconds", "1", "--idle", "40", "--auth-clients", "4", "--auth-seconds", "3",
         "--bcrypt-cost", "4"]  # fmt: skip


@pytest.mark.root
def test_every_phase_reports_its_figures_and_cleans_up() -> None:
    if not is_root():
        cannot_run("the serving bench needs root (cgroups)")
    if not (REPO / ".venv" / "bin" / "python").exists():
        cannot_run("no .venv: the bench starts the daemon with the project's venv")
    p = subprocess.run(
        [sys.executable, str(SCRIPT), *QUICK], capture_output=True, text=True, timeout=300, cwd=REPO, check=False
    )
    assert p.returncode == 0, f"serving.py failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    doc = json.loads(p.stdout.strip().splitlines()[-1])
    assert doc["clients"] == 8 and doc["gap_max_s"] > 0 and doc["rss_peak_mib"] >= doc["rss_idle_mib"] > 1
    assert doc["answers"] and doc["root_samples_in_window"] >= 1
    assert doc["healthz_p50_ms"] > 0 and doc["slow_connections"] == 10
    assert doc["fdlimit_healthz_ok"] + doc["fdlimit_healthz_failures"] > 0
    assert doc["auth_answers"] and doc["auth_daemon_cpu_pct"] >= 0
    prefixes = re.findall(r"cgroups under (/pycadbench-[0-9a-f]{8})", p.stderr)
    assert prefixes, p.stderr
    for prefix in prefixes:
        left = [c for c in os.listdir("/sys/fs/cgroup") if os.path.isdir(f"/sys/fs/cgroup/{c}{prefix}")]
        assert not left, f"{prefix} left in {left}"


@pytest.mark.root
def test_scrapers_phase_compares_sample_spacing_quiet_and_scraped() -> None:
    if not is_root():
        cannot_run("the serving bench needs root (cgroups)")
    if not (REPO / ".venv" / "bin" / "python").exists():
        cannot_run("no .venv: the bench starts the daemon with the project's venv")
    argv = ["--phases", "scrapers", "--containers", "3", "--warmup", "1", "--scrapers-seconds", "6",
            "--scrape-every", "2"]  # fmt: skip
    p = subprocess.run(
        [sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=300, cwd=REPO, check=False
    )
    assert p.returncode == 0, f"serving.py failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    doc = json.loads(p.stdout.strip().splitlines()[-1])
    # 1 s housekeeping with cAdvisor's jitter: every gap of either window within 1-2 s and a bit.
    for window in ("quiet", "scraped"):
        assert doc[f"{window}_gaps"] >= 4
        assert 0.9 <= doc[f"{window}_gap_p50_s"] <= doc[f"{window}_gap_p99_s"] <= doc[f"{window}_gap_max_s"] < 5
    assert doc["gap_p99_ratio_scraped_vs_quiet"] > 0
    assert doc["scraper_answers"]["/metrics 200"] >= 4 and doc["scraper_answers"]["/api/v1.0/containers/ 200"] >= 3
    prefixes = re.findall(r"cgroups under (/pycadbench-[0-9a-f]{8})", p.stderr)
    assert prefixes, p.stderr
    for prefix in prefixes:
        left = [c for c in os.listdir("/sys/fs/cgroup") if os.path.isdir(f"/sys/fs/cgroup/{c}{prefix}")]
        assert not left, f"{prefix} left in {left}"
