"""Held file descriptors re-read with ``pread`` at offset 0.

Measured on these machines (bench/README.md): re-reading a held fd costs 1.06–1.37x the C floor,
against 3–6x for open+read+close on every sample. cgroupfs and procfs seq files return fresh
content on each pread at offset 0. Once the cgroup is removed, pread fails with ENODEV, and the
owner must drop the fds (:class:`ContainerGone`).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pycadvisor.host.cgroups.fdread import FdReader, default_reader, family_reader

_MISSING = -1
_UNSEEN = -2  # never read yet (held() only; not stored)
T = TypeVar("T")


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
    """One container's kernel files, opened lazily and kept open while the budget allows.

    Each read is one dictionary lookup and one call of the :class:`FdReader` (native where it was
    built), which reads the file at offset 0 and parses it in the same call. A missing file reads as
    ``None`` and is not looked for again until :meth:`forget_missing`.
    """

    __slots__ = ("_budget", "_fds", "_int", "_ints", "_keyed", "_psi", "_read", "families", "generation")

    def __init__(self, budget: FdBudget, reader: FdReader | None = None) -> None:
        self._fds: dict[str, int] = {}
        self._budget = budget
        r = reader or default_reader()
        self._read, self._int, self._ints, self._keyed = r.read_bytes, r.read_int, r.read_ints, r.read_keyed
        self._psi = r.read_psi
        #: One-call family reads over held descriptors (native reader only), see :meth:`held`.
        self.families = family_reader(r)
        #: Changes whenever a held descriptor is closed, so tuples from :meth:`held` can be cached.
        self.generation = 0

    def held(self, paths: tuple[str, ...], optional: int = 0) -> tuple[int, ...] | None:
        """The descriptors of ``paths`` if every one is open and held, else ``None`` (valid until
        :attr:`generation` changes). The last ``optional`` paths may instead be known to be missing
        (read before and not found): ``-1`` for those."""
        get = self._fds.get
        fds = tuple([get(p, _UNSEEN) for p in paths])
        required = len(fds) - optional
        if min(fds[:required]) < 0 or (optional and min(fds[required:]) < _MISSING):
            return None
        return fds

    def read(self, path: str) -> bytes | None:
        """Return the file's current content, or ``None`` when the file does not exist."""
        fd = self._fds.get(path)
        if fd is not None and fd >= 0:  # the common case: one dict lookup and one call
            try:
                return self._read(fd)
            except OSError as e:
                raise _gone_or(e, path) from e
        return self._slow(path, self._read)

    def read_int(self, path: str) -> int | None:
        """The file's one integer; ``None`` when the file does not exist or is empty."""
        fd = self._fds.get(path)
        if fd is not None and fd >= 0:
            try:
                return self._int(fd)
            except OSError as e:
                raise _gone_or(e, path) from e
        return self._slow(path, self._int)

    def read_ints(self, path: str) -> list[int] | None:
        """The file's whitespace-separated integers; ``None`` when the file does not exist."""
        fd = self._fds.get(path)
        if fd is not None and fd >= 0:
            try:
                return self._ints(fd)
            except OSError as e:
                raise _gone_or(e, path) from e
        return self._slow(path, self._ints)

    def read_keyed(self, path: str, keys: tuple[bytes, ...]) -> tuple[int | None, ...] | None:
        """The values of ``keys`` in a ``key value`` file (``None`` per absent key); ``None`` when the
        file does not exist."""
        fd = self._fds.get(path)
        if fd is not None and fd >= 0:
            try:
                return self._keyed(fd, keys)
            except OSError as e:
                raise _gone_or(e, path) from e
        return self._slow(path, lambda fd: self._keyed(fd, keys))

    def read_psi(self, path: str) -> tuple[int, ...] | None:
        """A pressure file's 8 values (:func:`pycadvisor.model.sample.psi_ints`); ``None`` when the
        file does not exist."""
        fd = self._fds.get(path)
        if fd is not None and fd >= 0:
            try:
                return self._psi(fd)
            except OSError as e:
                raise _gone_or(e, path) from e
        return self._slow(path, self._psi)

    def _slow(self, path: str, fn: Callable[[int], T]) -> T | None:
        """First read of a path, a known-missing path, or a read past the descriptor budget."""
        fd = self._fds.get(path)
        if fd == _MISSING:
            return None
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
            if self._budget.used >= self._budget.limit:  # over budget: opened for this read only
                try:
                    return fn(fd)
                except OSError as e:
                    raise _gone_or(e, path) from e
                finally:
                    os.close(fd)
            self._budget.used += 1
            self._fds[path] = fd
        try:
            return fn(fd)
        except OSError as e:
            raise _gone_or(e, path) from e

    def forget(self, path: str) -> None:
        """Close and drop one path (e.g. a /proc/<pid> file whose process changed)."""
        fd = self._fds.pop(path, None)
        if fd is not None and fd >= 0:
            self.generation += 1
            os.close(fd)
            self._budget.used -= 1

    def forget_under(self, prefix: str) -> None:
        """Close and drop every path below ``prefix`` (a controller directory that went away)."""
        for p in [p for p in self._fds if p.startswith(prefix)]:
            self.forget(p)

    def forget_missing(self) -> None:
        """Forget that some files were missing, so the next read looks again."""
        missing = [p for p, fd in self._fds.items() if fd == _MISSING]
        for p in missing:
            del self._fds[p]
        if missing:  # tuples from held() may hold -1 for them
            self.generation += 1

    def close(self) -> None:
        self.generation += 1
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
