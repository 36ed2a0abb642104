"""An hour without growth (issue 18, item 4): the daemon over churning cgroups, sampled once a minute.

Run as root; it makes ``--containers`` (100) cgroups ``/pycadbench-<id>/c<i>`` with one ``sleep`` each and
removes them, also on Ctrl-C or SIGTERM::

    sudo .venv/bin/python bench/soak.py                         # 60 minutes
    sudo .venv/bin/python bench/soak.py --minutes 5             # the smoke run
    sudo .venv/bin/python bench/soak.py --save bench/results/soak.jsonl

The daemon runs with its defaults (two minutes of history, 1 s housekeeping with dynamic housekeeping) and
meanwhile, as a Prometheus and a UI would:

- every minute ``--replace`` (10 %) of the cgroups are removed (their sleep killed) and as many new ones made
  under new names, so containers, watches, histories and events come and go all hour;
- ``/metrics`` is scraped every ``--scrape`` (15) seconds;
- one event stream (``/api/v1.3/events?stream=true&all_events=true&subcontainers=true``) is held open and read.

Unless ``--whole-host``, the daemon watches only the benchmark's cgroups (``-docker_only
-raw_cgroup_prefix_whitelist=/pycadbench-<id>``): on a shared host other jobs' cgroups would come and go in its
figures.

Each minute it records the daemon's RSS (``VmRSS``), open fds, threads, kernel inotify watches (``inotify wd:``
lines of its inotify fds' fdinfo, fs/notify/fdinfo.c), history entries (samples held, from
``/api/v2.0/stats/?recursive=true&count=-1``), stored events (the same events query with ``max_events=-1``),
tracked containers and events streamed. After the first ``--settle`` (10) minutes, a least-squares slope per
hour is fitted to each series; "flat" is RSS under 1 MiB/h and the counts under one item per hour per 100
items held. The script prints the table, the slopes and one JSON line (``--save`` appends it to a file).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from overhead_kit import httpprobe
from overhead_kit.cgroups import BenchCgroups, _join, host_layout, kill_tree, sweep_stale
from overhead_kit.cleanup import Cleanup
from overhead_kit.daemon import Daemon

SERIES = ("rss_mib", "fds", "threads", "inotify_watches", "history_entries", "stored_events", "containers")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def inotify_watches(pid: int) -> int:
    """``inotify wd:`` lines over the inotify fds of ``pid`` (fs/notify/fdinfo.c ``inotify_show_fdinfo``)."""
    total = 0
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            if os.readlink(os.path.join(fd_dir, fd)) != "anon_inode:inotify":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                total += sum(1 for line in f if line.startswith("inotify wd:"))
    return total


def status_field(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


class Churn:
    """The benchmark's cgroups, of which some are replaced by new ones under new names each minute."""

    def __init__(self, cg: BenchCgroups) -> None:
        self.cg = cg
        self.live: dict[str, subprocess.Popen[bytes]] = {}
        self.next = 0
        self.made = 0

    def add(self) -> None:
        rel = f"{self.cg.prefix}/r{self.next}"
        self.next += 1
        paths = []
        for root in self.cg.layout.unique_roots():
            path = os.path.join(root, rel)
            os.mkdir(path)
            paths.append(path)
            if self.cg.layout.version == 1:
                for name in ("cpuset.cpus", "cpuset.mems"):
                    child = os.path.join(path, name)
                    if os.path.exists(child):
                        with open(os.path.join(root, self.cg.prefix, name)) as f:
                            value = f.read().strip()
                        with open(child, "w") as f:
                            f.write(value)
        procs = [os.path.join(p, "cgroup.procs") for p in paths]
        self.live[rel] = subprocess.Popen(
            ["sleep", "86400"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=functools.partial(_join, procs),
        )
        self.made += 1

    def remove_oldest(self) -> None:
        rel = next(iter(self.live))
        p = self.live.pop(rel)
        p.kill()
        p.wait(timeout=10)
        for root in self.cg.layout.unique_roots():
            kill_tree(os.path.join(root, rel))

    def close(self) -> None:
        for p in self.live.values():
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)


@dataclass
class EventStream:
    """One ``/api/v1.3/events?stream=true`` connection read in a thread; counts the events' lines."""

    port: int
    events: int = 0
    error: str = ""
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(
            b"GET /api/v1.3/events?stream=true&all_events=true&subcontainers=true HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
        s.settimeout(None)
        self._sock = s
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._sock is not None
        try:
            while chunk := self._sock.recv(65536):
                self.events += chunk.count(b'"container_name"')
            self.error = "closed by the daemon"
        except OSError as e:
            self.error = str(e)

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()


def slope_per_hour(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (minutes), per hour."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return 0.0 if den == 0 else 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


def sample(d: Daemon, minute: float, stream: EventStream, churn: Churn) -> dict[str, Any]:
    stats = httpprobe.get_json(d.port, "/api/v2.0/stats/?recursive=true&count=-1")
    events = httpprobe.get_json(d.port, "/api/v1.3/events?all_events=true&subcontainers=true&max_events=-1")
    return {
        "minute": round(minute, 2),
        "rss_mib": round(status_field(d.pid, "VmRSS") / 1024, 2),
        "fds": len(os.listdir(f"/proc/{d.pid}/fd")),
        "threads": status_field(d.pid, "Threads"),
        "inotify_watches": inotify_watches(d.pid),
        "history_entries": sum(len(v) for v in stats.values()),
        "stored_events": len(events),
        "containers": len(stats),
        "streamed_events": stream.events,
        "replaced": churn.made,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    layout = host_layout()
    if layout is None:
        raise SystemExit("no cgroup hierarchy found")
    cleanup = Cleanup()
    cleanup.install()
    sweep_stale(layout)
    cg = BenchCgroups(0, layout)
    cleanup.push("cgroups", cg.close)
    try:
        cg.create()
        churn = Churn(cg)
        cleanup.push("churn", churn.close)
        for _ in range(args.containers):
            churn.add()
        print(f"made {args.containers} cgroups under {cg.name}", flush=True)
        flags = args.flags.split()
        if not args.whole_host:
            flags += ["-docker_only=true", f"-raw_cgroup_prefix_whitelist={cg.name}"]
        d = Daemon("soak", free_port(), flags, log_path=args.log)
        d.start()
        cleanup.push("daemon", d.stop)
        d.wait_ready()
        d.wait_for([cg.name + "/" + rel.split("/", 1)[1] for rel in churn.live], timeout=120)
        stream = EventStream(d.port)
        stream.start()
        cleanup.push("stream", stream.close)
        t0 = time.monotonic()
        rows: list[dict[str, Any]] = []
        scrapes = scrape_errors = 0
        next_scrape, next_minute = t0, t0 + args.period
        print("minute " + " ".join(f"{s:>16}" for s in (*SERIES, "streamed_events")), flush=True)
        while True:
            now = time.monotonic()
            if now >= next_scrape:
                try:
                    httpprobe.get(d.port, "/metrics")
                    scrapes += 1
                except OSError:
                    scrape_errors += 1
                next_scrape += args.scrape
            if now >= next_minute:
                minute = (now - t0) / 60
                for _ in range(max(1, args.containers * args.replace // 100)):
                    churn.remove_oldest()
                    churn.add()
                row = sample(d, minute, stream, churn)
                rows.append(row)
                print(
                    f"{row['minute']:>6} " + " ".join(f"{row[s]:>16}" for s in (*SERIES, "streamed_events")), flush=True
                )
                next_minute += args.period
                if minute >= args.minutes - 0.01:
                    break
            if not d.alive():
                raise SystemExit("the daemon exited")
            time.sleep(max(0.05, min(next_scrape, next_minute) - time.monotonic()))
        late = [r for r in rows if r["minute"] > args.settle] or rows[len(rows) // 2 :]
        xs = [float(r["minute"]) for r in late]
        slopes = {s: round(slope_per_hour(xs, [float(r[s]) for r in late]), 3) for s in SERIES}
        out: dict[str, Any] = {
            "bench": "soak",
            "minutes": args.minutes,
            "containers": args.containers,
            "replace_pct_per_minute": args.replace,
            "flags": " ".join(flags),
            "settle_minutes": args.settle if len(late) < len(rows) else late[0]["minute"],
            "slope_per_hour": slopes,
            "first": rows[0],
            "last": rows[-1],
            "scrapes": scrapes,
            "scrape_errors": scrape_errors,
            "stream_error": stream.error,
            "rss_flat": abs(slopes["rss_mib"]) <= 1.0,
        }
        print("slope per hour after minute", out["settle_minutes"], ":", json.dumps(slopes))
        print(json.dumps(out))
        if args.save:
            with open(args.save, "a") as f:
                f.write(json.dumps(out) + "\n")
        return out
    finally:
        cleanup.run()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--replace", type=int, default=10, help="percent of the cgroups replaced each minute")
    ap.add_argument("--scrape", type=float, default=15.0, help="seconds between /metrics scrapes")
    ap.add_argument("--period", type=float, default=60.0, help="seconds between two churn-and-sample rounds")
    ap.add_argument("--settle", type=float, default=10.0, help="minutes left out of the slopes")
    ap.add_argument("--flags", default="", help="extra daemon flags, space-separated")
    ap.add_argument("--whole-host", action="store_true", help="watch every cgroup of the host, not only ours")
    ap.add_argument("--log", default="/tmp/pycadvisor-soak.log")
    ap.add_argument("--save")
    run(ap.parse_args())


if __name__ == "__main__":
    main()
