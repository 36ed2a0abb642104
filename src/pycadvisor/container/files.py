"""Held file descriptors re-read with ``pread`` at offset 0.

Measured on these machines (performance.md §1): re-reading a held fd costs 1.06–1.37x the C floor,
against 3–6x for open+read+close on every sample. cgroupfs and procfs seq files return fresh
content on each pread at offset 0. Once the cgroup is removed, pread fails with ENODEV, and the
owner must drop the fds (:class:`ContainerGone`).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

# First read size: cgroup files are far smaller (memory.stat ~1–2 KiB); os.pread allocates the whole
# buffer before it reads, and 64 KiB cost 0.45 µs more per read than 16 KiB here (bench/README.md).
_BUF = 16384
_MISSING = -1
_pread = os.pread


class ContainerGone(Exception):
    """The cgroup (or the process) behind a held descriptor no longer exists."""


def _gone_or(e: OSError, path: str) -> Exception:
    """A read error on a held fd: ENODEV once the cgroup is removed, ESRCH/ENOENT once the process exited."""
    return ContainerGone(path) if e.errno in (errno.ENODEV, errno.ESRCH, errno.ENOENT) else e


@dataclass(slots=True)
class FdBudget:
    """How many descriptors all containers together may hold; past it, files are opened per read."""

    limit: int
    used: int = 0


class FileSet:
    """One container's kernel files, opened lazily and kept open while the budget allows."""

    __slots__ = ("_budget", "_fds")

    def __init__(self, budget: FdBudget) -> None:
        self._fds: dict[str, int] = {}
        self._budget = budget

    def read(self, path: str) -> bytes | None:
        """Return the file's current content, or ``None`` when the file does not exist."""
        fd = self._fds.get(path)
        if fd is not None and fd >= 0:  # the common case: one dict lookup and one pread
            try:
                data = _pread(fd, _BUF, 0)
            except OSError as e:
                raise _gone_or(e, path) from e
            return data if len(data) < _BUF else self._pread(fd, path)
        if fd is None:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                self._fds[path] = _MISSING
                return None
            except OSError as e:
                if e.errno in (errno.ENODEV, errno.ESRCH):
                    raise ContainerGone(path) from e
                raise
            if self._budget.used >= self._budget.limit:
                try:
                    return self._pread(fd, path)
                finally:
                    os.close(fd)
            self._budget.used += 1
            self._fds[path] = fd
        elif fd == _MISSING:
            return None
        return self._pread(fd, path)

    def _pread(self, fd: int, path: str) -> bytes:
        try:
            data = _pread(fd, _BUF, 0)
            if len(data) < _BUF:
                return data
            chunks = [data]
            off = len(data)
            while True:
                more = _pread(fd, _BUF, off)
                if not more:
                    return b"".join(chunks)
                chunks.append(more)
                off += len(more)
        except OSError as e:
            raise _gone_or(e, path) from e

    def forget(self, path: str) -> None:
        """Close and drop one path (e.g. a /proc/<pid> file whose process changed)."""
        fd = self._fds.pop(path, None)
        if fd is not None and fd >= 0:
            os.close(fd)
            self._budget.used -= 1

    def forget_missing(self) -> None:
        """Forget that some files were missing, so the next read looks again."""
        for p in [p for p, fd in self._fds.items() if fd == _MISSING]:
            del self._fds[p]

    def close(self) -> None:
        for fd in self._fds.values():
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
                self._budget.used -= 1
        self._fds.clear()

    def __len__(self) -> int:
        return sum(1 for fd in self._fds.values() if fd >= 0)
