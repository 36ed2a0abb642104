"""Machine description (cAdvisor ``machine/info.go`` ``Info`` and ``machine/machine.go``).

Sources: ``/proc/cpuinfo`` (vendor, cores, sockets, MHz), ``cpu0/cpufreq/cpuinfo_max_freq``,
``/proc/meminfo``, ``/sys/kernel/mm/hugepages``, ``/sys/devices/system/edac/mc``, ``/sys/block``,
``/sys/class/net``, ``/sys/class/dmi/id/product_uuid``, the machine-id and boot-id files, the NUMA
topology (:mod:`pycadvisor.host.topology`) and the global filesystems (:mod:`pycadvisor.host.fs`).

Choices, each following cAdvisor unless said otherwise:
- network devices: every ``/sys/class/net`` entry except names starting ``lo``, ``veth``,
  ``docker`` or ``nerdctl`` (virtual devices such as bridges or ``ifb`` are listed); ``speed`` is
  what the kernel prints (``-1`` for unknown) and 0 when the file cannot be read;
- disks: every ``/sys/block`` entry except ``loop*``, ``ram*``, ``sr*`` and hidden NVMe path
  devices; a device that disappears while being read is skipped rather than failing the map;
- physical cores: distinct (``physical id``, ``core id``) pairs of ``/proc/cpuinfo`` (core ids
  restart at 0 on every socket), falling back to sysfs topology when cpuinfo has no ``core id``;
- books and drawers (s390x) are not collected; NVM (``libipmctl``) is reported as zeros.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pycadvisor.errors import ParseError
from pycadvisor.host.fs import read_filesystems
from pycadvisor.host.paths import HostPaths, read_bytes
from pycadvisor.host.topology import read_hugepages, read_online_cpus, read_topology
from pycadvisor.model.machine import (
    Attributes,
    DiskInfo,
    MachineInfo,
    MemoryInfo,
    NetInfo,
    attributes_from_machine,
)

DEFAULT_MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")  # --machine_id_file
DEFAULT_BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"  # --boot_id_file

_IGNORED_NET_PREFIXES = ("lo", "veth", "docker", "nerdctl")  # cAdvisor sysinfo.GetNetworkDevices
_IGNORED_BLOCK_PREFIXES = ("loop", "ram", "sr")  # cAdvisor sysinfo.GetBlockDeviceInfo
_CLOCK_KEYS = ("cpu MHz", "CPU MHz", "clock")  # x86, s390/other, POWER
# cAdvisor reads no cpuinfo MHz on these architectures when cpufreq is absent.
_NO_CPUINFO_CLOCK_ARCHES = ("mips64", "390", "aarch64", "arm", "riscv64")


@dataclass(slots=True)
class CpuInfo:
    """What ``/proc/cpuinfo`` tells about the machine."""

    vendor_id: str
    physical_cores: int  # 0 when cpuinfo has no "core id" lines
    sockets: int  # 0 when cpuinfo has no "physical id" lines
    clock_khz: int | None  # first "cpu MHz" value x 1000, None if absent


# ---------------------------------------------------------------- pure parsers


def _leading_decimal(value: str) -> float | None:
    """The ``[0-9]+\\.[0-9]+`` prefix of ``value`` (cAdvisor ``cpuClockSpeedMHz``), else None."""
    i, n = 0, len(value)
    while i < n and value[i].isdigit():
        i += 1
    if i == 0 or i >= n or value[i] != ".":
        return None
    j = i + 1
    while j < n and value[j].isdigit():
        j += 1
    return float(value[:j]) if j > i + 1 else None


def parse_cpuinfo(data: bytes) -> CpuInfo:
    """Vendor, distinct cores and sockets, and the first clock speed of ``/proc/cpuinfo``."""
    vendor = ""
    clock: int | None = None
    sockets: set[str] = set()
    cores: set[tuple[str, str]] = set()
    socket = ""
    block_cores: list[str] = []
    for raw in data.decode("utf-8", "replace").split("\n"):
        key, sep, value = raw.partition(":")
        if not sep:
            if not raw.strip():  # a blank line ends one processor's block
                cores.update((socket, c) for c in block_cores)
                socket, block_cores = "", []
            continue
        key, value = key.strip(), value.strip()
        if key == "processor":
            cores.update((socket, c) for c in block_cores)
            socket, block_cores = "", []
        elif key == "physical id" and value.isdigit():
            socket = value
            sockets.add(value)
        elif key == "core id" and value.isdigit():
            block_cores.append(value)
        elif key == "vendor_id" and not vendor:
            vendor = value.split()[0] if value else ""
        elif clock is None and key in _CLOCK_KEYS:
            mhz = _leading_decimal(value)
            if mhz is not None:
                clock = int(mhz * 1000)
    cores.update((socket, c) for c in block_cores)
    return CpuInfo(vendor_id=vendor, physical_cores=len(cores), sockets=len(sockets), clock_khz=clock)


def parse_meminfo(data: bytes) -> dict[str, int]:
    """``/proc/meminfo`` as name -> bytes (``kB`` values x 1024; unitless counts as is)."""
    out: dict[str, int] = {}
    for line in data.split(b"\n"):
        name, sep, rest = line.partition(b":")
        if not sep:
            continue
        f = rest.split()
        if not f or not f[0].isdigit():
            continue
        value = int(f[0])
        out[name.decode("ascii", "replace")] = value * 1024 if len(f) > 1 and f[1] == b"kB" else value
    return out


def parse_scheduler(text: str) -> str:
    """The selected I/O scheduler of ``queue/scheduler`` (``none [mq-deadline] kyber``), else ``none``."""
    i, j = text.rfind("["), text.rfind("]")
    return text[i + 1 : j] if 0 <= i < j else "none"


def parse_os_release(data: bytes) -> str:
    """``PRETTY_NAME`` of an os-release file without quotes; ``Linux`` when absent (cAdvisor)."""
    for line in data.decode("utf-8", "replace").split("\n"):
        if line.startswith("PRETTY_NAME="):
            return line[len("PRETTY_NAME=") :].strip().strip('"')
    return "Linux"


def _contains_numbered(name: str, prefix: str) -> bool:
    """Unanchored match of ``<prefix>[0-9]+`` (cAdvisor ``isMemoryController``, ``isDimm``)."""
    i = name.find(prefix)
    while i >= 0:
        k = i + len(prefix)
        if k < len(name) and name[k].isdigit():
            return True
        i = name.find(prefix, i + 1)
    return False


# ---------------------------------------------------------------- readers


def host_path(paths: HostPaths, path: str) -> str:
    """Map an absolute host path (a flag value such as ``/etc/machine-id``) into ``paths``."""
    for prefix, root in (("/proc/", paths.proc), ("/sys/", paths.sys), ("/etc/", paths.etc), ("/dev/", paths.dev)):
        if path.startswith(prefix):
            return os.path.join(root, path[len(prefix) :])
    return paths.in_rootfs(path)


def _read_stripped(path: str) -> str:
    return read_bytes(path).decode("utf-8", "replace").strip()


def read_first_id(paths: HostPaths, files: list[str] | tuple[str, ...]) -> str:
    """Content of the first readable file of ``files`` (cAdvisor ``getInfoFromFiles``), else ``""``."""
    for f in files:
        try:
            return _read_stripped(host_path(paths, f))
        except OSError:
            continue
    return ""


def read_system_uuid(paths: HostPaths) -> str:
    """DMI product UUID, else the POWER device-tree ids, else ``/etc/machine-id`` (cAdvisor ``GetSystemUUID``)."""
    for path, nul_padded in (
        (f"{paths.sys}/class/dmi/id/product_uuid", False),
        (f"{paths.proc}/device-tree/system-id", True),
        (f"{paths.proc}/device-tree/vm,uuid", True),
        (f"{paths.etc}/machine-id", False),
    ):
        try:
            text = read_bytes(path).decode("utf-8", "replace")
        except OSError:
            continue
        return (text.rstrip("\0") if nul_padded else text).strip()
    return ""


def read_clock_speed_khz(paths: HostPaths, cpuinfo: CpuInfo, arch: str) -> int:
    """``cpu0/cpufreq/cpuinfo_max_freq`` (kHz), else the cpuinfo MHz on x86/POWER, else 0."""
    path = f"{paths.sys}/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"
    try:
        data = read_bytes(path)
    except FileNotFoundError:
        pass
    else:
        try:
            return int(data.split()[0])
        except (ValueError, IndexError):
            raise ParseError(path, f"could not parse frequency {data!r}") from None
    if any(a in arch for a in _NO_CPUINFO_CLOCK_ARCHES):
        return 0
    return cpuinfo.clock_khz or 0


def _unique_topology_count(paths: HostPaths, with_core: bool) -> int:
    """Distinct (core_id, package) or package ids of online CPUs (cAdvisor ``GetUniqueCPUPropertyCount``)."""
    root = f"{paths.sys}/devices/system/cpu"
    online = read_online_cpus(paths)
    seen: set[tuple[str, str]] = set()
    try:
        names = os.listdir(root)
    except OSError:
        return 0
    for name in names:
        if not name.startswith("cpu") or not name[3:].isdigit():
            continue
        if online is not None and int(name[3:]) not in online:
            continue
        vals = []
        for prop in ("core_id", "physical_package_id") if with_core else ("physical_package_id",):
            try:
                vals.append(_read_stripped(f"{root}/{name}/topology/{prop}"))
            except OSError:
                vals.append("0")  # cAdvisor assumes 0 when the file is missing
        seen.add((vals[0], vals[-1]))
    return len(seen)


def read_memory_by_type(paths: HostPaths) -> dict[str, MemoryInfo]:
    """DIMM capacity and count per memory type from EDAC (``edac/mc/mc<N>/dimm<M>``; kernel 3.6+)."""
    root = f"{paths.sys}/devices/system/edac/mc"
    out: dict[str, MemoryInfo] = {}
    try:
        controllers = sorted(os.listdir(root))
    except OSError:
        return out  # no memory controller exposed (VMs, ARM)
    for mc in controllers:
        if not _contains_numbered(mc, "mc"):
            continue
        try:
            dimms = sorted(os.listdir(f"{root}/{mc}"))
        except NotADirectoryError:
            continue
        for dimm in dimms:
            if not _contains_numbered(dimm, "dimm"):
                continue
            d = f"{root}/{mc}/{dimm}"
            try:
                mem_type = _read_stripped(f"{d}/dimm_mem_type")
                size_mb = int(_read_stripped(f"{d}/size"))
            except (OSError, ValueError):
                raise ParseError(d, "unreadable dimm_mem_type or size") from None
            info = out.setdefault(mem_type, MemoryInfo())
            info.capacity += size_mb * 1024 * 1024
            info.dimm_count += 1
    return out


def read_disk_map(paths: HostPaths) -> dict[str, DiskInfo] | None:
    """Block devices keyed ``"major:minor"`` (cAdvisor ``GetBlockDeviceInfo``); ``None`` without ``/sys/block``."""
    root = f"{paths.sys}/block"
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return None
    out: dict[str, DiskInfo] = {}
    for name in names:
        if name.startswith(_IGNORED_BLOCK_PREFIXES):
            continue
        d = f"{root}/{name}"
        try:
            try:
                if _read_stripped(f"{d}/hidden") == "1":
                    continue  # NVMe multipath member (nvme<X>c<Y>n<Z>): no device node
            except FileNotFoundError:
                pass  # kernels before 5.x have no "hidden"
            dev = _read_stripped(f"{d}/dev")
            size = int(_read_stripped(f"{d}/size")) * 512  # sectors of 512 bytes whatever the block size
        except FileNotFoundError:
            continue  # removed while we read it
        major_s, _, minor_s = dev.partition(":")
        try:
            major, minor = int(major_s), int(minor_s)
        except ValueError:
            raise ParseError(f"{d}/dev", f"could not parse device numbers from {dev!r}") from None
        try:
            scheduler = parse_scheduler(read_bytes(f"{d}/queue/scheduler").decode("ascii", "replace"))
        except OSError:
            scheduler = "none"
        out[f"{major}:{minor}"] = DiskInfo(name=name, major=major, minor=minor, size=size, scheduler=scheduler)
    return out


def read_network_devices(paths: HostPaths) -> list[NetInfo] | None:
    """Network interfaces (cAdvisor ``GetNetworkDevices``); ``None`` without ``/sys/class/net``."""
    root = f"{paths.sys}/class/net"
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return None
    out = []
    for name in names:
        if name.startswith(_IGNORED_NET_PREFIXES) or not os.path.isdir(f"{root}/{name}"):
            continue  # also skips plain files such as bonding_masters
        d = f"{root}/{name}"
        try:
            mac = _read_stripped(f"{d}/address")
            mtu_s = _read_stripped(f"{d}/mtu")
        except FileNotFoundError:
            continue  # removed while we read it
        try:
            mtu = int(mtu_s)
        except ValueError:
            raise ParseError(f"{d}/mtu", f"could not parse mtu {mtu_s!r}") from None
        speed = 0
        try:
            speed_s = _read_stripped(f"{d}/speed")
        except OSError:
            pass  # EINVAL for devices without a link speed (loopback-like, down links): stays 0
        else:
            try:
                speed = int(speed_s)
            except ValueError:
                raise ParseError(f"{d}/speed", f"could not parse speed {speed_s!r}") from None
        out.append(NetInfo(name=name, mac_address=mac, speed=speed, mtu=mtu))
    return out


def read_machine_info(
    paths: HostPaths,
    *,
    machine_id_files: list[str] | tuple[str, ...] = DEFAULT_MACHINE_ID_FILES,
    boot_id_file: str = DEFAULT_BOOT_ID_FILE,
    now_ns: int,
    docker_root: str | None = None,
    arch: str | None = None,
) -> MachineInfo:
    """Describe the host (cAdvisor ``machine.Info``); ``now_ns`` becomes ``timestamp``.

    ``machine_id_files``/``boot_id_file`` are host paths as given by ``--machine_id_file`` and
    ``--boot_id_file``; ``arch`` defaults to ``uname -m``. Raises :class:`ParseError` when
    ``/proc/meminfo`` has no ``MemTotal`` (cAdvisor fails the same way).
    """
    cpuinfo_path = f"{paths.proc}/cpuinfo"
    cpuinfo = parse_cpuinfo(read_bytes(cpuinfo_path))
    meminfo_path = f"{paths.proc}/meminfo"
    meminfo = parse_meminfo(read_bytes(meminfo_path))
    if "MemTotal" not in meminfo:
        raise ParseError(meminfo_path, "no MemTotal")
    topology, num_cores = read_topology(paths)
    physical = cpuinfo.physical_cores or _unique_topology_count(paths, with_core=True)
    sockets = cpuinfo.sockets or _unique_topology_count(paths, with_core=False)
    filesystems = read_filesystems(paths, docker_root)
    return MachineInfo(
        timestamp=now_ns,
        vendor_id=cpuinfo.vendor_id,
        num_cores=num_cores,
        num_physical_cores=physical,
        num_sockets=sockets,
        cpu_frequency_khz=read_clock_speed_khz(paths, cpuinfo, arch or os.uname().machine),
        memory_capacity=meminfo["MemTotal"],
        swap_capacity=meminfo.get("SwapTotal", 0),
        memory_by_type=read_memory_by_type(paths),
        hugepages=read_hugepages(f"{paths.sys}/kernel/mm/hugepages"),
        machine_id=read_first_id(paths, machine_id_files),
        system_uuid=read_system_uuid(paths),
        boot_id=read_first_id(paths, (boot_id_file,)),
        filesystems=filesystems or None,
        disk_map=read_disk_map(paths),
        network_devices=read_network_devices(paths),
        topology=topology,
    )


def read_kernel_version(paths: HostPaths) -> str:
    """``uname -r`` of the host from ``/proc/sys/kernel/osrelease``; ``Unknown`` if unreadable."""
    try:
        return _read_stripped(f"{paths.proc}/sys/kernel/osrelease") or "Unknown"
    except OSError:
        return "Unknown"


def read_os_version(paths: HostPaths) -> str:
    """``PRETTY_NAME`` of ``/etc/os-release`` (or ``/usr/lib/os-release``); ``Unknown`` if unreadable."""
    for path in (f"{paths.etc}/os-release", paths.in_rootfs("/usr/lib/os-release")):
        try:
            return parse_os_release(read_bytes(path))
        except OSError:
            continue
    return "Unknown"


def read_attributes(paths: HostPaths, machine: MachineInfo, cadvisor_version: str) -> Attributes:
    """``/api/v2.0/attributes`` for ``machine``: kernel and OS versions plus machine members."""
    return attributes_from_machine(
        machine,
        kernel_version=read_kernel_version(paths),
        container_os_version=read_os_version(paths),
        cadvisor_version=cadvisor_version,
    )
