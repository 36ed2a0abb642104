"""Smoke runs of ``bench/overhead.py``: it works end to end, prints its JSON line, and leaves nothing behind.

These are not timed tests: the figures are only checked for being present and plausible (a
daemon that sampled nothing, or a floor that read nothing, fails). They need root, cgroups and
the project's venv; Netdata and the Docker engine where installed (under ``CI=true`` a missing
part is a failure).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from support.ci import cannot_run, is_root

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
SCRIPT = BENCH / "overhead.py"
CGROUP_ROOT = "/sys/fs/cgroup"
ISSUE_KEYS = (
    "containers", "seconds", "cpu_pct", "us_per_container_sample", "rss_mib", "pss_mib", "metrics_p50_ms",
    "metrics_bytes", "stats_p50_ms", "floor_us_per_container_sample", "netdata_cpu_pct", "netdata_rss_mib",
    "cpu_ratio_vs_netdata", "cost_ratio_vs_floor",
)  # fmt: skip
QUICK = ["--seconds", "3", "--warmup", "1", "--floor-seconds", "0.2", "--floor-rounds", "1",
         "--floor-paced-ms", "50", "--scrapes", "2"]  # fmt: skip

sys.path.insert(0, str(BENCH))  # the bench is standalone scripts, not a package


def _require_root_and_cgroups() -> None:
    if not is_root():
        cannot_run("the overhead bench needs root (cgroups, services)")
    from overhead_kit.cgroups import host_layout

    if host_layout() is None:
        cannot_run("no cgroup hierarchy mounted")
    if not (REPO / ".venv" / "bin" / "python").exists():
        cannot_run("no .venv: the bench starts the daemon with the project's venv")


def _run(args: list[str], timeout: float = 600) -> tuple[str, dict[str, Any]]:
    p = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)
    assert p.returncode == 0, f"overhead.py failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    last = p.stdout.strip().splitlines()[-1]
    return p.stdout, json.loads(last)


def _prefixes(out: str) -> list[str]:
    return re.findall(r"under (/pycadbench-[0-9a-f]{8})", out)


def _pids(out: str) -> list[int]:
    return [int(x) for x in re.findall(r": pid (\d+), port \d+", out)]


def _assert_nothing_left(out: str) -> None:
    prefixes = _prefixes(out)
    assert prefixes, out
    for prefix in prefixes:
        left = [c for c in os.listdir(CGROUP_ROOT) if os.path.isdir(f"{CGROUP_ROOT}/{c}{prefix}")]
        assert not left, f"{prefix} left in {left}"
        assert not os.path.exists(f"/run/pycadbench/{prefix.rsplit('-', 1)[1]}")
    for pid in _pids(out):
        assert not os.path.exists(f"/proc/{pid}"), f"pid {pid} still running"


def _plausible(doc: dict[str, Any], n: int) -> None:
    for key in ISSUE_KEYS:
        assert key in doc, key
    assert doc["containers"] == n
    assert doc["samples"] > 0
    assert doc["tracked_containers"] >= n
    assert doc["cpu_pct"] > 0
    assert doc["us_per_container_sample"] > 0
    assert 1 < doc["rss_mib"] < 4096
    assert 0 < doc["pss_mib"] <= doc["rss_mib"] + 1
    assert doc["metrics_bytes"] > 1000
    assert doc["metrics_p50_ms"] > 0 and doc["stats_p50_ms"] > 0
    assert doc["floor_us_per_container_sample"] > 0
    assert doc["cost_ratio_vs_floor"] > 0
    assert doc["floor_files"] >= n  # at least one file per benchmark cgroup was read by the daemon


# ---------------------------------------------------------------- end to end


@pytest.mark.root
def test_cgroups_mode_measures_both_daemons_and_the_floor_and_cleans_up() -> None:
    _require_root_and_cgroups()
    out, doc = _run(["--containers", "4", "--no-netdata", *QUICK])
    _plausible(doc, 4)
    assert doc["netdata_cpu_pct"] is None and doc["cpu_ratio_vs_netdata"] is None
    assert doc["dyn_samples"] > 0 and doc["dyn_cpu_pct"] > 0
    assert doc["floor_paced_us_per_container_sample"] > 0
    assert "CPU per container-sample" in out and "× floor" in out
    _assert_nothing_left(out)


@pytest.mark.root
def test_netdata_baseline_watches_the_same_cgroups() -> None:
    _require_root_and_cgroups()
    from overhead_kit import netdata

    if netdata.find_binary() is None:
        cannot_run("netdata not installed (apt-get install netdata)")
    out, doc = _run(["--containers", "3", "--no-dynamic", "--no-netdata-install", *QUICK])
    _plausible(doc, 3)
    assert doc["netdata_cpu_pct"] > 0
    assert doc["netdata_rss_mib"] > 1
    assert doc["cpu_ratio_vs_netdata"] == pytest.approx(doc["cpu_pct"] / doc["netdata_cpu_pct"], rel=0.01)
    assert doc["netdata_prometheus_bytes"] > 0
    # issue 18: our /metrics time against Netdata's export of the same cgroups, and its budget line
    assert doc["metrics_ratio_vs_netdata"] == pytest.approx(
        doc["metrics_p50_ms"] / doc["netdata_prometheus_p50_ms"], rel=0.01
    )
    assert "Netdata" in out
    _assert_nothing_left(out)


@pytest.mark.root
def test_two_sizes_print_a_scaling_summary_and_one_json_line_each() -> None:
    _require_root_and_cgroups()
    out, _ = _run(["--containers", "2,5", "--no-netdata", "--no-dynamic", "--no-strace", *QUICK])
    docs = [json.loads(line) for line in out.strip().splitlines()[-2:]]
    assert [d["containers"] for d in docs] == [2, 5]
    assert "scaling from 2 cgroups" in out
    _assert_nothing_left(out)


@pytest.mark.root
def test_ctrl_c_removes_everything() -> None:
    _require_root_and_cgroups()
    p = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--containers", "5", "--no-netdata", "--seconds", "600", "--warmup", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    assert p.stdout is not None
    out = ""
    try:
        for line in p.stdout:
            out += line
            if line.startswith("measuring"):
                break
        assert "measuring" in out, out
        p.send_signal(signal.SIGINT)
        rest, _ = p.communicate(timeout=120)
        out += rest
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, out
    _assert_nothing_left(out)


@pytest.mark.root
def test_docker_mode_engine_idle_and_watched() -> None:
    _require_root_and_cgroups()
    from overhead_kit import engine

    why = engine.missing_requirements()
    if why:
        cannot_run(f"docker mode: {why}")
    out, doc = _run(["--docker", "2", "--seconds", "3", "--warmup", "1", "--scrapes", "2"])
    assert doc["mode"] == "docker" and doc["containers"] == 2
    assert doc["samples"] > 0 and doc["cpu_pct"] > 0
    assert doc["engine_idle_cpu_pct"] is not None and doc["engine_cpu_pct"] is not None
    dockerd = int(re.findall(r"dockerd (\d+) in netns (pycadbench-d-[0-9a-f]+)", out)[0][0])
    netns = re.findall(r"dockerd \d+ in netns (pycadbench-d-[0-9a-f]+)", out)[0]
    assert not os.path.exists(f"/proc/{dockerd}")
    assert not os.path.exists(f"/run/netns/{netns}")
    assert not os.path.exists(f"/tmp/{netns}")  # the engine's data and exec roots
    _assert_nothing_left(out)


# ---------------------------------------------------------------- pure parts


def test_rfc3339_timestamps_of_the_api_parse_to_epoch_ns() -> None:
    from overhead_kit.daemon import parse_rfc3339_ns

    for ts in ("2026-11-27T03:34:13.98488438Z", "2024-02-29T23:59:59Z", "1970-01-01T00:00:00.000000001Z"):
        base, _, frac = ts[:-1].partition(".")
        want = int(dt.datetime.fromisoformat(base).replace(tzinfo=dt.UTC).timestamp()) * 10**9
        want += int((frac + "000000000")[:9])
        assert parse_rfc3339_ns(ts) == want


def test_strace_reads_count_per_file_and_samples_per_cgroup() -> None:
    from overhead_kit.daemon import parse_strace_reads, read_profile

    trace = "\n".join(
        [
            '101 pread64(17</sys/fs/cgroup/memory/a/memory.stat>, ""..., 65536, 0) = 900',
            '101 pread64(18</sys/fs/cgroup/memory/a/memory.usage_in_bytes>, ""..., 65536, 0) = 7',
            '101 pread64(17</sys/fs/cgroup/memory/a/memory.stat>, ""..., 65536, 0) = 900',
            '101 pread64(18</sys/fs/cgroup/memory/a/memory.usage_in_bytes>, ""..., 65536, 0) = 7',
            '101 pread64(19</sys/fs/cgroup/cpuacct/b/cpuacct.stat>, ""..., 65536, 0) = 20',
            '101 read(5<socket:[123]>, ""..., 1024) = 10',
            '101 read(21</proc/42/net/dev>, ""..., 65536) = 600',
        ]
    )
    reads = parse_strace_reads(trace)
    assert reads == {
        "/sys/fs/cgroup/memory/a/memory.stat": 2,
        "/sys/fs/cgroup/memory/a/memory.usage_in_bytes": 2,
        "/sys/fs/cgroup/cpuacct/b/cpuacct.stat": 1,
        "/proc/42/net/dev": 1,
    }
    prof = read_profile(reads, ["/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpuacct"])
    assert (prof.containers, prof.container_samples) == (2, 3)  # /a sampled twice, /b once
    assert prof.reads_per_container_sample == pytest.approx(6 / 3)


def test_netdata_config_reads_v1_cgroups_on_hybrid_hosts_and_only_listens_on_loopback() -> None:
    from overhead_kit.netdata import config_text

    text = config_text("/w", 19999, plugins=("cgroups",), max_cgroups=2000, unified=False)
    assert "use unified cgroups = no" in text
    assert "bind to = 127.0.0.1:19999" in text
    assert "  cgroups = yes" in text and "  proc = no" in text and "  apps = no" in text
    assert "max cgroups to allow = 2000" in text


def test_py_spy_summary_leaves_idle_event_loop_samples_out() -> None:
    from overhead_kit.profile import summarize

    text = "\n".join(
        [
            "run (asyncio/runners.py:1);select (selectors.py:469) 80",
            "run (asyncio/runners.py:1);collect (/x/src/pycadvisor/c.py:10);_pread (/x/src/pycadvisor/f.py:5) 15",
            "run (asyncio/runners.py:1);collect (/x/src/pycadvisor/c.py:12) 5",
        ]
    )
    busy, frames = summarize(text)
    assert busy == 20
    by = {f.name: f for f in frames}
    assert by["collect (pycadvisor/c.py)"].total_samples == 20
    assert by["collect (pycadvisor/c.py)"].self_samples == 5
    assert by["_pread (pycadvisor/f.py)"].self_samples == 15


def test_floor_reads_held_files_in_c_and_in_python(tmp_path: Path) -> None:
    from floor import run_floor

    files = []
    for i in range(3):
        f = tmp_path / f"f{i}"
        f.write_bytes(b"x" * (100 + i))
        files.append(str(f))
    impls = ["python"]
    from floor import compile_c

    if compile_c(str(tmp_path)) is not None:
        impls.append("c")
    for impl in impls:
        res = run_floor([*files, str(tmp_path / "missing")], str(tmp_path), seconds=0.05, rounds=2, impl=impl)
        assert (res.impl, res.files, res.unopened, res.read_errors) == (impl, 3, 1, 0)
        assert res.bytes_per_sweep == 303
        assert res.sweeps >= 20 and res.median_sweep_ns > 0
