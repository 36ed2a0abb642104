"""Disk usage of container directories (writable layer, logs) by a time-budgeted walk.

cAdvisor measures a Docker/CRI-O container's filesystem usage with a periodic walk of its
rootfs dir plus its log dir (``container/common/fsHandler.go``, ``fs.GetDirUsage``): bytes are
``st_blocks * 512`` of every inode seen once (hard links deduplicated), symlinks are not
followed and the walk stays on the filesystem of the directory it starts from. Base usage is the
first (writable layer) directory alone, total usage all directories.

This tracker does the same without forking ``du`` and without blocking the event loop:

- walks run on the event loop in slices of at most ``slice_s`` seconds, with ``await
  asyncio.sleep(0)`` between slices, so requests and housekeeping interleave;
- every round (``round_s``, default 1 s) spends at most ``budget_s_per_round`` seconds walking;
  an unfinished walk keeps its position (open directory fds and scandir iterators) and resumes
  in the next round, so a huge layer is spread over several rounds instead of stalling one;
- between rounds the loop sleeps until a walk is due, and with nothing tracked until something is
  (an idle wake-up of the event loop costs ~140 µs of CPU here: bench/loop_wakeup.py);
- each container is re-measured once per ``interval_s`` (cAdvisor: 1 min); a figure is published
  only when a whole walk finishes, so a reader never sees a partial count. Until the first walk
  ends, :meth:`FsUsageTracker.usage` returns ``None`` ("not collected").

Directories are opened relative to their parent fd (``openat`` + ``fstatat`` via ``os.scandir(fd)``)
with ``O_NOFOLLOW``: no path is resolved twice and a symlink swapped in mid-walk is never followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

_log = logging.getLogger(__name__)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_BLOCK = 512  # st_blocks unit (POSIX; cAdvisor fs.go statBlockSize)


class FsUsage(NamedTuple):
    """Result of one complete walk of a container's directories."""

    bytes: int  # total: all directories (cAdvisor TotalUsageBytes)
    inodes: int  # inodes counted once per directory tree (cAdvisor InodeUsage)
    base_bytes: int  # the first directory only, the writable layer (cAdvisor BaseUsageBytes)
    # st_dev of the writable layer directory: which filesystem holds it (cAdvisor GetDirFsDevice stats it).
    device: int | None = None


@dataclass(slots=True)
class _Frame:
    fd: int
    entries: Iterator[os.DirEntry[str]]


@dataclass(slots=True)
class _Walk:
    """A walk in progress over one container's directories; resumable at any entry."""

    dirs: tuple[str, ...]
    index: int = 0  # which of ``dirs`` is being walked
    stack: list[_Frame] = field(default_factory=list)
    root_dev: int = 0
    seen: set[tuple[int, int]] = field(default_factory=set)  # (dev, ino) of multiply-linked files
    bytes: int = 0
    inodes: int = 0
    base_bytes: int = 0
    base_found: bool = False
    base_dev: int | None = None  # st_dev of the first directory, from the fstat the walk makes anyway

    def close(self) -> None:
        while self.stack:
            _close_frame(self.stack.pop())


@dataclass(slots=True)
class _Tracked:
    dirs: tuple[str, ...]
    due: float  # monotonic time the next walk may start
    walk: _Walk | None = None
    result: FsUsage | None = None


def _close_frame(frame: _Frame) -> None:
    close = getattr(frame.entries, "close", None)
    if close is not None:
        close()
    with contextlib.suppress(OSError):
        os.close(frame.fd)


def _open_root(walk: _Walk) -> bool:
    """Open ``walk.dirs[walk.index]`` and count the directory itself; False if it is absent."""
    path = walk.dirs[walk.index]
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        entries = os.scandir(fd)
    except OSError:
        os.close(fd)
        return False
    walk.root_dev = st.st_dev
    if walk.index == 0:
        walk.base_dev = st.st_dev
    walk.seen = set()
    walk.bytes += st.st_blocks * _BLOCK
    walk.inodes += 1
    walk.stack.append(_Frame(fd, entries))
    return True


class FsUsageTracker:
    """Periodic, budgeted disk-usage walks of the directories of tracked containers."""

    def __init__(
        self,
        interval_s: float,
        budget_s_per_round: float,
        *,
        round_s: float = 1.0,
        slice_s: float = 0.002,
    ) -> None:
        if interval_s <= 0 or budget_s_per_round <= 0 or round_s <= 0 or slice_s <= 0:
            raise ValueError("interval_s, budget_s_per_round, round_s and slice_s must be > 0")
        self.interval_s = interval_s
        self.budget_s_per_round = budget_s_per_round
        self.round_s = round_s
        self.slice_s = min(slice_s, budget_s_per_round)
        self._tracked: dict[str, _Tracked] = {}
        self._wake: asyncio.Event | None = None  # set by track() while run() sleeps
        self.rounds = 0
        # Cost counters (for a self-metric and the benchmark): entries visited, seconds spent.
        self.entries_walked = 0
        self.seconds_walking = 0.0
        self.walks_completed = 0

    # ---------------------------------------------------------------- bookkeeping

    def track(self, name: str, dirs: list[str]) -> None:
        """Measure ``dirs`` (writable layer first) for ``name``; tracking it with other dirs restarts."""
        key = tuple(dirs)
        cur = self._tracked.get(name)
        if cur is not None and cur.dirs == key:
            return
        if cur is not None and cur.walk is not None:
            cur.walk.close()
        self._tracked[name] = _Tracked(dirs=key, due=time.monotonic())
        if self._wake is not None:
            self._wake.set()

    def untrack(self, name: str) -> None:
        """Stop measuring ``name`` and forget its figure (closes any open directory of its walk)."""
        cur = self._tracked.pop(name, None)
        if cur is not None and cur.walk is not None:
            cur.walk.close()

    def usage(self, name: str) -> tuple[int, int] | None:
        """(bytes, inodes) over all directories from the last complete walk; ``None`` before the first."""
        cur = self._tracked.get(name)
        if cur is None or cur.result is None:
            return None
        return cur.result.bytes, cur.result.inodes

    def fs_usage(self, name: str) -> FsUsage | None:
        """Total bytes, inodes and base (writable-layer) bytes of the last complete walk, or ``None``."""
        cur = self._tracked.get(name)
        return None if cur is None else cur.result

    def names(self) -> list[str]:
        return list(self._tracked)

    def close(self) -> None:
        """Close every open directory of walks in progress."""
        for cur in self._tracked.values():
            if cur.walk is not None:
                cur.walk.close()
                cur.walk = None

    # ---------------------------------------------------------------- the loop

    async def run(self) -> None:
        """Walk forever: budgeted rounds at most every ``round_s``, each when a walk is due, none while
        nothing is (cancel the task to stop)."""
        wake = self._wake = asyncio.Event()
        try:
            while True:
                start = time.monotonic()
                wake.clear()
                await self.run_round()
                self.rounds += 1
                now = time.monotonic()
                rest = max(0.0, self.round_s - (now - start))  # the round's budget is per round_s
                idle = self._idle_s(now)
                if idle is not None and idle <= rest:
                    await asyncio.sleep(rest)
                    continue
                if idle is None:  # nothing tracked: sleep until track()
                    await wake.wait()
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), idle)
                await asyncio.sleep(max(0.0, self.round_s - (time.monotonic() - start)))
        finally:
            self._wake = None
            self.close()

    def _idle_s(self, now: float) -> float | None:
        """Seconds until the next walk is due (0 while one is in progress); None with nothing tracked."""
        if not self._tracked:
            return None
        if any(cur.walk is not None for cur in self._tracked.values()):
            return 0.0
        return max(0.0, min(cur.due for cur in self._tracked.values()) - now)

    async def run_round(self) -> float:
        """Advance due walks for at most ``budget_s_per_round`` s of walking; returns the seconds spent."""
        spent = 0.0
        while spent < self.budget_s_per_round:
            now = time.monotonic()
            cur = self._next_due(now)
            if cur is None:
                break
            if cur.walk is None:
                cur.walk = _Walk(dirs=cur.dirs)
            walk = cur.walk
            allowance = min(self.slice_s, self.budget_s_per_round - spent)
            t0 = time.perf_counter()
            done = self._advance(walk, t0 + allowance)
            dt = time.perf_counter() - t0
            spent += dt
            self.seconds_walking += dt
            if done and cur.walk is walk:
                walk.close()
                cur.walk = None
                cur.due = now + self.interval_s
                if walk.base_found:
                    cur.result = FsUsage(walk.bytes, walk.inodes, walk.base_bytes, walk.base_dev)
                    self.walks_completed += 1
            # Let the API and housekeeping run between slices (a tracked name may vanish meanwhile).
            await asyncio.sleep(0)
        return spent

    def _next_due(self, now: float) -> _Tracked | None:
        """The walk in progress, else the most overdue container; None if nothing is due."""
        best: _Tracked | None = None
        for cur in self._tracked.values():
            if cur.walk is not None:
                return cur
            if cur.due <= now and (best is None or cur.due < best.due):
                best = cur
        return best

    def _advance(self, walk: _Walk, deadline: float) -> bool:
        """Walk until ``deadline`` (perf_counter); True once every directory has been walked."""
        perf = time.perf_counter
        count = 0
        try:
            while True:
                if not walk.stack:
                    # The current directory tree is done: open the next one.
                    if walk.index >= len(walk.dirs):
                        return True
                    opened = _open_root(walk)
                    if walk.index == 0:
                        walk.base_found = opened
                    walk.index += 1
                    if not opened:
                        continue
                frame = walk.stack[-1]
                entry = next(frame.entries, None)
                if entry is None:
                    _close_frame(walk.stack.pop())
                    if not walk.stack and walk.index == 1:  # the writable layer is complete
                        walk.base_bytes = walk.bytes
                    continue
                count += 1
                try:
                    st = entry.stat(follow_symlinks=False)  # fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)
                except OSError:
                    continue  # removed meanwhile
                if st.st_dev != walk.root_dev:
                    continue  # a mount point: do not cross filesystems (du -x; cAdvisor SkipDir)
                if stat.S_ISDIR(st.st_mode):
                    try:
                        fd = os.open(entry.name, _DIR_FLAGS, dir_fd=frame.fd)
                    except OSError:
                        fd = -1
                    if fd >= 0:
                        try:
                            walk.stack.append(_Frame(fd, os.scandir(fd)))
                        except OSError:
                            os.close(fd)
                elif st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    if key in walk.seen:
                        continue
                    walk.seen.add(key)
                walk.bytes += st.st_blocks * _BLOCK
                walk.inodes += 1
                if perf() >= deadline:
                    return False
        finally:
            self.entries_walked += count
