"""Global filesystems: mount table + ``statvfs`` + ``/proc/diskstats`` (cAdvisor ``fs/fs.go``).

Which mounts count (``processMounts``): types ``ext*``, ``nfs*``, ``btrfs``, ``overlay``, ``tmpfs``,
``xfs`` and ``zfs``; later mounts of an already seen source are bind mounts and skipped, except
tmpfs, whose "device" is its mount point; every overlay mount is its own device
``overlay_<major>-<minor>``. The mount holding ``/`` is always included and labelled ``root``; the
deepest mount holding the docker root (or its graph-driver directory) is labelled
``docker-images``. Every filesystem is measured here with ``statvfs`` and reported as type ``vfs``; the
manager replaces a zfs mount's figures with ``zfs list``'s when ``/dev/zfs`` exists (cAdvisor
``lib/fs/zfs/plugin.go``, :mod:`pycadvisor.host.zfs`) and adds Docker's devicemapper thin pool
(:mod:`pycadvisor.host.devicemapper`), which is no mount. Mount points that do not exist under the root are skipped
(cAdvisor would report them with zero capacity and an empty type).
"""

from __future__ import annotations

import io
import os
import select
import stat
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from pycadvisor.errors import ParseError, PyCadvisorError
from pycadvisor.host.diskstats import DiskStats, read_diskstats
from pycadvisor.host.paths import HostPaths, read_bytes
from pycadvisor.model.container import FsStats
from pycadvisor.model.machine import FsInfo, MachineFsStats, StorageFsInfo, machine_fs_stats

LABEL_SYSTEM_ROOT = "root"
LABEL_DOCKER_IMAGES = "docker-images"
LABEL_CRIO_IMAGES = "crio-images"
LABEL_CRIO_CONTAINERS = "crio-containers"
FS_TYPE_VFS = "vfs"

# Mount types cAdvisor tracks; "ext*" and "nfs*" are matched by prefix.
_SUPPORTED_FS_TYPES = frozenset({"btrfs", "overlay", "tmpfs", "xfs", "zfs"})
# Docker graph-driver directories that may be separate mounts (cAdvisor ``getDockerImagePaths``).
_DOCKER_DRIVER_DIRS = ("devicemapper", "btrfs", "aufs", "overlay", "overlay2", "zfs")


class UnknownFilesystem(PyCadvisorError):
    """A storage label or filesystem UUID that names no known filesystem."""


@dataclass(frozen=True, slots=True)
class CrioStorage:
    """CRI-O's storage as its ``GET /info`` reports it (cAdvisor ``fs.CrioContext``)."""

    root: str  # storage_root
    image_store: str = ""  # storage_image: images kept apart from containers' layers
    driver: str = ""  # storage_driver ("overlay"; absent from recent CRI-O)


@dataclass(slots=True)
class Mount:
    """One line of ``/proc/<pid>/mountinfo`` (``Documentation/filesystems/proc.rst`` §3.5)."""

    major: int
    minor: int
    root: str  # path inside the filesystem that is mounted
    mountpoint: str
    fs_type: str
    source: str  # "mount source": a device path for block filesystems


@dataclass(slots=True)
class Partition:
    """A filesystem cAdvisor tracks, under the name it reports as ``device``."""

    device: str  # "/dev/vda1", a tmpfs mount point, or "overlay_0-45"
    mountpoint: str
    fs_type: str  # mount type, e.g. "ext4"
    major: int
    minor: int


@dataclass(slots=True)
class VfsStats:
    """``statvfs`` of a mount point, in bytes (Go ``statfs``: blocks x ``f_bsize``)."""

    capacity: int
    free: int
    available: int  # free for unprivileged users
    inodes: int
    inodes_free: int


def _unescape(field: bytes) -> str:
    r"""Undo the kernel's octal escaping of space, tab, newline and backslash (``\040`` ...)."""
    if b"\\" not in field:
        return field.decode("utf-8", "surrogateescape")
    out = bytearray()
    i, n = 0, len(field)
    while i < n:
        c = field[i]
        digits = field[i + 1 : i + 4]
        if c == 0x5C and len(digits) == 3 and all(0x30 <= d <= 0x37 for d in digits):
            out.append(int(digits, 8) & 0xFF)
            i += 4
        else:
            out.append(c)
            i += 1
    return out.decode("utf-8", "surrogateescape")


def parse_mountinfo(data: bytes, path: str = "/proc/self/mountinfo") -> list[Mount]:
    """Parse ``mountinfo``: ``id parent maj:min root mountpoint opts [optional...] - type source superopts``."""
    mounts = []
    for line in data.split(b"\n"):
        if not line:
            continue
        f = line.split(b" ")
        try:
            sep = f.index(b"-", 6)
            major, _, minor = f[2].partition(b":")
            source = f[sep + 2] if len(f) > sep + 2 else b""
            if b"\\" in line:
                root, mountpoint, src = _unescape(f[3]), _unescape(f[4]), _unescape(source)
            else:
                root, mountpoint, src = (x.decode("utf-8", "surrogateescape") for x in (f[3], f[4], source))
            mounts.append(Mount(int(major), int(minor), root, mountpoint, f[sep + 1].decode(), src))
        except (ValueError, IndexError):
            raise ParseError(path, f"bad mountinfo line {line!r}") from None
    return mounts


def _mountinfo_path(paths: HostPaths) -> list[str]:
    # On the host our own mount namespace is the host's. With a separate root (a container given
    # the host's /proc as /rootfs/proc and --pid=host), pid 1's mount table is the host's view.
    own, init = f"{paths.proc}/self/mountinfo", f"{paths.proc}/1/mountinfo"
    return [own, init] if paths.rootfs in ("", "/") else [init, own]


def read_mounts(paths: HostPaths) -> list[Mount]:
    """The host's mount table."""
    err: OSError | None = None
    for path in _mountinfo_path(paths):
        try:
            return parse_mountinfo(read_bytes(path), path)
        except (FileNotFoundError, PermissionError) as e:
            err = e
    assert err is not None
    raise err


def _tracked(fs_type: str) -> bool:
    return fs_type.startswith(("ext", "nfs")) or fs_type in _SUPPORTED_FS_TYPES


def _btrfs_device_numbers(paths: HostPaths, source: str) -> tuple[int, int] | None:
    # mountinfo shows btrfs subvolumes as 0:N; cAdvisor stats the block device for its real numbers.
    try:
        rdev = os.stat(os.path.join(paths.dev, source[len("/dev/") :])).st_rdev
    except OSError:
        return None
    return os.major(rdev), os.minor(rdev)


def partitions_from_mounts(
    mounts: Iterable[Mount], paths: HostPaths | None = None, excluded_prefixes: Iterable[str] = ()
) -> dict[str, Partition]:
    """cAdvisor ``processMounts``: tracked filesystems keyed by device, in mount-table order."""
    excluded = tuple(excluded_prefixes)
    parts: dict[str, Partition] = {}
    for m in mounts:
        if not _tracked(m.fs_type):
            continue
        if m.source in parts and m.fs_type != "tmpfs":
            continue  # a bind mount of a filesystem already seen
        if excluded and m.mountpoint.startswith(excluded):
            continue
        source, major, minor = m.source, m.major, m.minor
        if m.fs_type == "tmpfs":
            source = m.mountpoint
        elif m.fs_type == "btrfs" and major == 0 and source.startswith("/dev/") and paths is not None:
            numbers = _btrfs_device_numbers(paths, source)
            if numbers is not None:
                major, minor = numbers
        elif m.fs_type == "overlay":
            source = f"{source}_{major}-{minor}"
        parts[source] = Partition(source, m.mountpoint, m.fs_type, major, minor)
    return parts


def _with_ancestors(out: set[str], path: str) -> set[str]:
    while path not in ("/", ".", ""):
        out.add(path)
        path = os.path.dirname(path)
    return out


def _docker_image_paths(docker_root: str) -> set[str]:
    return _with_ancestors({"/", *(os.path.join(docker_root, d) for d in _DOCKER_DRIVER_DIRS)}, docker_root)


def _crio_image_paths(crio: CrioStorage) -> list[tuple[str, set[str]]]:
    """(label, candidate mount points) of CRI-O's stores (cAdvisor ``addCrioImagesLabel``).

    Without a separate image store everything is under ``<root>/<driver>-images``, labelled
    ``crio-images``; with one, the root holds ``<driver>-containers`` (``crio-containers``) and the
    image store ``<driver>-images`` (``crio-images``).
    """
    out = []
    if crio.root:
        label, tail = (LABEL_CRIO_CONTAINERS, "-containers") if crio.image_store else (LABEL_CRIO_IMAGES, "-images")
        out.append((label, _with_ancestors({"/", os.path.join(crio.root, crio.driver + tail)}, crio.root)))
    if crio.image_store:
        store = crio.image_store
        out.append((LABEL_CRIO_IMAGES, _with_ancestors({"/", os.path.join(store, crio.driver + "-images")}, store)))
    return out


def _deepest(mounts: list[Mount], candidates: set[str]) -> Mount | None:
    """The mount with the longest mount point among ``candidates`` (cAdvisor ``updateContainerImagesPath``)."""
    best: Mount | None = None
    for m in mounts:
        if m.mountpoint in candidates and (best is None or len(best.mountpoint) < len(m.mountpoint)):
            best = m
    return best


def _as_partition(m: Mount) -> Partition:
    return Partition(m.source, m.mountpoint, m.fs_type, m.major, m.minor)


def label_partitions(
    mounts: list[Mount], parts: dict[str, Partition], docker_root: str | None = None, crio: CrioStorage | None = None
) -> dict[str, str]:
    """Add the labelled mounts to ``parts`` and return label -> device (cAdvisor ``NewFsInfo``)."""
    labels: dict[str, str] = {}
    wanted = [(LABEL_DOCKER_IMAGES, _docker_image_paths(docker_root))] if docker_root else []
    if crio is not None:
        wanted += _crio_image_paths(crio)
    for label, candidates in wanted:
        best = _deepest(mounts, candidates)
        if best is not None:
            parts[best.source] = _as_partition(best)
            labels[label] = best.source
    for m in mounts:
        if m.mountpoint == "/":
            parts[m.source] = _as_partition(m)
            labels[LABEL_SYSTEM_ROOT] = m.source
            break
    return labels


def read_partitions(
    paths: HostPaths, docker_root: str | None = None, crio: CrioStorage | None = None
) -> tuple[dict[str, Partition], dict[str, str]]:
    """Tracked filesystems keyed by device, and label -> device."""
    return _partitions(read_mounts(paths), paths, docker_root, crio)


def _partitions(
    mounts: list[Mount], paths: HostPaths, docker_root: str | None, crio: CrioStorage | None = None
) -> tuple[dict[str, Partition], dict[str, str]]:
    excluded = (f"{docker_root}/devicemapper/mnt",) if docker_root else ()
    parts = partitions_from_mounts(mounts, paths, excluded)
    labels = label_partitions(mounts, parts, docker_root, crio)
    return parts, labels


def read_vfs_stats(path: str) -> VfsStats:
    """``statvfs`` of ``path`` (cAdvisor ``getVfsStats``)."""
    st = os.statvfs(path)
    bsize = st.f_bsize
    return VfsStats(
        capacity=st.f_blocks * bsize,
        free=st.f_bfree * bsize,
        available=st.f_bavail * bsize,
        inodes=st.f_files,
        inodes_free=st.f_ffree,
    )


def _measure(paths: HostPaths, parts: Iterable[Partition]) -> list[tuple[Partition, VfsStats]]:
    out = []
    for p in parts:
        try:
            out.append((p, read_vfs_stats(paths.in_rootfs(p.mountpoint))))
        except OSError:
            continue  # mount point missing under the root, or not ours to stat: not collected
    return out


def read_filesystems(paths: HostPaths, docker_root: str | None = None) -> list[FsInfo]:
    """``MachineInfo.filesystems``: capacity and inode count of every tracked filesystem."""
    parts, _ = read_partitions(paths, docker_root)
    return [
        FsInfo(device=p.device, capacity=v.capacity, type=FS_TYPE_VFS, inodes=v.inodes, has_inodes=True)
        for p, v in _measure(paths, parts.values())
    ]


def fs_stats(p: Partition, v: VfsStats, disk: DiskStats | None) -> FsStats:
    """cAdvisor raw handler ``fsToFsStats``: one filesystem of the ``/`` container."""
    s = FsStats(
        device=p.device,
        type=FS_TYPE_VFS,
        capacity=v.capacity,
        usage=v.capacity - v.free,
        available=v.available,
        has_inodes=True,
        inodes=v.inodes,
        inodes_free=v.inodes_free,
    )
    if disk is not None:
        s.reads_completed = disk.reads_completed
        s.reads_merged = disk.reads_merged
        s.sectors_read = disk.sectors_read
        s.read_time = disk.read_time
        s.writes_completed = disk.writes_completed
        s.writes_merged = disk.writes_merged
        s.sectors_written = disk.sectors_written
        s.write_time = disk.write_time
        s.io_in_progress = disk.io_in_progress
        s.io_time = disk.io_time
        s.weighted_io_time = disk.weighted_io_time
    return s


def _root_fs_stats(paths: HostPaths, parts: dict[str, Partition]) -> list[tuple[Partition, FsStats]]:
    disks = read_diskstats(paths)
    return [(p, fs_stats(p, v, disks.get((p.major, p.minor)))) for p, v in _measure(paths, parts.values())]


def read_root_fs_stats(paths: HostPaths, docker_root: str | None = None) -> list[FsStats]:
    """The ``filesystem`` stats of the ``/`` container: usage plus diskstats joined by major:minor."""
    parts, _ = read_partitions(paths, docker_root)
    return [s for _, s in _root_fs_stats(paths, parts)]


class RootFsReader:
    """The ``/`` container's ``filesystem`` stats (as :func:`read_root_fs_stats`), parsing the mount
    table only when it changed; ``statvfs`` and ``/proc/diskstats`` are still read on every call.

    The mount table file is held open. On procfs, ``poll`` of an open ``mountinfo`` reports
    ``POLLERR|POLLPRI`` once after each change of its mount namespace (``fs/proc_namespace.c``
    ``mounts_poll``; ``Documentation/filesystems/proc.rst`` "mountinfo"), and the file is then re-read
    from offset 0. A plain file (a fixture tree) cannot be polled: its ``stat`` (inode, size, mtime)
    is compared on every call and its bytes every ``recheck_every`` calls. Unchanged bytes are not
    parsed again. Call :meth:`close` (or use it as a context manager) to release the file.
    """

    def __init__(self, paths: HostPaths, docker_root: str | None = None, *, recheck_every: int = 30) -> None:
        self.paths = paths
        self.docker_root = docker_root
        self.parses = 0  # how many times the mount table was parsed
        self._recheck_every = max(1, recheck_every)
        self._lock = threading.Lock()
        self._path = ""
        self._file: io.FileIO | None = None
        self._poll: select.poll | None = None  # None: a plain file, compared instead
        self._signature: tuple[int, int, int, int] | None = None
        self._calls = 0
        self._data = b""
        self._parts: dict[str, Partition] | None = None
        self._labels: dict[str, str] = {}

    def read(self) -> list[FsStats]:
        """The ``filesystem`` stats of the ``/`` container: usage plus diskstats joined by major:minor."""
        return [s for _, s in self.read_partitions()]

    def read_partitions(self) -> list[tuple[Partition, FsStats]]:
        """As :meth:`read`, each with the partition it measured (its device numbers, mount point)."""
        return _root_fs_stats(self.paths, self.partitions()[0])

    def partitions(self) -> tuple[dict[str, Partition], dict[str, str]]:
        """Tracked filesystems keyed by device, and label -> device (as :func:`read_partitions`)."""
        with self._lock:
            try:
                if self._file is None:
                    self._open()
                elif self._changed():
                    self._reread()
            except BaseException:
                self._close()  # the next call starts over from a fresh open
                raise
            assert self._parts is not None
            return self._parts, self._labels

    def close(self) -> None:
        with self._lock:
            self._close()

    def __enter__(self) -> RootFsReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _open(self) -> None:
        err: OSError | None = None
        for path in _mountinfo_path(self.paths):
            try:
                f = open(path, "rb", buffering=0)  # noqa: SIM115 - held open across calls, closed by close()
                break
            except (FileNotFoundError, PermissionError) as e:
                err = e
        else:
            assert err is not None
            raise err
        self._path, self._file = path, f
        st = os.fstat(f.fileno())
        # procfs files report size 0 (fs/proc generates them on read); a fixture has its real size.
        if stat.S_ISREG(st.st_mode) and st.st_size == 0:
            self._poll = select.poll()
            self._poll.register(f.fileno(), select.POLLPRI | select.POLLERR)
        else:
            self._poll = None
            self._signature = _signature(st)
        self._data = b""
        self._parts = None
        self._reread()

    def _changed(self) -> bool:
        assert self._file is not None
        if self._poll is not None:
            # The poll consumes the event: anything mounted after it is reported by the next one.
            return bool(self._poll.poll(0))
        self._calls += 1
        if _signature(os.stat(self._path)) != self._signature:
            self._file.close()  # replaced or rewritten: open the path again
            self._file = open(self._path, "rb", buffering=0)  # noqa: SIM115
            self._signature = _signature(os.fstat(self._file.fileno()))
            return True
        return self._calls % self._recheck_every == 0  # same size and mtime: compare the bytes now and then

    def _reread(self) -> None:
        assert self._file is not None
        self._file.seek(0)
        data = self._file.readall()
        if self._parts is not None and data == self._data:
            return
        mounts = parse_mountinfo(data, self._path)
        self._parts, self._labels = _partitions(mounts, self.paths, self.docker_root)
        self._data = data
        self.parses += 1

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._poll = None
        self._parts = None


def _signature(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def read_machine_fs_stats(paths: HostPaths, docker_root: str | None = None) -> list[MachineFsStats]:
    """The ``filesystem`` member of ``/api/v2.1/machinestats``."""
    return machine_fs_stats(read_root_fs_stats(paths, docker_root))


def read_fs_uuids(paths: HostPaths) -> dict[str, str]:
    """Filesystem UUID -> device path, from the ``/dev/disk/by-uuid`` symlinks (empty if absent)."""
    by_uuid = os.path.join(paths.dev, "disk", "by-uuid")
    out: dict[str, str] = {}
    try:
        entries = os.listdir(by_uuid)
    except OSError:
        return out
    for name in entries:
        try:
            target = os.readlink(os.path.join(by_uuid, name))
        except OSError:
            continue
        # Resolve in host terms ("../../vda1" -> "/dev/vda1"), not through our own filesystem.
        out[name] = os.path.normpath(os.path.join("/dev/disk/by-uuid", target))
    return out


def read_storage(
    paths: HostPaths,
    now_ns: int,
    label: str | None = None,
    uuid: str | None = None,
    *,
    docker_root: str | None = None,
    crio: CrioStorage | None = None,
) -> list[StorageFsInfo]:
    """``/api/v2.0/storage``: every global filesystem, or the one with ``label`` or ``uuid``.

    ``docker_root`` (from ``docker info``) enables the ``docker-images`` label, ``crio`` (from CRI-O's
    ``/info``) ``crio-images`` and ``crio-containers``. Raises :class:`UnknownFilesystem` for a label
    or UUID that names no filesystem.
    """
    parts, labels = read_partitions(paths, docker_root, crio)
    want: str | None = None
    if uuid:
        device = read_fs_uuids(paths).get(uuid)
        if device is None:
            raise UnknownFilesystem("cadvisor: no such device")
        if device not in parts:
            raise UnknownFilesystem(f'cannot find device "{device}" in partitions')
        want = device
    elif label:
        if label not in labels:
            raise UnknownFilesystem(f'non-existent label "{label}"')
        want = labels[label]
    out = []
    for p, s in _root_fs_stats(paths, parts):
        if want is not None and p.device != want:
            continue
        out.append(
            StorageFsInfo(
                timestamp=now_ns,
                device=p.device,
                mountpoint=p.mountpoint,
                capacity=s.capacity,
                available=s.available,
                usage=s.usage,
                labels=sorted(k for k, dev in labels.items() if dev == p.device),
                inodes=s.inodes if s.has_inodes else None,
                inodes_free=s.inodes_free if s.has_inodes else None,
            )
        )
    return out
