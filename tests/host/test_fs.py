"""Global filesystems: mountinfo, diskstats, statvfs, storage labels, on fixtures and this host."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pycadvisor.errors import ParseError
from pycadvisor.host import fs
from pycadvisor.host.diskstats import parse_diskstats, read_diskstats
from pycadvisor.host.paths import HostPaths
from pycadvisor.model.codec import dumps

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hosts"
DOCKER_ROOT = "/var/lib/docker"


def fixture(name: str) -> HostPaths:
    return HostPaths.under(str(FIXTURES / name))


def statvfs_bytes(path: Path | str) -> tuple[int, int]:
    st = os.statvfs(path)
    return st.f_blocks * st.f_bsize, st.f_files


# ---------------------------------------------------------------- mountinfo


def test_mountinfo_fields_optional_tags_and_escapes() -> None:
    data = (
        b"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue\n"
        b"27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
        b"90 27 0:50 / /media/my\\040disk\\011tab rw - vfat /dev/sdb\\0401 rw\n"
    )
    mounts = fs.parse_mountinfo(data)
    assert mounts[0] == fs.Mount(98, 0, "/mnt1", "/mnt2", "ext3", "/dev/root")
    assert mounts[1] == fs.Mount(254, 0, "/", "/", "ext4", "/dev/vda")
    assert (mounts[2].mountpoint, mounts[2].source) == ("/media/my disk\ttab", "/dev/sdb 1")


def test_mountinfo_garbage_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="mountinfo"):
        fs.parse_mountinfo(b"27 1 254:0 / / rw,relatime ext4 /dev/vda rw\n", "/proc/self/mountinfo")


def _m(mp: str, typ: str, src: str, major: int = 0, minor: int = 0) -> fs.Mount:
    return fs.Mount(major, minor, "/", mp, typ, src)


def test_partitions_follow_cadvisor_rules() -> None:
    mounts = [
        _m("/proc", "proc", "proc"),
        _m("/", "ext4", "/dev/vda1", 254, 1),
        _m("/srv", "ext4", "/dev/vda1", 254, 1),  # bind mount: skipped
        _m("/dev/shm", "tmpfs", "tmpfs", 0, 23),
        _m("/run", "tmpfs", "tmpfs", 0, 24),  # same source "tmpfs": kept, keyed by mount point
        _m("/boot/efi", "vfat", "/dev/vda15", 254, 15),  # untracked type
        _m("/home", "nfs4", "nas:/export/home", 0, 51),
        _m("/data", "xfs", "/dev/vdb", 254, 16),
        _m("/var/lib/docker/overlay2/abc/merged", "overlay", "overlay", 0, 45),
        _m("/var/lib/docker/overlay2/def/merged", "overlay", "overlay", 0, 46),
        _m("/sys/fs/cgroup", "cgroup2", "cgroup2", 0, 26),
        _m("/var/lib/docker/devicemapper/mnt/x", "xfs", "/dev/mapper/docker-thin-x", 253, 3),
    ]
    parts = fs.partitions_from_mounts(mounts, excluded_prefixes=["/var/lib/docker/devicemapper/mnt"])
    assert list(parts) == [
        "/dev/vda1", "/dev/shm", "/run", "nas:/export/home", "/dev/vdb", "overlay_0-45", "overlay_0-46",
    ]  # fmt: skip
    assert parts["/dev/vda1"] == fs.Partition("/dev/vda1", "/", "ext4", 254, 1)
    assert parts["/run"] == fs.Partition("/run", "/run", "tmpfs", 0, 24)


def test_labels_root_and_deepest_docker_candidate() -> None:
    mounts = [
        _m("/", "ext4", "/dev/sda2", 8, 2),
        _m("/var", "ext4", "/dev/sda3", 8, 3),
        _m("/var/lib/docker", "xfs", "/dev/nvme0n1", 259, 0),
        _m("/var/lib/docker/overlay2/x/merged", "overlay", "overlay", 0, 61),
    ]
    parts = fs.partitions_from_mounts(mounts)
    labels = fs.label_partitions(mounts, parts, DOCKER_ROOT)
    assert labels == {"root": "/dev/sda2", "docker-images": "/dev/nvme0n1"}
    assert fs.label_partitions(mounts, dict(parts)) == {"root": "/dev/sda2"}


def test_proc_1_mountinfo_is_preferred_with_a_separate_root(tmp_path: Path) -> None:
    (tmp_path / "proc" / "self").mkdir(parents=True)
    (tmp_path / "proc" / "1").mkdir()
    (tmp_path / "proc" / "self" / "mountinfo").write_bytes(b"1 0 0:30 / / rw - overlay overlay rw\n")
    (tmp_path / "proc" / "1" / "mountinfo").write_bytes(b"1 0 8:1 / / rw - ext4 /dev/sda1 rw\n")
    assert [m.source for m in fs.read_mounts(HostPaths.under(str(tmp_path)))] == ["/dev/sda1"]
    own = HostPaths(proc=str(tmp_path / "proc"))
    assert [m.source for m in fs.read_mounts(own)] == ["overlay"]


# ---------------------------------------------------------------- diskstats


def test_diskstats_of_every_kernel_generation() -> None:
    data = (
        b"   8       0 sda 182310 40122 19211430 90812 402114 212210 30212212 402110 0 412200 512230\n"  # 2.6.25+
        b"   8       1 sda1 402 1210 22110 112\n"  # partitions before 2.6.25: skipped
        b" 254       0 vda 35340 9104 2982770 22047 15589 25063 4226184 17660 0 10516 40216 4643 21 153712 421\n"
        b" 259       0 nvme0n1 9 1 72 1 2 9 192 3 2 11 34 0 0 0 0 101 92\n"  # 5.5+: 17 counters
    )
    stats = parse_diskstats(data)
    assert sorted(stats) == [(8, 0), (254, 0), (259, 0)]
    vda = stats[(254, 0)]
    assert (vda.name, vda.reads_completed, vda.sectors_written, vda.weighted_io_time) == ("vda", 35340, 4226184, 40216)
    assert stats[(259, 0)].io_in_progress == 2


def test_diskstats_garbage_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="diskstats"):
        parse_diskstats(b"8 0 sda 1 2 3 4 5 6 7 8 9 10 x\n", "/proc/diskstats")


def test_missing_diskstats_means_no_counters(tmp_path: Path) -> None:
    assert read_diskstats(HostPaths.under(str(tmp_path))) == {}


# ---------------------------------------------------------------- fixture hosts


def test_fixture_filesystems_are_measured_with_statvfs() -> None:
    root = FIXTURES / "cgroup1-docker"
    infos = fs.read_filesystems(fixture("cgroup1-docker"))
    by_dev = {i.device: i for i in infos}
    assert list(by_dev) == ["/dev/shm", "/dev/vda", "/dev/vdb", "/sys/fs/cgroup", "overlay_0-45"]
    for dev, rel in (("/dev/vda", ""), ("/dev/vdb", "data"), ("/dev/shm", "dev/shm")):
        assert (by_dev[dev].capacity, by_dev[dev].inodes) == statvfs_bytes(root / rel)
        assert by_dev[dev].type == "vfs" and by_dev[dev].has_inodes


def test_root_container_fs_stats_join_diskstats_by_device_numbers() -> None:
    stats = {s.device: s for s in fs.read_root_fs_stats(fixture("cgroup1-docker"))}
    vda, vdb, shm = stats["/dev/vda"], stats["/dev/vdb"], stats["/dev/shm"]
    assert (vda.reads_completed, vda.reads_merged, vda.sectors_read, vda.read_time) == (35340, 9104, 2982770, 22047)
    writes = (vda.writes_completed, vda.writes_merged, vda.sectors_written, vda.write_time)
    assert writes == (15589, 25063, 4226184, 17660)
    assert (vda.io_in_progress, vda.io_time, vda.weighted_io_time) == (0, 10516, 40216)
    assert (vdb.reads_completed, vdb.writes_completed) == (812, 3377)
    assert shm.reads_completed == 0  # tmpfs (0:23) has no diskstats line
    for s in stats.values():
        assert s.type == "vfs" and s.has_inodes and s.base_usage == 0
        assert 0 <= s.usage <= s.capacity and s.usage + s.available <= s.capacity
        assert 0 <= s.inodes_free <= s.inodes


def test_machine_fs_stats_nest_disk_stats_under_inline_in_ns() -> None:
    out = json.loads(dumps(fs.read_machine_fs_stats(fixture("cgroup1-docker"))))
    vda = next(s for s in out if s["device"] == "/dev/vda")
    assert list(vda) == ["device", "type", "capacity", "usage", "available", "inodes_free", "inline"]
    assert vda["inline"] == {
        "reads_completed": 35340, "reads_merged": 9104, "sectors_read": 2982770, "read_duration": 22047000000,
        "writes_completed": 15589, "writes_merged": 25063, "sectors_written": 4226184,
        "write_duration": 17660000000, "io_in_progress": 0, "io_duration": 10516000000,
        "weighted_io_duration": 40216000000,
    }  # fmt: skip


def test_storage_lists_every_fs_with_labels() -> None:
    out = fs.read_storage(fixture("cgroup2-systemd"), 1_700_000_000_000_000_000, docker_root=DOCKER_ROOT)
    assert [(s.device, s.mountpoint, s.labels) for s in out] == [
        ("/dev/sda2", "/", ["root"]),
        ("/run", "/run", []),
        ("/dev/shm", "/dev/shm", []),
        ("/dev/nvme0n1", "/var/lib/docker", ["docker-images"]),
        ("/run/user/1000", "/run/user/1000", []),
        (
            "overlay_0-61",
            "/var/lib/docker/overlay2/3e7a9c1d5f2b4e6a8c0d2f4b6e8a1c3d5f7b9e2a4c6d8f0b1e3a5c7d9f2b4e6a/merged",
            [],
        ),
    ]
    first = json.loads(dumps(out[0]))
    assert list(first) == [
        "timestamp", "device", "mountpoint", "capacity", "available", "usage", "labels", "inodes", "inodes_free",
    ]  # fmt: skip
    assert first["timestamp"] == "2023-11-14T22:13:20Z"
    assert (first["capacity"], first["inodes"]) == statvfs_bytes(FIXTURES / "cgroup2-systemd")


def test_storage_by_label_and_uuid() -> None:
    paths = fixture("cgroup1-docker")
    by_label = fs.read_storage(paths, 1, label="docker-images", docker_root=DOCKER_ROOT)
    assert [(s.device, s.labels) for s in by_label] == [("/dev/vda", ["docker-images", "root"])]
    by_uuid = fs.read_storage(paths, 1, uuid="7b3e9a10-4c2d-4e8f-b1a6-0c9d8e7f6a5b")
    assert [(s.device, s.mountpoint) for s in by_uuid] == [("/dev/vdb", "/data")]
    assert fs.read_fs_uuids(paths) == {
        "2f6c1d3e-8a4b-4c5d-9e0f-a1b2c3d4e5f6": "/dev/vda",
        "7b3e9a10-4c2d-4e8f-b1a6-0c9d8e7f6a5b": "/dev/vdb",
    }


def test_storage_errors_name_the_label_or_device() -> None:
    paths = fixture("cgroup2-systemd")
    with pytest.raises(fs.UnknownFilesystem, match='non-existent label "crio-images"'):
        fs.read_storage(paths, 1, label="crio-images")
    with pytest.raises(fs.UnknownFilesystem, match="no such device"):
        fs.read_storage(paths, 1, uuid="00000000-0000-0000-0000-000000000000")
    with pytest.raises(fs.UnknownFilesystem, match='"/dev/sda1" in partitions'):
        fs.read_storage(paths, 1, uuid="4A1B-2C3D")  # the vfat EFI partition is not tracked


def test_mount_points_missing_under_the_root_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "proc" / "self").mkdir(parents=True)
    (tmp_path / "proc" / "self" / "mountinfo").write_bytes(
        b"1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 8:17 / /gone rw - xfs /dev/sdb1 rw\n"
    )
    assert [f.device for f in fs.read_filesystems(HostPaths.under(str(tmp_path)))] == ["/dev/sda1"]


# ---------------------------------------------------------------- this host


def test_real_host_root_filesystem() -> None:
    paths = HostPaths()
    st = os.stat("/")
    root_numbers = (os.major(st.st_dev), os.minor(st.st_dev))
    parts, labels = fs.read_partitions(paths)
    root = parts[labels["root"]]
    assert root.mountpoint == "/" and (root.major, root.minor) == root_numbers
    stats = {s.device: s for s in fs.read_root_fs_stats(paths)}
    assert stats[root.device].capacity == statvfs_bytes("/")[0]
    disk = read_diskstats(paths).get(root_numbers)
    if disk is not None:  # a real block device: its counters are joined and keep growing
        assert 0 < stats[root.device].reads_completed <= read_diskstats(paths)[root_numbers].reads_completed


def _proc_mounts_root() -> tuple[str, str]:
    """(device, type) of / from /proc/mounts, a second kernel view independent of mountinfo."""
    found = ("", "")
    with open("/proc/mounts") as f:
        for line in f:
            dev, mountpoint, fs_type = line.split()[:3]
            if mountpoint == "/":
                found = (dev, fs_type)  # the last mount on / is the visible one
    return found


def test_real_host_root_device_and_type_match_proc_mounts() -> None:
    # On the build machines this is ("/dev/vda", "ext4") on 254:0.
    parts, labels = fs.read_partitions(HostPaths())
    root = parts[labels["root"]]
    assert (root.device, root.fs_type) == _proc_mounts_root()
    assert root.device in {f.device for f in fs.read_filesystems(HostPaths())}


CRIO_MOUNTS = b"""\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 27 259:0 / /var/lib/containers/storage rw,relatime - xfs /dev/nvme0n1 rw
31 27 259:1 / /var/lib/images rw,relatime - xfs /dev/nvme1n1 rw
"""


@pytest.mark.parametrize(
    ("crio", "want"),
    [
        # Everything under the storage root: one label, crio-images, on the deepest mount holding it.
        (fs.CrioStorage("/var/lib/containers/storage", driver="overlay"), {"crio-images": "/dev/nvme0n1"}),
        (fs.CrioStorage("/srv/crio", driver="overlay"), {"crio-images": "/dev/vda"}),
        # A separate image store: the root holds the containers' layers, the store the images.
        (
            fs.CrioStorage("/var/lib/containers/storage", image_store="/var/lib/images", driver="overlay"),
            {"crio-containers": "/dev/nvme0n1", "crio-images": "/dev/nvme1n1"},
        ),
    ],
)
def test_crio_storage_labels(crio: fs.CrioStorage, want: dict[str, str]) -> None:
    """cAdvisor lib/fs/fs.go addCrioImagesLabel: which filesystem holds CRI-O's images and layers."""
    mounts = fs.parse_mountinfo(CRIO_MOUNTS)
    parts = fs.partitions_from_mounts(mounts)
    labels = fs.label_partitions(mounts, parts, crio=crio)
    assert labels == {**want, "root": "/dev/vda"}
    assert all(dev in parts for dev in labels.values())
