"""The floor of collection: the daemon's kernel files held open and re-read with pread, nothing parsed.

``floor.c`` is compiled at bench time with the system compiler (``cc -O2``); without a compiler the
same loop runs in Python with ``os.pread`` (performance.md §1: 1.06-1.37x C, syscall-bound). Both
print one JSON object; :func:`run_floor` returns it as a :class:`FloorResult`.

Standalone: ``python bench/floor.py --paths-file FILE [--seconds 2] [--rounds 5] [--impl c|python]``.
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
    pause_ms: int  # 0: sweeps back to back; else paced, one sweep per pause
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


def python_floor(paths: list[str], seconds: float, rounds: int, pause_ms: int = 0) -> dict[str, object]:
    """The C loop in Python: held fds, ``os.pread`` at offset 0, sweep CPU by ``time.thread_time_ns``."""
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
    try:
        for _ in range(rounds):
            sweeps: list[int] = []
            end = time.monotonic() + seconds
            while len(sweeps) < 10 or (not pause_ms and time.monotonic() < end):
                if pause_ms:
                    time.sleep(pause_ms / 1000)
                n = 0
                t0 = clock()
                for fd in fds:
                    try:
                        data = pread(fd, BUF, 0)
                        off = len(data)
                        while len(data) == BUF:
                            data = pread(fd, BUF, off)
                            off += len(data)
                        n += off
                    except OSError:
                        errors += 1
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
) -> FloorResult:
    """Sweep ``paths`` in a fresh process: the compiled C reader, or Python when ``impl`` says so or no cc.

    ``pause_ms`` > 0 paces the sweeps (one per pause, 10 per round) instead of running them back to back.
    """
    list_file = os.path.join(workdir, "floor-paths.txt")
    with open(list_file, "w") as f:
        f.write("".join(p + "\n" for p in paths))
    exe = compile_c(workdir) if impl in ("auto", "c") else None
    if exe is None and impl == "c":
        raise RuntimeError("no C compiler found for the floor")
    if exe is not None:
        argv = [exe, list_file, str(seconds), str(rounds), str(pause_ms)]
    else:
        argv = [sys.executable, str(Path(__file__).resolve()), "--paths-file", list_file, "--impl", "python"]
        argv += ["--seconds", str(seconds), "--rounds", str(rounds), "--pause-ms", str(pause_ms)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return _result(json.loads(out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths-file", required=True, help="kernel files to sweep, one per line")
    ap.add_argument("--seconds", type=float, default=2.0, help="sweep time per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--impl", choices=("auto", "c", "python"), default="python")
    ap.add_argument("--pause-ms", type=int, default=0, help="pace the sweeps: one per pause (default: back to back)")
    args = ap.parse_args(argv)
    with open(args.paths_file) as f:
        paths = [line.strip() for line in f if line.strip()]
    if args.impl == "python":
        print(json.dumps(python_floor(paths, args.seconds, args.rounds, args.pause_ms)))
        return 0
    with tempfile.TemporaryDirectory(prefix="pycadbench-floor-") as d:
        res = run_floor(paths, d, seconds=args.seconds, rounds=args.rounds, impl=args.impl, pause_ms=args.pause_ms)
        print(json.dumps(dataclasses.asdict(res)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
