"""Huge page usage per page size: cgroup v1 ``hugetlb.<size>.*``, cgroup v2 ``hugetlb.<size>.current``
and ``.events``.

Sources: Documentation/admin-guide/cgroup-v1/hugetlb.rst, Documentation/admin-guide/cgroup-v2.rst
("HugeTLB Interface Files"), mm/hugetlb_cgroup.c; the ``rsvd`` files (Linux 5.7) come first, as runc
reads them (libcontainer/cgroups/fs/hugetlb.go, fs2/hugetlb.go).
"""

from __future__ import annotations

import os

from pycadvisor.host.cgroups.cpu import parse_keyed
from pycadvisor.host.cgroups.files import FileSet
from pycadvisor.model.container import HugetlbStats


def hugetlb_sizes(names: list[str]) -> list[str]:
    """The page sizes (``2MB``, ``1GB``) a cgroup directory's file names have files for."""
    return sorted({n.split(".")[1] for n in names if n.startswith("hugetlb.") and n.count(".") >= 2})


def _int(data: bytes | None) -> int:
    return int(data) if data else 0


def read_hugetlb(files: FileSet, d: str, *, v2: bool) -> dict[str, HugetlbStats] | None:
    """Usage per page size in the cgroup directory ``d``; ``None`` without hugetlb files."""
    try:
        sizes = hugetlb_sizes(os.listdir(d))
    except FileNotFoundError:
        return None
    if not sizes:
        return None
    read = files.read
    out: dict[str, HugetlbStats] = {}
    for size in sizes:
        p = f"{d}/hugetlb.{size}."
        if v2:
            cur = read(p + "rsvd.current") or read(p + "current")
            ev = parse_keyed(read(p + "events") or b"")
            out[size] = HugetlbStats(usage=_int(cur), failcnt=ev.get(b"max", 0))
        else:
            out[size] = HugetlbStats(
                usage=_int(read(p + "rsvd.usage_in_bytes") or read(p + "usage_in_bytes")),
                max_usage=_int(read(p + "max_usage_in_bytes")),
                failcnt=_int(read(p + "failcnt")),
            )
    return out
