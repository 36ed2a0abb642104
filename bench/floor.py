"""The floor of collection: the daemon's kernel files held open and re-read with pread, nothing parsed.

``floor.c`` is compiled at bench time with the system compiler (``cc -O2``); without a compiler the
same loop runs in Python with ``os.pread`` (1.06-1.37x C, syscall-bound: bench/fdread.py). Both
print one JSON object; :func:`run_floor` returns it as a :class:`FloorResult`.

With ``pause_ms`` > 0 the reads follow the daemon's schedule instead of running back to back: each
file once per period of ``pause_ms``, the period split into ``ticks`` wake-ups that each sleep
``pause_ms / ticks`` and read one contiguous slice of the files; the CPU is the whole process's over
whole periods, so the wake-ups count as they do in the daemon's CPU (see ``floor.c``).

Standalone: ``python bench/floor.py --paths-file FILE [--seconds 2] [--rounds 5] [--impl c|python]
[--pause-ms 1000 --ticks 4]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUF = 65536


@dataclass(frozen=True, slots=True)
class FloorResult:
    impl: str  # "c" or "python"
    pause_ms: int  # 0: sweeps back to back; else paced, every file once per pause
    ticks: int  # paced: wake-ups per pause, each reading its slice of the files
    files: int
    unopened: int
    read_errors: int
    sweeps: int
    bytes_per_sweep: int
    median_sweep_ns: int
    round_median_sweep_ns: list[int]


def compile_c(out_dir: str, source: Path = HERE / "floor.c") -> str | None:
    """Build ``floor.c`` with ``cc`` (or gcc/clang) into ``out_dir``; None when no compiler works."""
    for cc in ("cc", "gcc", "clang"):
        path = shutil.which(cc)
        if path is None:
            continue
        exe = os.path.join(out_dir, "floor")
        r = subprocess.run([path, "-O2", "-o", exe, str(source)], capture_output=True, text=True)
        if r.returncode == 0:
            return exe
        print(f"floor: {cc} failed: {r.stderr.strip()[:300]}", file=sys.stderr)
    return None


PERIODS = 10  # full sweeps per paced round


def python_floor(paths: list[str], seconds: float, rounds: int, pause_ms: int = 0, ticks: int = 1) -> dict[str, object]:
    """The C loop in Python: held fds, ``os.pread`` at offset 0.

    Back to back, sweep CPU by ``time.thread_time_ns``; paced (``pause_ms`` > 0), ``ticks`` wake-ups
    per period each reading a slice, and the process CPU (``time.process_time_ns``) of 10 whole
    periods, sleeps included, divided by 10.
    """
    ticks = max(ticks, 1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    fds: list[int] = []
    unopened = 0
    for p in paths:
        try:
            fds.append(os.open(p, os.O_RDONLY | os.O_CLOEXEC))
        except OSError:
            unopened += 1
    pread, clock = os.pread, time.thread_time_ns
    medians: list[int] = []
    total = errors = size = 0

    def read(lo: int, hi: int) -> int:
        nonlocal errors
        n = 0
        for fd in fds[lo:hi]:
            try:
                data = pread(fd, BUF, 0)
                off = len(data)
                while len(data) == BUF:
                    data = pread(fd, BUF, off)
                    off += len(data)
                n += off
            except OSError:
                errors += 1
        return n

    nfd, tick_s = len(fds), pause_ms / 1000 / ticks
    try:
        for _ in range(rounds):
            if pause_ms:
                # Whole periods, whole process: the sleeps' wake-ups are part of the cost.
                t0 = time.process_time_ns()
                for _ in range(PERIODS):
                    n = 0
                    for t in range(ticks):
                        time.sleep(tick_s)
                        n += read(t * nfd // ticks, (t + 1) * nfd // ticks)
                    size = n
                medians.append((time.process_time_ns() - t0) // PERIODS)
                total += PERIODS
                continue
            sweeps: list[int] = []
            end = time.monotonic() + seconds
            while len(sweeps) < 10 or time.monotonic() < end:
                t0 = clock()
                n = read(0, nfd)
                sweeps.append(clock() - t0)
                size = n
            total += len(sweeps)
            medians.append(int(statistics.median(sweeps)))
    finally:
        for fd in fds:
            os.close(fd)
    return {
        "impl": "python",
        "pause_ms": pause_ms,
        "ticks": ticks,
        "files": len(fds),
        "unopened": unopened,
        "read_errors": errors,
        "rounds": rounds,
        "sweeps": total,
        "bytes_per_sweep": size,
        "round_median_sweep_ns": medians,
        "median_sweep_ns": int(statistics.median(medians)),
    }


def _result(doc: dict[str, object]) -> FloorResult:
    def num(key: str) -> int:
        v = doc[key]
        assert isinstance(v, int), key
        return v

    rounds = doc["round_median_sweep_ns"]
    assert isinstance(rounds, list)
    return FloorResult(
        impl=str(doc["impl"]),
        pause_ms=num("pause_ms"),
        ticks=num("ticks"),
        files=num("files"),
        unopened=num("unopened"),
        read_errors=num("read_errors"),
        sweeps=num("sweeps"),
        bytes_per_sweep=num("bytes_per_sweep"),
        median_sweep_ns=num("median_sweep_ns"),
        round_median_sweep_ns=[int(x) for x in rounds],
    )


def run_floor(
    paths: list[str],
    workdir: str,
    *,
    seconds: float = 2.0,
    rounds: int = 5,
    impl: str = "auto",
    pause_ms: int = 0,
    ticks: int = 1,
) -> FloorResult:
    """Sweep ``paths`` in a fresh process: the compiled C reader, or Python when ``impl`` says so or no cc.

    ``pause_ms`` > 0 paces the reads instead of running sweeps back to back: every file once per
    pause, in ``ticks`` wake-ups each reading the next slice of ``paths`` (so order them by
    container), 10 pauses per round, process CPU per full sweep with the wake-ups counted.
    """
    list_file = os.path.join(workdir, "floor-paths.txt")
    with open(list_file, "w") as f:
        f.write("".join(p + "\n" for p in paths))
    exe = compile_c(workdir) if impl in ("auto", "c") else None
    if exe is None and impl == "c":
        raise RuntimeError("no C compiler found for the floor")
    if exe is not None:
        argv = [exe, list_file, str(seconds), str(rounds), str(pause_ms), str(ticks)]
    else:
        argv = [sys.executable, str(Path(__file__).resolve()), "--paths-file", list_file, "--impl", "python"]
        argv += ["--seconds", str(seconds), "--rounds", str(rounds), "--pause-ms", str(pause_ms)]
        argv += ["--ticks", str(ticks)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return _result(json.loads(out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths-file", required=True, help="kernel files to sweep, one per line")
    ap.add_argument("--seconds", type=float, default=2.0, help="sweep time per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--impl", choices=("auto", "c", "python"), default="python")
    ap.add_argument(
        "--pause-ms", type=int, default=0, help="pace the reads: every file once per pause (default: back to back)"
    )
    ap.add_argument("--ticks", type=int, default=1, help="paced: wake-ups per pause, each reading a slice (default 1)")
    args = ap.parse_args(argv)
    with open(args.paths_file) as f:
        paths = [line.strip() for line in f if line.strip()]
    if args.impl == "python":
        print(json.dumps(python_floor(paths, args.seconds, args.rounds, args.pause_ms, args.ticks)))
        return 0
    with tempfile.TemporaryDirectory(prefix="pycadbench-floor-") as d:
        res = run_floor(
            paths,
            d,
            seconds=args.seconds,
            rounds=args.rounds,
            impl=args.impl,
            pause_ms=args.pause_ms,
            ticks=args.ticks,
        )
        print(json.dumps(dataclasses.asdict(res)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
