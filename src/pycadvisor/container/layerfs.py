"""The filesystem a runtime container's writable layer lives on (cAdvisor ``container/docker/fs.go`` ``FsStats``).

cAdvisor finds the device holding the layer directory with ``fs.GetDirFsDevice`` (``lib/fs/fs.go``):
``stat`` the directory and pick the global partition with the same major:minor. The container's one
``filesystem`` entry then carries that device, its type and capacity from the machine's filesystems,
the layer's walked usage (``usage``, ``base_usage``, ``inodes``) and the device's ``/proc/diskstats``
counters (``addDiskStats``). A btrfs subvolume, whose ``st_dev`` is anonymous, is matched to the btrfs
mount above its path instead. A layer on no tracked partition gets no ``filesystem`` entry. The same
holds for CRI-O (``container/crio/handler.go``) and Podman, whose handlers follow Docker's.

Costs nothing per sample beyond a dict lookup: the layer's ``st_dev`` comes from the usage walk's own
``fstat`` (:class:`pycadvisor.container.fsusage.FsUsage` ``device``), and capacity, free space and disk
counters from the ``/`` container's newest reading of the global filesystems (``statvfs`` and
``/proc/diskstats`` once per root sample). pycadvisor also fills ``available`` and ``inodes_free`` from
that filesystem, where cAdvisor leaves zeros.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from pycadvisor.container.fsusage import FsUsage
from pycadvisor.host.fs import Partition
from pycadvisor.model.container import FsStats


class LayerFilesystems:
    """The global filesystems by device number as last measured, and the stats of layers on them."""

    __slots__ = ("_by_dev", "_read_at", "max_age_ns")

    def __init__(self, max_age_ns: int) -> None:
        self.max_age_ns = max_age_ns  # older than this, the manager measures the filesystems again
        self._by_dev: dict[int, tuple[Partition, FsStats]] = {}
        self._read_at: int | None = None

    def update(self, measured: Iterable[tuple[Partition, FsStats]], now_ns: int) -> None:
        """Keep a reading of the global filesystems (``RootFsReader.read_partitions``)."""
        by_dev: dict[int, tuple[Partition, FsStats]] = {}
        for p, s in measured:
            # One partition per device number: a device's later mounts are binds (partitions_from_mounts).
            by_dev.setdefault(os.makedev(p.major, p.minor), (p, s))
        self._by_dev = by_dev
        self._read_at = now_ns

    def stale(self, now_ns: int) -> bool:
        return self._read_at is None or now_ns - self._read_at > self.max_age_ns

    def stats(self, usage: FsUsage, layer_dir: str = "") -> FsStats | None:
        """The ``filesystem`` entry of a layer measured as ``usage``; None when its device is not tracked."""
        if usage.device is None:
            return None
        found = self._by_dev.get(usage.device) or self._btrfs_holding(layer_dir)
        if found is None:
            return None
        p, fs = found
        return FsStats(
            device=p.device,
            type=fs.type,
            capacity=fs.capacity,
            usage=usage.bytes,
            base_usage=usage.base_bytes,
            available=fs.available,
            inodes=usage.inodes,  # the layer's inodes, not the filesystem's (has_inodes stays false, as cAdvisor)
            inodes_free=fs.inodes_free,
            reads_completed=fs.reads_completed,
            reads_merged=fs.reads_merged,
            sectors_read=fs.sectors_read,
            read_time=fs.read_time,
            writes_completed=fs.writes_completed,
            writes_merged=fs.writes_merged,
            sectors_written=fs.sectors_written,
            write_time=fs.write_time,
            io_in_progress=fs.io_in_progress,
            io_time=fs.io_time,
            weighted_io_time=fs.weighted_io_time,
        )

    def holding(self, path: str) -> FsStats | None:
        """The whole filesystem holding ``path`` as last measured (a hinted mount of a raw cgroup); None when
        ``path`` does not exist or lies on no tracked filesystem."""
        try:
            dev = os.stat(path).st_dev
        except OSError:
            return None
        found = self._by_dev.get(dev) or self._btrfs_holding(path)
        return found[1] if found is not None else None

    def _btrfs_holding(self, path: str) -> tuple[Partition, FsStats] | None:
        """The btrfs filesystem mounted deepest above ``path``: a btrfs subvolume's ``st_dev`` is an anonymous
        0:N, never the partition's numbers (those of its block device), so cAdvisor's ``GetDirFsDevice``
        falls back to the mount holding the directory (``mountInfoFromDir``)."""
        best: tuple[Partition, FsStats] | None = None
        for p, fs in self._by_dev.values():
            mp = p.mountpoint.rstrip("/") + "/"
            if path.startswith(mp) and (best is None or len(best[0].mountpoint) < len(p.mountpoint)):
                best = (p, fs)
        if best is None or best[0].fs_type != "btrfs" or not best[0].device.startswith("/dev/"):
            return None
        return best
