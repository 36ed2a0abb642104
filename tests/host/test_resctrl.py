"""Resctrl (issue 16 item 3) on a copy of a resctrl tree in the kernel's format (tests/fixtures/resctrl, this
host has none): where it is mounted, its per-domain counters, and through a running manager over real cgroups
the container's monitoring group made, its tasks written, read every sample and removed with the container.
The test plays the kernel's part on the copy: listing tasks in the root group, filling a new group's mon_data."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from pycadvisor.app import build_addons
from pycadvisor.config import Config
from pycadvisor.errors import ParseError
from pycadvisor.flags import parse_args
from pycadvisor.host.paths import HostPaths
from pycadvisor.host.resctrl.collector import ResctrlManager
from pycadvisor.host.resctrl.tree import find_root, mon_group_name, read_mon_data, read_mon_features
from pycadvisor.manager.manager import Manager, ManagerOptions
from pycadvisor.model.container import CacheStats, MemoryBandwidthStats, ResctrlStats
from pycadvisor.storage.options import StorageOptions
from support.cgroups import TestCgroup
from support.procs import ManagedProcess, eventually, sleeper

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "resctrl"
FEATURES = frozenset({"llc_occupancy", "mbm_total_bytes", "mbm_local_bytes"})
NODES = ResctrlStats(
    memory_bandwidth=[
        MemoryBandwidthStats(mbm_total_bytes=4_512_312, mbm_local_bytes=2_390_393),
        MemoryBandwidthStats(mbm_total_bytes=2_173_713, mbm_local_bytes=1_231_233),
    ],
    cache=[CacheStats(llc_occupancy=162_626), CacheStats(llc_occupancy=213_777)],
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "resctrl"
    shutil.copytree(FIXTURE, root)
    (root / "mon_groups").mkdir(exist_ok=True)  # the kernel always has it (git keeps no empty directory)
    return root


def test_the_mount_is_found_in_mountinfo_and_its_features_read(tmp_path: Path, tree: Path) -> None:
    (tmp_path / "proc" / "self").mkdir(parents=True)
    (tmp_path / "proc" / "self" / "mountinfo").write_text(
        "24 1 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
        "97 24 0:45 / /sys/fs/resctrl rw,relatime shared:50 - resctrl resctrl rw\n"
    )
    assert find_root(HostPaths.under(str(tmp_path))) == str(tmp_path / "sys/fs/resctrl")
    (tmp_path / "proc" / "self" / "mountinfo").write_text("24 1 0:22 / /sys rw - sysfs sysfs rw\n")
    assert find_root(HostPaths.under(str(tmp_path))) is None
    assert read_mon_features(str(tree)) == FEATURES
    assert read_mon_features(str(tmp_path)) == frozenset()


def test_each_l3_domain_is_a_node_of_the_stats(tree: Path) -> None:
    assert read_mon_data(str(tree), FEATURES) == NODES
    # Only what the machine monitors: CMT without MBM leaves memory_bandwidth empty (omitted in JSON).
    assert read_mon_data(str(tree), frozenset({"llc_occupancy"})) == ResctrlStats(cache=NODES.cache)
    with pytest.raises(ParseError, match=r"restricted/mon_data/mon_L3_00/mbm_total_bytes: \"Unavailable\""):
        read_mon_data(str(tree / "restricted"), FEATURES)


def test_mon_group_names_follow_cadvisor() -> None:
    assert mon_group_name("/kubepods/pod1/abc") == "cadvisor-kubepods-pod1-abc"


def _pid_into(path: Path, pid: int) -> None:
    """What the kernel shows: every task of the machine is listed in the root group's tasks."""
    with open(path, "a") as f:
        f.write(f"{pid}\n")


def _tids(pid: int) -> set[int]:
    return {int(t) for t in os.listdir(f"/proc/{pid}/task")}


def test_a_containers_group_is_made_written_read_and_removed_with_it(tree: Path) -> None:
    asyncio.run(_scenario(tree))


async def _scenario(tree: Path) -> None:
    with TestCgroup("resctrl") as outer:
        manager = Manager(
            ManagerOptions(
                housekeeping_interval_ns=100_000_000,
                allow_dynamic_housekeeping=False,
                metric_sets=frozenset({"cpu", "memory", "resctrl"}),
                raw_cgroup_prefix_whitelist=(outer.name + "/",),
                global_housekeeping_interval_ns=0,
                update_machine_info_interval_ns=0,
            ),
            HostPaths(),
            addons=[ResctrlManager(str(tree), HostPaths(), features=FEATURES, interval_ns=200_000_000)],
        )
        await manager.start()
        try:
            # The root container reads the root group, which it never makes nor removes.
            root_stats = await eventually(
                lambda: _latest_resctrl(manager, "/"), timeout=10, what="the root group's counters"
            )
            assert root_stats == NODES

            # A container made after the daemon started, empty at first (as runtimes make them).
            cg = outer.child("app")
            group = tree / "mon_groups" / mon_group_name(cg.name)
            first = sleeper(cg)
            _pid_into(tree / "tasks", first.pid)
            await eventually(lambda: _holds(group, _tids(first.pid)), timeout=10, what="the group with its tasks")

            # Until the kernel fills the new group's mon_data, only the resctrl part of each sample fails.
            async def failing_alone() -> bool:
                st = manager.get(cg.name)
                s = st.history.latest()
                return s is not None and s.cpu is not None and not s.resctrl.cache and st.scrape_errors > 0

            await eventually(failing_alone, timeout=10, what="samples without resctrl while mon_data is empty")
            shutil.copytree(tree / "mon_data", group / "mon_data")
            got = await eventually(lambda: _latest_resctrl(manager, cg.name), timeout=10, what="the group's counters")
            assert got == NODES

            # A task that joins the container later is written into its group at the next check.
            second = sleeper(cg)
            _pid_into(tree / "tasks", second.pid)
            await eventually(lambda: _holds(group, _tids(second.pid)), timeout=10, what="the second task written")

            cg.close()  # the container goes, and its group with it

            async def removed() -> bool:
                return cg.name not in manager.containers and not group.exists()

            await eventually(removed, timeout=10, what="the group removed with its container")
            assert (tree / "restricted" / "mon_groups" / "kubelet-pod1").is_dir()  # others' groups stay

            # A container still running when pycadvisor stops: its group goes too (its RMID is given back).
            last = outer.child("last")
            last_group = tree / "mon_groups" / mon_group_name(last.name)
            _pid_into(tree / "tasks", sleeper(last).pid)
            await eventually(lambda: _exists(last_group), timeout=10, what="the last container's group")
        finally:
            await manager.stop()
        assert not last_group.exists()


async def _exists(path: Path) -> bool:
    return path.is_dir()


async def _latest_resctrl(manager: Manager, name: str) -> ResctrlStats | None:
    st = manager.containers.get(name)
    s = st.history.latest() if st is not None else None
    return s.resctrl if s is not None and s.resctrl.cache else None


async def _holds(group: Path, tids: set[int]) -> bool:
    try:
        written = {int(x) for x in (group / "tasks").read_text().split()}
    except FileNotFoundError:
        return False
    return tids <= written


def test_without_an_interval_a_group_is_checked_again_only_when_its_cgroup_is_made_again(
    tree: Path, tmp_path: Path
) -> None:
    """``-resctrl_interval=0`` (the default): as cAdvisor, the group is made once; a cgroup made again under
    the same name (the manager calls ``reopen``) gets its new tasks written all the same."""
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    dirs = {"cpu": str(cgroup)}
    group = tree / "mon_groups" / "cadvisor-unit"
    first, second = (ManagedProcess(["sleep", "60"], what=f"sleeper {i}") for i in (1, 2))
    try:
        for p in (first, second):
            _pid_into(tree / "tasks", p.pid)
        (cgroup / "cgroup.procs").write_text(f"{first.pid}\n")
        c = ResctrlManager(str(tree), HostPaths(), features=FEATURES).attach("/unit")
        with pytest.raises(ParseError, match="no mon_data domains"):  # made; the kernel has not filled it yet
            c.update(dirs, 1)
        shutil.copytree(tree / "mon_data", group / "mon_data")
        assert c.update(dirs, 2) == [("resctrl", NODES)]
        (cgroup / "cgroup.procs").write_text(f"{second.pid}\n")  # the unit restarted in a new cgroup
        c.update(dirs, 3)
        assert second.pid not in _written(group)
        c.reopen()
        c.update(dirs, 4)
        assert _written(group) == {first.pid, second.pid}
        c.close()
        assert not group.exists()
    finally:
        first.stop()
        second.stop()


def _written(group: Path) -> set[int]:
    return {int(x) for x in (group / "tasks").read_text().split()}


def test_the_daemon_uses_the_mounted_tree_with_the_flags_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    host = tmp_path / "host"
    shutil.copytree(FIXTURE, host / "sys/fs/resctrl")
    (host / "proc/1").mkdir(parents=True)
    (host / "proc/1/mountinfo").write_text("97 24 0:45 / /sys/fs/resctrl rw,relatime - resctrl resctrl rw\n")
    out, _ = parse_args(["-enable_metrics=cpu,resctrl", "-resctrl_interval=2s", "-docker_only"], Config, StorageOptions)
    cfg = out[Config]
    assert isinstance(cfg, Config)
    (addon,) = build_addons(cfg, HostPaths.under(str(host)), frozenset({"cpu", "resctrl"}))
    assert isinstance(addon, ResctrlManager)
    assert (addon.root, addon.features, addon.interval_ns) == (str(host / "sys/fs/resctrl"), FEATURES, 2_000_000_000)
    # This host has no resctrl: the set is asked for, the log says why nothing comes, the daemon runs on.
    assert build_addons(cfg, HostPaths(), frozenset({"cpu", "resctrl"})) == []
    assert "resctrl metrics will not be collected: resctrl is not mounted" in caplog.text
