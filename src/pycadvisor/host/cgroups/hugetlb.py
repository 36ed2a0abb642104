"""Huge page usage per page size: the hugetlb family's slots (``HugetlbStats``) per cgroup version,
read from cgroup v1 ``hugetlb.<size>.*`` and cgroup v2 ``hugetlb.<size>.current`` and ``.events``.

Sources: Documentation/admin-guide/cgroup-v1/hugetlb.rst, Documentation/admin-guide/cgroup-v2.rst
("HugeTLB Interface Files"), mm/hugetlb_cgroup.c; the ``rsvd`` files (Linux 5.7) come first, as runc
reads them (libcontainer/cgroups/fs/hugetlb.go, fs2/hugetlb.go). A row's file names the page size
``{size}`` (``2MB``, ``1GB``).
"""

from __future__ import annotations

import os

from pycadvisor.host.cgroups.files import FileSet
from pycadvisor.host.cgroups.rows import ABSENT, Row, Table, parse_keyed
from pycadvisor.model.container import HugetlbStats

HUGETLB_SLOTS = ("usage", "max_usage", "failcnt")
_READ_U64 = "mm/hugetlb_cgroup.c hugetlb_cgroup_read_u64"
V1_ROWS = (
    Row("usage", "hugetlb.{size}.usage_in_bytes", source=f"{_READ_U64} RES_USAGE"),
    Row("max_usage", "hugetlb.{size}.max_usage_in_bytes", source=f"{_READ_U64} RES_MAX_USAGE"),
    Row("failcnt", "hugetlb.{size}.failcnt", source=f"{_READ_U64} RES_FAILCNT"),
)
V2_ROWS = (
    Row("usage", "hugetlb.{size}.current", source=f"{_READ_U64} RES_USAGE"),
    Row("max_usage", ABSENT, source="v1 only (left out of the JSON, as cAdvisor)"),
    Row("failcnt", "hugetlb.{size}.events", "max", "mm/hugetlb_cgroup.c hugetlb_events_show"),
)
V1_HUGETLB = Table(V1_ROWS, tuple(r.file for r in V1_ROWS), HUGETLB_SLOTS)
V2_HUGETLB = Table(V2_ROWS, ("hugetlb.{size}.current", "hugetlb.{size}.events"), HUGETLB_SLOTS)
#: A usage file's reservation twin (Linux 5.7), read first when the kernel has it, as runc.
RESERVED = {
    "hugetlb.{size}.usage_in_bytes": "hugetlb.{size}.rsvd.usage_in_bytes",
    "hugetlb.{size}.current": "hugetlb.{size}.rsvd.current",
}


def hugetlb_sizes(names: list[str]) -> list[str]:
    """The page sizes (``2MB``, ``1GB``) a cgroup directory's file names have files for."""
    return sorted({n.split(".")[1] for n in names if n.startswith("hugetlb.") and n.count(".") >= 2})


def hugetlb_value(row: Row, data: bytes | None) -> int:
    """A row's value from its file's content (``None``: no such file), 0 when absent."""
    if not data:
        return 0
    return parse_keyed(data).get(row.key.encode(), 0) if row.key else int(data)


def read_hugetlb(files: FileSet, d: str, *, v2: bool) -> dict[str, HugetlbStats] | None:
    """Usage per page size in the cgroup directory ``d``; ``None`` without hugetlb files."""
    try:
        sizes = hugetlb_sizes(os.listdir(d))
    except FileNotFoundError:
        return None
    if not sizes:
        return None
    read = files.read
    rows = [r for r in (V2_HUGETLB if v2 else V1_HUGETLB).rows if r.file != ABSENT]
    out: dict[str, HugetlbStats] = {}
    for size in sizes:
        values: dict[str, int] = {}
        for r in rows:
            rsvd = RESERVED.get(r.file)
            data = (read(f"{d}/{rsvd.format(size=size)}") if rsvd else None) or read(f"{d}/{r.file.format(size=size)}")
            values[r.name] = hugetlb_value(r, data)
        out[size] = HugetlbStats(**values)
    return out
