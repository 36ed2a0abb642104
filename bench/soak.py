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

Unless ``--whole-host``, the daemon sees only the benchmark's cgroups, so that other jobs on a shared host (a CI
run's private dockerd, other benches) do not come and go in its figures:

- ``-docker_only -raw_cgroup_prefix_whitelist=/pycadbench-<id>`` takes the benchmark's raw cgroups;
- every runtime endpoint (``-docker``, ``-podman``, ``-containerd``, ``-crio``, ``-mesos_agent``) points at a socket
  that does not exist under the run's temp dir (a closed port for Mesos), and ``-containerd-namespace`` is the
  run's own, so no runtime names anything;
- that is not enough alone: the daemon's runtimes claim cgroups by name (Docker's 64-hex ids, ``libpod-<id>``...)
  and, while their runtime does not answer, keep them as raw cgroups (README "Runtimes that fail degrade"), so
  the daemon runs in a private mount namespace (``unshare --mount``) where each cgroup hierarchy shows only its
  root's files and the benchmark's ``/pycadbench-<id>`` (bind mounts over an empty directory), so cgroups other
  jobs make, before or during the run, never reach it; a FIFO stands in for ``/dev/kmsg`` there, whose OOM
  kills are the whole host's. The host's mounts are untouched;
- at the start the daemon's containers must be exactly ``/``, the prefix and the benchmark's cgroups (it says how
  many), and each minute the containers outside the prefix are counted (``foreign``, 0 when isolated).

The event store is kept small (``--event-limit``, ``-event_storage_event_limit=default=50``): it fills within
the settle period and must then stay flat. With cAdvisor's defaults (``default=100000`` events per type for 24 h,
manager.go) it grows all hour by design, up to those limits.

Each minute it records the daemon's RSS (``VmRSS``), open fds, threads, kernel inotify watches (``inotify wd:``
lines of its inotify fds' fdinfo, fs/notify/fdinfo.c), history entries (samples held, from
``/api/v2.0/stats/?recursive=true&count=-1``), stored events (the same events query with ``max_events=-1``),
tracked containers and events streamed. After the first ``--settle`` (10) minutes, a least-squares slope per
hour is fitted to each series, with its standard error (what the minute-to-minute noise alone would give), and
one verdict line printed per series: flat is RSS within 1 MiB/h, fds, threads, watches, history entries and
containers within 1 % of their mean per hour, and the event store flat once it has filled (fitted from the minute
it reached its largest size on). The script prints the host's load, the table, the slopes, the verdicts and one
JSON line with every row (``--save`` appends it to a file).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from overhead_kit import heapdiff, httpprobe
from overhead_kit.cgroups import BenchCgroups, _join, bench_cgroups, kill_tree
from overhead_kit.cleanup import Cleanup
from overhead_kit.daemon import Daemon

SERIES = ("rss_mib", "fds", "threads", "inotify_watches", "history_entries", "stored_events", "containers")
# Flat: RSS within 1 MiB/h; the counts within 1 % of their mean per hour (issue 18, item 4).
RSS_FLAT_MIB_PER_H = 1.0
COUNT_FLAT_PCT_PER_H = 1.0
COLUMNS = (*SERIES, "foreign", "streamed_events")


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


def isolation_flags(tmp: str, cg_name: str, run_id: str) -> list[str]:
    """Flags that leave the daemon only the benchmark's raw cgroups: every runtime endpoint absent."""
    none = os.path.join(tmp, "absent")  # never made: no runtime can answer there
    return [
        "-docker_only=true",
        f"-raw_cgroup_prefix_whitelist={cg_name}",
        f"-docker=unix://{none}/docker.sock",
        f"-podman=unix://{none}/podman.sock",
        f"-containerd={none}/containerd.sock",
        f"-containerd-namespace=pycadsoak-{run_id}",
        f"-crio=unix://{none}/crio.sock",
        f"-mesos_agent=127.0.0.1:{free_port()}",  # bound and closed again: nothing listens there
    ]


def cgroup_mounts_all(mountinfo_path: str = "/proc/self/mountinfo") -> list[str]:
    """Every cgroup mount point, a hierarchy mounted twice (``cpu`` and ``cpuacct``) at each of its points.

    The daemon picks its own among them (from pid 1's mountinfo), so each gets the same view.
    """
    out = []
    with open(mountinfo_path) as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[sep + 1] in ("cgroup", "cgroup2"):
                out.append(fields[4])
    return out


def private_view(argv: list[str], mountpoints: list[str], prefix: str, tmp: str) -> list[str]:
    """``argv`` in a private mount namespace where each cgroup hierarchy holds only its root's files and ``prefix``.

    Each mount point gets an empty directory bound over it, the root's own files bound back one by one (the root
    container's figures stay the host's) and the benchmark's ``/<prefix>`` bound back whole, so cgroups other jobs
    make anywhere else (a CI dockerd's ``/docker/<id>``, a test's ``/kubepods/...``) never reach the daemon: its
    runtimes claim such names by pattern even while the runtime is absent. ``unshare`` and ``sh`` exec, so the
    daemon keeps the PID the benchmark started; the host's mounts are untouched.
    """
    q = shlex.quote
    lines = ["set -e"]
    for i, mp in enumerate(mountpoints):
        real, view = os.path.join(tmp, "real", str(i)), os.path.join(tmp, "view", str(i))
        lines += [
            f"mkdir -p {q(real)}",
            f"mount --bind {q(mp)} {q(real)}",
            # An empty directory of the temp dir, not a tmpfs: no new filesystem for the root container to report.
            f"mkdir -p {q(view)}",
            f"mount --bind {q(view)} {q(mp)}",
            f'for f in {q(real)}/*; do [ -f "$f" ] || continue; t={q(mp)}/"${{f##*/}}"; : > "$t"; '
            'mount --bind "$f" "$t"; done',
            # Not every hierarchy holds the prefix (the benchmark makes it in the controllers it reads).
            f"if [ -d {q(real + '/' + prefix)} ]; then mkdir {q(mp + '/' + prefix)}; "
            f"mount --bind {q(real + '/' + prefix)} {q(mp + '/' + prefix)}; fi",
            f"mount -o remount,ro,bind {q(mp)}",
        ]
    # The kernel log is the host's too: another job's OOM kills would be stored and streamed (events/kmsg.py). A FIFO
    # that no one writes to stands in for it (kmsg.py takes a pipe; the cgroups' own kill counters still count).
    fifo = os.path.join(tmp, "kmsg")
    lines += [f"mkfifo {q(fifo)}", f"mount --bind {q(fifo)} /dev/kmsg"]
    lines.append('exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines), "sh", *argv]


class IsolatedDaemon(Daemon):
    """The daemon started through :func:`private_view`."""

    def __init__(self, *args: Any, view: tuple[list[str], str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.view = view

    @property
    def argv(self) -> list[str]:
        return private_view(super().argv, *self.view)


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
    if len(xs) < 2 or len(set(xs)) < 2:
        return 0.0
    return 60 * statistics.linear_regression(xs, ys).slope


def slope_stderr_per_hour(xs: list[float], ys: list[float]) -> float | None:
    """Standard error of that slope, per hour: how much of it the minute-to-minute noise alone would give."""
    n = len(xs)
    if n < 3 or len(set(xs)) < 2:
        return None
    fit = statistics.linear_regression(xs, ys)
    mx = sum(xs) / n
    resid = sum((y - fit.intercept - fit.slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    return 60 * math.sqrt(resid / (n - 2) / sum((x - mx) ** 2 for x in xs))


def expected_names(cg: BenchCgroups, churn: Churn) -> set[str]:
    """The containers an isolated daemon tracks: ``/``, the prefix and the live cgroups."""
    return {"/", cg.name} | {"/" + rel for rel in churn.live}


def verdicts(late: list[dict[str, Any]], rows: list[dict[str, Any]], slopes: dict[str, float]) -> dict[str, Any]:
    """One verdict per series: RSS within 1 MiB/h, counts within 1 % of their mean per hour, events flat once full."""
    out: dict[str, Any] = {}
    for s in SERIES:
        if s == "rss_mib":
            out[s] = {"flat": abs(slopes[s]) <= RSS_FLAT_MIB_PER_H, "slope": slopes[s], "limit": RSS_FLAT_MIB_PER_H}
            out[s]["stderr"] = _stderr(late, s)
            continue
        series, fitted = (late, slopes[s])
        if s == "stored_events":
            # The store grows until its limit is reached: fit from the first minute at its largest size on.
            top = max(r[s] for r in rows)
            full = next(i for i, r in enumerate(rows) if r[s] == top)
            full_rows = rows[full:] if len(rows) - full >= 3 else []
            series = late if full_rows and late and full_rows[0]["minute"] < late[0]["minute"] else full_rows
            if series:
                xs = [float(r["minute"]) for r in series]
                fitted = round(slope_per_hour(xs, [float(r[s]) for r in series]), 3)
        used = series or late
        mean = sum(r[s] for r in used) / len(used) if used else 0.0
        limit = round(mean * COUNT_FLAT_PCT_PER_H / 100, 3)
        out[s] = {
            "flat": bool(series) and abs(fitted) <= limit,
            "slope": fitted,
            "limit": limit,
            "mean": round(mean, 1),
            "stderr": _stderr(series, s),
        }
        if s == "stored_events":
            out[s]["full_from_minute"] = series[0]["minute"] if series else None
    return out


def _stderr(rows: list[dict[str, Any]], s: str) -> float | None:
    err = slope_stderr_per_hour([float(r["minute"]) for r in rows], [float(r[s]) for r in rows])
    return None if err is None else round(err, 3)


def verdict_line(s: str, v: dict[str, Any]) -> str:
    word = "flat" if v["flat"] else "NOT FLAT"
    unit = "MiB/h" if s == "rss_mib" else "/h"
    pm = "" if v.get("stderr") is None else f" ± {v['stderr']}"
    why = (
        f"|slope| {abs(v['slope'])}{pm} {unit} <= {v['limit']}"
        if v["flat"]
        else f"slope {v['slope']}{pm} {unit}, limit {v['limit']}"
    )
    if s == "stored_events":
        why += (
            f", fitted from minute {v['full_from_minute']} (store full)"
            if v["full_from_minute"] is not None
            else ", still growing at the end: never full"
        )
    elif s != "rss_mib":
        why += f" (1 % of the mean {v['mean']})"
    return f"verdict {s}: {word} ({why})"


def foreign(names: Iterable[str], prefix_name: str) -> list[str]:
    """Containers outside ``/`` and the benchmark's prefix: other jobs' cgroups the daemon took."""
    return sorted(n for n in names if n != "/" and n != prefix_name and not n.startswith(prefix_name + "/"))


def sample(d: Daemon, minute: float, stream: EventStream, churn: Churn, prefix_name: str) -> dict[str, Any]:
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
        "foreign": len(others := foreign(stats, prefix_name)),
        "foreign_names": others[:5],
        "streamed_events": stream.events,
        "replaced": churn.made,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    cleanup = Cleanup()
    cleanup.install()
    cg = bench_cgroups(0, cleanup)
    try:
        cg.create()
        churn = Churn(cg)
        cleanup.push("churn", churn.close)
        for _ in range(args.containers):
            churn.add()
        print(f"made {args.containers} cgroups under {cg.name}", flush=True)
        load_start = os.getloadavg()
        print(
            f"host load at start (1/5/15 min): {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}", flush=True
        )
        flags = [f"-event_storage_event_limit=default={args.event_limit}", *args.flags.split()]
        print(
            f"event store: -event_storage_event_limit=default={args.event_limit} (kept small so it fills, then stays "
            "flat; with cAdvisor's default=100000 per type for 24 h it grows up to that limit by design)",
            flush=True,
        )
        tmp = tempfile.mkdtemp(prefix="pycadsoak-")
        cleanup.push("tempdir", functools.partial(shutil.rmtree, tmp, ignore_errors=True))
        if args.heap_diff:
            flags.append("-profiling")  # /debug/pprof/heap: tracemalloc from the start
        if args.whole_host:
            d = Daemon("soak", free_port(), flags, log_path=args.log)
        else:
            flags += isolation_flags(tmp, cg.name, cg.id)
            mounts = cgroup_mounts_all()
            print(f"isolation: runtime endpoints under {tmp}/absent; {len(mounts)} cgroup mounts seen with only / "
                  f"and {cg.name}", flush=True)  # fmt: skip
            d = IsolatedDaemon("soak", free_port(), flags, log_path=args.log, view=(mounts, cg.prefix, tmp))
        d.start()
        cleanup.push("daemon", d.stop)
        d.wait_ready()
        want = expected_names(cg, churn)
        d.wait_for(want, timeout=120)
        names = set(d.container_names())
        print(f"containers at start: {len(names)} ({args.containers} of the benchmark's, / and {cg.name}, "
              f"{len(names - want)} others)", flush=True)  # fmt: skip
        if not args.whole_host and names != want:
            raise SystemExit(f"not isolated: the daemon also tracks {sorted(names - want)[:10]}")
        stream = EventStream(d.port)
        stream.start()
        cleanup.push("stream", stream.close)
        t0 = time.monotonic()
        rows: list[dict[str, Any]] = []
        heap_before: dict[str, heapdiff.Site] | None = None
        heap_minute = 0.0
        scrapes = scrape_errors = 0
        next_scrape, next_minute = t0, t0 + args.period
        print("minute " + " ".join(f"{s:>16}" for s in COLUMNS), flush=True)
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
                row = sample(d, minute, stream, churn, cg.name)
                rows.append(row)
                if args.heap_diff and heap_before is None and minute >= args.settle:
                    heap_before, heap_minute = heapdiff.snapshot(d.port), row["minute"]
                print(f"{row['minute']:>6} " + " ".join(f"{row[s]:>16}" for s in COLUMNS), flush=True)
                next_minute += args.period
                if minute >= args.minutes - 0.01:
                    break
            if not d.alive():
                raise SystemExit("the daemon exited")
            time.sleep(max(0.05, min(next_scrape, next_minute) - time.monotonic()))
        late = [r for r in rows if r["minute"] > args.settle] or rows[len(rows) // 2 :]
        xs = [float(r["minute"]) for r in late]
        slopes = {s: round(slope_per_hour(xs, [float(r[s]) for r in late]), 3) for s in SERIES}
        verdict = verdicts(late, rows, slopes)
        load_end = os.getloadavg()
        out: dict[str, Any] = {
            "bench": "soak",
            "minutes": args.minutes,
            "containers": args.containers,
            "replace_pct_per_minute": args.replace,
            "flags": " ".join(flags),
            "isolated": not args.whole_host,
            "containers_at_start": len(names),
            "foreign_max": max(r["foreign"] for r in rows),
            "foreign_names": sorted({n for r in rows for n in r["foreign_names"]})[:20],
            "event_limit_per_type": args.event_limit,
            "settle_minutes": args.settle if len(late) < len(rows) else late[0]["minute"],
            "slope_per_hour": slopes,
            "verdicts": verdict,
            "all_flat": all(v["flat"] for v in verdict.values()),
            "first": rows[0],
            "last": rows[-1],
            "rows": rows,
            "scrapes": scrapes,
            "scrape_errors": scrape_errors,
            "stream_error": stream.error,
            "rss_flat": verdict["rss_mib"]["flat"],
            "loadavg_start": [round(x, 2) for x in load_start],
            "loadavg_end": [round(x, 2) for x in load_end],
        }
        print("slope per hour after minute", out["settle_minutes"], ":", json.dumps(slopes))
        for s in SERIES:
            print(verdict_line(s, verdict[s]))
        print(
            f"foreign containers (outside {cg.name}): at most {out['foreign_max']} in any minute",
            *out["foreign_names"][:5],
        )
        print(f"host load at end (1/5/15 min): {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
        if heap_before is not None:
            grown = heapdiff.growth(heap_before, heapdiff.snapshot(d.port))
            out["heap_growth"] = [[g.where, g.kib, g.blocks] for g in grown]
            print(f"Python heap growth from minute {heap_minute} to the end (tracemalloc through -profiling, whose "
                  "traces are in this run's RSS), top sites:")  # fmt: skip
            for g in grown:
                print(f"  {g.kib:+10.1f} KiB {g.blocks:+8d} blocks  {g.where}")
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
    ap.add_argument("--event-limit", type=int, default=50, help="-event_storage_event_limit=default=N of the daemon")
    ap.add_argument("--flags", default="", help="extra daemon flags, space-separated")
    ap.add_argument(
        "--heap-diff",
        action="store_true",
        help="start the daemon with -profiling and diff its Python heap between --settle and the end",
    )
    ap.add_argument("--whole-host", action="store_true", help="watch every cgroup of the host, not only ours")
    ap.add_argument("--log", default="/tmp/pycadvisor-soak.log")
    ap.add_argument("--save")
    run(ap.parse_args())


if __name__ == "__main__":
    main()
