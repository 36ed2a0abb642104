"""Docker on devicemapper and zfs: a container's ``filesystem`` entry comes from the thin pool (``thin_ls``) or its
layer dataset (``zfs get``), read in the background (issue 16 item 5).

Neither driver can run here (this kernel has no device-mapper, there is no ZFS, and Docker 29 dropped
devicemapper), so a small server answers ``/version``, ``/info`` and inspect on a unix socket in Docker's
formats (the ``DriverStatus`` rows those drivers report), and the tools answer with their fixture outputs
(tests/support/storage_tools.py). The cgroup and the manager sampling it are real.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from pycadvisor.container.docker import DockerFactory
from pycadvisor.container.docker_storage import DockerLayerStorage
from pycadvisor.host.command import CommandError
from pycadvisor.host.paths import HostPaths
from pycadvisor.manager.container import ContainerState
from pycadvisor.manager.hostinfo import HostInfo
from pycadvisor.manager.manager import Manager, ManagerOptions
from pycadvisor.model.container import FsStats
from support.cgroups import TestCgroup
from support.procs import eventually, sleeper
from support.storage_tools import DATASET, POOL, THIN_LS, FakeTools, thin_pool_tools, zfs_tools
from support.threaded_app import ThreadedApp

CID = "0d6f54d9c2e3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9"
GiB = 1 << 30

DM_INFO = {
    "Driver": "devicemapper",
    "DockerRootDir": "/var/lib/docker",
    "DriverStatus": [
        ["Pool Name", POOL],
        ["Pool Blocksize", "65.54kB"],
        ["Base Device Size", "10.74GB"],
        ["Backing Filesystem", "xfs"],
        ["Udev Sync Supported", "true"],
        ["Data file", ""],
        ["Metadata file", ""],
        ["Data Space Used", "1.611GB"],
        ["Data Space Total", "107.4GB"],
        ["Thin Pool Minimum Free Space", "10.74GB"],
        ["Deferred Removal Enabled", "true"],
        ["Library Version", "1.02.185 (2022-05-18)"],
    ],
}
DM_GRAPH = {
    "Name": "devicemapper",
    "Data": {"DeviceId": "2", "DeviceName": f"docker-253:1-1048897-{CID}", "DeviceSize": "10737418240"},
}
ZFS_INFO = {
    "Driver": "zfs",
    "DockerRootDir": "/var/lib/docker",
    "DriverStatus": [
        ["Zpool", "tank"],
        ["Zpool Health", "ONLINE"],
        ["Parent Dataset", DATASET],
        ["Space Used By Parent", "1610612736"],
        ["Space Available", "9126805504"],
        ["Parent Quota", "no"],
        ["Compression", "off"],
    ],
}
ZFS_GRAPH = {"Name": "zfs", "Data": {"Dataset": f"{DATASET}/{CID}", "Mountpoint": f"/var/lib/docker/zfs/graph/{CID}"}}


class FakeEngine:
    """``/version``, ``/v1.41/info`` and ``/v1.41/containers/<id>/json`` of one running container, on a socket."""

    def __init__(self, socket_path: str, info: dict[str, Any], graph: dict[str, Any], pid: int) -> None:
        self.socket_path = socket_path
        self.info, self.graph, self.pid = info, graph, pid
        self._server = ThreadedApp()

    async def _version(self, _: web.Request) -> web.Response:
        return web.json_response({"Version": "20.10.24", "ApiVersion": "1.41", "MinAPIVersion": "1.12"})

    async def _info(self, _: web.Request) -> web.Response:
        return web.json_response(self.info)

    async def _inspect(self, request: web.Request) -> web.Response:
        if request.match_info["id"] != CID:
            return web.json_response({"message": "No such container"}, status=404)
        state = {"Status": "running", "Running": True, "Pid": self.pid, "StartedAt": "2026-12-08T00:00:01Z"}
        return web.json_response(
            {
                "Id": CID,
                "Name": "/web",
                "Created": "2026-12-08T00:00:00Z",
                "State": state,
                "RestartCount": 0,
                "GraphDriver": self.graph,
                "HostConfig": {"NetworkMode": "default"},
                "Config": {"Env": [], "Image": "nginx:1.25", "Labels": {}},
            }
        )

    def __enter__(self) -> FakeEngine:
        app = web.Application()
        app.router.add_get("/version", self._version)
        app.router.add_get("/v1.41/info", self._info)
        app.router.add_get("/v1.41/containers/{id}/json", self._inspect)
        self._server.serve(app, unix=self.socket_path)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()


@pytest.fixture
def container_cgroup() -> Iterator[tuple[TestCgroup, int]]:
    with TestCgroup(CID) as cg:
        yield cg, sleeper(cg).pid


def _manager(sock: str, tools: FakeTools) -> Manager:
    storage = DockerLayerStorage(thin_ls_interval_s=0.2, zfs_interval_s=0.2, runner=tools)
    docker = DockerFactory(
        f"unix://{sock}", env_whitelist=[], docker_root="/var/lib/docker", timeout_s=5.0, watch_events=False,
        storage=storage,
    )  # fmt: skip
    opts = ManagerOptions(
        housekeeping_interval_ns=100_000_000,
        allow_dynamic_housekeeping=False,
        global_housekeeping_interval_ns=0,
        update_machine_info_interval_ns=0,
        initial_splay_factor=0.0,
        runtime_timeout_s=5.0,
    )
    return Manager(opts, HostPaths(), factories=[docker])


def _filesystem(m: Manager, name: str) -> list[FsStats] | None:
    st: ContainerState | None = m.containers.get(name)
    latest = st.history.latest() if st is not None and st.namespace == "docker" else None
    return latest.filesystem if latest is not None and latest.filesystem else None


@pytest.mark.root
def test_devicemapper_container_usage_comes_from_the_thin_pool(
    container_cgroup: tuple[TestCgroup, int], tmp_path: Path
) -> None:
    cg, pid = container_cgroup
    tools = thin_pool_tools()
    tools.answers[THIN_LS] = CommandError("`thin_ls` exited with 1: bad checksum in superblock")

    async def go() -> None:
        m = _manager(str(tmp_path / "docker.sock"), tools)
        await m.start()
        try:
            # thin_ls fails at first: the container is named and sampled, without a filesystem entry (not zeros).
            st = await eventually(
                lambda: _async(m.containers.get(cg.name) if _sampled(m, cg.name, 3) else None),
                timeout=15,
                what="the docker container sampled",
            )
            assert st.namespace == "docker" and st.spec.has_filesystem
            assert _filesystem(m, cg.name) is None
            tools.answers.pop(THIN_LS)
            tools.answers[THIN_LS] = "thin_ls.txt"
            fs = await eventually(lambda: _async(_filesystem(m, cg.name)), timeout=15, what="thin pool usage")
            assert fs == [
                FsStats(
                    device=POOL,
                    type="devicemapper",
                    capacity=1638400 * 64 * 1024,  # 100 GiB of 64 KiB blocks
                    usage=1048576,  # device 2's exclusive bytes
                    base_usage=1048576,
                    available=(1638400 - 24576) * 64 * 1024,
                )
            ]
            # The pool is a machine filesystem, Docker's image store, and one of the root container's.
            pool = [f for f in m.machine_info.filesystems or [] if f.device == POOL]
            assert [(f.type, f.capacity) for f in pool] == [("devicemapper", 100 * GiB)]
            (images,) = await HostInfo(m, "test").storage("docker-images", None)
            assert (images.device, images.capacity, images.usage) == (POOL, 100 * GiB, 24576 * 64 * 1024)
            everything = await HostInfo(m, "test").storage(None, None)
            assert [s.device for s in everything if "docker-images" in s.labels] == [POOL]
            root = await eventually(
                lambda: _async([f for f in _root_filesystem(m) if f.device == POOL]), timeout=10, what="root's pool"
            )
            assert root[0].usage == 24576 * 64 * 1024 and root[0].type == "devicemapper"
        finally:
            await m.stop()
            for f in m.factories:
                await f.close()

    with FakeEngine(str(tmp_path / "docker.sock"), DM_INFO, DM_GRAPH, pid):
        asyncio.run(go())


@pytest.mark.root
def test_zfs_container_usage_comes_from_its_layer_dataset(
    container_cgroup: tuple[TestCgroup, int], tmp_path: Path
) -> None:
    cg, pid = container_cgroup

    async def go() -> None:
        m = _manager(str(tmp_path / "docker.sock"), zfs_tools())
        await m.start()
        try:
            fs = await eventually(lambda: _async(_filesystem(m, cg.name)), timeout=15, what="zfs layer usage")
            assert fs == [
                FsStats(
                    device=DATASET,
                    type="zfs",
                    capacity=1610612736 + 9126805504 + 98304,
                    usage=8392704,
                    base_usage=8392704,
                    available=9126805504,
                )
            ]
        finally:
            await m.stop()
            for f in m.factories:
                await f.close()

    with FakeEngine(str(tmp_path / "docker.sock"), ZFS_INFO, ZFS_GRAPH, pid):
        asyncio.run(go())


def _root_filesystem(m: Manager) -> list[FsStats]:
    latest = m.containers["/"].history.latest()
    return list(latest.filesystem or []) if latest is not None else []


def _sampled(m: Manager, name: str, n: int) -> bool:
    st = m.containers.get(name)
    return st is not None and st.namespace == "docker" and len(st.history) >= n


async def _async(value: Any) -> Any:
    return value


def test_the_pool_is_forgotten_when_the_engine_comes_back_with_another_driver() -> None:
    async def go() -> None:
        storage = DockerLayerStorage(thin_ls_interval_s=0.05, runner=thin_pool_tools())
        status = [(k, v) for k, v in DM_INFO["DriverStatus"]]
        storage.configure("devicemapper", status, "/var/lib/docker")
        fs = await eventually(lambda: _async(storage.filesystems()), timeout=10, what="the pool measured")
        assert [f.device for f in fs] == [POOL]
        assert storage.layer_stats({"Id": CID, "GraphDriver": DM_GRAPH}) is not None
        storage.configure("overlay2", [("Backing Filesystem", "extfs")], "/var/lib/docker")
        assert storage.filesystems() == []
        assert storage.layer_stats({"Id": CID, "GraphDriver": DM_GRAPH}) is None
        await storage.close()

    asyncio.run(go())
