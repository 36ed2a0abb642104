"""Machine description: cpuinfo/meminfo/sysfs parsers, fixture hosts and this real host."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pycadvisor.errors import ParseError
from pycadvisor.host import machine as hm
from pycadvisor.host.paths import HostPaths
from pycadvisor.host.topology import (
    parse_cache_size,
    parse_cpu_list,
    parse_cpu_mask,
    parse_distances,
    parse_hugepages_dir_name,
    parse_node_meminfo,
    read_topology,
)
from pycadvisor.model.codec import dumps
from pycadvisor.model.machine import MachineInfo, StorageFsInfo

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hosts"
NOW = 1_700_000_000_123_456_789


def fixture(name: str) -> HostPaths:
    return HostPaths.under(str(FIXTURES / name))


def machine_json(name: str, **kw: Any) -> dict[str, Any]:
    info = hm.read_machine_info(fixture(name), now_ns=NOW, arch="x86_64", **kw)
    out: dict[str, Any] = json.loads(dumps(info))
    return out


# ---------------------------------------------------------------- pure parsers

AMD = b"""processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
cpu MHz\t\t: 2596.136
physical id\t: 0
core id\t\t: 0

processor\t: 1
vendor_id\t: AuthenticAMD
cpu MHz\t\t: 2601.000
physical id\t: 0
core id\t\t: 1

"""

# Two sockets whose core ids both restart at 0, each core with two hyperthreads.
TWO_SOCKETS = b"".join(
    b"processor\t: %d\nvendor_id\t: GenuineIntel\ncpu MHz\t\t: 2194.843\nphysical id\t: %d\ncore id\t\t: %d\n\n"
    % (cpu, cpu // 4, (cpu // 2) % 2)
    for cpu in range(8)
)

ARM = b"""processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41

processor\t: 1
BogoMIPS\t: 108.00
"""

POWER = b"""processor\t: 0
cpu\t\t: POWER9 (architected), altivec supported
clock\t\t: 2926.000000MHz
revision\t: 2.2 (pvr 004e 1202)

timebase\t: 512000000
"""


def test_cpuinfo_vendor_cores_sockets_and_first_clock() -> None:
    info = hm.parse_cpuinfo(AMD)
    assert (info.vendor_id, info.physical_cores, info.sockets, info.clock_khz) == ("AuthenticAMD", 2, 1, 2596136)


def test_cpuinfo_counts_cores_per_socket() -> None:
    info = hm.parse_cpuinfo(TWO_SOCKETS)
    assert (info.physical_cores, info.sockets) == (4, 2)


def test_cpuinfo_without_topology_or_clock() -> None:
    info = hm.parse_cpuinfo(ARM)
    assert (info.vendor_id, info.physical_cores, info.sockets, info.clock_khz) == ("", 0, 0, None)


def test_cpuinfo_power_clock_line() -> None:
    assert hm.parse_cpuinfo(POWER).clock_khz == 2926000


def test_meminfo_converts_kb_and_keeps_counts() -> None:
    mem = hm.parse_meminfo(b"MemTotal:       24684096 kB\nSwapTotal:             0 kB\nHugePages_Total:      16\n")
    assert mem == {"MemTotal": 24684096 * 1024, "SwapTotal": 0, "HugePages_Total": 16}


@pytest.mark.parametrize(
    ("text", "want"),
    [("none [mq-deadline] kyber bfq\n", "mq-deadline"), ("[none] mq-deadline\n", "none"), ("none\n", "none")],
)
def test_scheduler_is_the_bracketed_one(text: str, want: str) -> None:
    assert hm.parse_scheduler(text) == want


def test_os_release_pretty_name() -> None:
    assert hm.parse_os_release(b'NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n') == (
        "Debian GNU/Linux 12 (bookworm)"
    )
    assert hm.parse_os_release(b"NAME=Foo\n") == "Linux"


def test_sysfs_list_mask_size_parsers() -> None:
    assert parse_cpu_list("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11]
    assert parse_cpu_list("\n") == []
    assert parse_cpu_mask("00000000,0000000f\n") == 4
    assert parse_cpu_mask("80000000,00000001") == 2
    assert (parse_cache_size("32K\n"), parse_cache_size("8M"), parse_cache_size("512")) == (32768, 8388608, 512)
    assert parse_hugepages_dir_name("hugepages-1048576kB") == 1048576
    assert parse_hugepages_dir_name("hugepages-foo") is None
    assert parse_node_meminfo(b"Node 1 MemTotal:        8178688 kB\nNode 1 MemFree: 1 kB\n") == 8178688 * 1024
    assert parse_distances(b"10 21\n") == [10, 21]


# ---------------------------------------------------------------- fixture hosts

MACHINE_KEYS = [
    "timestamp", "vendor_id", "num_cores", "num_physical_cores", "num_sockets", "cpu_frequency_khz",
    "memory_capacity", "swap_capacity", "memory_by_type", "nvm", "hugepages", "machine_id", "system_uuid",
    "boot_id", "filesystems", "disk_map", "network_devices", "topology", "cloud_provider", "instance_type",
    "instance_id",
]  # fmt: skip


def test_machine_json_keys_in_cadvisor_order() -> None:
    m = machine_json("cgroup1-docker")
    assert list(m) == MACHINE_KEYS
    assert m["timestamp"] == "2023-11-14T22:13:20.123456789Z"
    assert m["nvm"] == {"memory_mode_capacity": 0, "app direct_mode_capacity": 0, "avg_power_budget": 0}
    assert (m["cloud_provider"], m["instance_type"], m["instance_id"]) == ("Unknown", "Unknown", "")


def test_cgroup1_docker_machine() -> None:
    m = machine_json("cgroup1-docker")
    assert (m["vendor_id"], m["num_cores"], m["num_physical_cores"], m["num_sockets"]) == ("AuthenticAMD", 2, 2, 1)
    assert m["cpu_frequency_khz"] == 2596136
    assert (m["memory_capacity"], m["swap_capacity"]) == (25276514304, 2147479552)
    assert m["memory_by_type"] == {}
    assert m["hugepages"] == [{"page_size": 1048576, "num_pages": 0}, {"page_size": 2048, "num_pages": 16}]
    assert m["machine_id"] == "9f5c0e2a8b7d4c1e9a3f6b2d8c4e1a70"
    assert m["system_uuid"] == m["machine_id"]  # no DMI: cAdvisor falls back to /etc/machine-id
    assert m["boot_id"] == "0c9a8e7f-6b5d-4c3a-9e2f-1d0c9b8a7f6e"
    assert m["disk_map"] == {
        "253:0": {"name": "zram0", "major": 253, "minor": 0, "size": 0, "scheduler": "none"},
        "254:0": {"name": "vda", "major": 254, "minor": 0, "size": 274877906944, "scheduler": "mq-deadline"},
        "254:16": {"name": "vdb", "major": 254, "minor": 16, "size": 107374182400, "scheduler": "none"},
    }
    assert m["network_devices"] == [
        {"name": "eth0", "mac_address": "02:fc:00:00:00:01", "speed": -1, "mtu": 1400},
        {"name": "ifb0", "mac_address": "e6:de:d9:ba:3e:98", "speed": 0, "mtu": 1500},
    ]
    l1d, l1i, l2 = ("Data", 1, 32768), ("Instruction", 1, 32768), ("Unified", 2, 1048576)
    assert m["topology"] == [
        {
            "node_id": 0,
            "memory": 25276514304,
            "hugepages": m["hugepages"],
            "cores": [
                {
                    "core_id": cpu,
                    "thread_ids": [cpu],
                    "caches": [{"id": cpu, "size": s, "type": t, "level": lv} for t, lv, s in (l1d, l1i, l2)],
                    "uncore_caches": None,
                    "socket_id": 0,
                }
                for cpu in (0, 1)
            ],
            "caches": [{"id": 0, "size": 33554432, "type": "Unified", "level": 3}],
            "distances": [10],
        }
    ]
    assert [f["device"] for f in m["filesystems"]] == [
        "/dev/shm", "/dev/vda", "/dev/vdb", "/sys/fs/cgroup", "overlay_0-45",
    ]  # fmt: skip


def test_cgroup2_systemd_machine_two_sockets_two_nodes() -> None:
    m = machine_json("cgroup2-systemd")
    assert (m["vendor_id"], m["num_cores"], m["num_physical_cores"], m["num_sockets"]) == ("GenuineIntel", 4, 2, 2)
    assert m["cpu_frequency_khz"] == 3200000  # cpufreq wins over cpuinfo's MHz
    assert m["memory_by_type"] == {"Registered-DDR4": {"capacity": 17179869184, "dimm_count": 2}}
    assert m["system_uuid"] == "4c4c4544-0036-3510-8052-b4c04f4e3332"
    assert sorted(m["disk_map"]) == ["259:0", "8:0"]  # hidden nvme path device, loop and sr skipped
    assert m["disk_map"]["259:0"]["scheduler"] == "none"
    assert [n["name"] for n in m["network_devices"]] == ["eno1", "eno2"]
    assert m["network_devices"][0]["speed"] == 1000
    nodes = m["topology"]
    assert [n["node_id"] for n in nodes] == [0, 1]
    assert [n["memory"] for n in nodes] == [8130724 * 1024, 8178688 * 1024]
    assert [n["distances"] for n in nodes] == [[10, 21], [21, 10]]
    node_pages = [{"page_size": 1048576, "num_pages": 0}, {"page_size": 2048, "num_pages": 4}]
    assert [n["hugepages"] for n in nodes] == [node_pages, node_pages]
    # Core ids repeat across sockets: cores are told apart by socket.
    assert [[(c["core_id"], c["socket_id"], c["thread_ids"]) for c in n["cores"]] for n in nodes] == [
        [(0, 0, [0, 1])],
        [(0, 1, [2, 3])],
    ]
    assert [n["caches"] for n in nodes] == [
        [{"id": 0, "size": 17301504, "type": "Unified", "level": 3}],
        [{"id": 1, "size": 17301504, "type": "Unified", "level": 3}],
    ]
    assert [c["id"] for c in nodes[1]["cores"][0]["caches"]] == [8, 8, 8]


def test_cgroup2_containerd_machine_without_numa_sysfs() -> None:
    m = machine_json("cgroup2-containerd")
    assert (m["num_cores"], m["num_physical_cores"], m["num_sockets"]) == (2, 1, 1)
    assert m["cpu_frequency_khz"] == 2499998
    assert m["topology"] == [
        {
            "node_id": 0,
            "memory": 0,
            "hugepages": None,
            "cores": [
                {
                    "core_id": 0,
                    "thread_ids": [0, 1],
                    "caches": [
                        {"id": 0, "size": 32768, "type": "Data", "level": 1},
                        {"id": 0, "size": 32768, "type": "Instruction", "level": 1},
                        {"id": 0, "size": 1048576, "type": "Unified", "level": 2},
                    ],
                    "uncore_caches": None,
                    "socket_id": 0,
                }
            ],
            "caches": [{"id": 0, "size": 37486592, "type": "Unified", "level": 3}],
            "distances": None,
        }
    ]
    assert [n["name"] for n in m["network_devices"]] == ["cni0", "ens5", "flannel.1"]


def test_machine_id_files_are_tried_in_order(tmp_path: Path) -> None:
    info = hm.read_machine_info(
        fixture("cgroup1-docker"),
        now_ns=NOW,
        machine_id_files=["/var/lib/dbus/machine-id", "/etc/machine-id"],
        boot_id_file="/proc/sys/kernel/random/none",
    )
    assert info.machine_id == "9f5c0e2a8b7d4c1e9a3f6b2d8c4e1a70"
    assert info.boot_id == ""


def test_meminfo_without_memtotal_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cpuinfo").write_bytes(AMD)
    (tmp_path / "proc" / "meminfo").write_text("SwapTotal: 0 kB\n")
    with pytest.raises(ParseError, match="meminfo"):
        hm.read_machine_info(HostPaths.under(str(tmp_path)), now_ns=NOW)


def test_attributes_of_fixture() -> None:
    paths = fixture("cgroup2-systemd")
    info = hm.read_machine_info(paths, now_ns=NOW)
    attrs = json.loads(dumps(hm.read_attributes(paths, info, "v0.60.5")))
    assert list(attrs) == [
        "kernel_version", "container_os_version", "docker_version", "docker_api_version", "cadvisor_version",
        "num_cores", "cpu_frequency_khz", "memory_capacity", "machine_id", "system_uuid", "hugepages",
        "filesystems", "disk_map", "network_devices", "topology", "cloud_provider", "instance_type",
    ]  # fmt: skip
    assert attrs["kernel_version"] == "6.8.0-45-generic"
    assert attrs["container_os_version"] == "Ubuntu 24.04.1 LTS"
    assert (attrs["docker_version"], attrs["docker_api_version"], attrs["cadvisor_version"]) == ("", "", "v0.60.5")
    assert attrs["topology"] == json.loads(dumps(info))["topology"]


def test_attributes_unknown_when_files_missing(tmp_path: Path) -> None:
    paths = HostPaths.under(str(tmp_path))
    assert (hm.read_kernel_version(paths), hm.read_os_version(paths)) == ("Unknown", "Unknown")


# ---------------------------------------------------------------- synthetic sysfs trees


def _w(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def _cache(root: Path, cpu: int, idx: int, level: int, typ: str, size: str, cid: int, cpumap: str) -> None:
    d = f"sys/devices/system/cpu/cpu{cpu}/cache/index{idx}"
    for name, val in (("level", level), ("type", typ), ("size", size), ("id", cid), ("shared_cpu_map", cpumap)):
        _w(root, f"{d}/{name}", f"{val}\n")


def test_l3_shared_by_some_cores_is_uncore_and_offline_cpus_are_left_out(tmp_path: Path) -> None:
    # One node, 4 single-thread cores, L3 per pair of cores (AMD CCX style); cpu3 is offline.
    _w(tmp_path, "sys/devices/system/cpu/online", "0-2\n")
    for cpu in range(4):
        _w(tmp_path, f"sys/devices/system/cpu/cpu{cpu}/topology/core_id", f"{cpu}\n")
        _w(tmp_path, f"sys/devices/system/cpu/cpu{cpu}/topology/physical_package_id", "0\n")
        _cache(tmp_path, cpu, 0, 1, "Data", "32K", cpu, f"{1 << cpu:x}")
        _cache(tmp_path, cpu, 1, 3, "Unified", "16384K", cpu // 2, "3" if cpu < 2 else "c")
        os.makedirs(tmp_path / "sys/devices/system/node/node0", exist_ok=True)
        os.symlink(f"../../cpu/cpu{cpu}", tmp_path / f"sys/devices/system/node/node0/cpu{cpu}")
    _cache(tmp_path, 0, 2, 2, "Unified", "512K", 0, "3")  # L2 shared by two single-thread cores: ignored
    _w(tmp_path, "sys/devices/system/node/node0/meminfo", "Node 0 MemTotal:        1024 kB\n")
    nodes, num_cores = read_topology(HostPaths.under(str(tmp_path)))
    assert num_cores == 3
    assert nodes is not None and len(nodes) == 1
    node = json.loads(dumps(nodes[0]))
    assert node["caches"] is None
    assert node["memory"] == 1024 * 1024
    assert node["hugepages"] is None and node["distances"] is None
    assert [(c["core_id"], c["thread_ids"]) for c in node["cores"]] == [(0, [0]), (1, [1]), (2, [2])]
    assert [c["uncore_caches"] for c in node["cores"]] == [
        [{"id": 0, "size": 16777216, "type": "Unified", "level": 3}],
        [{"id": 0, "size": 16777216, "type": "Unified", "level": 3}],
        [{"id": 1, "size": 16777216, "type": "Unified", "level": 3}],
    ]
    assert [len(c["caches"]) for c in node["cores"]] == [1, 1, 1]


def test_cpus_are_visited_in_lexical_order_like_go_glob(tmp_path: Path) -> None:
    # No NUMA sysfs and no "online" file: every cpu<N> directory counts, cpu10 sorts before cpu2.
    for cpu in range(12):
        _w(tmp_path, f"sys/devices/system/cpu/cpu{cpu}/topology/core_id", f"{cpu}\n")
        _w(tmp_path, f"sys/devices/system/cpu/cpu{cpu}/topology/physical_package_id", f"{cpu // 6}\n")
    _w(tmp_path, "sys/devices/system/cpu/cpufreq/policy0/scaling_driver", "acpi-cpufreq\n")
    nodes, num_cores = read_topology(HostPaths.under(str(tmp_path)))
    assert num_cores == 12
    assert nodes is not None
    assert [n.node_id for n in nodes] == [0, 1]
    assert [c.core_id for c in nodes[0].cores or []] == [0, 1, 2, 3, 4, 5]
    assert [c.core_id for c in nodes[1].cores or []] == [10, 11, 6, 7, 8, 9]
    assert all(c.caches is None for n in nodes for c in n.cores or [])


def test_no_cpus_in_sysfs_means_null_topology(tmp_path: Path) -> None:
    assert read_topology(HostPaths.under(str(tmp_path))) == (None, 0)


# ---------------------------------------------------------------- model encoding


def test_empty_machine_info_prints_go_nils() -> None:
    out = json.loads(dumps(MachineInfo()))
    assert out["timestamp"] == "0001-01-01T00:00:00Z"
    assert out["hugepages"] is None and out["filesystems"] is None and out["topology"] is None
    assert out["memory_by_type"] == {}
    assert "num_books" not in out and "num_drawers" not in out


def test_storage_fs_info_with_zero_free_inodes_keeps_the_key() -> None:
    # Go prints a non-nil *uint64 even when it points at 0.
    out = json.loads(dumps(StorageFsInfo(inodes=10, inodes_free=0)))
    assert out["labels"] == []
    if "inodes_free" not in out:
        pytest.xfail("codec has no 'ptr' kind yet: omitempty drops the 0 (requested in the report)")
    assert out["inodes_free"] == 0


# ---------------------------------------------------------------- this host


def _root_device_numbers() -> tuple[int, int]:
    st = os.stat("/")
    return os.major(st.st_dev), os.minor(st.st_dev)


def test_real_host_machine_info() -> None:
    paths = HostPaths()
    info = hm.read_machine_info(paths, now_ns=NOW)
    assert info.num_cores == os.cpu_count()
    with open("/proc/meminfo") as f:
        mem_total_kb = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    assert info.memory_capacity == mem_total_kb * 1024
    assert info.topology is not None
    threads = sorted(t for n in info.topology for c in n.cores or [] for t in c.thread_ids)
    assert threads == list(range(os.cpu_count() or 0))
    # The disk holding / is in the disk map (via its parent disk when / is on a partition).
    major, minor = _root_device_numbers()
    dev_dir = os.path.realpath(f"/sys/dev/block/{major}:{minor}")
    disk_dir = dev_dir if os.path.exists(f"{dev_dir}/queue") else os.path.dirname(dev_dir)
    with open(f"{disk_dir}/dev") as f:
        disk_key = f.read().strip()
    assert info.disk_map is not None and disk_key in info.disk_map
    assert info.disk_map[disk_key].name == os.path.basename(disk_dir)
    assert info.filesystems is not None
    root_fs = [f for f in info.filesystems if f.capacity == os.statvfs("/").f_blocks * os.statvfs("/").f_bsize]
    assert root_fs and all(f.type == "vfs" and f.has_inodes for f in root_fs)
    assert info.machine_id and info.boot_id
    kernel = hm.read_kernel_version(paths)
    assert kernel == os.uname().release
