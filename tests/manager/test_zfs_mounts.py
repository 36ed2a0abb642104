"""ZFS mounts as ``zfs list`` measures them (cAdvisor ``lib/fs/zfs/plugin.go``), on a copy of a fixture host with a
zfs dataset mounted and ``/dev/zfs`` present; the tool answers from its fixture output (tests/fixtures/zfs).
While ``zfs`` fails, the mount is measured with statvfs, as cAdvisor falls back to VFS (issue 16 item 5)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from pycadvisor.container.systemd import SystemdFactory
from pycadvisor.host.command import CommandError
from pycadvisor.host.paths import HostPaths
from pycadvisor.manager.manager import Manager, ManagerOptions
from pycadvisor.model.container import FsStats
from support.procs import eventually
from support.storage_tools import FakeTools

HOSTS = Path(__file__).resolve().parents[1] / "fixtures" / "hosts"
ZFS_LIST = ("zfs", "list", "-Hp", "-o", "name,used,available,usedbydataset", "tank/data")


def _host(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    shutil.copytree(HOSTS / "cgroup2-systemd", root, symlinks=True)
    (root / "data").mkdir()
    (root / "dev" / "zfs").write_text("")
    with open(root / "proc" / "self" / "mountinfo", "a") as f:
        f.write("90 24 0:52 / /data rw,noatime shared:40 - zfs tank/data rw,xattr,noacl\n")
    return root


def _zfs_entry(m: Manager) -> FsStats | None:
    st = m.get("/")
    m.collect(st)
    latest = st.history.latest()
    return next((f for f in (latest.filesystem or []) if f.device == "tank/data"), None) if latest else None


def test_a_zfs_mount_is_measured_by_zfs_list_and_falls_back_to_statvfs(tmp_path: Path) -> None:
    root = _host(tmp_path)
    tools = FakeTools({ZFS_LIST: CommandError("`zfs list` exited with 1: Failed to initialize the libzfs library")})

    async def go() -> None:
        m = Manager(
            ManagerOptions(global_housekeeping_interval_ns=0, update_machine_info_interval_ns=0, zfs_interval_ns=10**8),
            HostPaths.under(str(root)),
            factories=[SystemdFactory()],
            runner=tools,
        )
        await m.start()
        try:
            # zfs fails first: the mount is there, measured by statvfs.
            await eventually(lambda: _async(ZFS_LIST in tools.calls), timeout=10, what="zfs list run")
            vfs = _zfs_entry(m)
            assert vfs is not None and vfs.type == "vfs"
            tools.answers[ZFS_LIST] = b"tank/data\t1610612736\t9126805504\t98304\n"

            async def measured_by_zfs() -> FsStats | None:
                e = _zfs_entry(m)
                return e if e is not None and e.type == "zfs" else None

            e = await eventually(measured_by_zfs, timeout=10, what="the mount measured by zfs list")
            capacity = 1610612736 + 9126805504 + 98304
            assert (e.capacity, e.available, e.usage, e.has_inodes) == (
                capacity,
                9126805504,
                capacity - 9126805504,
                False,
            )
            (fs,) = [f for f in m.machine_info.filesystems or [] if f.device == "tank/data"]
            assert (fs.type, fs.capacity) == ("zfs", capacity)
        finally:
            await m.stop()

    asyncio.run(go())


async def _async(value: object) -> object:
    return value
