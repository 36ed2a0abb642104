"""Filesystem usage families: metric set ``disk`` (lib/metrics/prometheus.go ``fsValues``).

One sample per ``filesystem[]`` entry of the latest stats, labelled by its device.
"""

from __future__ import annotations

from pycadvisor.metrics.spec import GAUGE, MetricSpec


def _fs_spec(name: str, help: str, field: str) -> MetricSpec:
    # Declared (spec.py `each`): a sample per filesystem entry.
    return MetricSpec(
        name=name,
        help=help,
        type=GAUGE,
        extra_labels=("device",),
        each=("filesystem",),
        each_labels=("device",),
        path=(field,),
    )


# `capacity` is cAdvisor's FsStats.Limit.
DISK_METRICS = (
    _fs_spec("container_fs_inodes_free", "Number of available Inodes", "inodes_free"),
    _fs_spec("container_fs_inodes_total", "Number of Inodes", "inodes"),
    _fs_spec(
        "container_fs_limit_bytes",
        "Number of bytes that can be consumed by the container on this filesystem.",
        "capacity",
    ),
    _fs_spec(
        "container_fs_usage_bytes",
        "Number of bytes that are consumed by the container on this filesystem.",
        "usage",
    ),
)
