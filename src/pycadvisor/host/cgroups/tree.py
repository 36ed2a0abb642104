"""The directories of a cgroup hierarchy, listed without reading every cgroup's files.

A cgroup directory holds its control files (~30 in a v1 memory cgroup) and its child cgroups; a
listing of the whole tree reads them all (11,000 entries for 750 cgroups on a hybrid host with 100
containers). kernfs gives a directory ``st_nlink`` = 2 + its number of subdirectories
(fs/kernfs/inode.c: ``kernfs_refresh_inode`` sets ``dir.subdirs + 2``), as ext4 and tmpfs do (the
fixture trees), so a cgroup whose ``st_nlink`` is 2 has no children and is not listed: one
``lstat`` instead of a directory read. Filesystems that report another count for directories
(btrfs: 1) are listed in full, as ``find`` does without its leaf optimisation.
"""

from __future__ import annotations

import os
from collections.abc import Iterator


def cgroup_dirs_below(top: str) -> Iterator[tuple[str, str]]:
    """Yield ``(name, path)`` for every directory below ``top`` (not ``top`` itself), where ``name`` is
    the path relative to ``top`` with a leading slash (``/a/b``). Symlinks are not followed; a
    directory that vanishes or cannot be read while walking is skipped with what is below it."""
    stack = [("", top)]
    while stack:
        rel, path = stack.pop()
        try:
            with os.scandir(path) as it:
                # d_type from getdents: no syscall per entry; a symlink is not a directory here.
                children = [(e.name, e.path) for e in it if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        for child, child_path in children:
            name = rel + "/" + child
            yield name, child_path
            try:
                leaf = os.lstat(child_path).st_nlink == 2
            except OSError:
                continue
            if not leaf:
                stack.append((name, child_path))
