"""Where the host's kernel interfaces live; every reader takes a :class:`HostPaths`.

Only :mod:`pycadvisor.config` spells the real defaults; tests point these at fixture trees
(``tests/fixtures/hosts/<scenario>/``) so one process can read several hosts at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HostPaths:
    proc: str = "/proc"
    sys: str = "/sys"
    rootfs: str = "/"
    dev: str = "/dev"
    etc: str = "/etc"

    @classmethod
    def under(cls, root: str) -> HostPaths:
        """Paths of a host whose filesystem is mounted at ``root`` (a fixture tree, or ``/rootfs``)."""
        return cls(
            proc=os.path.join(root, "proc"),
            sys=os.path.join(root, "sys"),
            rootfs=root,
            dev=os.path.join(root, "dev"),
            etc=os.path.join(root, "etc"),
        )

    def in_rootfs(self, path: str) -> str:
        """Map an absolute host path (e.g. a mount point from mountinfo) into this root."""
        return in_rootfs(self.rootfs, path)


def in_rootfs(rootfs: str, path: str) -> str:
    """An absolute host path as readable here, below ``rootfs`` (``--host_rootfs``; ``/`` or empty: as is)."""
    if rootfs in ("", "/"):
        return path
    return os.path.join(rootfs, path.lstrip("/"))


def read_bytes(path: str) -> bytes:
    """Read a whole small kernel file (procfs/sysfs/cgroupfs) with one open+read."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8", "replace")


def read_int(path: str) -> int:
    return int(read_bytes(path).strip() or b"0")
