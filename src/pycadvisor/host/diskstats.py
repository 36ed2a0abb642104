"""Per-device I/O counters from ``/proc/diskstats`` (kernel ``Documentation/admin-guide/iostats.rst``).

Each line is ``major minor name`` then the counters: 11 fields since 2.6.25, 15 since 4.18
(discards), 17 since 5.5 (flushes). cAdvisor (``fs.getDiskStatsMap``) uses the first 11 and keys
them by ``/dev/<name>``, only for ``sd*``/``vd*``/``xvd*``/``dm-*``; we key them by major:minor and
keep every device, so filesystems on ``/dev/root``, ``/dev/mapper/*`` or NVMe get their counters too.
"""

from __future__ import annotations

from dataclasses import dataclass

from pycadvisor.errors import ParseError
from pycadvisor.host.paths import HostPaths, read_bytes

DISKSTATS = "diskstats"  # under HostPaths.proc


@dataclass(slots=True)
class DiskStats:
    """The first 11 counters of one ``/proc/diskstats`` line (times in ms)."""

    name: str  # kernel device name, e.g. "vda", "nvme0n1p1", "dm-0"
    major: int
    minor: int
    reads_completed: int
    reads_merged: int
    sectors_read: int
    read_time: int  # ms
    writes_completed: int
    writes_merged: int
    sectors_written: int
    write_time: int  # ms
    io_in_progress: int
    io_time: int  # ms
    weighted_io_time: int  # ms


def parse_diskstats(data: bytes, path: str = "/proc/diskstats") -> dict[tuple[int, int], DiskStats]:
    """Parse ``/proc/diskstats`` into counters keyed by (major, minor).

    Lines with fewer than 11 counters (partitions on kernels before 2.6.25) are skipped.
    """
    out: dict[tuple[int, int], DiskStats] = {}
    for line in data.split(b"\n"):
        f = line.split()
        if len(f) < 14:
            continue
        try:
            major = int(f[0])
            minor = int(f[1])
            out[(major, minor)] = DiskStats(
                f[2].decode("utf-8", "replace"),
                major,
                minor,
                int(f[3]),
                int(f[4]),
                int(f[5]),
                int(f[6]),
                int(f[7]),
                int(f[8]),
                int(f[9]),
                int(f[10]),
                int(f[11]),
                int(f[12]),
                int(f[13]),
            )
        except ValueError as e:
            raise ParseError(path, f"bad line {line!r}: {e}") from None
    return out


def read_diskstats(paths: HostPaths) -> dict[tuple[int, int], DiskStats]:
    """``/proc/diskstats`` of the host; empty when the file does not exist (as cAdvisor)."""
    path = f"{paths.proc}/{DISKSTATS}"
    try:
        data = read_bytes(path)
    except FileNotFoundError:
        return {}
    return parse_diskstats(data, path)
