"""Sampling profiles of the daemon with py-spy (``py-spy record --format raw``) and their top frames.

py-spy reads the target's memory from outside (``--nonblocking``: without pausing it), so the
profile does not change what it measures much; it runs after the measured window anyway.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from overhead_kit.pids import forget_pid, record_pid


def find_py_spy(python: str) -> str | None:
    """py-spy beside the daemon's interpreter (its venv), else on PATH."""
    beside = Path(python).parent / "py-spy"
    if beside.exists() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("py-spy")


class Recording:
    """``py-spy record`` of ``pid`` for ``seconds`` into a collapsed-stack file, started at once."""

    def __init__(self, py_spy: str, pid: int, seconds: int, out: str, *, rate: int = 200, gil: bool = False) -> None:
        self.out = out
        self.seconds = seconds
        self.rate = rate
        self._proc = subprocess.Popen(
            [
                *([py_spy, "record", "--gil"] if gil else [py_spy, "record"]),
                "--pid",
                str(pid),
                "--duration",
                str(seconds),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                out,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        record_pid(self._proc.pid, "py-spy (pycadvisor bench)")

    def wait(self) -> str:
        """Wait for the recording to end; returns the collapsed stacks."""
        try:
            _, err = self._proc.communicate(timeout=self.seconds + 60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            _, err = self._proc.communicate()
        forget_pid(self._proc.pid)
        if self._proc.returncode != 0 or not os.path.exists(self.out):
            raise RuntimeError(f"py-spy failed: {err.decode(errors='replace').strip()[-400:]}")
        with open(self.out) as f:
            return f.read()


@dataclass(frozen=True, slots=True)
class Frame:
    name: str  # "function (file)"
    self_samples: int
    total_samples: int


def _frame_name(frame: str) -> str:
    # py-spy frames read "function (path/to/file.py:123)"; drop the line so a function is one row.
    fn, _, loc = frame.partition(" (")
    path = loc.rstrip(")").rsplit(":", 1)[0]
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{fn} ({path})" if path else fn


# Leaf frames of an event loop waiting for work: with --nonblocking py-spy cannot tell that the
# thread sleeps in epoll_wait, so these samples are idle time, not work.
_IDLE_LEAVES = ("select (selectors.py)", "EpollSelector.select (selectors.py)")


def summarize(collapsed: str) -> tuple[int, list[Frame]]:
    """Active samples and per-function self/inclusive sample counts from ``py-spy --format raw`` text.

    Samples whose leaf is the event loop's ``select`` are idle and left out.
    """
    self_c: dict[str, int] = {}
    total_c: dict[str, int] = {}
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = [_frame_name(f) for f in stack.split(";") if f]
        if not frames or frames[-1] in _IDLE_LEAVES:
            continue
        samples += count
        self_c[frames[-1]] = self_c.get(frames[-1], 0) + count
        for name in set(frames):
            total_c[name] = total_c.get(name, 0) + count
    names = set(self_c) | set(total_c)
    return samples, [Frame(n, self_c.get(n, 0), total_c.get(n, 0)) for n in names]


def report(title: str, collapsed: str, *, seconds: float, rate: int, top: int = 12) -> list[str]:
    """Printable lines: busy share of one core, then the top functions by self and by inclusive time."""
    samples, frames = summarize(collapsed)
    if samples == 0:
        return [f"{title}: no active samples"]
    busy = 100 * samples / (seconds * rate)
    lines = [
        f"{title}: {samples} active samples in {seconds:.0f} s at {rate} Hz ≈ {busy:.1f} % of one core busy in Python"
    ]
    lines.append("  self %  incl %  function")
    by_self = sorted(frames, key=lambda f: -f.self_samples)[:top]
    for f in by_self:
        lines.append(f"  {100 * f.self_samples / samples:6.1f}  {100 * f.total_samples / samples:6.1f}  {f.name}")
    lines.append("  — by inclusive time —")
    for f in sorted(frames, key=lambda f: -f.total_samples)[:top]:
        lines.append(f"  {100 * f.self_samples / samples:6.1f}  {100 * f.total_samples / samples:6.1f}  {f.name}")
    return lines
