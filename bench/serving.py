"""Serving under load and under stalling clients: does sampling keep its schedule, does memory stay bounded?

Run as root (it makes N cgroups ``/pycadbench-<id>/c<i>`` with one ``sleep`` each and removes them, also
on Ctrl-C)::

    .venv/bin/python bench/serving.py                                   # this checkout's src/
    .venv/bin/python bench/serving.py --repo /work/main --label main    # another checkout, for before/after
    .venv/bin/python bench/serving.py --save bench/results/serving.jsonl

Three phases against one daemon (default flags, 1 s housekeeping, 2 min of history) watching N cgroups:

- **load**: ``--clients`` concurrent clients (default 200), each asking ``--path`` (default
  ``/api/v2.0/stats?recursive=true``) again as soon as it has its answer (after ``Retry-After`` on a
  503, or 50 ms with ``--ignore-retry-after``), for ``--seconds``. Reported:
  the gaps between ``/``'s samples inside the window (p50, p99, max, samples held against the
  window's length), RSS (``VmRSS``) idle before, peak during (polled every 0.1 s), and after; the
  answers by status (200, 503) and answers per second.
- **scrapers** (not in the default ``--phases``): a quiet window, then one as long with two Prometheus-like
  scrapers of ``/metrics`` every 5 s and the UI's once-a-second polling; the spacing of the samples of ``/``
  and of the benchmark cgroups in each window (issue 18: p99 within 10 % of the quiet one);
- **slowloris**: ``--slow`` connections (default 500) that send a partial request head and then one
  more header byte every 5 s, for ``--slow-seconds``; ``/healthz`` latency on fresh connections
  meanwhile (p50, p99, max, failures), the daemon's open descriptors, and how many slow connections
  the daemon had closed by the end.
- **fd limit**: a second daemon under ``RLIMIT_NOFILE`` ``--nofile`` (default 1024) and ``--idle``
  idle connections (default 900): whether ``/healthz`` answers and whether its log shows ``EMFILE``.

- **failed logins**: a daemon with ``-http_auth_file`` (one bcrypt user, ``--bcrypt-cost`` 10) and
  ``--auth-clients`` (50) threads sending a wrong password for ``--auth-seconds`` (20), each on a fresh
  connection, asking again at once (50 ms after a 429): the daemon's CPU (% of one core), wrong passwords
  checked per second, and the latency of a right password from another address (127.0.0.2) once a second.

The output ends with one JSON line (``--save FILE`` appends it to FILE).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import http.client
import itertools
import json
import os
import resource
import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from overhead_kit import httpprobe
from overhead_kit.cgroups import BenchCgroups, host_layout, sweep_stale
from overhead_kit.cleanup import Cleanup
from overhead_kit.daemon import REPO, Daemon, parse_rfc3339_ns

S = 1_000_000_000


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def root_sample_times(port: int) -> list[int]:
    doc = httpprobe.get_json(port, "/api/v2.0/stats/?count=-1")
    return [parse_rfc3339_ns(s["timestamp"]) for s in doc.get("/", [])]


def gaps_in(times: list[int], start_ns: int, end_ns: int) -> list[float]:
    """Seconds between consecutive samples, counting the window's edges as samples' neighbours."""
    inside = [t for t in times if start_ns <= t <= end_ns]
    points = [start_ns, *inside, end_ns]
    return [(b - a) / S for a, b in itertools.pairwise(points)]


# ---------------------------------------------------------------- load


async def _hammer(port: int, path: str, clients: int, seconds: float, statuses: Counter[str], *, polite: bool) -> None:
    import aiohttp

    deadline = time.monotonic() + seconds
    conn = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:

        async def one() -> None:
            while time.monotonic() < deadline:
                try:
                    async with session.get(f"http://127.0.0.1:{port}{path}") as r:
                        await r.read()
                        statuses[str(r.status)] += 1
                        if r.status == 503:
                            # a polite client waits as told; a hostile one (--ignore-retry-after) 50 ms
                            wait = float(r.headers.get("Retry-After", "1")) if polite else 0.05
                            await asyncio.sleep(wait)
                except (aiohttp.ClientError, TimeoutError, OSError) as e:
                    statuses[type(e).__name__] += 1
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(one() for _ in range(clients)))


def load_phase(d: Daemon, args: argparse.Namespace) -> dict[str, Any]:
    idle = [vm_rss_kib(d.pid)]
    for _ in range(20):
        time.sleep(0.25)
        idle.append(vm_rss_kib(d.pid))
    statuses: Counter[str] = Counter()
    start_ns = time.time_ns()
    t = threading.Thread(
        target=lambda: asyncio.run(
            _hammer(d.port, args.path, args.clients, args.seconds, statuses, polite=not args.ignore_retry_after)
        ),
        daemon=True,
    )
    t.start()
    peak = 0
    while t.is_alive():
        peak = max(peak, vm_rss_kib(d.pid))
        time.sleep(0.1)
    end_ns = time.time_ns()
    say("load done; waiting for the daemon to settle")
    time.sleep(5)
    after = vm_rss_kib(d.pid)
    times = root_sample_times(d.port)
    # the window's first and last interval may be cut by the edges: trim one housekeeping interval each side
    g = gaps_in(times, start_ns + S, end_ns - S)
    window_s = (end_ns - start_ns) / S
    answered = sum(v for k, v in statuses.items() if k.isdigit())
    return {
        "clients": args.clients,
        "clients_honour_retry_after": not args.ignore_retry_after,
        "path": args.path,
        "load_seconds": round(window_s, 1),
        "root_samples_in_window": sum(1 for t_ in times if start_ns <= t_ <= end_ns),
        "root_samples_expected": round(window_s),
        "gap_p50_s": round(httpprobe.percentile(g, 0.5), 2),
        "gap_p99_s": round(httpprobe.percentile(g, 0.99), 2),
        "gap_max_s": round(max(g), 2),
        "rss_idle_mib": round(max(idle) / 1024, 1),
        "rss_peak_mib": round(peak / 1024, 1),
        "rss_after_mib": round(after / 1024, 1),
        "rss_peak_over_idle": round(peak / max(max(idle), 1), 2),
        "answers": dict(statuses),
        "answers_per_s": round(answered / window_s, 1),
        "ok_per_s": round(statuses.get("200", 0) / window_s, 1),
        "refused_503": statuses.get("503", 0),
    }


# ---------------------------------------------------------------- scrapers (issue 18, item 3)


def _poll(
    port: int, method: str, path: str, every: float, until: float, body: bytes | None, counts: Counter[str]
) -> None:
    """One client on a fixed period, on its own keep-alive connection (as a Prometheus or a browser tab)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Accept-Encoding": "gzip"} if body is None else {"Content-Type": "application/json"}
    next_at = time.monotonic()
    while next_at < until:
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            counts[f"{path.split('?')[0]} {r.status}"] += 1
        except (OSError, http.client.HTTPException) as e:
            counts[type(e).__name__] += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        next_at += every
        time.sleep(max(0.0, next_at - time.monotonic()))
    conn.close()


def sample_gaps(port: int, prefix: str, start_ns: int, end_ns: int) -> list[float]:
    """Gaps between consecutive samples of ``/`` and of every container under ``prefix``, inside the window."""
    doc = httpprobe.get_json(port, "/api/v2.0/stats/?recursive=true&count=-1")
    gaps: list[float] = []
    for name, samples in doc.items():
        if name != "/" and not name.startswith(prefix + "/"):
            continue
        times = sorted(t for t in (parse_rfc3339_ns(x["timestamp"]) for x in samples) if start_ns <= t <= end_ns)
        gaps += [(b - a) / S for a, b in itertools.pairwise(times)]
    return gaps


def scrapers_phase(
    cg: BenchCgroups, args: argparse.Namespace, repo: Path, log_dir: str, cleanup: Cleanup
) -> dict[str, Any]:
    """A daemon on a fixed schedule (``-housekeeping_interval=1s -allow_dynamic_housekeeping=false``, cAdvisor's
    jitter: gaps of 1-2 s), a quiet window, then one as long with two Prometheus-like scrapers of ``/metrics``
    every ``--scrape-every`` s (gzip, as Prometheus asks) and the UI's polling (``/api/v1.0/containers/``, then
    2 samples every second, as static/api.js does): the spacing of the samples in each window, read right after
    it (the history holds 2 minutes)."""
    flags = ["-housekeeping_interval=1s", "-allow_dynamic_housekeeping=false"]
    d = Daemon(args.label, free_port(), flags, log_path=os.path.join(log_dir, f"scrapers-{cg.id}.log"), repo=repo)
    d.start()
    cleanup.push("stop the scrapers' daemon", d.stop)
    d.wait_ready()
    d.wait_for(cg.leaf_names(), timeout=120)
    time.sleep(args.warmup)
    out: dict[str, Any] = {
        "scrapers": 2,
        "scrape_every_s": args.scrape_every,
        "scrapers_seconds": args.scrapers_seconds,
    }
    windows: list[tuple[str, list[float]]] = []
    q0 = time.time_ns()
    time.sleep(args.scrapers_seconds)
    windows.append(("quiet", sample_gaps(d.port, cg.name, q0 + S, time.time_ns() - S)))
    counts: Counter[str] = Counter()
    until = time.monotonic() + args.scrapers_seconds
    l0 = time.time_ns()
    threads = [
        threading.Thread(target=_poll, args=(d.port, "GET", "/metrics", args.scrape_every, until, None, counts)),
        threading.Thread(target=_poll, args=(d.port, "GET", "/metrics", args.scrape_every, until, None, counts)),
        threading.Thread(
            target=_poll, args=(d.port, "POST", "/api/v1.0/containers/", 1.0, until, b'{"num_stats":2}', counts)
        ),
    ]
    httpprobe.get(d.port, "/api/v1.0/containers/")  # the UI's first, larger request
    threads[1].start()
    time.sleep(args.scrape_every / 2)  # the two servers are not in phase
    threads[0].start()
    threads[2].start()
    for t in threads:
        t.join()
    windows.append(("scraped", sample_gaps(d.port, cg.name, l0 + S, time.time_ns() - S)))
    d.stop()
    for label, g in windows:
        out[f"{label}_gap_p50_s"] = round(httpprobe.percentile(g, 0.5), 3)
        out[f"{label}_gap_p99_s"] = round(httpprobe.percentile(g, 0.99), 3)
        out[f"{label}_gap_max_s"] = round(max(g), 3)
        out[f"{label}_gaps"] = len(g)
    out["gap_p99_ratio_scraped_vs_quiet"] = round(out["scraped_gap_p99_s"] / out["quiet_gap_p99_s"], 3)
    out["scraper_answers"] = dict(counts)
    return out


# ---------------------------------------------------------------- slowloris


def _slow_conns(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        s.setblocking(False)
        socks.append(s)
    return socks


def _closed_by_peer(s: socket.socket) -> bool:
    try:
        data = s.recv(4096)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return data == b"" or data.startswith(b"HTTP/1.1 4")


def _probe_healthz(port: int, seconds: float) -> tuple[list[float], int]:
    lat: list[float] = []
    fails = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            r = httpprobe.get(port, "/healthz", timeout=10)
            if r.status == 200:
                lat.append(r.seconds * 1000)
            else:
                fails += 1
        except OSError:
            fails += 1
        time.sleep(0.25)
    return lat, fails


def slowloris_phase(d: Daemon, args: argparse.Namespace) -> dict[str, Any]:
    before, _ = _probe_healthz(d.port, args.probe_seconds)
    socks = _slow_conns(d.port, args.slow)
    t0 = time.monotonic()
    fds_peak = open_fds(d.pid)
    lat: list[float] = []
    fails = 0
    closed: set[int] = set()
    closed_at: list[float] = []
    while time.monotonic() - t0 < args.slow_seconds:
        part, f = _probe_healthz(d.port, args.probe_seconds)
        lat += part
        fails += f
        fds_peak = max(fds_peak, open_fds(d.pid))
        for i, s in enumerate(socks):
            if i in closed:
                continue
            if _closed_by_peer(s):
                closed.add(i)
                closed_at.append(time.monotonic() - t0)
                continue
            with contextlib.suppress(OSError):
                s.send(b"X")  # one more byte of a header that never ends
    for s in socks:
        s.close()
    return {
        "slow_connections": args.slow,
        "slow_seconds": args.slow_seconds,
        "healthz_before_p50_ms": round(httpprobe.percentile(before, 0.5), 2),
        "healthz_p50_ms": round(httpprobe.percentile(lat, 0.5), 2),
        "healthz_p99_ms": round(httpprobe.percentile(lat, 0.99), 2),
        "healthz_max_ms": round(max(lat), 2) if lat else None,
        "healthz_failures": fails,
        "slow_closed_by_daemon": len(closed),
        "slow_closed_median_s": round(httpprobe.percentile(closed_at, 0.5), 1) if closed_at else None,
        "daemon_fds_peak": fds_peak,
    }


# ---------------------------------------------------------------- fd limit


def fd_limit_phase(args: argparse.Namespace, repo: Path, log_dir: str, cleanup: Cleanup) -> dict[str, Any]:
    nofile = args.nofile

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    log = os.path.join(log_dir, f"serving-fdlimit-{os.getpid()}.log")  # this run's lines only
    d = Daemon(f"{args.label}-nofile{nofile}", free_port(), [], log_path=log, repo=repo, preexec=limit)
    d.start()
    cleanup.push("stop the fd-limit daemon", d.stop)
    d.wait_ready()
    time.sleep(3)
    socks: list[socket.socket] = []
    refused = 0
    for _ in range(args.idle):
        try:
            socks.append(socket.create_connection(("127.0.0.1", d.port), timeout=5))
        except OSError:
            refused += 1
    time.sleep(3)  # a few housekeeping rounds with the connections open
    fds = open_fds(d.pid)
    lat, fails = _probe_healthz(d.port, args.probe_seconds)
    for s in socks:
        s.close()
    d.stop()
    text = Path(log).read_text(errors="replace")
    return {
        "nofile": nofile,
        "idle_connections": args.idle,
        "idle_refused": refused,
        "fdlimit_daemon_fds": fds,
        "fdlimit_healthz_ok": len(lat),
        "fdlimit_healthz_failures": fails,
        "fdlimit_log_emfile_lines": sum(
            1 for line in text.splitlines() if "Too many open files" in line or "EMFILE" in line
        ),
    }


# ---------------------------------------------------------------- failed logins


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (proc(5) fields 14, 15)


def auth_phase(args: argparse.Namespace, repo: Path, log_dir: str, cleanup: Cleanup) -> dict[str, Any]:
    import bcrypt  # the 'auth' extra

    password = b"right-password"
    htpasswd = os.path.join(log_dir, f"serving-htpasswd-{os.getpid()}")
    with open(htpasswd, "w") as f:
        f.write(f"admin:{bcrypt.hashpw(password, bcrypt.gensalt(rounds=args.bcrypt_cost)).decode()}\n")
    cleanup.push("remove the htpasswd file", lambda: os.unlink(htpasswd))
    log = os.path.join(log_dir, f"serving-auth-{os.getpid()}.log")
    d = Daemon(f"{args.label}-auth", free_port(), [f"-http_auth_file={htpasswd}"], log_path=log, repo=repo)
    d.start()
    cleanup.push("stop the auth daemon", d.stop)
    d.wait_ready()

    def header(pw: bytes) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(b"admin:" + pw).decode()}

    statuses: Counter[str] = Counter()
    stop = time.monotonic() + args.auth_seconds

    def attacker() -> None:
        while time.monotonic() < stop:
            try:
                c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
                c.request("GET", "/containers/", headers=header(b"wrong"))
                r = c.getresponse()
                r.read()
                statuses[str(r.status)] += 1
                c.close()
                if r.status == 429:
                    time.sleep(0.05)  # a brute forcer does not wait for Retry-After
            except OSError as e:
                statuses[type(e).__name__] += 1

    t0, c0 = time.monotonic(), cpu_ticks(d.pid)
    threads = [threading.Thread(target=attacker, daemon=True) for _ in range(args.auth_clients)]
    for t in threads:
        t.start()
    legit: list[float] = []
    while time.monotonic() < stop - 1:
        t1 = time.perf_counter()
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60, source_address=("127.0.0.2", 0))
        c.request("GET", "/containers/", headers=header(password))
        r = c.getresponse()
        r.read()
        c.close()
        if r.status == 200:
            legit.append((time.perf_counter() - t1) * 1000)
        time.sleep(1)
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    cpu_pct = (cpu_ticks(d.pid) - c0) / os.sysconf("SC_CLK_TCK") / elapsed * 100
    d.stop()
    return {
        "auth_clients": args.auth_clients,
        "auth_bcrypt_cost": args.bcrypt_cost,
        "auth_answers": dict(statuses),
        "auth_wrong_checked_per_s": round(statuses.get("401", 0) / elapsed, 1),
        "auth_daemon_cpu_pct": round(cpu_pct, 1),
        "auth_legit_p50_ms": round(httpprobe.percentile(legit, 0.5), 1),
        "auth_legit_ok": len(legit),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, default=REPO, help="checkout whose src/ is measured (default: this one)")
    ap.add_argument("--label", default="", help="name of the run in the output (default: the repo's git HEAD)")
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=60.0, help="load window (at most the 2 min of history)")
    ap.add_argument("--warmup", type=float, default=20.0, help="seconds between all cgroups tracked and the load")
    ap.add_argument("--path", default="/api/v2.0/stats?recursive=true")
    ap.add_argument(
        "--ignore-retry-after", action="store_true", help="clients ask again 50 ms after a 503, not Retry-After s"
    )
    ap.add_argument("--slow", type=int, default=500)
    ap.add_argument("--slow-seconds", type=float, default=60.0)
    ap.add_argument("--probe-seconds", type=float, default=5.0, help="length of a round of /healthz probes")
    ap.add_argument("--nofile", type=int, default=1024)
    ap.add_argument("--idle", type=int, default=900)
    ap.add_argument("--auth-clients", type=int, default=50)
    ap.add_argument("--auth-seconds", type=float, default=20.0)
    ap.add_argument("--bcrypt-cost", type=int, default=10)
    ap.add_argument("--phases", default="load,slowloris,fdlimit,auth")
    ap.add_argument("--scrapers-seconds", type=float, default=45.0, help="each window of the scrapers phase")
    ap.add_argument("--scrape-every", type=float, default=5.0)
    ap.add_argument("--save", help="append the JSON line to this file")
    args = ap.parse_args()
    repo = args.repo.resolve()
    if not args.label:
        import subprocess

        args.label = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    phases = set(args.phases.split(","))
    layout = host_layout()
    if layout is None:
        print("no cgroup hierarchy to make test cgroups in", file=sys.stderr)
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * max(args.slow, args.idle, args.clients):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cleanup = Cleanup()
    cleanup.install()
    sweep_stale(layout)
    log_dir = "/tmp"
    out: dict[str, Any] = {"label": args.label, "repo": str(repo), "containers": args.containers}
    try:
        if phases & {"load", "slowloris", "fdlimit", "scrapers"}:  # the phases that watch the bench cgroups
            cg = BenchCgroups(args.containers, layout)
            cleanup.push("remove the bench cgroups", cg.close)
            cg.create()
            say(f"made {args.containers} cgroups under {cg.name}")
        if "scrapers" in phases:
            say(f"scrapers: {args.scrapers_seconds:g} s quiet, then as long with 2 scrapers and the UI")
            out.update(scrapers_phase(cg, args, repo, log_dir, cleanup))
            say(json.dumps(out))
        if phases & {"load", "slowloris"}:
            log = os.path.join(log_dir, f"serving-{cg.id}.log")
            d = Daemon(args.label, free_port(), [], log_path=log, repo=repo)
            d.start()
            cleanup.push("stop the daemon", d.stop)
            d.wait_ready()
            d.wait_for(cg.leaf_names(), timeout=120)
            say(f"{args.label}: daemon tracks {args.containers} cgroups; {args.warmup:g} s warm-up")
            time.sleep(args.warmup)
            if "load" in phases:
                say(f"load: {args.clients} clients on {args.path} for {args.seconds:g} s")
                out.update(load_phase(d, args))
                say(json.dumps(out))
            if "slowloris" in phases:
                say(f"slowloris: {args.slow} slow connections for {args.slow_seconds:g} s")
                out.update(slowloris_phase(d, args))
                say(json.dumps(out))
            d.stop()
        if "fdlimit" in phases:
            say(f"fd limit: nofile {args.nofile}, {args.idle} idle connections")
            out.update(fd_limit_phase(args, repo, log_dir, cleanup))
        if "auth" in phases:
            say(f"failed logins: {args.auth_clients} clients with a wrong password for {args.auth_seconds:g} s")
            out.update(auth_phase(args, repo, log_dir, cleanup))
    finally:
        cleanup.run()
    line = json.dumps(out)
    print(line)
    if args.save:
        with open(args.save, "a") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
