"""Watch cgroup hierarchies for directories coming and going (cAdvisor ``container/common/inotify_watcher.go``).

inotify (``inotify_simple``) is read on the event loop through ``add_reader``. When watches run out
(``ENOSPC``: ``fs.inotify.max_user_watches``) or the queue overflows, the watcher says so once and
the manager's periodic full rescan keeps the container set right.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Callable

from inotify_simple import INotify, flags

from pycadvisor.host.cgroups.tree import cgroup_dirs_below

log = logging.getLogger(__name__)

_MASK = flags.CREATE | flags.DELETE | flags.MOVED_FROM | flags.MOVED_TO | flags.ONLYDIR | flags.DONT_FOLLOW


class CgroupWatcher:
    """Reports cgroup names (``/a/b``) created or removed under any of the given hierarchy roots."""

    def __init__(
        self,
        roots: list[str],
        *,
        on_add: Callable[[str], None],
        on_remove: Callable[[str], None],
        on_overflow: Callable[[], None],
    ) -> None:
        self._roots = roots
        self._on_add = on_add
        self._on_remove = on_remove
        self._on_overflow = on_overflow
        self._ino: INotify | None = None
        self._wds: dict[int, tuple[str, str]] = {}  # wd -> (root, dir path)
        self._paths: dict[str, int] = {}
        # dir path -> its watched subdirectories: a removal drops its subtree without looking at every
        # watch (one rmdir among 1,000 containers in 12 v1 hierarchies looked at 12,000 paths).
        self._children: dict[str, set[str]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._warned = False

    @property
    def watch_count(self) -> int:
        return len(self._wds)

    def fileno(self) -> int:
        """The inotify descriptor (its ``/proc/PID/fdinfo`` lists the kernel's watches); -1 when stopped."""
        return self._ino.fileno() if self._ino is not None else -1

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._ino = INotify(nonblocking=True)
        self._loop = loop
        for root in self._roots:
            self._watch_tree(root, root)
        loop.add_reader(self._ino.fileno(), self._drain)

    def stop(self) -> None:
        if self._ino is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(self._ino.fileno())
        self._ino.close()
        self._ino = None
        self._wds.clear()
        self._paths.clear()
        self._children.clear()

    def _watch_tree(self, root: str, top: str) -> list[str]:
        """Watch ``top`` and every directory below it; return their paths (``top`` first)."""
        paths = [top] + [p for _, p in cgroup_dirs_below(top)]
        for p in paths:
            self._watch(root, p)
        return paths

    def _watch(self, root: str, path: str) -> None:
        if self._ino is None or path in self._paths:
            return
        try:
            wd = self._ino.add_watch(path, _MASK)
        except OSError as e:
            if e.errno == errno.ENOSPC and not self._warned:
                self._warned = True
                log.warning("inotify watches exhausted at %s; relying on periodic rescans", path)
            return
        self._wds[wd] = (root, path)
        self._paths[path] = wd
        self._children.setdefault(os.path.dirname(path), set()).add(path)

    def _forget_child(self, path: str) -> None:
        parent = os.path.dirname(path)
        kids = self._children.get(parent)
        if kids is not None:
            kids.discard(path)
            if not kids:
                del self._children[parent]

    def _unwatch_tree(self, path: str) -> None:
        """Drop the watches of ``path`` and of everything below it (a rename moves a whole subtree).

        The watch must be removed here: cgroupfs (kernfs) sends no ``IN_IGNORED`` when a cgroup
        directory is removed, and a watch the kernel keeps pins its inode and counts against
        ``fs.inotify.max_user_watches``, which every process of the user (systemd, the kubelet) shares.
        """
        self._forget_child(path)
        stack = [path]
        while stack:
            p = stack.pop()
            stack.extend(self._children.pop(p, ()))
            wd = self._paths.pop(p, None)
            if wd is None:
                continue
            self._wds.pop(wd, None)
            if self._ino is not None:
                try:
                    self._ino.rm_watch(wd)
                except OSError:  # EINVAL: the kernel dropped it already (an IN_IGNORED still queued)
                    pass

    def _name(self, root: str, path: str) -> str:
        """The cgroup name of ``path``, a directory at or below ``root`` (paths are joined onto the roots here)."""
        rel = path[len(root) :].lstrip("/")
        return "/" + rel

    def _drain(self) -> None:
        if self._ino is None:
            return
        try:
            events = self._ino.read(timeout=0)
        except OSError as e:
            log.warning("inotify read failed: %s", e)
            return
        for ev in events:
            if ev.mask & flags.Q_OVERFLOW:
                self._on_overflow()
                continue
            if ev.mask & flags.IGNORED:
                entry = self._wds.pop(ev.wd, None)
                if entry:
                    self._paths.pop(entry[1], None)
                    self._forget_child(entry[1])
                continue
            entry = self._wds.get(ev.wd)
            if entry is None or not ev.name or not ev.mask & flags.ISDIR:
                continue
            root, parent = entry
            path = os.path.join(parent, ev.name)
            if ev.mask & (flags.CREATE | flags.MOVED_TO):
                for p in self._watch_tree(root, path):
                    self._on_add(self._name(root, p))
            elif ev.mask & (flags.DELETE | flags.MOVED_FROM):
                self._unwatch_tree(path)
                self._on_remove(self._name(root, path))
