"""cAdvisor's machine types: info/v1 ``MachineInfo`` and the v2 ``Attributes``, ``MachineFsStats``
and ``/api/v2.0/storage`` ``FsInfo`` (``lib/model/machine.go``, ``info/v2/machine.go``), Go field order kept.

Go nil slices print ``null`` while empty ones print ``[]``; a member that cAdvisor leaves nil is
``None`` here (e.g. ``Core.uncore_caches``, a node's ``hugepages`` on hosts without NUMA sysfs).
Sizes are bytes unless a comment says otherwise; times are int ns since the epoch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pycadvisor.model.base import jfield, time_field
from pycadvisor.model.container import FsStats

# A Go pointer tagged ``omitempty``: omitted when nil, printed even when it points at 0.
# The codec treats unknown kinds like plain ``omitempty`` (which also drops 0) until it learns "ptr".
PTR = "ptr"


def _ptr() -> Any:
    return jfield(omitempty=True, kind=PTR, default=None)


CLOUD_PROVIDER_UNKNOWN = "Unknown"  # cloud detection was stripped in cAdvisor v0.60
INSTANCE_TYPE_UNKNOWN = "Unknown"

# ---------------------------------------------------------------- MachineInfo members


@dataclass(slots=True, kw_only=True)
class FsInfo:
    """A global filesystem in ``MachineInfo.filesystems`` (Go keeps major/minor out of JSON: ``json:"-"``)."""

    device: str = ""
    capacity: int = 0  # bytes (statfs blocks x bsize)
    type: str = ""  # "vfs", "devicemapper" or "zfs": the stat method, not the mount type
    inodes: int = 0
    has_inodes: bool = False


@dataclass(slots=True, kw_only=True)
class Cache:
    id: int = 0  # sysfs cache/indexN/id
    size: int = 0  # bytes
    type: str = ""  # "Data", "Instruction", "Unified" as sysfs spells it
    level: int = 0


@dataclass(slots=True, kw_only=True)
class Core:
    core_id: int = 0  # topology/core_id: unique only within a socket
    thread_ids: list[int] = field(default_factory=list)  # logical CPU numbers
    caches: list[Cache] | None = None  # caches private to this core (L1, L2); nil -> null
    uncore_caches: list[Cache] | None = None  # L3 shared by some but not all cores of the node; nil -> null
    socket_id: int = 0  # topology/physical_package_id
    book_id: str = jfield(omitempty=True, default="")  # s390x only
    drawer_id: str = jfield(omitempty=True, default="")  # s390x only


@dataclass(slots=True, kw_only=True)
class HugePagesInfo:
    page_size: int = 0  # kB
    num_pages: int = 0


@dataclass(slots=True, kw_only=True)
class Node:
    node_id: int = 0
    memory: int = 0  # bytes, node meminfo MemTotal; 0 when the host has no NUMA sysfs
    hugepages: list[HugePagesInfo] | None = None
    cores: list[Core] | None = None
    caches: list[Cache] | None = None  # caches shared by every thread of the node
    distances: list[int] | None = None  # node<N>/distance, one per node


@dataclass(slots=True, kw_only=True)
class DiskInfo:
    name: str = ""  # /sys/block entry, e.g. "vda"
    major: int = 0
    minor: int = 0
    size: int = 0  # bytes (sysfs size is in 512-byte sectors)
    scheduler: str = ""  # the [selected] one, or "none"


@dataclass(slots=True, kw_only=True)
class NetInfo:
    name: str = ""
    mac_address: str = ""
    speed: int = 0  # Mbit/s; the kernel prints -1 when unknown, 0 when the file cannot be read
    mtu: int = 0


@dataclass(slots=True, kw_only=True)
class MemoryInfo:
    capacity: int = 0  # bytes
    dimm_count: int = 0


@dataclass(slots=True, kw_only=True)
class NVMInfo:
    memory_mode_capacity: int = 0  # bytes
    app_direct_mode_capacity: int = jfield(name="app direct_mode_capacity", default=0)  # sic: a space on the wire
    avg_power_budget: int = 0  # watts


@dataclass(slots=True, kw_only=True)
class MachineInfo:
    timestamp: int = time_field()
    vendor_id: str = ""
    num_cores: int = 0  # logical CPUs
    num_physical_cores: int = 0
    num_sockets: int = 0
    num_books: int = jfield(omitempty=True, default=0)  # s390x only
    num_drawers: int = jfield(omitempty=True, default=0)  # s390x only
    cpu_frequency_khz: int = 0
    memory_capacity: int = 0  # bytes
    swap_capacity: int = 0  # bytes
    memory_by_type: dict[str, MemoryInfo] = field(default_factory=dict)  # EDAC dimm type -> totals
    nvm: NVMInfo = field(default_factory=NVMInfo)
    hugepages: list[HugePagesInfo] | None = None
    machine_id: str = ""
    system_uuid: str = ""
    boot_id: str = ""
    filesystems: list[FsInfo] | None = None
    disk_map: dict[str, DiskInfo] | None = None  # "major:minor" -> disk
    network_devices: list[NetInfo] | None = None
    topology: list[Node] | None = None
    cloud_provider: str = CLOUD_PROVIDER_UNKNOWN
    instance_type: str = INSTANCE_TYPE_UNKNOWN
    instance_id: str = ""


# ---------------------------------------------------------------- v2


@dataclass(slots=True, kw_only=True)
class Attributes:
    """``/api/v2.0/attributes``: version strings plus a subset of :class:`MachineInfo`."""

    kernel_version: str = ""
    container_os_version: str = ""
    docker_version: str = ""  # never filled by cAdvisor's VersionInfo
    docker_api_version: str = ""  # never filled by cAdvisor's VersionInfo
    cadvisor_version: str = ""
    num_cores: int = 0
    cpu_frequency_khz: int = 0
    memory_capacity: int = 0  # bytes
    machine_id: str = ""
    system_uuid: str = ""
    hugepages: list[HugePagesInfo] | None = None
    filesystems: list[FsInfo] | None = None
    disk_map: dict[str, DiskInfo] | None = None
    network_devices: list[NetInfo] | None = None
    topology: list[Node] | None = None
    cloud_provider: str = CLOUD_PROVIDER_UNKNOWN
    instance_type: str = INSTANCE_TYPE_UNKNOWN


def attributes_from_machine(
    machine: MachineInfo, *, kernel_version: str, container_os_version: str, cadvisor_version: str
) -> Attributes:
    """cAdvisor ``v2.GetAttributes``: copy the shared members of ``machine``."""
    return Attributes(
        kernel_version=kernel_version,
        container_os_version=container_os_version,
        cadvisor_version=cadvisor_version,
        num_cores=machine.num_cores,
        cpu_frequency_khz=machine.cpu_frequency_khz,
        memory_capacity=machine.memory_capacity,
        machine_id=machine.machine_id,
        system_uuid=machine.system_uuid,
        hugepages=machine.hugepages,
        filesystems=machine.filesystems,
        disk_map=machine.disk_map,
        network_devices=machine.network_devices,
        topology=machine.topology,
        cloud_provider=machine.cloud_provider,
        instance_type=machine.instance_type,
    )


@dataclass(slots=True, kw_only=True)
class MachineDiskStats:
    """The ``"inline"`` object of :class:`MachineFsStats` (a Go embedded struct tagged ``json:"inline"``).

    cAdvisor always fills every member from ``/proc/diskstats``; durations are ns (ms x 1e6).
    """

    reads_completed: int = 0
    reads_merged: int = 0
    sectors_read: int = 0
    read_duration: int = 0  # ns
    writes_completed: int = 0
    writes_merged: int = 0
    sectors_written: int = 0
    write_duration: int = 0  # ns
    io_in_progress: int = 0
    io_duration: int = 0  # ns
    weighted_io_duration: int = 0  # ns


@dataclass(slots=True, kw_only=True)
class MachineFsStats:
    """One filesystem of ``/api/v2.1/machinestats``."""

    device: str = ""
    type: str = ""
    capacity: int = 0  # bytes; a Go pointer that cAdvisor always sets
    usage: int = 0  # bytes
    available: int = 0  # bytes
    inodes_free: int | None = _ptr()  # only for filesystems with inode counts
    inline: MachineDiskStats = field(default_factory=MachineDiskStats)


_MS = 1_000_000  # ns per ms: Go multiplies the diskstats milliseconds by time.Millisecond


def machine_fs_stats(fs_stats: Iterable[FsStats]) -> list[MachineFsStats]:
    """cAdvisor ``v2.machineFsStatsFromV1``: the root container's filesystems as machine stats."""
    out = []
    for s in fs_stats:
        out.append(
            MachineFsStats(
                device=s.device,
                type=s.type,
                capacity=s.capacity,
                usage=s.usage,
                available=s.available,
                inodes_free=s.inodes_free if s.has_inodes else None,
                inline=MachineDiskStats(
                    reads_completed=s.reads_completed,
                    reads_merged=s.reads_merged,
                    sectors_read=s.sectors_read,
                    read_duration=s.read_time * _MS,
                    writes_completed=s.writes_completed,
                    writes_merged=s.writes_merged,
                    sectors_written=s.sectors_written,
                    write_duration=s.write_time * _MS,
                    io_in_progress=s.io_in_progress,
                    io_duration=s.io_time * _MS,
                    weighted_io_duration=s.weighted_io_time * _MS,
                ),
            )
        )
    return out


@dataclass(slots=True, kw_only=True)
class StorageFsInfo:
    """One entry of ``/api/v2.0/storage`` (cAdvisor v2 ``FsInfo``)."""

    timestamp: int = time_field()
    device: str = ""
    mountpoint: str = ""
    capacity: int = 0  # bytes
    available: int = 0  # bytes available to non-root users
    usage: int = 0  # bytes (capacity - free)
    labels: list[str] = field(default_factory=list)  # "root", "docker-images", ...: always printed, [] if none
    inodes: int | None = _ptr()
    inodes_free: int | None = _ptr()
