"""A writable layer's filesystem entry: the device holding the layer (cAdvisor container/docker/fs.go)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from pycadvisor.container.fsusage import FsUsage, FsUsageTracker
from pycadvisor.container.layerfs import LayerFilesystems
from pycadvisor.host.fs import Partition
from pycadvisor.model.container import FsStats

SHM = Partition("/dev/shm", "/dev/shm", "tmpfs", 0, 23)
VDA = Partition("/dev/vda", "/", "ext4", 254, 0)


def measured() -> list[tuple[Partition, FsStats]]:
    shm = FsStats(device="/dev/shm", type="vfs", capacity=1 << 30, usage=0, available=1 << 30, inodes_free=9)
    vda = FsStats(
        device="/dev/vda", type="vfs", capacity=100 << 30, usage=40 << 30, available=50 << 30,
        has_inodes=True, inodes=1000, inodes_free=600, reads_completed=45634, sectors_written=4749560,
    )  # fmt: skip
    return [(SHM, shm), (VDA, vda)]


def test_layer_takes_device_capacity_and_disk_counters_of_its_filesystem_and_its_own_usage() -> None:
    fs = LayerFilesystems(max_age_ns=2_000_000_000)
    fs.update(measured(), now_ns=10)
    got = fs.stats(FsUsage(bytes=5000, inodes=7, base_bytes=4000, device=os.makedev(254, 0)))
    assert got == FsStats(
        device="/dev/vda", type="vfs", capacity=100 << 30, usage=5000, base_usage=4000, available=50 << 30,
        has_inodes=False, inodes=7, inodes_free=600, reads_completed=45634, sectors_written=4749560,
    )  # fmt: skip


def test_layer_on_no_tracked_filesystem_or_not_walked_yet_has_no_entry() -> None:
    fs = LayerFilesystems(max_age_ns=2_000_000_000)
    assert fs.stale(0)
    fs.update(measured(), now_ns=10)
    assert not fs.stale(10 + 2_000_000_000) and fs.stale(11 + 2_000_000_000)
    assert fs.stats(FsUsage(1, 1, 1, device=os.makedev(8, 1))) is None
    assert fs.stats(FsUsage(1, 1, 1)) is None


def test_walk_records_the_device_of_the_writable_layer(tmp_path: Path) -> None:
    (tmp_path / "layer").mkdir()
    (tmp_path / "logs").mkdir()
    t = FsUsageTracker(60, 10.0)
    t.track("c", [str(tmp_path / "layer"), str(tmp_path / "logs")])

    async def walk() -> None:
        while t.fs_usage("c") is None:
            await t.run_round()

    asyncio.run(walk())
    u = t.fs_usage("c")
    assert u is not None and u.device == os.stat(tmp_path / "layer").st_dev


def test_layer_in_a_btrfs_subvolume_is_on_the_btrfs_filesystem_mounted_above_it() -> None:
    """A subvolume's st_dev is an anonymous 0:N: the filesystem is the btrfs mount holding the layer's path."""
    btrfs = Partition("/dev/sdb1", "/var/lib/docker", "btrfs", 8, 17)
    fs = LayerFilesystems(max_age_ns=2_000_000_000)
    fs.update([*measured(), (btrfs, FsStats(device="/dev/sdb1", type="vfs", capacity=7 << 30))], now_ns=10)
    layer = "/var/lib/docker/btrfs/subvolumes/3e7a9c1d"
    got = fs.stats(FsUsage(100, 2, 100, device=os.makedev(0, 51)), layer)
    assert got is not None and (got.device, got.capacity, got.usage) == ("/dev/sdb1", 7 << 30, 100)
    # Not btrfs above it (an untracked filesystem, say): no entry, as cAdvisor's mount lookup fails there.
    assert fs.stats(FsUsage(100, 2, 100, device=os.makedev(0, 52)), "/srv/other/layer") is None
