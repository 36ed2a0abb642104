"""The cgroup watcher on real cgroupfs (issue 14, item 1): removed cgroups give their watches back.

Removing a cgroup directory sends no ``IN_IGNORED`` on cgroupfs, so a watcher that only forgets its
own record of the watch leaves the kernel's in place: each removed container would cost one of the
user's ``fs.inotify.max_user_watches`` for good. The kernel's count is read from
``/proc/self/fdinfo/<inotify fd>`` (one ``inotify wd:`` line per watch, fs/notify/fdinfo.c).
"""

from __future__ import annotations

import asyncio
import os

import pytest

from pycadvisor.watcher.inotify import CgroupWatcher
from support.cgroups import TestCgroup

pytestmark = pytest.mark.root


def kernel_watches(fd: int) -> int:
    with open(f"/proc/self/fdinfo/{fd}") as f:
        return sum(1 for line in f if line.startswith("inotify wd:"))


def test_removed_cgroups_release_their_kernel_watches(test_cgroup: TestCgroup) -> None:
    top = test_cgroup.path("cpu")
    added: list[str] = []
    removed: list[str] = []

    async def run() -> tuple[int, int, int, int]:
        w = CgroupWatcher([top], on_add=added.append, on_remove=removed.append, on_overflow=lambda: None)
        w.start(asyncio.get_running_loop())
        try:
            fd = w.fileno()
            base = kernel_watches(fd)
            for round_ in range(3):
                for i in range(40):
                    os.makedirs(os.path.join(top, f"r{round_}-{i}", "inner"))
                want = (round_ + 1) * 80
                await _settle(added, want)
                peak = kernel_watches(fd)
                for i in range(40):
                    os.rmdir(os.path.join(top, f"r{round_}-{i}", "inner"))
                    os.rmdir(os.path.join(top, f"r{round_}-{i}"))
                await _settle(removed, want)
            return base, peak, kernel_watches(fd), w.watch_count
        finally:
            w.stop()

    base, peak, after, tracked = asyncio.run(run())
    assert peak == base + 80, "each new directory is watched"
    assert after == base, f"kernel watches after removing 240 cgroups: {after} (baseline {base})"
    assert tracked == base
    assert len(removed) == 240


async def _settle(seen: list[str], n: int) -> None:
    """Let the loop deliver inotify events until ``seen`` holds ``n`` names (bounded: 10 s)."""
    for _ in range(1000):
        if len(seen) >= n:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("inotify events did not arrive within 10 s")
