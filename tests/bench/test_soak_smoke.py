"""A short run of ``bench/soak.py``: cgroups replaced each round, scrapes and the event stream served, every
series sampled, fitted and judged, the daemon isolated from the host's other cgroups, nothing left behind.

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
SCRIPT = REPO / "bench" / "soak.py"


@pytest.mark.root
def test_soak_samples_every_series_while_cgroups_churn_and_cleans_up() -> None:
    if not is_root():
        cannot_run("the soak bench makes cgroups: it needs root")
    if not (REPO / ".venv" / "bin" / "python").exists():
        cannot_run("no .venv: the bench starts the daemon with the project's venv")
    argv = ["--containers", "5", "--replace", "40", "--minutes", "0.34", "--period", "10", "--scrape", "3",
            "--settle", "0", "--log", "/dev/null"]  # fmt: skip
    p = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert p.returncode == 0, f"soak.py failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    doc = json.loads(p.stdout.strip().splitlines()[-1])
    last = doc["last"]
    # Two of the five replaced each round: the newest cgroups are tracked, the removed ones are gone.
    assert last["replaced"] >= 5 + 2 * 2
    assert 5 <= last["containers"] <= 7  # the five, the prefix and "/"
    # Isolated: at the start the daemon tracks exactly the five, the prefix and "/", whatever else the host runs
    # (CI's dockerd containers, other benches), and nothing outside the prefix later.
    assert re.search(r"^containers at start: 7 \(5 of the benchmark's, / and /pycadbench-[0-9a-f]{8}, 0 others\)$",
                     p.stdout, re.M), p.stdout  # fmt: skip
    assert doc["containers_at_start"] == 7 and doc["foreign_max"] == 0
    assert "-event_storage_event_limit=default=" in doc["flags"] and "event store: " in p.stdout
    assert last["rss_mib"] > 1 and last["fds"] > 3 and last["threads"] >= 1 and last["inotify_watches"] >= 5
    assert last["history_entries"] >= last["containers"]
    assert last["stored_events"] > 0 and last["streamed_events"] > 0  # creations and deletions, stored and streamed
    assert doc["scrapes"] >= 5 and doc["scrape_errors"] == 0 and doc["stream_error"] == ""
    series = ("rss_mib", "fds", "threads", "inotify_watches", "history_entries", "stored_events", "containers")
    assert set(doc["slope_per_hour"]) >= set(series)
    for s in series:  # one verdict line per column
        assert re.search(rf"^verdict {s}: (flat|NOT FLAT) \(", p.stdout, re.M), f"no verdict for {s}:\n{p.stdout}"
        assert isinstance(doc["verdicts"][s]["flat"], bool)
    prefixes = re.findall(r"cgroups under (/pycadbench-[0-9a-f]{8})", p.stdout)
    assert prefixes, p.stdout
    for prefix in prefixes:
        left = [c for c in os.listdir("/sys/fs/cgroup") if os.path.isdir(f"/sys/fs/cgroup/{c}{prefix}")]
        assert not left, f"{prefix} left in {left}"
