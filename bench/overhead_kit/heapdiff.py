"""Where a daemon's Python heap grew between two moments: two ``/debug/pprof/heap`` snapshots, diffed by line.

The daemon serves the heap only with ``-profiling`` (src/pycadvisor/api/profiling.py): tracemalloc then runs from
the start, which costs CPU on each allocation and memory for its traces, so a run that diffs heaps measures the
growth sites, not the daemon's RSS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from overhead_kit import httpprobe

# One line of the heap page: "     12.3 KiB      456 blocks  path/to/file.py:123" (profiling.py ``heap``).
_LINE = re.compile(r"^\s*([0-9.]+) KiB\s+(\d+) blocks\s+(.+)$")


@dataclass(frozen=True, slots=True)
class Site:
    where: str
    kib: float
    blocks: int


def parse_heap(text: str) -> dict[str, Site]:
    """The allocation sites of a ``/debug/pprof/heap?group=lineno`` page, by ``file:line``."""
    out: dict[str, Site] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            out[m[3]] = Site(m[3], float(m[1]), int(m[2]))
    return out


def snapshot(port: int, top: int = 5000) -> dict[str, Site]:
    resp = httpprobe.get(port, f"/debug/pprof/heap?top={top}")
    if resp.status != 200:
        raise RuntimeError(f"/debug/pprof/heap answered {resp.status} (is -profiling set?)")
    return parse_heap(resp.body.decode())


def growth(before: dict[str, Site], after: dict[str, Site], top: int = 15) -> list[Site]:
    """The ``top`` sites whose held memory grew most (KiB and blocks as differences)."""
    diffs = [
        Site(
            w,
            round(s.kib - (before[w].kib if w in before else 0.0), 1),
            s.blocks - (before[w].blocks if w in before else 0),
        )
        for w, s in after.items()
    ]
    return sorted(diffs, key=lambda s: s.kib, reverse=True)[:top]
