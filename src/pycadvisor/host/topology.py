"""CPU/NUMA topology from sysfs (cAdvisor ``utils/sysinfo.GetNodesInfo`` over ``utils/sysfs``).

Sources (kernel ``Documentation/ABI/stable/sysfs-devices-system-cpu``, ``.../sysfs-devices-node``):
``devices/system/node/node<N>/{cpu<M>,meminfo,distance,hugepages/}``,
``devices/system/cpu/cpu<M>/topology/{core_id,physical_package_id}``,
``devices/system/cpu/cpu<M>/cache/index<K>/{id,level,type,size,shared_cpu_map}``,
``devices/system/cpu/online`` and ``kernel/mm/hugepages/hugepages-<size>kB/nr_hugepages``.

cAdvisor's rules kept here: directories are visited in lexical order (Go ``filepath.Glob``), so
``cpu10`` comes before ``cpu2``; threads are grouped into cores by (core_id, socket); a cache of
level 1 or 2 belongs to a core when every thread of the core shares it; a level 3+ cache belongs
to the node when every thread of the node shares it, else it is an "uncore" cache of the core.
Without ``devices/system/node`` there is one node per physical package, with memory 0 and no
hugepages or distances, and ``num_cores`` counts every ``cpu<M>`` directory (online or not).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pycadvisor.errors import ParseError
from pycadvisor.host.paths import HostPaths, read_bytes
from pycadvisor.model.machine import Cache, Core, HugePagesInfo, Node


@dataclass(slots=True)
class CacheInfo:
    """One ``cache/index<K>`` directory of a CPU."""

    id: int
    size: int  # bytes
    type: str
    level: int
    cpus: int  # threads sharing it (bits set in shared_cpu_map)

    def as_model(self) -> Cache:
        return Cache(id=self.id, size=self.size, type=self.type, level=self.level)


# ---------------------------------------------------------------- pure parsers


def parse_cpu_list(text: str | bytes) -> list[int]:
    """Parse a kernel CPU list such as ``0-3,8,10-11`` (``online``, ``cpulist``)."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    out: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if sep:
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(lo))
    return out


def parse_cpu_mask(text: str | bytes) -> int:
    """Count the CPUs in a hex mask such as ``00000000,0000000f`` (``shared_cpu_map``)."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    return sum(int(word, 16).bit_count() for word in text.strip().split(",") if word)


def parse_cache_size(text: str | bytes) -> int:
    """Parse a sysfs cache size (``32K``, ``8M``) into bytes."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    s = text.strip()
    mult = 1
    if s[-1:] in ("K", "M", "G"):
        mult = 1024 ** (" KMG".index(s[-1]))
        s = s[:-1]
    return int(s) * mult


def parse_node_meminfo(data: bytes) -> int | None:
    """``MemTotal`` of a node's ``meminfo`` (``Node 0 MemTotal:  8123 kB``) in bytes."""
    for line in data.split(b"\n"):
        i = line.find(b"MemTotal:")
        if i >= 0:
            f = line[i + 9 :].split()
            if f and f[0].isdigit():
                return int(f[0]) * 1024
    return None


def parse_distances(data: bytes) -> list[int]:
    """A node's ``distance`` row (``10 21``)."""
    return [int(x) for x in data.split()]


def parse_hugepages_dir_name(name: str) -> int | None:
    """Page size in kB from ``hugepages-2048kB``."""
    if not name.startswith("hugepages-") or not name.endswith("kB"):
        return None
    size = name[len("hugepages-") : -2]
    return int(size) if size.isdigit() else None


# ---------------------------------------------------------------- readers


def _glob_numbered(directory: str, prefix: str) -> list[str]:
    """Entries named ``<prefix><N>`` in lexical order, as Go's ``filepath.Glob("<prefix>*[0-9]")`` lists them."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    n = len(prefix)
    return sorted(name for name in names if name.startswith(prefix) and name[n:].isdigit())


def _read_stripped(path: str) -> str:
    return read_bytes(path).decode("utf-8", "replace").strip()


def read_hugepages(directory: str) -> list[HugePagesInfo] | None:
    """Pre-allocated huge pages per size (cAdvisor ``GetHugePagesInfo``); ``None`` if none or no dir."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return None  # kernels may be built or booted without hugetlb
    out = []
    for name in names:
        size = parse_hugepages_dir_name(name)
        if size is None:
            continue
        path = os.path.join(directory, name, "nr_hugepages")
        try:
            num = int(read_bytes(path).split()[0])
        except (OSError, ValueError, IndexError):
            raise ParseError(path, "unreadable nr_hugepages") from None
        out.append(HugePagesInfo(page_size=size, num_pages=num))
    return out or None


def read_online_cpus(paths: HostPaths) -> set[int] | None:
    """Online CPUs, or ``None`` when the kernel has no CPU hotplug (every CPU is online)."""
    try:
        return set(parse_cpu_list(read_bytes(f"{paths.sys}/devices/system/cpu/online")))
    except FileNotFoundError:
        return None


def read_cpu_caches(paths: HostPaths, cpu: int) -> list[CacheInfo]:
    """Caches reachable from ``cpu`` (``cpu<M>/cache/index*``), in index order."""
    base = f"{paths.sys}/devices/system/cpu/cpu{cpu}/cache"
    try:
        names = [n for n in os.listdir(base) if n.startswith("index")]
    except OSError:
        return []
    names.sort(key=lambda n: (len(n), n))
    out = []
    for name in names:
        d = f"{base}/{name}"
        try:
            out.append(
                CacheInfo(
                    id=int(_read_stripped(f"{d}/id")),
                    size=parse_cache_size(_read_stripped(f"{d}/size")),
                    type=_read_stripped(f"{d}/type"),
                    level=int(_read_stripped(f"{d}/level")),
                    cpus=parse_cpu_mask(read_bytes(f"{d}/shared_cpu_map")),
                )
            )
        except (OSError, ValueError):
            break  # cAdvisor gives up on the remaining caches of this CPU
    return out


def _cpu_number(cpu_dir: str) -> int:
    return int(os.path.basename(cpu_dir)[3:])


def _read_cores(cpu_dirs: list[str], online: set[int] | None) -> list[Core]:
    """Group threads into cores by (core_id, physical_package_id) (cAdvisor ``getCoresInfo``)."""
    cores: list[Core] = []
    index: dict[tuple[int, int], Core] = {}
    for cpu_dir in cpu_dirs:
        cpu = _cpu_number(cpu_dir)
        if online is not None and cpu not in online:
            continue
        try:
            core_id = int(_read_stripped(f"{cpu_dir}/topology/core_id"))
            socket = int(_read_stripped(f"{cpu_dir}/topology/physical_package_id"))
        except FileNotFoundError:
            continue  # offline CPUs lose their topology directory on some kernels
        except ValueError:
            raise ParseError(f"{cpu_dir}/topology", "bad core_id or physical_package_id") from None
        core = index.get((core_id, socket))
        if core is None:
            core = Core(core_id=core_id, socket_id=socket)
            index[(core_id, socket)] = core
            cores.append(core)
        core.thread_ids.append(cpu)
    return cores


def _add_caches(paths: HostPaths, node: Node) -> None:
    """Attach caches to cores and to the node (cAdvisor ``addCacheInfo``)."""
    cores = node.cores or []
    for core in cores:
        threads_per_core = len(core.thread_ids)
        threads_per_node = len(cores) * threads_per_core
        for c in read_cpu_caches(paths, core.thread_ids[0]):
            cache = c.as_model()
            if c.level > 2:
                if c.cpus == threads_per_node:
                    if node.caches is None:
                        node.caches = []
                    if cache not in node.caches:
                        node.caches.append(cache)
                else:
                    if core.uncore_caches is None:
                        core.uncore_caches = []
                    if cache not in core.uncore_caches:
                        core.uncore_caches.append(cache)
            elif c.cpus == threads_per_core:
                if core.caches is None:
                    core.caches = []
                core.caches.append(cache)
            # other caches (shared by part of a core's threads) are ignored, as in cAdvisor


def _read_numa_node(paths: HostPaths, node_dir: str, online: set[int] | None) -> Node:
    node = Node(node_id=int(os.path.basename(node_dir)[4:]))
    cpu_dirs = [f"{node_dir}/{n}" for n in _glob_numbered(node_dir, "cpu")]
    if cpu_dirs:
        node.cores = _read_cores(cpu_dirs, online)
        _add_caches(paths, node)
    try:
        mem = parse_node_meminfo(read_bytes(f"{node_dir}/meminfo"))
    except FileNotFoundError:
        mem = 0  # cAdvisor: ignore a node without memory information
    if mem is None:
        raise ParseError(f"{node_dir}/meminfo", "no MemTotal")
    node.memory = mem
    node.hugepages = read_hugepages(f"{node_dir}/hugepages")
    try:
        node.distances = parse_distances(read_bytes(f"{node_dir}/distance"))
    except FileNotFoundError:
        node.distances = None
    except ValueError:
        raise ParseError(f"{node_dir}/distance", "bad distance row") from None
    return node


def read_topology(paths: HostPaths) -> tuple[list[Node] | None, int]:
    """NUMA nodes with their cores and caches, and the number of logical CPUs.

    ``(None, 0)`` when sysfs shows no CPU at all (cAdvisor then reports ``"topology": null``).
    """
    online = read_online_cpus(paths)
    node_root = f"{paths.sys}/devices/system/node"
    node_names = _glob_numbered(node_root, "node")
    if node_names:
        nodes = [_read_numa_node(paths, f"{node_root}/{n}", online) for n in node_names]
        return nodes, sum(len(c.thread_ids) for n in nodes for c in n.cores or ())
    # No NUMA information: one node per physical package (cAdvisor ``getCPUTopology``).
    cpu_root = f"{paths.sys}/devices/system/cpu"
    cpu_dirs = [f"{cpu_root}/{n}" for n in _glob_numbered(cpu_root, "cpu")]
    if not cpu_dirs:
        return None, 0
    by_package: dict[int, list[str]] = {}
    for cpu_dir in cpu_dirs:
        try:
            package = int(_read_stripped(f"{cpu_dir}/topology/physical_package_id"))
        except FileNotFoundError:
            continue
        except ValueError:
            raise ParseError(f"{cpu_dir}/topology/physical_package_id", "not a number") from None
        by_package.setdefault(package, []).append(cpu_dir)
    if not by_package:
        return None, len(cpu_dirs)  # no physical package id readable for any CPU
    nodes = []
    for package in sorted(by_package):  # Go iterates a map here: any order; we sort
        node = Node(node_id=package, cores=_read_cores(by_package[package], online))
        _add_caches(paths, node)
        nodes.append(node)
    return nodes, len(cpu_dirs)
