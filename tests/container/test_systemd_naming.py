"""systemd units as containers, on fixture trees: slices, services and scopes are named by their cgroup path,
``.mount`` units are ignored (cAdvisor ``container/systemd``), and runtime scopes whose runtime does not
answer keep their raw names while their stats flow.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from pycadvisor.clock import FakeClock
from pycadvisor.container.base import Factory
from pycadvisor.container.containerd import ContainerdFactory
from pycadvisor.container.podman import PodmanFactory
from pycadvisor.container.systemd import SystemdFactory
from pycadvisor.host.cgroups.detect import CgroupMounts
from pycadvisor.host.paths import HostPaths
from pycadvisor.manager.manager import Manager, ManagerOptions
from support.sockets import HungSocket

HOSTS = Path(__file__).resolve().parents[1] / "fixtures" / "hosts"
SETS = frozenset({"cpu", "memory"})
PODMAN_ID = "7e1d3c5b9a2f4e6d8c0b1a3f5e7d9c2b4a6f8e0d1c3b5a7f9e2d4c6b8a0f1e3d"
CTD_ID = "1f3e5d7c9b2a4f6e8d0c1b3a5f7e9d2c4b6a8f0e1d3c5b7a9f2e4d6c8b0a1f3e"


def test_only_mount_units_are_claimed_and_they_are_not_accepted() -> None:
    f = SystemdFactory()
    assert f.can_handle_and_accept("/system.slice/var-lib.mount") == (True, False)
    assert f.can_handle_and_accept("/system.slice/-.mount") == (True, False)
    assert f.can_handle_and_accept("/system.slice/run-user-1000.mount") == (True, False)
    for name in (
        "/system.slice",
        "/system.slice/ssh.service",
        "/system.slice/system-getty.slice/getty@tty1.service",
        "/init.scope",
        "/user.slice/user-1000.slice/session-3.scope",
        "/system.slice/mount-helper.service",  # "mount" in the name is not a .mount unit
        "/system.slice/docker-" + "a" * 64 + ".scope",
    ):
        assert f.can_handle_and_accept(name) == (False, False), name


def _manager(paths: HostPaths, factories: Sequence[Factory], mounts: CgroupMounts | None = None) -> Manager:
    return Manager(
        ManagerOptions(
            metric_sets=SETS,
            housekeeping_interval_ns=50_000_000,
            global_housekeeping_interval_ns=0,
            update_machine_info_interval_ns=0,
            initial_splay_factor=0.0,
            runtime_timeout_s=0.5,
        ),
        paths,
        clock=FakeClock(),
        factories=factories,
        mounts=mounts,
    )


def test_fixture_host_units_are_named_by_cgroup_path_and_mounts_left_out() -> None:
    async def go() -> dict[str, tuple[str, list[str]]]:
        m = _manager(HostPaths.under(str(HOSTS / "cgroup2-systemd")), [SystemdFactory()])
        await m.start()
        try:
            return {n: (st.namespace, st.aliases) for n, st in m.containers.items()}
        finally:
            await m.stop()

    found = asyncio.run(go())
    assert {"/", "/init.scope", "/system.slice", "/user.slice", "/user.slice/user-1000.slice"} <= found.keys()
    assert "/system.slice/var-lib.mount" not in found
    assert found["/init.scope"] == ("", [])  # raw: no namespace, no aliases


# ---------------------------------------------------------------- a systemd host tree with runtime scopes


UNITS = (
    "system.slice",
    "system.slice/ssh.service",
    "system.slice/system-getty.slice",
    "system.slice/system-getty.slice/getty@tty1.service",
    "system.slice/dev-hugepages.mount",
    "system.slice/-.mount",
    "user.slice",
    "user.slice/user-1000.slice",
    "user.slice/user-1000.slice/user@1000.service",
    "user.slice/user-1000.slice/user@1000.service/app.slice",
    "user.slice/user-1000.slice/user@1000.service/app.slice/app-editor.scope",
    "machine.slice",
    f"machine.slice/libpod-{PODMAN_ID}.scope",
    f"machine.slice/libpod-{PODMAN_ID}.scope/container",
    f"machine.slice/libpod-conmon-{PODMAN_ID}.scope",
    "kubepods.slice",
    "kubepods.slice/kubepods-besteffort.slice",
    f"kubepods.slice/kubepods-besteffort.slice/cri-containerd-{CTD_ID}.scope",
)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Path]:
    """A cgroup v2 tree in the kernel's file formats, each unit using ``memory.current`` = its index in MiB."""
    root = tmp_path / "sys" / "fs" / "cgroup"
    for i, unit in enumerate(("", *UNITS)):
        d = root / unit
        d.mkdir(parents=True, exist_ok=True)
        (d / "cgroup.controllers").write_text("cpu memory\n")
        (d / "memory.current").write_text(f"{(i + 1) << 20}\n")
        (d / "memory.stat").write_text("anon 4096\nfile 8192\ninactive_file 4096\nactive_file 4096\n")
        (d / "memory.max").write_text("max\n")
        (d / "cpu.stat").write_text(f"usage_usec {1000 * (i + 1)}\nuser_usec {600 * (i + 1)}\nsystem_usec 0\n")
        (d / "cpu.max").write_text("max 100000\n")
        (d / "cpu.weight").write_text("100\n")
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "stat").write_text("btime 1700000000\n")
    yield tmp_path


def test_units_named_by_path_and_unanswered_runtimes_keep_raw_names_with_stats(tree: Path) -> None:
    hung = HungSocket(str(tree / "ctd.sock"))
    podman = PodmanFactory(f"unix://{tree}/absent/podman.sock", timeout_s=0.5, rootless_socket=None)
    containerd = ContainerdFactory(str(tree / "ctd.sock"), timeout_s=0.5)

    async def go() -> tuple[dict[str, str], dict[str, int]]:
        m = _manager(
            HostPaths.under(str(tree)),
            [SystemdFactory(), podman, containerd],
            mounts=CgroupMounts(mode="v2", v2="/sys/fs/cgroup"),
        )
        await m.start()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if all(len(st.history) >= 2 for st in m.containers.values()):
                    break
                await asyncio.sleep(0.05)
            usage = {}
            for name, st in m.containers.items():
                latest = st.history.latest()
                assert latest is not None and latest.memory is not None, name
                usage[name] = latest.memory.usage
            return {n: st.namespace for n, st in m.containers.items()}, usage
        finally:
            await m.stop()
            await podman.close()
            await containerd.close()

    try:
        names, usage = asyncio.run(go())
    finally:
        hung.close()
    expected = {"/"} | {"/" + u for u in UNITS if not u.endswith(".mount")}
    assert set(names) == expected
    assert all(ns == "" for ns in names.values())  # nothing answered: every name is raw
    for i, unit in enumerate(UNITS):
        if not unit.endswith(".mount"):
            assert usage["/" + unit] == (i + 2) << 20, unit  # stats flowed for every unit
