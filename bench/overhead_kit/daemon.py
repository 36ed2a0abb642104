"""The pycadvisor daemon as the benchmark sees it: a process on a port, its samples, the files it reads."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from overhead_kit import httpprobe
from overhead_kit.pids import forget_pid, record_pid

REPO = Path(__file__).resolve().parents[2]
S = 1_000_000_000


def default_python(repo: Path = REPO) -> str:
    """The project's venv interpreter when there is one, else this one."""
    venv = repo / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def log_tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class Daemon:
    """``python -m pycadvisor -listen_ip=127.0.0.1 -port=<port> <flags>``, stopped by PID."""

    def __init__(
        self,
        label: str,
        port: int,
        flags: list[str],
        *,
        log_path: str,
        python: str | None = None,
        repo: Path = REPO,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.label = label
        self.port = port
        self.flags = flags
        self.log_path = log_path
        self.python = python or default_python(repo)
        self.repo = repo
        self._preexec = preexec
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def argv(self) -> list[str]:
        return [self.python, "-m", "pycadvisor", "-listen_ip=127.0.0.1", f"-port={self.port}", *self.flags]

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        env = dict(os.environ)
        src = self.repo / "src"
        if (src / "pycadvisor").is_dir():
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH", "")) if p)
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self.argv,
                cwd=self.repo,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=self._preexec,
                start_new_session=True,
            )
        record_pid(self._proc.pid, f"pycadvisor bench daemon {self.label}")

    def _check_alive(self, what: str) -> None:
        if not self.alive():
            raise RuntimeError(f"{self.label} exited while waiting for {what}:\n{log_tail(self.log_path)}")

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not httpprobe.ok(self.port, "/healthz"):
            self._check_alive("/healthz")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.label}: /healthz not ready in {timeout} s:\n{log_tail(self.log_path)}")
            time.sleep(0.1)

    def container_names(self) -> list[str]:
        """Every container the daemon tracks (``/api/v2.0/spec/?recursive=true``)."""
        doc = httpprobe.get_json(self.port, "/api/v2.0/spec/?recursive=true")
        return sorted(doc)

    def wait_for(self, names: Iterable[str], timeout: float) -> None:
        """Wait until the daemon tracks every one of ``names``."""
        want = set(names)
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive("its containers")
            with contextlib.suppress(OSError, ValueError):
                if want <= set(self.container_names()):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.label}: containers not all tracked after {timeout} s")
            time.sleep(0.5)

    def sample_times(self, name: str) -> list[int]:
        """Timestamps (ns since epoch) of the samples the daemon holds for ``name``."""
        doc = httpprobe.get_json(self.port, f"/api/v2.0/stats{quote(name)}?count=-1")
        return [parse_rfc3339_ns(s["timestamp"]) for s in doc.get(name, [])]

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` (by PID); idempotent."""
        p = self._proc
        if p is None:
            return
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        forget_pid(p.pid)
        self._proc = None


def parse_rfc3339_ns(ts: str) -> int:
    """ns since epoch of an RFC 3339 UTC time with 0-9 fraction digits (Go's RFC3339Nano: ``…:05.98488438Z``)."""
    if not ts.endswith("Z"):
        raise ValueError(f"not a UTC time: {ts!r}")
    main, _, frac = ts[:-1].partition(".")
    date, _, clock = main.partition("T")
    y, mo, d = (int(x) for x in date.split("-"))
    h, mi, s = (int(x) for x in clock.split(":"))
    days = _days_from_civil(y, mo, d)
    return ((days * 24 + h) * 60 + mi) * 60 * S + s * S + int((frac + "000000000")[:9])


def _days_from_civil(y: int, m: int, d: int) -> int:
    # Howard Hinnant's days_from_civil: days since 1970-01-01 in the proleptic Gregorian calendar.
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@dataclass(frozen=True, slots=True)
class SampleCount:
    """Container-samples the daemon took in the window (extrapolated from a subset of identical leaves)."""

    samples: float
    containers: int
    leaves_counted: int
    leaves: int
    counted_span_s: float


def count_samples(
    daemon: Daemon,
    leaves: list[str],
    *,
    t0_ns: int,
    t1_ns: int,
    max_leaves: int = 200,
    retention_s: float = 100.0,
) -> SampleCount:
    """Samples with timestamps in [t0, t1] over every container the daemon tracks.

    Each non-benchmark container is counted exactly; the benchmark's leaves are alike, so at most
    ``max_leaves`` of them are counted and scaled up. The daemon keeps ``-storage_duration`` (2 min)
    of history, so only the last ``retention_s`` before now are counted and the rest extrapolated.
    """
    names = daemon.container_names()
    leaf_set = set(leaves)
    tracked_leaves = [n for n in names if n in leaf_set]
    others = [n for n in names if n not in leaf_set]
    chosen = tracked_leaves
    if len(tracked_leaves) > max_leaves:
        chosen = sorted(random.Random(0).sample(tracked_leaves, max_leaves))
    lo = max(t0_ns, time.time_ns() - int(retention_s * S))
    span = (t1_ns - lo) / S
    scale_time = (t1_ns - t0_ns) / max(t1_ns - lo, 1)

    def in_window(name: str) -> int:
        try:
            return sum(1 for t in daemon.sample_times(name) if lo <= t <= t1_ns)
        except (OSError, ValueError, KeyError):
            return 0  # removed meanwhile

    other = sum(in_window(n) for n in others)
    leaf = sum(in_window(n) for n in chosen)
    scale_leaves = len(tracked_leaves) / len(chosen) if chosen else 0.0
    return SampleCount(
        samples=(other + leaf * scale_leaves) * scale_time,
        containers=len(names),
        leaves_counted=len(chosen),
        leaves=len(tracked_leaves),
        counted_span_s=span,
    )


# ---------------------------------------------------------------- files the daemon reads


def held_files(pid: int, prefixes: tuple[str, ...] = ("/sys/", "/proc/")) -> list[str]:
    """Kernel files the process holds open (``/proc/<pid>/fd`` links under ``prefixes``)."""
    out = []
    base = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(base)
    except OSError:
        return []
    for fd in fds:
        try:
            target = os.readlink(f"{base}/{fd}")
        except OSError:
            continue
        if target.startswith(prefixes) and not target.startswith(f"/proc/{pid}/"):
            out.append(target)
    return sorted(set(out))


def parse_strace_reads(text: str, prefixes: tuple[str, ...] = ("/sys/", "/proc/")) -> dict[str, int]:
    """Count reads per file from ``strace -y`` lines: ``123 pread64(17</sys/…/memory.stat>, ""..., 65536, 0) = 9``."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        for call in ("pread64(", "read("):
            i = line.find(call)
            if i < 0 or (call == "read(" and line[i - 1 : i] == "p"):
                continue
            lt = line.find("<", i)
            gt = line.find(">,", lt)
            if lt < 0 or gt < 0:
                continue
            path = line[lt + 1 : gt]
            if path.startswith(prefixes):
                counts[path] = counts.get(path, 0) + 1
            break
    return counts


@dataclass(frozen=True, slots=True)
class ReadProfile:
    """What the daemon read in a traced window: each file, and container-samples those reads made up."""

    reads: dict[str, int]  # path -> reads
    container_samples: int  # sum over cgroups of the most-read file's count
    containers: int

    @property
    def reads_per_container_sample(self) -> float:
        return sum(self.reads.values()) / max(self.container_samples, 1)


def cgroup_of(path: str, mounts: list[str]) -> str | None:
    """The cgroup (relative dir) of a file under one of the cgroup ``mounts``; None for other files."""
    best = max((m for m in mounts if path.startswith(m + "/")), key=len, default=None)
    if best is None:
        return None
    return os.path.dirname(path[len(best) :]) or "/"


def read_profile(reads: dict[str, int], mounts: list[str]) -> ReadProfile:
    """Per cgroup, a sample reads each of its files once, so its sample count is its most-read file's count."""
    per_cgroup: dict[str, int] = {}
    for path, n in reads.items():
        cg = cgroup_of(path, mounts)
        if cg is not None:
            per_cgroup[cg] = max(per_cgroup.get(cg, 0), n)
    return ReadProfile(reads, sum(per_cgroup.values()), len(per_cgroup))


def trace_reads(pid: int, seconds: float, out_path: str, strace: str = "strace") -> dict[str, int]:
    """Attach ``strace -f -y`` to ``pid`` for ``seconds`` and count the kernel-file reads per path."""
    p = subprocess.Popen(
        [
            strace,
            "-f",
            "-qq",
            "-y",
            "-s",
            "0",
            "-e",
            "trace=pread64,read",
            "-e",
            "signal=none",
            "-o",
            out_path,
            "-p",
            str(pid),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    record_pid(p.pid, "strace of the bench daemon")
    try:
        time.sleep(seconds)
    finally:
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGINT)  # detaches cleanly from every thread
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        forget_pid(p.pid)
    with open(out_path, errors="replace") as f:
        return parse_strace_reads(f.read())
