"""Block I/O families: metric set ``diskIO`` (lib/metrics/prometheus.go ``ioValues``/``fsValues``).

Most families take one sample per device of the cgroup's blkio/io.stat data (value of one op, 0 when
the device lacks it) and, after those, one per ``filesystem[]`` entry from /proc/diskstats. The fs
branch of the ``*_seconds_total`` families divides milliseconds by 1e9, a cAdvisor unit bug kept for
compatibility (``metrics/prometheus.go``, the ``fsValues`` time families).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter

from pycadvisor.metrics.spec import COUNTER, GAUGE, NS_PER_S, US_PER_S, MetricSpec, Sample
from pycadvisor.model.container import ContainerStats, DiskIoStats, FsStats, PerDiskStats


def _io_values(
    member: str,
    op: str,
    scale: float | None,
    fs_field: str | None,
    fs_scale: float | None = None,
) -> Callable[[ContainerStats], Sequence[Sample]]:
    disks: Callable[[DiskIoStats], list[PerDiskStats]] = attrgetter(member)
    fs_read: Callable[[FsStats], int] | None = attrgetter(fs_field) if fs_field else None

    def values(s: ContainerStats) -> Sequence[Sample]:
        d = s.diskio
        if d is None:
            return ()
        out: list[Sample] = []
        for stat in disks(d):
            raw = stat.stats.get(op, 0)
            out.append(((stat.device,), raw if scale is None else raw / scale))
        if fs_read is not None and s.filesystem:
            for f in s.filesystem:
                raw = fs_read(f)
                out.append(((f.device,), raw if fs_scale is None else raw / fs_scale))
        return out

    return values


def _blkio_device_usage(s: ContainerStats) -> Sequence[Sample]:
    # Every op of io_service_bytes per device: labels (device, major, minor, operation).
    d = s.diskio
    if d is None:
        return ()
    out: list[Sample] = []
    for stat in d.io_service_bytes:
        major, minor = str(stat.major), str(stat.minor)
        for op, v in stat.stats.items():
            out.append(((stat.device, major, minor, op), v))
    return out


def _spec(
    name: str, help: str, values: Callable[[ContainerStats], Sequence[Sample]], mtype: str = COUNTER
) -> MetricSpec:
    return MetricSpec(name=name, help=help, type=mtype, extra_labels=("device",), values=values)


DISK_IO_METRICS = (
    _spec(
        "container_fs_reads_bytes_total",
        "Cumulative count of bytes read",
        _io_values("io_service_bytes", "Read", None, None),
    ),
    _spec(
        "container_fs_reads_total",
        "Cumulative count of reads completed",
        _io_values("io_serviced", "Read", None, "reads_completed"),
    ),
    _spec(
        "container_fs_sector_reads_total",
        "Cumulative count of sector reads completed",
        _io_values("sectors", "Read", None, "sectors_read"),
    ),
    _spec(
        "container_fs_reads_merged_total",
        "Cumulative count of reads merged",
        _io_values("io_merged", "Read", None, "reads_merged"),
    ),
    _spec(
        "container_fs_read_seconds_total",
        "Cumulative count of seconds spent reading",
        _io_values("io_service_time", "Read", NS_PER_S, "read_time", NS_PER_S),
    ),
    _spec(
        "container_fs_writes_bytes_total",
        "Cumulative count of bytes written",
        _io_values("io_service_bytes", "Write", None, None),
    ),
    _spec(
        "container_fs_writes_total",
        "Cumulative count of writes completed",
        _io_values("io_serviced", "Write", None, "writes_completed"),
    ),
    _spec(
        "container_fs_sector_writes_total",
        "Cumulative count of sector writes completed",
        _io_values("sectors", "Write", None, "sectors_written"),
    ),
    _spec(
        "container_fs_writes_merged_total",
        "Cumulative count of writes merged",
        _io_values("io_merged", "Write", None, "writes_merged"),
    ),
    _spec(
        "container_fs_write_seconds_total",
        "Cumulative count of seconds spent writing",
        _io_values("io_service_time", "Write", NS_PER_S, "write_time", NS_PER_S),
    ),
    _spec(
        "container_fs_io_current",
        "Number of I/Os currently in progress",
        _io_values("io_queued", "Total", None, "io_in_progress"),
        GAUGE,
    ),
    _spec(
        "container_fs_io_time_seconds_total",
        "Cumulative count of seconds spent doing I/Os",
        _io_values("io_service_time", "Total", NS_PER_S, "io_time", NS_PER_S),
    ),
    # fs only, and not gated on diskio being collected (as in cAdvisor). Declared (spec.py `each`).
    MetricSpec(
        name="container_fs_io_time_weighted_seconds_total",
        help="Cumulative weighted I/O time in seconds",
        type=COUNTER,
        extra_labels=("device",),
        each=("filesystem",),
        each_labels=("device",),
        path=("weighted_io_time",),
        scale=NS_PER_S,
    ),
    _spec(
        "container_fs_io_cost_usage_seconds_total",
        "Cumulative IOCost usage in seconds",
        _io_values("io_cost_usage", "Count", US_PER_S, None),
    ),
    _spec(
        "container_fs_io_cost_wait_seconds_total",
        "Cumulative IOCost wait in seconds",
        _io_values("io_cost_wait", "Count", US_PER_S, None),
    ),
    _spec(
        "container_fs_io_cost_indebt_seconds_total",
        "Cumulative IOCost debt in seconds",
        _io_values("io_cost_indebt", "Count", US_PER_S, None),
    ),
    _spec(
        "container_fs_io_cost_indelay_seconds_total",
        "Cumulative IOCost delay in seconds",
        _io_values("io_cost_indelay", "Count", US_PER_S, None),
    ),
    MetricSpec(
        name="container_blkio_device_usage_total",
        help="Blkio Device bytes usage",
        type=COUNTER,
        extra_labels=("device", "major", "minor", "operation"),
        values=_blkio_device_usage,
    ),
)
