"""The manager over fixture hosts in the formats of real v1 and v2 machines (tests/fixtures/hosts/README.md).

Each value asserted here is listed in that README; they are what cAdvisor reports for the same files.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycadvisor.clock import FakeClock
from pycadvisor.container.systemd import SystemdFactory
from pycadvisor.host.paths import HostPaths
from pycadvisor.manager.manager import Manager, ManagerOptions
from pycadvisor.model.container import ContainerStats
from support.procs import eventually

HOSTS = Path(__file__).resolve().parents[1] / "fixtures" / "hosts"
SETS = frozenset({"cpu", "memory", "diskIO", "disk", "network", "percpu", "pressure", "process", "hugetlb"})
V1_ID = "5c2ea0b2e1d54f7b8a3f4a1c9d6e0b7f2a8c3d4e5f60718293a4b5c6d7e8f901"
V2_ID = "8a1f3c5e7b9d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f13"


def run_manager(scenario: str) -> Iterator[Manager]:
    loop = asyncio.new_event_loop()
    m = Manager(
        ManagerOptions(metric_sets=SETS, global_housekeeping_interval_ns=0, update_machine_info_interval_ns=0),
        HostPaths.under(str(HOSTS / scenario)),
        clock=FakeClock(),
        factories=[SystemdFactory()],
    )
    loop.run_until_complete(m.start())
    try:
        yield m
    finally:
        loop.run_until_complete(m.stop())
        loop.close()


@pytest.fixture
def v1() -> Iterator[Manager]:
    yield from run_manager("cgroup1-docker")


@pytest.fixture
def v2() -> Iterator[Manager]:
    yield from run_manager("cgroup2-systemd")


def sample(m: Manager, name: str) -> ContainerStats:
    st = m.get(name)
    assert m.collect(st) is not None
    latest = st.history.latest()
    assert latest is not None
    return latest


def test_v1_names_from_every_controller(v1: Manager) -> None:
    assert "/" in v1.containers and f"/docker/{V1_ID}" in v1.containers
    assert v1.mounts is not None and v1.mounts.mode == "hybrid"


def test_v1_docker_container_stats(v1: Manager) -> None:
    s = sample(v1, f"/docker/{V1_ID}")
    assert s.cpu is not None and s.memory is not None and s.diskio is not None
    assert s.cpu.usage.total == 2505000000
    assert s.cpu.usage.per_cpu_usage == [1200000000, 1305000000]
    assert (s.cpu.usage.user, s.cpu.usage.system) == (1800000000, 600000000)
    assert (s.cpu.cfs.periods, s.cpu.cfs.throttled_periods, s.cpu.cfs.throttled_time) == (1500, 12, 345000000)
    m = s.memory
    assert (m.usage, m.max_usage, m.working_set) == (157286400, 209715200, 94371840)
    assert (m.cache, m.rss, m.mapped_file, m.swap) == (104857600, 41943040, 20971520, 0)
    assert (m.total_active_file, m.total_inactive_file) == (41943040, 62914560)
    assert (m.container_data.pgfault, m.container_data.pgmajfault) == (52000, 120)
    assert (m.failcnt, m.kernel) == (3, 4194304)
    vda = {d.device: d.stats for d in s.diskio.io_service_bytes}
    assert vda["/dev/vda"] == {
        "Read": 10485760, "Write": 4194304, "Sync": 2097152, "Async": 12582912, "Discard": 0, "Total": 14680064,
    }  # fmt: skip
    assert {d.device: d.stats["Total"] for d in s.diskio.io_serviced} == {"/dev/vda": 320, "/dev/vdb": 16}
    assert s.processes is not None
    assert (s.processes.threads_current, s.processes.threads_max) == (4, 100)
    assert s.network is None  # a raw cgroup has no process to read network counters through


def test_v1_spec(v1: Manager) -> None:
    spec = v1.get(f"/docker/{V1_ID}").spec
    assert (spec.cpu.limit, spec.cpu.quota, spec.cpu.period, spec.cpu.mask) == (512, 150000, 100000, "0-1")
    assert (spec.memory.limit, spec.memory.reservation, spec.memory.swap_limit) == (536870912, 268435456, 1073741824)
    assert spec.processes.limit == 100
    assert spec.has_cpu and spec.has_memory and spec.has_diskio and spec.has_processes
    root = v1.get("/").spec
    assert root.memory.limit == 25276514304 and root.memory.swap_limit == 2147479552  # the machine's


def test_v1_root(v1: Manager) -> None:
    s = sample(v1, "/")
    assert s.cpu is not None and s.memory is not None
    assert s.cpu.usage.total == 143526265154
    assert (s.memory.usage, s.memory.working_set) == (1523728384, 581763072)
    assert s.filesystem, "the root container reports the host's filesystems"


def test_v2_systemd_docker_scope(v2: Manager) -> None:
    name = f"/system.slice/docker-{V2_ID}.scope"
    s = sample(v2, name)
    assert s.cpu is not None and s.memory is not None and s.diskio is not None
    assert (s.cpu.usage.total, s.cpu.usage.user, s.cpu.usage.system) == (81234000, 50000000, 31234000)
    assert s.cpu.usage.per_cpu_usage == []  # v2 has no per-CPU usage
    assert (s.cpu.cfs.periods, s.cpu.cfs.throttled_periods, s.cpu.cfs.throttled_time) == (240, 3, 4500000)
    assert (s.cpu.psi.some.total, s.cpu.psi.full.total) == (12, 5)
    m = s.memory
    assert (m.usage, m.max_usage, m.working_set) == (1458176, 2084864, 798720)
    assert (m.cache, m.rss, m.mapped_file, m.swap) == (991232, 389120, 0, 8192)
    assert (m.events.high, m.events.max) == (2, 5)
    assert (m.psi.some.total, m.psi.full.total) == (340, 120)
    io = {d.device: d.stats for d in s.diskio.io_service_bytes}
    assert io == {"/dev/sda": {"Read": 4096, "Write": 8192}, "/dev/nvme0n1": {"Read": 1048576, "Write": 524288}}
    assert {d.device: d.stats for d in s.diskio.io_cost_usage} == {"/dev/sda": {"Count": 1200}}
    assert (s.diskio.psi.some.total, s.diskio.psi.full.total) == (777, 555)
    assert s.hugetlb is not None and s.hugetlb["2MB"].usage == 2097152
    spec = v2.get(name).spec
    assert (spec.cpu.limit, spec.cpu.quota, spec.cpu.period) == (4537, 150000, 100000)
    assert spec.memory.limit == 1073741824 and spec.memory.swap_limit == 2**64 - 1
    assert spec.processes.limit == 2**64 - 1


def test_v2_root_and_mount_units(v2: Manager) -> None:
    assert "/system.slice/var-lib.mount" not in v2.containers  # systemd .mount units are ignored
    assert {"/", "/init.scope", "/system.slice", "/user.slice", "/user.slice/user-1000.slice"} <= set(v2.containers)
    s = sample(v2, "/")
    assert s.memory is not None and s.memory.usage == 2831155200  # anon + file: the v2 root has no memory.current
    assert s.memory.working_set == 1572864000
    # The v2 root has no cpu.weight nor cpu.max: shares and period 0, as cAdvisor (not v1's 1024 and 100000).
    root = v2.get("/").spec
    assert (root.cpu.limit, root.cpu.quota, root.cpu.period) == (0, 0, 0)
    init = sample(v2, "/init.scope")
    assert init.processes is not None and (init.processes.threads_current, init.processes.threads_max) == (1, 0)


@pytest.mark.parametrize("scenario", ["cgroup1-docker", "cgroup2-systemd"])
def test_samples_are_flat_values_under_one_shared_layout(scenario: str) -> None:
    """Every container's values fill its layout exactly; repeated samples share the interned layout;
    the positions the manager reads on every sample (CPU total, working set) hold those values."""
    for m in run_manager(scenario):
        for st in m.containers.values():
            assert m.collect(st) is not None
            first = st.history.latest_entry()
            assert m.collect(st) is not None
            entry = st.history.latest_entry()
            assert first is not None and entry is not None
            layout, vals = entry
            assert layout is first[0], st.name
            assert len(vals) == layout.size, (st.name, layout)
            stats = st.history.latest()
            assert stats is not None and stats.timestamp == vals[0]
            if stats.cpu is not None:
                assert vals[layout.cpu_total] == stats.cpu.usage.total
            if stats.memory is not None:
                assert vals[layout.working_set] == stats.memory.working_set
                assert vals[layout.mem_usage] == stats.memory.usage
            assert st.history.previous() == st.history.window(count=2)[0]
        root = m.get("/")
        root_entry = root.history.latest_entry()
        assert root_entry is not None
        kinds = [t[0] for t in root_entry[0].tokens]
        assert kinds[:2] == ["cpu", "mem"] and "obj" in kinds  # filesystems stored generically
        root_latest = m.get("/").history.latest()
        assert root_latest is not None and root_latest.filesystem


def test_vanished_cgroup_is_dropped_not_fatal(tmp_path: Path) -> None:
    """A corrupt file fails its family only; a cgroup directory removed while tracked is dropped when the
    watcher reports it (inotify on the host tree), and the others keep being sampled."""
    shutil.copytree(HOSTS / "cgroup2-systemd", tmp_path / "host", symlinks=True)
    name = f"/system.slice/docker-{V2_ID}.scope"
    d = tmp_path / "host" / "sys" / "fs" / "cgroup" / "system.slice" / f"docker-{V2_ID}.scope"

    async def main() -> None:
        m = Manager(
            ManagerOptions(metric_sets=SETS, global_housekeeping_interval_ns=0, update_machine_info_interval_ns=0),
            HostPaths.under(str(tmp_path / "host")),
            clock=FakeClock(),
        )
        await m.start()
        try:
            st = m.get(name)
            (d / "memory.stat").write_text("anon notanumber\n")
            assert m.collect(st) is not None
            latest = st.history.latest()
            assert latest is not None and latest.memory is None and latest.cpu is not None
            shutil.rmtree(d)

            async def dropped() -> bool:
                return name not in m.containers

            await eventually(dropped, timeout=10, what=f"{name} dropped")
            assert m.collect(m.get("/system.slice")) is not None
        finally:
            await m.stop()

    asyncio.run(main())


def test_scheduler_samples_each_container_at_its_interval() -> None:
    """One scheduler, one pending tick: 1 s at a 200 ms interval gives each container about 5 samples."""
    loop = asyncio.new_event_loop()
    m = Manager(
        ManagerOptions(
            metric_sets=SETS,
            housekeeping_interval_ns=200_000_000,
            allow_dynamic_housekeeping=False,
            jitter_factor=0.0,
            initial_splay_factor=0.0,
            global_housekeeping_interval_ns=0,
            update_machine_info_interval_ns=0,
        ),
        HostPaths.under(str(HOSTS / "cgroup2-systemd")),
    )

    async def run() -> dict[str, int]:
        await m.start()
        await asyncio.sleep(1.05)
        counts = {name: len(st.history) for name, st in m.containers.items()}
        await m.stop()
        return counts

    counts = loop.run_until_complete(run())
    loop.close()
    assert counts and all(4 <= n <= 7 for n in counts.values()), counts
