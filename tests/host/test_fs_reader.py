"""RootFsReader: the ``/`` container's filesystems, with the mount table parsed again only when it changed
(poll of a held ``mountinfo`` on this host; stat and bytes of a fixture's plain file)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pycadvisor.host import fs
from pycadvisor.host.paths import HostPaths
from pycadvisor.model.container import FsStats
from support.ci import cannot_run, is_root, require

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hosts"
MiB = 1 << 20


def fixture_copy(tmp_path: Path) -> tuple[HostPaths, Path]:
    """A writable copy of the cgroup1-docker host's mount table and diskstats, with its mount points."""
    src = FIXTURES / "cgroup1-docker" / "proc"
    root = tmp_path / "host"
    (root / "proc" / "self").mkdir(parents=True)
    shutil.copyfile(src / "diskstats", root / "proc" / "diskstats")
    shutil.copyfile(src / "self" / "mountinfo", root / "proc" / "self" / "mountinfo")
    for m in fs.read_mounts(HostPaths.under(str(root))):
        (root / m.mountpoint.lstrip("/")).mkdir(parents=True, exist_ok=True)
    return HostPaths.under(str(root)), root / "proc" / "self" / "mountinfo"


def devices(stats: list[FsStats]) -> list[str]:
    return [s.device for s in stats]


def test_same_filesystems_and_disk_counters_as_read_root_fs_stats(tmp_path: Path) -> None:
    paths, _ = fixture_copy(tmp_path)
    with fs.RootFsReader(paths) as reader:
        got, want = reader.read(), fs.read_root_fs_stats(paths)
        assert devices(got) == devices(want) == ["/dev/shm", "/dev/vda", "/dev/vdb", "/sys/fs/cgroup", "overlay_0-45"]
        for a, b in zip(got, want, strict=True):
            assert (a.capacity, a.inodes, a.type) == (b.capacity, b.inodes, b.type)
            assert (a.reads_completed, a.writes_completed, a.io_time) == (
                b.reads_completed,
                b.writes_completed,
                b.io_time,
            )
        assert {s.device: s.reads_completed for s in got}["/dev/vda"] == 35340
        assert reader.partitions() == fs.read_partitions(paths)


def test_a_fixture_mount_table_is_parsed_once_while_it_does_not_change(tmp_path: Path) -> None:
    paths, _ = fixture_copy(tmp_path)
    reader = fs.RootFsReader(paths, recheck_every=3)
    try:
        first = devices(reader.read())
        for _ in range(10):  # the bytes are compared three times meanwhile: equal, nothing parsed
            assert devices(reader.read()) == first
        assert reader.parses == 1
    finally:
        reader.close()


def test_a_fixture_mount_table_that_grows_or_shrinks_is_seen_at_the_next_read(tmp_path: Path) -> None:
    paths, mountinfo = fixture_copy(tmp_path)
    (Path(paths.rootfs) / "mnt" / "scratch").mkdir(parents=True, exist_ok=True)
    original = mountinfo.read_bytes()
    with fs.RootFsReader(paths, recheck_every=1000) as reader:
        assert "/mnt/scratch" not in devices(reader.read())
        mountinfo.write_bytes(original + b"95 27 0:77 / /mnt/scratch rw,relatime - tmpfs scratch rw,size=1024k\n")
        assert "/mnt/scratch" in devices(reader.read())
        mountinfo.write_bytes(original)
        assert "/mnt/scratch" not in devices(reader.read())
        assert reader.parses == 3


def test_a_same_size_same_mtime_rewrite_is_seen_within_recheck_every_reads(tmp_path: Path) -> None:
    paths, mountinfo = fixture_copy(tmp_path)
    (Path(paths.rootfs) / "dev" / "sh2").mkdir()
    with fs.RootFsReader(paths, recheck_every=3) as reader:
        assert "/dev/shm" in devices(reader.read())
        st = mountinfo.stat()
        data = mountinfo.read_bytes()
        mountinfo.write_bytes(data.replace(b" /dev/shm ", b" /dev/sh2 "))
        os.utime(mountinfo, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert mountinfo.stat().st_size == st.st_size
        seen = [devices(reader.read()) for _ in range(3)]
        assert "/dev/sh2" in seen[-1] and "/dev/shm" not in seen[-1]


def test_this_host_matches_read_partitions() -> None:
    with fs.RootFsReader(HostPaths()) as reader:
        parts, labels = reader.partitions()
        want_parts, want_labels = fs.read_partitions(HostPaths())
        assert labels == want_labels and parts == want_parts
        assert parts[labels["root"]].mountpoint == "/"
        assert labels["root"] in devices(reader.read())


def _mount_tmpfs(target: Path, size_mib: int) -> None:
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "pycadtest-fs", str(target)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        cannot_run(f"cannot mount a tmpfs: {r.stderr.strip()}")


def test_a_real_tmpfs_mount_appears_and_disappears(tmp_path: Path) -> None:
    require(is_root(), "needs root to mount a tmpfs")
    require(shutil.which("mount") and shutil.which("umount"), "needs mount(8) and umount(8)")
    target = tmp_path / "scratch space"  # the kernel escapes the space as \040 in mountinfo
    target.mkdir()
    with fs.RootFsReader(HostPaths()) as reader:
        before = reader.read()
        assert str(target) not in devices(before)
        mounted = False
        try:
            _mount_tmpfs(target, 8)
            mounted = True
            stats = {s.device: s for s in reader.read()}
            assert str(target) in stats, "the new tmpfs is not reported"
            assert stats[str(target)].capacity == 8 * MiB
            parts, _ = reader.partitions()
            assert parts[str(target)].fs_type == "tmpfs"
        finally:
            if mounted:
                subprocess.run(["umount", str(target)], check=True)
        assert str(target) not in devices(reader.read()), "the unmounted tmpfs is still reported"
