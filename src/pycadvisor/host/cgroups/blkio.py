"""Block IO: the IO family's rows per cgroup version, and its parsers: cgroup v1 ``blkio.*`` (``maj:min Op value``
lines) and cgroup v2 ``io.stat``.

The family's values are per device: a row names a (member, op) pair, ``<member>.<op>`` (cAdvisor's
``DiskIoStats`` member and its ``stats`` key), and the file and key it is read from. Sources:
Documentation/admin-guide/cgroup-v1/blkio-controller.rst, Documentation/admin-guide/cgroup-v2.rst
("IO Interface Files"), and cAdvisor's op names (v1: Read, Write, Sync, Async, Discard, Total; v2:
Read, Write, Count; container/libcontainer/handler.go over runc's fs/blkio.go and fs2/io.go).
"""

from __future__ import annotations

from pycadvisor.host.cgroups.rows import Row, Table

Device = tuple[int, int]

_IO_STAT = "block/blk-cgroup.c blkcg_print_one_stat"
_IOCOST = "block/blk-iocost.c ioc_pd_stat (Linux 5.4, with io.cost.qos on)"
#: cgroup v2: io.stat's ``key=value`` pairs of a device line (dbytes and dios are not reported, as runc).
V2_IO_ROWS = (
    Row("io_service_bytes.Read", "io.stat", "rbytes", _IO_STAT),
    Row("io_service_bytes.Write", "io.stat", "wbytes", _IO_STAT),
    Row("io_serviced.Read", "io.stat", "rios", _IO_STAT),
    Row("io_serviced.Write", "io.stat", "wios", _IO_STAT),
    Row("io_cost_usage.Count", "io.stat", "cost.usage", _IOCOST),
    Row("io_cost_wait.Count", "io.stat", "cost.wait", _IOCOST),
    Row("io_cost_indebt.Count", "io.stat", "cost.indebt", _IOCOST),
    Row("io_cost_indelay.Count", "io.stat", "cost.indelay", _IOCOST),
)
V2_IO = Table(V2_IO_ROWS, ("io.stat",), tuple(r.name for r in V2_IO_ROWS))

#: cgroup v1: the ops of a ``maj:min Op value`` line (Discard: Linux 4.19); a ``Total N`` summary line ends the file.
V1_OPS = ("Read", "Write", "Sync", "Async", "Discard", "Total")
_RWSTAT = "block/blk-cgroup-rwstat.c __blkg_prfill_rwstat"


def _v1_rows(bytes_file: str, ops_file: str, source: str) -> tuple[Row, ...]:
    return tuple(
        Row(f"{member}.{op}", f, op, f"{source}, {_RWSTAT}")
        for member, f in (("io_service_bytes", bytes_file), ("io_serviced", ops_file))
        for op in V1_OPS
    )


#: The v1 groups in runc's order (libcontainer/cgroups/fs/blkio.go): the first whose bytes file has
#: device lines is read. BFQ, then blk-throttle recursive, then plain blk-throttle; CFQ went away in Linux 5.0.
V1_BLKIO = tuple(
    Table(rows, (rows[0].file, rows[-1].file), tuple(r.name for r in rows))
    for rows in (
        _v1_rows("blkio.bfq.io_service_bytes_recursive", "blkio.bfq.io_serviced_recursive",
                 "block/bfq-cgroup.c bfq_blkg_files (blkg_print_stat_bytes_recursive)"),
        _v1_rows("blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive",
                 "block/blk-throttle.c throtl_legacy_files (tg_print_rwstat_recursive)"),
        _v1_rows("blkio.throttle.io_service_bytes", "blkio.throttle.io_serviced",
                 "block/blk-throttle.c throtl_legacy_files (tg_print_rwstat)"),
    )
)  # fmt: skip

_V1_OPS = {op.encode(): op for op in V1_OPS}


def parse_blkio_v1(data: bytes) -> dict[Device, dict[str, int]]:
    """Return per-device op counters; the trailing ``Total N`` summary line is skipped (as runc does)."""
    out: dict[Device, dict[str, int]] = {}
    for line in data.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        maj, _, mnr = parts[0].partition(b":")
        dev = (int(maj), int(mnr))
        op = _V1_OPS.get(parts[1])
        if op is None:
            op = parts[1].decode()
        out.setdefault(dev, {})[op] = int(parts[2])
    return out


# io.stat keys -> (cAdvisor diskio member, op), as V2_IO_ROWS name them
_V2_KEYS = {r.key.encode(): (r.name.split(".", 1)[0], r.name.split(".", 1)[1]) for r in V2_IO_ROWS}


def parse_io_stat(data: bytes) -> dict[str, dict[Device, dict[str, int]]]:
    """Parse v2 ``io.stat`` (``maj:min rbytes=… wbytes=… rios=… wios=… dbytes=… dios=…``) by cAdvisor member."""
    out: dict[str, dict[Device, dict[str, int]]] = {}
    for line in data.splitlines():
        parts = line.split()
        if not parts:
            continue
        maj, _, mnr = parts[0].partition(b":")
        dev = (int(maj), int(mnr))
        for kv in parts[1:]:
            k, _, v = kv.partition(b"=")
            target = _V2_KEYS.get(k)
            if target is None:
                continue
            member, op = target
            out.setdefault(member, {}).setdefault(dev, {})[op] = int(v)
    return out
