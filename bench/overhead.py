"""pycadvisor's overhead measured from outside, against the floor of collection and against Netdata.

Run as root on the host to measure (nothing is left behind, also on Ctrl-C)::

    sudo .venv/bin/python bench/overhead.py                      # 100 cgroups, 60 s
    sudo .venv/bin/python bench/overhead.py --containers 10,100,1000 --seconds 60
    sudo .venv/bin/python bench/overhead.py --docker 30          # Docker mode: engine CPU idle vs watched

Cgroups mode: N real cgroups ``/pycadbench-<id>/c<i>`` (cpu, cpuacct, cpuset, memory, blkio, pids; or
the cgroup2 tree), one ``sleep`` each. Three subjects watch them in the same window (``--sequential``:
one after the other): pycadvisor with ``-housekeeping_interval=1s -allow_dynamic_housekeeping=false``
(the worst case), pycadvisor with dynamic housekeeping on, and Netdata (cgroups plugin only, 1 s,
overhead_kit/netdata.py). Each runs in its own cpuacct meter cgroup; after a warm-up the script takes, over
``--seconds``: CPU % of one core (meter cgroup, cross-checked with utime+stime of the process tree in
/proc), RSS and PSS (VmRSS, smaps_rollup Pss), the container-samples the daemon took (timestamps in
its history) and so the CPU µs per container-sample. Then ``/metrics`` and
``/api/v2.0/stats/?recursive=true&count=1`` latency (p50, p90 of 20 requests, one connection each)
and size. The floor: the very files the daemon read (strace -y, else its held descriptors), held open
and re-read with pread by a C program compiled now (``bench/floor.c``; Python ``os.pread`` without a
compiler), µs per container-sample.

Docker mode: a private dockerd in its own network namespace, N busybox containers running sleep;
the engine's CPU (dockerd + containerd + shims, without workloads) idle, then while pycadvisor watches.

Each figure is printed with its ratio to the baseline; the last line of each run is one JSON object
(``--save FILE`` appends it). Benchmarks print figures; they are not timed tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from floor import FloorResult, run_floor
from overhead_kit import engine as engine_mod
from overhead_kit import httpprobe, procfs
from overhead_kit import netdata as netdata_mod
from overhead_kit import profile as prof
from overhead_kit.cgroups import BenchCgroups, Layout, cgroup_mountpoints, host_layout, sweep_stale
from overhead_kit.cleanup import Cleanup, Interrupted
from overhead_kit.daemon import (
    Daemon,
    ReadProfile,
    cgroup_of,
    count_samples,
    default_python,
    held_files,
    read_profile,
    trace_reads,
)

METRICS = "/metrics"
STATS = "/api/v2.0/stats/?recursive=true&count=1"
NETDATA_PROM = "/api/v1/allmetrics?format=prometheus"
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def say(msg: str) -> None:
    print(msg, flush=True)


def fmt_ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None or base == 0:
        return "–"
    return f"{value / base:.2f}×"


def ratio(value: float | None, base: float | None) -> float | None:
    return None if value is None or base is None or base == 0 else round(value / base, 3)


def r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


# ---------------------------------------------------------------- subjects


@dataclass
class Subject:
    """One measured process tree: a pycadvisor daemon or Netdata."""

    label: str
    key: str  # "off", "on", "netdata", "engine"
    service: Daemon | netdata_mod.Netdata | engine_mod.Engine
    meter: procfs.TreeMeter
    started_wall_ns: int = 0
    cpu: procfs.CpuUse | None = None
    mem: procfs.Memory | None = None
    mem_after: procfs.Memory | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def daemon(self) -> Daemon:
        assert isinstance(self.service, Daemon)
        return self.service


def window(subjects: list[Subject], seconds: float) -> tuple[int, int]:
    """Measure every subject's CPU over ``seconds`` and its memory at the end; returns the wall window (ns)."""
    table = procfs.scan()
    before = {s.key: s.meter.snapshot(table) for s in subjects}
    t0 = time.time_ns()
    time.sleep(seconds)
    t1 = time.time_ns()
    table = procfs.scan()
    for s in subjects:
        s.cpu = procfs.TreeMeter.use(before[s.key], s.meter.snapshot(table))
        s.mem = procfs.memory(s.meter.pids(table))
    return t0, t1


def source_commit() -> str | None:
    """The repo's commit (``+`` when src/ has local changes): which daemon code the figures belong to."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "-C", repo, "status", "--porcelain", "--", "src"], capture_output=True, text=True
        )
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


def host_facts(layout: Layout | None) -> dict[str, Any]:
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return {
        "commit": source_commit(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "cgroup": f"v{layout.version}" if layout else None,
        "python": platform.python_version(),
        "loadavg": [float(x) for x in load],
    }


# ---------------------------------------------------------------- cgroups mode


@dataclass
class Options:
    containers: list[int]
    seconds: float
    warmup: float
    netdata: bool
    netdata_install: bool
    netdata_plugins: tuple[str, ...]
    dynamic: bool
    sequential: bool
    floor_impl: str
    floor_seconds: float
    floor_rounds: int
    floor_paced_ms: int
    floor_tick_ms: int
    scrapes: int
    python: str
    workdir: str
    profile_dir: str | None
    profile_seconds: int
    strace: bool
    docker: int
    save: str | None
    flags: list[str]


def daemon_flags(dynamic: bool, extra: list[str]) -> list[str]:
    return ["-housekeeping_interval=1s", f"-allow_dynamic_housekeeping={'true' if dynamic else 'false'}", *extra]


def start_daemon(cg: BenchCgroups, key: str, label: str, flags: list[str], opts: Options, cleanup: Cleanup) -> Subject:
    meter_cg = cg.meter(key)
    log = f"{opts.workdir}/{key}-{cg.id}.log"
    d = Daemon(label, free_port(), flags, log_path=log, python=opts.python, preexec=meter_cg.enter)
    cleanup.push(f"stop {label}", d.stop)
    d.start()
    say(f"{label}: pid {d.pid}, port {d.port}")
    return Subject(label, key, d, procfs.TreeMeter(procfs.tree_of(d.pid), meter_cg), started_wall_ns=time.time_ns())


def find_netdata(opts: Options) -> str | None:
    binary = netdata_mod.find_binary()
    if binary is None and opts.netdata_install and os.geteuid() == 0 and shutil.which("apt-get"):
        say("netdata: not installed; apt-get install -y netdata")
        binary = netdata_mod.install()
    return binary


def probe_daemon(s: Subject, opts: Options) -> None:
    d = s.daemon
    m = httpprobe.measure(d.port, METRICS, n=opts.scrapes)
    st = httpprobe.measure(d.port, STATS, n=opts.scrapes)
    s.figures.update(
        metrics_p50_ms=r(m.p50_ms, 2),
        metrics_p90_ms=r(m.p90_ms, 2),
        metrics_bytes=m.bytes,
        stats_p50_ms=r(st.p50_ms, 2),
        stats_p90_ms=r(st.p90_ms, 2),
        stats_bytes=st.bytes,
    )
    s.mem_after = procfs.memory(s.meter.pids())


def profile_daemon(s: Subject, n: int, opts: Options) -> list[str]:
    """py-spy of idle housekeeping, then of back-to-back /metrics and stats requests."""
    assert opts.profile_dir is not None
    py_spy = prof.find_py_spy(opts.python)
    if py_spy is None:
        return ["profile: py-spy not found (pip install py-spy into the venv)"]
    os.makedirs(opts.profile_dir, exist_ok=True)
    secs = opts.profile_seconds
    out: list[str] = []
    rec = prof.Recording(py_spy, s.daemon.pid, secs, f"{opts.profile_dir}/housekeeping-{n}.txt", rate=500)
    title = f"profile: housekeeping, {n} cgroups"
    out += prof.report(title, rec.wait(), seconds=secs, rate=500)
    for name, path in (("metrics", METRICS), ("stats", STATS)):
        stop = threading.Event()
        done = [0]

        def loop(path: str = path, stop: threading.Event = stop, done: list[int] = done) -> None:
            while not stop.is_set():
                httpprobe.get(s.daemon.port, path)
                done[0] += 1

        t = threading.Thread(target=loop, daemon=True)
        rec = prof.Recording(py_spy, s.daemon.pid, secs, f"{opts.profile_dir}/{name}-{n}.txt", rate=200)
        t.start()
        try:
            text = rec.wait()
        finally:
            stop.set()
            t.join(timeout=60)
        title = f"profile: {path} back to back ({done[0]} requests, {done[0] / secs:.1f}/s), {n} cgroups"
        out += prof.report(title, text, seconds=secs, rate=200)
    return out


def run_cgroups(n: int, opts: Options, layout: Layout, cleanup: Cleanup) -> dict[str, Any]:
    say(f"\n=== {n} cgroups, {opts.seconds:.0f} s window, warm-up {opts.warmup:.0f} s ===")
    facts = host_facts(layout)
    cg = BenchCgroups(n, layout)
    cleanup.push(f"remove {cg.name}", cg.close)
    t = time.monotonic()
    cg.create()
    say(f"made {n} cgroups under {cg.name} with one sleep each ({time.monotonic() - t:.1f} s)")
    leaves = cg.leaf_names()

    plan: list[Callable[[], Subject]] = [
        lambda: start_daemon(
            cg, "off", "pycadvisor, dynamic housekeeping off", daemon_flags(False, opts.flags), opts, cleanup
        )
    ]
    if opts.dynamic:
        plan.append(
            lambda: start_daemon(
                cg, "on", "pycadvisor, dynamic housekeeping on", daemon_flags(True, opts.flags), opts, cleanup
            )
        )
    nd_binary = find_netdata(opts) if opts.netdata else None
    if opts.netdata and nd_binary is None:
        say("netdata: not available here; its figures are left out")
    if nd_binary is not None:

        def start_netdata() -> Subject:
            meter_cg = cg.meter("netdata")
            nd = netdata_mod.Netdata(
                nd_binary,
                f"{opts.workdir}/netdata-{cg.id}",
                free_port(),
                plugins=opts.netdata_plugins,
                max_cgroups=n + 1000,
                unified=layout.version == 2,
                preexec=meter_cg.enter,
            )
            cleanup.push("stop netdata", nd.stop)
            nd.start()
            say(f"netdata ({','.join(opts.netdata_plugins)} plugin): pid {nd.pid}, port {nd.port}")
            return Subject("netdata", "netdata", nd, procfs.TreeMeter(procfs.tree_of(nd.pid), meter_cg), time.time_ns())

        plan.append(start_netdata)

    groups = [[p] for p in plan] if opts.sequential else [plan]
    subjects: dict[str, Subject] = {}
    floor_paths: list[str] = []
    reads: ReadProfile | None = None
    profile_lines: list[str] = []
    for group in groups:
        started = [start() for start in group]
        ready_timeout = 60 + n * 0.2
        for s in started:
            if isinstance(s.service, Daemon):
                s.service.wait_ready()
                s.service.wait_for(leaves, timeout=ready_timeout)
            elif isinstance(s.service, netdata_mod.Netdata):
                s.service.wait_ready()
                s.service.wait_for(cg.prefix, n, timeout=ready_timeout)
        say(f"{', '.join(s.label for s in started)}: all {n} cgroups seen; warming up {opts.warmup:.0f} s")
        time.sleep(opts.warmup)
        say(f"measuring {opts.seconds:.0f} s …")
        t0, t1 = window(started, opts.seconds)
        for s in started:
            if isinstance(s.service, Daemon):
                c = count_samples(s.service, leaves, t0_ns=t0, t1_ns=t1)
                assert s.cpu is not None
                s.figures.update(
                    samples=round(c.samples),
                    tracked_containers=c.containers,
                    samples_per_s=r(c.samples / s.cpu.seconds, 2),
                    us_per_container_sample=r(s.cpu.cpu_us / c.samples, 1) if c.samples else None,
                    history_s=round(min((t1 - s.started_wall_ns) / 1e9, 120.0), 1),
                )
        for s in started:
            if s.key == "off":
                if opts.strace and shutil.which("strace"):
                    traced = trace_reads(s.daemon.pid, 4.0, f"{opts.workdir}/strace-{cg.id}.txt")
                    reads = read_profile(traced, cgroup_mountpoints())
                    floor_paths = sorted(traced)
                if not floor_paths:
                    floor_paths = held_files(s.daemon.pid)
                if opts.profile_dir:
                    profile_lines = profile_daemon(s, n, opts)
        for s in started:
            if isinstance(s.service, Daemon):
                probe_daemon(s, opts)
            elif isinstance(s.service, netdata_mod.Netdata):
                lat = httpprobe.measure(s.service.port, NETDATA_PROM, n=opts.scrapes)
                s.figures.update(prometheus_p50_ms=r(lat.p50_ms, 2), prometheus_bytes=lat.bytes)
        for s in started:
            if isinstance(s.service, engine_mod.Engine):
                s.service.cleanup()
            else:
                s.service.stop()
            subjects[s.key] = s

    say(f"floor: {len(floor_paths)} files the daemon read, {opts.floor_rounds} × {opts.floor_seconds:g} s of sweeps")
    floor: FloorResult | None = None
    paced: FloorResult | None = None
    if floor_paths:
        floor = run_floor(
            floor_paths, opts.workdir, seconds=opts.floor_seconds, rounds=opts.floor_rounds, impl=opts.floor_impl
        )
        period_ms = opts.floor_paced_ms or daemon_period_ms(subjects.get("off"))
        if period_ms > 0:
            ticks = max(1, round(period_ms / opts.floor_tick_ms))
            say(f"paced floor: every file once per {period_ms} ms in {ticks} wake-ups, 3 × 10 periods")
            paced = run_floor(
                by_container(floor_paths, cgroup_mountpoints()),
                opts.workdir,
                rounds=3,
                impl=opts.floor_impl,
                pause_ms=period_ms,
                ticks=ticks,
            )
    facts_end = host_facts(layout)
    result = compose(n, opts, subjects, floor, floor_per_sample_us(floor, floor_paths, reads), reads, facts, facts_end)
    if paced is not None:
        paced_us = floor_per_sample_us(paced, floor_paths, reads)
        result["floor_paced_us_per_container_sample"] = r(paced_us, 2)
        result["cost_ratio_vs_paced_floor"] = ratio(result["us_per_container_sample"], paced_us)
        result["floor_paced_ticks"] = paced.ticks
        result["floor_paced_ms"] = paced.pause_ms
        result["budget"] = budget(result)
    print_report(result, subjects, floor)
    for line in profile_lines:
        say(line)
    cg.close()
    return result


def by_container(paths: list[str], mounts: list[str]) -> list[str]:
    """``paths`` ordered by (cgroup, path), files outside the cgroup mounts last.

    The paced floor reads one contiguous slice per wake-up, as a daemon tick samples some whole
    containers; sorted by path alone the slices would be controllers, not containers.
    """

    def key(p: str) -> tuple[bool, str, str]:
        cg = cgroup_of(p, mounts)
        return (cg is None, cg or "", p)

    return sorted(paths, key=key)


def daemon_period_ms(subject: Subject | None) -> int:
    """How often the daemon sampled each container on average, in ms (0 if unknown).

    With cAdvisor's jitter a container is sampled every 1–2 s at a 1 s interval (about 1.6 s on
    average), not every second; the paced floor reads each container as often, so that both spread
    their wake-ups over the same number of samples.
    """
    if subject is None:
        return 0
    rate, tracked = subject.figures.get("samples_per_s"), subject.figures.get("tracked_containers")
    if not rate or not tracked:
        return 0
    return round(1000 * float(tracked) / float(rate))


def floor_per_sample_us(floor: FloorResult | None, paths: list[str], reads: ReadProfile | None) -> float | None:
    """The floor's CPU per container-sample of the daemon's own mix of reads.

    With a trace: the floor's cost per read times the reads the daemon made per container-sample
    (files of cgroups that vanished between the trace and the floor are left out of both). Without
    one: a floor sweep of the held files divided by the cgroups they belong to.
    """
    if floor is None or floor.files == 0:
        return None
    if reads is not None:
        return floor.median_sweep_ns / floor.files * reads.reads_per_container_sample / 1000
    mounts = cgroup_mountpoints()
    cgroups = {c for p in paths if (c := cgroup_of(p, mounts)) is not None}
    return floor.median_sweep_ns / max(len(cgroups), 1) / 1000


def compose(
    n: int,
    opts: Options,
    subjects: dict[str, Subject],
    floor: FloorResult | None,
    floor_us: float | None,
    reads: ReadProfile | None,
    facts: dict[str, Any],
    facts_end: dict[str, Any],
) -> dict[str, Any]:
    off = subjects["off"]
    on = subjects.get("on")
    nd = subjects.get("netdata")
    assert off.cpu is not None and off.mem is not None
    nd_cpu = nd.cpu.pct if nd and nd.cpu else None
    nd_rss = nd.mem.rss_mib if nd and nd.mem else None
    out: dict[str, Any] = {
        "bench": "overhead",
        "mode": "cgroups",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "containers": n,
        "seconds": opts.seconds,
        "warmup": opts.warmup,
        "concurrent": not opts.sequential,
        "cpu_pct": r(off.cpu.pct),
        "us_per_container_sample": off.figures.get("us_per_container_sample"),
        "rss_mib": r(off.mem.rss_mib, 1),
        "pss_mib": r(off.mem.pss_mib, 1),
        "metrics_p50_ms": off.figures.get("metrics_p50_ms"),
        "metrics_bytes": off.figures.get("metrics_bytes"),
        "stats_p50_ms": off.figures.get("stats_p50_ms"),
        "floor_us_per_container_sample": r(floor_us, 2),
        "netdata_cpu_pct": r(nd_cpu),
        "netdata_rss_mib": r(nd_rss, 1),
        "cpu_ratio_vs_netdata": ratio(off.cpu.pct, nd_cpu),
        "cost_ratio_vs_floor": ratio(off.figures.get("us_per_container_sample"), floor_us),
        # beyond the keys
        "cpu_pct_ticks": r(off.cpu.pct_ticks),
        "samples": off.figures.get("samples"),
        "samples_per_s": off.figures.get("samples_per_s"),
        "tracked_containers": off.figures.get("tracked_containers"),
        "history_s": off.figures.get("history_s"),
        "hwm_mib": r(off.mem.hwm_mib, 1),
        "rss_after_probes_mib": r(off.mem_after.rss_mib, 1) if off.mem_after else None,
        "metrics_p90_ms": off.figures.get("metrics_p90_ms"),
        "stats_p90_ms": off.figures.get("stats_p90_ms"),
        "stats_bytes": off.figures.get("stats_bytes"),
        "rss_ratio_vs_netdata": ratio(off.mem.rss_mib, nd_rss),
    }
    if floor is not None:
        out.update(
            floor_impl=floor.impl,
            floor_files=floor.files,
            floor_unopened=floor.unopened,
            floor_ns_per_read=r(floor.median_sweep_ns / max(floor.files, 1), 1),
            reads_per_container_sample=r(reads.reads_per_container_sample, 2) if reads else None,
        )
    if on is not None and on.cpu is not None and on.mem is not None:
        out.update(
            dyn_cpu_pct=r(on.cpu.pct),
            dyn_us_per_container_sample=on.figures.get("us_per_container_sample"),
            dyn_samples=on.figures.get("samples"),
            dyn_rss_mib=r(on.mem.rss_mib, 1),
            dyn_pss_mib=r(on.mem.pss_mib, 1),
            dyn_metrics_p50_ms=on.figures.get("metrics_p50_ms"),
            dyn_stats_p50_ms=on.figures.get("stats_p50_ms"),
            dyn_cpu_ratio_vs_netdata=ratio(on.cpu.pct, nd_cpu),
        )
    if nd is not None and nd.mem is not None and nd.cpu is not None:
        out.update(
            netdata_pss_mib=r(nd.mem.pss_mib, 1),
            netdata_cpu_pct_ticks=r(nd.cpu.pct_ticks),
            netdata_prometheus_p50_ms=nd.figures.get("prometheus_p50_ms"),
            netdata_prometheus_bytes=nd.figures.get("prometheus_bytes"),
            # issue 18: our /metrics against Netdata's Prometheus export of the same cgroups, same window
            metrics_ratio_vs_netdata=ratio(off.figures.get("metrics_p50_ms"), nd.figures.get("prometheus_p50_ms")),
            netdata_plugins=",".join(opts.netdata_plugins),
        )
    out["budget"] = budget(out)
    if opts.python != default_python():
        out["daemon_python"] = opts.python
    out["host"] = {**facts, "loadavg_end": facts_end["loadavg"]}
    return out


def budget(f: dict[str, Any]) -> dict[str, bool | None]:
    """Issue 6 §3: at 100 containers and at 1000 (None: figure missing)."""

    def le(key: str, limit: float) -> bool | None:
        v = f.get(key)
        return None if v is None else bool(v <= limit)

    n = f["containers"]
    if n == 100:
        return {
            "cpu_ratio_vs_netdata<=1": le("cpu_ratio_vs_netdata", 1.0),
            # The floor on the daemon's own schedule (wake-ups, sampling rate, cold caches): the C reader
            # back to back is a throughput bound that no 1 s collector reaches; the paced C reader itself
            # costs 2-3x it here. cost_ratio_vs_floor (back to back) is reported beside it.
            "cost_ratio_vs_paced_floor<=3": le("cost_ratio_vs_paced_floor", 3.0),
            "rss_mib<=64": le("rss_mib", 64.0),
            "metrics_p50_ms<=20": le("metrics_p50_ms", 20.0),
            "metrics_ratio_vs_netdata<=1": le("metrics_ratio_vs_netdata", 1.0),
        }
    if n >= 1000:
        return {
            "rss_mib<=200": le("rss_mib", 200.0),
            "metrics_p50_ms<=200": le("metrics_p50_ms", 200.0),
            "metrics_ratio_vs_netdata<=1": le("metrics_ratio_vs_netdata", 1.0),
        }
    return {}


def print_report(f: dict[str, Any], subjects: dict[str, Subject], floor: FloorResult | None) -> None:
    def v(x: float | None, unit: str = "", digits: int = 2) -> str:
        return "–" if x is None else f"{x:.{digits}f}{unit}"

    nd = subjects.get("netdata")
    paced_ms, ticks = f.get("floor_paced_ms"), f.get("floor_paced_ticks")
    wakeups = v(ticks * 1000 / paced_ms, "", 0) if paced_ms and ticks else "–"
    say(
        f"\n--- {f['containers']} cgroups; pycadvisor tracks {f['tracked_containers']} containers; "
        f"{f['seconds']:.0f} s window{' (subjects ran together)' if f['concurrent'] else ''} ---"
    )
    nd_txt = f"Netdata {v(f['netdata_cpu_pct'], ' %')}" if nd else "no Netdata"
    floor_txt = (
        f"floor {v(f['floor_us_per_container_sample'], ' µs', 1)} ({floor.impl} pread, {floor.files} files)"
        if floor
        else "no floor"
    )
    rows = [
        ("CPU, % of one core", v(f["cpu_pct"], " %", 3), f"{fmt_ratio(f['cpu_pct'], f['netdata_cpu_pct'])} {nd_txt}"),
        (
            "CPU per container-sample",
            v(f["us_per_container_sample"], " µs", 1),
            f"{fmt_ratio(f['us_per_container_sample'], f['floor_us_per_container_sample'])} {floor_txt}",
        ),
        (
            "",
            "",
            f"{fmt_ratio(f['us_per_container_sample'], f.get('floor_paced_us_per_container_sample'))} paced floor "
            f"{v(f.get('floor_paced_us_per_container_sample'), ' µs', 1)} (the daemon's schedule: "
            f"{wakeups} wake-ups a second, wake-ups counted)",
        ),
        (
            "RSS (PSS)",
            f"{v(f['rss_mib'], '', 1)} ({v(f['pss_mib'], '', 1)}) MiB",
            f"{fmt_ratio(f['rss_mib'], f['netdata_rss_mib'])} Netdata {v(f['netdata_rss_mib'], '', 1)} "
            f"({v(f.get('netdata_pss_mib'), '', 1)}) MiB"
            if nd
            else "",
        ),
        ("samples in window", f"{f['samples']} ({v(f['samples_per_s'], '/s', 1)})", f"history {f['history_s']} s"),
        (
            "/metrics p50, p90",
            f"{v(f['metrics_p50_ms'], '', 1)}, {v(f['metrics_p90_ms'], ' ms', 1)}",
            f"{f['metrics_bytes']:,} B; {fmt_ratio(f['metrics_p50_ms'], f.get('netdata_prometheus_p50_ms'))} "
            f"Netdata allmetrics {v(f.get('netdata_prometheus_p50_ms'), ' ms', 1)}, "
            f"{f.get('netdata_prometheus_bytes') or 0:,} B"
            if nd
            else f"{f['metrics_bytes']:,} B",
        ),
        (
            "/api/v2.0/stats p50, p90",
            f"{v(f['stats_p50_ms'], '', 1)}, {v(f['stats_p90_ms'], ' ms', 1)}",
            f"{f['stats_bytes']:,} B",
        ),
    ]
    if "dyn_cpu_pct" in f:
        rows += [
            (
                "dynamic on: CPU",
                v(f["dyn_cpu_pct"], " %", 3),
                f"{fmt_ratio(f['dyn_cpu_pct'], f['netdata_cpu_pct'])} {nd_txt}",
            ),
            (
                "dynamic on: per sample",
                v(f["dyn_us_per_container_sample"], " µs", 1),
                f"{f['dyn_samples']} samples; RSS {v(f['dyn_rss_mib'], ' MiB', 1)}",
            ),
        ]
    say(f"{'':26} {'pycadvisor':>22}   vs baseline")
    for name, val, base in rows:
        say(f"{name:26} {val:>22}   {base}")
    if f["budget"]:
        say(
            "budget (issue 6): "
            + ", ".join(f"{k} {'ok' if ok else ('FAIL' if ok is False else 'n/a')}" for k, ok in f["budget"].items())
        )


def print_scaling(results: list[dict[str, Any]]) -> None:
    """Growth per container from the smallest size: 1.0 = linear."""
    if len(results) < 2:
        return
    base = results[0]
    say(f"\n--- scaling from {base['containers']} cgroups (per-container figures; 1.00 = linear growth) ---")
    for res in results:
        k = res["tracked_containers"] / base["tracked_containers"]

        def g(key: str, res: dict[str, Any] = res, k: float = k) -> str:
            a, b = base.get(key), res.get(key)
            per = 1.0 if key == "us_per_container_sample" else k  # already a per-container figure
            return "–" if not a or b is None else f"{b / a / per:.2f}"

        say(
            f"{res['containers']:>6} cgroups: CPU {g('cpu_pct')}, µs/sample {g('us_per_container_sample')}, "
            f"RSS {g('rss_mib')}, /metrics p50 {g('metrics_p50_ms')}, bytes {g('metrics_bytes')}"
        )


# ---------------------------------------------------------------- Docker mode


def run_docker(n: int, opts: Options, layout: Layout, cleanup: Cleanup) -> dict[str, Any]:
    why = engine_mod.missing_requirements()
    if why:
        raise SystemExit(f"docker mode: {why}")
    say(f"\n=== Docker mode: {n} containers, {opts.seconds:.0f} s windows ===")
    facts = host_facts(layout)
    cg = BenchCgroups(0, layout)
    cleanup.push(f"remove {cg.name}", cg.close)
    cg.create()
    say(f"meter cgroups under {cg.name}")
    meter_engine = cg.meter("engine")
    eng = engine_mod.Engine(preexec=meter_engine.enter)
    cleanup.push("remove the private docker engine", eng.cleanup)
    eng.start()
    t = time.monotonic()
    ids = eng.run_sleepers(n)
    say(f"dockerd {eng.pid} in netns {eng.netns}: {n} busybox containers running sleep ({time.monotonic() - t:.1f} s)")
    engine = Subject("engine", "engine", eng, procfs.TreeMeter(eng.engine_pids, meter_engine))
    time.sleep(opts.warmup)
    say(f"engine idle: measuring {opts.seconds:.0f} s …")
    window([engine], opts.seconds)
    idle = engine.cpu
    idle_mem = engine.mem
    off = start_daemon(
        cg, "off", "pycadvisor (docker)", daemon_flags(False, [f"-docker={eng.endpoint}", *opts.flags]), opts, cleanup
    )
    names = [f"/docker/{i}" for i in ids]
    off.daemon.wait_ready()
    off.daemon.wait_for(names, timeout=60 + n)
    time.sleep(opts.warmup)
    say(f"engine with pycadvisor watching: measuring {opts.seconds:.0f} s …")
    t0, t1 = window([engine, off], opts.seconds)
    c = count_samples(off.daemon, names, t0_ns=t0, t1_ns=t1)
    probe_daemon(off, opts)
    off.daemon.stop()
    eng.cleanup()
    assert idle is not None and engine.cpu is not None and off.cpu is not None and off.mem is not None
    facts_end = host_facts(layout)
    out: dict[str, Any] = {
        "bench": "overhead",
        "mode": "docker",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "containers": n,
        "seconds": opts.seconds,
        "cpu_pct": r(off.cpu.pct),
        "us_per_container_sample": r(off.cpu.cpu_us / c.samples, 1) if c.samples else None,
        "rss_mib": r(off.mem.rss_mib, 1),
        "pss_mib": r(off.mem.pss_mib, 1),
        "metrics_p50_ms": off.figures.get("metrics_p50_ms"),
        "metrics_bytes": off.figures.get("metrics_bytes"),
        "stats_p50_ms": off.figures.get("stats_p50_ms"),
        "samples": round(c.samples),
        "tracked_containers": c.containers,
        "engine_idle_cpu_pct": r(idle.pct),
        "engine_cpu_pct": r(engine.cpu.pct),
        "engine_delta_pct": r(engine.cpu.pct - idle.pct),
        "engine_ratio_vs_idle": ratio(engine.cpu.pct, idle.pct),
        "engine_idle_cpu_pct_ticks": r(idle.pct_ticks),
        "engine_cpu_pct_ticks": r(engine.cpu.pct_ticks),
        "engine_rss_mib": r(idle_mem.rss_mib, 1) if idle_mem else None,
        "host": {**facts, "loadavg_end": facts_end["loadavg"]},
    }
    say(f"\n--- Docker mode: {n} containers; pycadvisor tracks {c.containers} containers ---")
    say(
        f"pycadvisor CPU           {out['cpu_pct']:.3f} %  ({out['us_per_container_sample']} µs per container-sample, "
        f"{out['samples']} samples)"
    )
    say(f"pycadvisor RSS (PSS)     {out['rss_mib']} ({out['pss_mib']}) MiB")
    say(
        f"engine CPU idle          {out['engine_idle_cpu_pct']:.3f} %  (dockerd + containerd + shims; /proc ticks "
        f"{out['engine_idle_cpu_pct_ticks']:.3f} %)"
    )
    say(
        f"engine CPU watched       {out['engine_cpu_pct']:.3f} %  "
        f"{fmt_ratio(out['engine_cpu_pct'], out['engine_idle_cpu_pct'])} idle (delta {out['engine_delta_pct']:+.3f} %)"
    )
    say(
        f"/metrics p50             {out['metrics_p50_ms']} ms, {out['metrics_bytes']:,} B; "
        f"stats p50 {out['stats_p50_ms']} ms"
    )
    cg.close()
    return out


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> Options:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--containers", default="100", help="cgroups to make, or a comma list of sizes (10,100,1000)")
    ap.add_argument("--seconds", type=float, default=60.0, help="measured window (default 60)")
    ap.add_argument("--warmup", type=float, default=10.0, help="after every subject sees every cgroup (default 10)")
    ap.add_argument("--no-netdata", dest="netdata", action="store_false", help="leave the Netdata baseline out")
    ap.add_argument(
        "--no-netdata-install",
        dest="netdata_install",
        action="store_false",
        help="do not apt-get install netdata when it is missing",
    )
    ap.add_argument(
        "--netdata-plugins", default="cgroups", help="netdata plugins to enable (default cgroups; e.g. cgroups,proc)"
    )
    ap.add_argument(
        "--no-dynamic", dest="dynamic", action="store_false", help="leave the dynamic-housekeeping daemon out"
    )
    ap.add_argument("--sequential", action="store_true", help="measure the subjects one at a time instead of together")
    ap.add_argument("--floor-impl", choices=("auto", "c", "python"), default="auto")
    ap.add_argument("--floor-seconds", type=float, default=2.0)
    ap.add_argument("--floor-rounds", type=int, default=5)
    ap.add_argument(
        "--floor-paced-ms",
        type=int,
        default=0,
        help="paced floor: every file once per this many ms (default: as often as the daemon sampled each "
        "container on average, about 1.6 s at a 1 s interval with cAdvisor's jitter); -1: skip",
    )
    ap.add_argument(
        "--floor-tick-ms",
        type=int,
        default=250,
        help="paced floor: one wake-up per this many ms, each reading a slice of the containers (default 250: "
        "the daemon's tick at a 1 s interval is a quarter of it)",
    )
    ap.add_argument(
        "--no-strace",
        dest="strace",
        action="store_false",
        help="take the floor's files from the daemon's held fds instead of an strace of its reads",
    )
    ap.add_argument("--scrapes", type=int, default=20, help="timed requests per endpoint (default 20)")
    ap.add_argument("--python", default=None, help="interpreter for the daemon (default: the repo's .venv)")
    ap.add_argument("--profile", dest="profile_dir", default=None, help="py-spy the daemon after the window into DIR")
    ap.add_argument("--profile-seconds", type=int, default=20)
    ap.add_argument("--docker", type=int, default=0, metavar="N", help="Docker mode with N containers (e.g. 30)")
    ap.add_argument("--save", default=None, help="append each JSON line to this file")
    ap.add_argument("--workdir", default=None, help="logs and temp files (default: a temp dir, removed)")
    ap.add_argument("--flag", dest="flags", action="append", default=[], help="extra daemon flag, e.g. --flag=-v=1")
    a = ap.parse_args(argv)
    sizes = [int(x) for x in str(a.containers).split(",") if x.strip()]
    if not sizes or min(sizes) < 1:
        ap.error("--containers needs sizes >= 1")
    return Options(
        containers=sizes,
        seconds=a.seconds,
        warmup=a.warmup,
        netdata=a.netdata,
        netdata_install=a.netdata_install,
        netdata_plugins=tuple(p.strip() for p in a.netdata_plugins.split(",") if p.strip()),
        dynamic=a.dynamic,
        sequential=a.sequential,
        floor_impl=a.floor_impl,
        floor_seconds=a.floor_seconds,
        floor_rounds=a.floor_rounds,
        floor_paced_ms=a.floor_paced_ms,
        floor_tick_ms=a.floor_tick_ms,
        scrapes=a.scrapes,
        python=a.python or default_python(),
        workdir=a.workdir or "",
        profile_dir=a.profile_dir,
        profile_seconds=a.profile_seconds,
        strace=a.strace,
        docker=a.docker,
        save=a.save,
        flags=a.flags,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    if os.geteuid() != 0:
        print("overhead: run as root (it makes cgroups and starts services)", file=sys.stderr)
        return 2
    layout = host_layout()
    if layout is None:
        print("overhead: no cgroup hierarchy mounted", file=sys.stderr)
        return 2
    keep = bool(opts.workdir)
    if not opts.workdir:
        opts = dataclasses.replace(opts, workdir=tempfile.mkdtemp(prefix="pycadbench-"))
    os.makedirs(opts.workdir, exist_ok=True)
    stale = sweep_stale(layout)
    if stale:
        say(f"removed stale benchmark cgroups: {' '.join(stale)}")
    results: list[dict[str, Any]] = []
    with Cleanup() as cleanup:
        if not keep:
            cleanup.push("remove the work dir", lambda: shutil.rmtree(opts.workdir, ignore_errors=True))
        try:
            runs: list[Callable[[], dict[str, Any]]]
            if opts.docker:
                runs = [lambda: run_docker(opts.docker, opts, layout, cleanup)]
            else:
                runs = [functools.partial(run_cgroups, n, opts, layout, cleanup) for n in opts.containers]
            for run in runs:
                res = run()
                results.append(res)
                if opts.save:
                    with open(opts.save, "a") as f:
                        f.write(json.dumps(res, separators=(",", ":")) + "\n")
            print_scaling(results)
            say("")
            for res in results:  # the output ends with one JSON line per run
                say(json.dumps(res, separators=(",", ":")))
        except Interrupted as e:
            print(f"\noverhead: {e}; cleaning up", file=sys.stderr)
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
