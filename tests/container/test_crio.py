"""The CRI-O factory against CRI-O's info API answered from files (tests/fixtures/crio/README.md).

CRI-O cannot be installed here, so a small HTTP server on a unix socket answers ``GET /info``
and ``GET /containers/<id>`` with the fixture documents, as CRI-O's info server does (404 with a
text body for an unknown id). The cgroups are real: ``crio-<id>`` directories made by the tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from pycadvisor.container.base import ContainerMetadata
from pycadvisor.container.crio import CrioFactory, fs_dirs, ip_address, metadata_from_container_info
from pycadvisor.errors import RuntimeUnavailable
from support.cgroups import TestCgroup
from support.procs import memory_holder, wait_until
from support.runtimes import fast_manager, named_and_sampled
from support.sockets import ClosingSocket
from support.threaded_app import ThreadedApp

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crio"
SANDBOX = "3f0a5d6c2b8e4f1a9c7d2e5b8a1f4c7d0e3b6a9c2f5d8e1b4a7c0d3f6a9e2b5c"
APP = "9c2e4a6f8b1d3c5e7a9f0b2d4c6e8a1f3b5d7c9e2a4f6b8d0c1e3a5b7d9f2c4e"
NEW = "5d7f9b1c3e5a7d9f1b3c5e7a9d1f3b5c7e9a1d3f5b7c9e1a3d5f7b9c1e3a5d7f"
POD_SLICE = (
    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod6b2c1e8a_4d3f_4a5b_9c7d_1e2f3a4b5c6d.slice"
)


def doc(cid: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "containers" / f"{cid}.json").read_text())
    return data


class CrioInfoServer:
    """CRI-O's info API from the fixture files, on a unix socket, in a thread with its own loop.

    ``missing[id] = n`` answers 404 to the first ``n`` lookups of ``id`` (not registered yet);
    ``pid_later[id] = pid`` answers pid 0 once, then ``pid``; ``hang`` stops answering.
    """

    def __init__(self, socket_path: str, info: str = "info.json") -> None:
        self.socket_path = socket_path
        self.info = json.loads((FIXTURES / info).read_text())
        self.missing: dict[str, int] = {}
        self.pid_later: dict[str, int] = {}
        self._pid_served: set[str] = set()
        self.hang = False
        self.requests: list[str] = []
        self._server = ThreadedApp()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path)
        if self.hang:
            await asyncio.sleep(3600)
        if request.path == "/info":
            return web.json_response(self.info)
        cid = request.match_info.get("id", "")
        path = FIXTURES / "containers" / f"{cid}.json"
        if self.missing.get(cid, 0) > 0 or not path.exists():
            self.missing[cid] = self.missing.get(cid, 0) - 1
            return web.Response(status=404, text=f"can't find the container with id {cid}")
        body = json.loads(path.read_text())
        if cid in self.pid_later:
            body["pid"] = self.pid_later[cid] if cid in self._pid_served else 0
            self._pid_served.add(cid)
        return web.json_response(body)

    def start(self) -> CrioInfoServer:
        app = web.Application()
        app.router.add_get("/info", self._handle)
        app.router.add_get("/containers/{id}", self._handle)
        self._server.serve(app, unix=self.socket_path)
        return self

    def stop(self) -> None:
        self._server.close()


@pytest.fixture
def crio(tmp_path: Path) -> Iterator[CrioInfoServer]:
    srv = CrioInfoServer(str(tmp_path / "crio.sock")).start()
    yield srv
    srv.stop()


def factory(srv: CrioInfoServer, **kw: Any) -> CrioFactory:
    kw.setdefault("timeout_s", 5.0)
    kw.setdefault("backoff_s", 0.01)
    return CrioFactory(f"unix://{srv.socket_path}", **kw)


def describe(f: CrioFactory, name: str) -> ContainerMetadata | None:
    async def go() -> ContainerMetadata | None:
        try:
            return await f.describe(name)
        finally:
            await f.close()

    return asyncio.run(go())


# ---------------------------------------------------------------- pure parts


def test_app_container_reference_labels_restart_count_and_dirs() -> None:
    md = metadata_from_container_info(doc(APP), APP, "overlay")
    assert md.namespace == "crio"
    assert md.aliases == ["k8s_nginx_web-0_shop_6b2c1e8a-4d3f-4a5b-9c7d-1e2f3a4b5c6d_2", APP]
    assert md.labels == {
        "io.kubernetes.container.name": "nginx",
        "io.kubernetes.pod.name": "web-0",
        "io.kubernetes.pod.namespace": "shop",
        "io.kubernetes.pod.uid": "6b2c1e8a-4d3f-4a5b-9c7d-1e2f3a4b5c6d",
        "restartcount": "2",  # from annotation io.kubernetes.container.restartCount
    }
    assert md.image == "docker.io/library/nginx:1.25"
    assert md.creation_time == 1732690042987654321
    assert md.pid == 41955
    assert md.envs == {}  # cAdvisor reads no envs from CRI-O
    assert md.has_network is False  # shares the sandbox's netns
    assert md.fs_dirs == [
        "/var/lib/containers/storage/overlay/2c4e6a8f1b3d5c7e9a2f4b6d8c1e3a5f7b9d2c4e6a8f1b3d5c7e9a2f4b6d8c1e/diff",
        "/var/log/pods/shop_web-0_6b2c1e8a-4d3f-4a5b-9c7d-1e2f3a4b5c6d/nginx",
    ]
    assert ip_address(doc(APP)) == "10.85.0.12"


def test_sandbox_has_the_pods_network_and_no_restart_label() -> None:
    md = metadata_from_container_info(doc(SANDBOX), SANDBOX, "overlay")
    assert md.has_network is True  # io.kubernetes.container.name == POD
    assert "restartcount" not in md.labels  # empty annotation on sandboxes: ignored
    assert md.image == "registry.k8s.io/pause:3.9"


def test_fs_dirs_follow_the_storage_driver_and_host_rootfs() -> None:
    d = doc(APP)
    layer = "/var/lib/containers/storage/overlay/2c4e6a8f1b3d5c7e9a2f4b6d8c1e3a5f7b9d2c4e6a8f1b3d5c7e9a2f4b6d8c1e"
    assert fs_dirs(d, "overlay2")[0] == layer + "/diff"
    assert fs_dirs(d, "")[0] == layer + "/diff"  # recent CRI-O omits the driver: a /merged root is overlay's
    assert fs_dirs(d, "vfs")[0] == layer
    assert fs_dirs(d, "overlay", "/rootfs")[0] == "/rootfs" + layer + "/diff"
    assert fs_dirs({}, "overlay") == []


def test_cgroup_names_claimed() -> None:
    f = CrioFactory("unix:///nonexistent/crio.sock")
    assert f.can_handle_and_accept(f"{POD_SLICE}/crio-{APP}.scope") == (True, True)
    assert f.can_handle_and_accept(f"/kubepods/besteffort/pod6b2c/crio-{APP}") == (True, True)  # cgroupfs
    assert f.can_handle_and_accept(f"{POD_SLICE}/crio-conmon-{APP}.scope") == (False, False)
    assert f.can_handle_and_accept(f"{POD_SLICE}/crio-{APP}.scope/container") == (False, False)
    assert f.can_handle_and_accept(f"{POD_SLICE}/crio-{APP}.scope-abc.mount") == (False, False)
    assert f.can_handle_and_accept(f"/docker/{APP}") == (False, False)
    assert f.can_handle_and_accept(f"{POD_SLICE}/crio-short.scope") == (False, False)


# ---------------------------------------------------------------- over the socket


def test_describe_through_the_configured_socket(crio: CrioInfoServer) -> None:
    f = factory(crio)
    md = describe(f, f"{POD_SLICE}/crio-{APP}.scope")
    assert md is not None and md.id == APP and md.pid == 41955 and md.labels["restartcount"] == "2"
    assert crio.requests == ["/info", f"/containers/{APP}"]
    # The systemd cgroup driver reported by /info: only scopes are CRI-O containers then.
    assert f.can_handle_and_accept(f"/kubepods/besteffort/pod6b2c/crio-{APP}") == (True, False)


def test_recent_crio_without_storage_driver(tmp_path: Path) -> None:
    srv = CrioInfoServer(str(tmp_path / "c.sock"), info="info-no-driver.json").start()
    try:
        f = factory(srv)
        md = describe(f, f"/kubepods/besteffort/pod6b2c/crio-{APP}")
        assert md is not None and md.fs_dirs[0].endswith("/diff")
        assert f.can_handle_and_accept(f"/kubepods/besteffort/pod6b2c/crio-{APP}") == (True, True)  # cgroupfs
    finally:
        srv.stop()


def test_a_container_registered_after_its_cgroup_appeared_is_found(crio: CrioInfoServer) -> None:
    crio.missing[APP] = 2
    md = describe(factory(crio), f"{POD_SLICE}/crio-{APP}.scope")
    assert md is not None and md.id == APP
    assert crio.requests.count(f"/containers/{APP}") == 3


def test_an_unknown_container_is_asked_five_times_then_stays_raw(crio: CrioInfoServer) -> None:
    unknown = "e" * 64
    assert describe(factory(crio), f"{POD_SLICE}/crio-{unknown}.scope") is None
    assert crio.requests.count(f"/containers/{unknown}") == 5


def test_pid_of_a_container_still_being_created_is_filled_in_later(crio: CrioInfoServer) -> None:
    crio.pid_later[NEW] = 52000

    async def go() -> ContainerMetadata:
        f = factory(crio, pid_poll_s=0.05)
        try:
            md = await f.describe(f"{POD_SLICE}/crio-{NEW}.scope")
            assert md is not None and md.pid is None  # not a fake zero
            deadline = time.monotonic() + 5
            while md.pid is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return md
        finally:
            await f.close()

    assert asyncio.run(go()).pid == 52000


def test_unanswering_socket_fails_fast(tmp_path: Path) -> None:
    closer = ClosingSocket(str(tmp_path / "closing.sock"))

    async def go() -> None:
        f = CrioFactory(f"unix://{closer.path}", timeout_s=2.0, retry_after_s=600)
        try:
            with pytest.raises(RuntimeUnavailable):
                await f.describe(f"{POD_SLICE}/crio-{APP}.scope")
            probes = closer.accepted
            assert probes >= 1
            with pytest.raises(RuntimeUnavailable):  # known down: fails without connecting again
                await f.describe(f"{POD_SLICE}/crio-{APP}.scope")
            assert await f.info() is None
            assert closer.accepted == probes
        finally:
            await f.close()

    try:
        asyncio.run(go())
    finally:
        closer.close()


def test_a_hung_crio_costs_at_most_the_client_timeout(crio: CrioInfoServer) -> None:
    crio.hang = True

    async def go() -> None:
        f = factory(crio, timeout_s=0.5)
        try:
            # The outer bound only guards the test: describe must give up by itself, with RuntimeUnavailable.
            with pytest.raises(RuntimeUnavailable):
                await asyncio.wait_for(f.describe(f"{POD_SLICE}/crio-{APP}.scope"), timeout=30)
        finally:
            await f.close()

    asyncio.run(go())


# ---------------------------------------------------------------- real cgroups


@pytest.mark.root
def test_manager_names_a_real_crio_cgroup_and_its_stats_flow(crio: CrioInfoServer) -> None:
    with TestCgroup(f"crio-{APP}") as cg:
        holder = memory_holder(cg, 8)
        cg.adopt(holder)

        async def go() -> None:
            async with fast_manager(factory(crio)) as m:
                await named_and_sampled(m, cg.name, "crio")
                st = m.find_alias("crio", "k8s_nginx_web-0_shop_6b2c1e8a-4d3f-4a5b-9c7d-1e2f3a4b5c6d_2")
                assert st.name == cg.name and st.id == APP
                assert st.spec.labels["restartcount"] == "2"
                assert st.spec.image == "docker.io/library/nginx:1.25"
                latest = st.history.latest()
                assert latest is not None and latest.memory is not None and latest.memory.usage >= 8 << 20

        asyncio.run(go())


# ---------------------------------------------------------------- the daemon (needs the factory wired in app.py)


@pytest.mark.root
def test_daemon_names_crio_containers_from_the_configured_socket(
    crio: CrioInfoServer, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    with TestCgroup(f"crio-{APP}") as cg:
        cg.adopt(memory_holder(cg, 8))
        d = pycadvisor_daemon_factory(
            "-housekeeping_interval=200ms", "-global_housekeeping_interval=2s", f"-crio=unix://{crio.socket_path}"
        )

        def spec() -> dict[str, Any] | None:
            status, body = d.get(f"/api/v2.0/spec/{APP}?type=crio")
            return json.loads(body) if status == 200 else None

        got = wait_until(spec, timeout=20, what="CRI-O container in /api/v2.0/spec?type=crio", proc=d.process)
        ((name, s),) = got.items()
        assert name == cg.name
        assert s["aliases"] == ["k8s_nginx_web-0_shop_6b2c1e8a-4d3f-4a5b-9c7d-1e2f3a4b5c6d_2", APP]
        assert s["namespace"] == "crio"
        assert s["labels"]["restartcount"] == "2"
        assert s["image"] == "docker.io/library/nginx:1.25"
        _, body = d.get("/metrics")
        text = body.decode()
        assert f'id="{cg.name}"' in text and 'name="k8s_nginx_web-0_shop_' in text
        assert os.path.exists(crio.socket_path)


def _deepest_mount(candidates: set[str]) -> str:
    """The source of the deepest mount among ``candidates`` in our mount table."""
    best, best_len = "", -1
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-", 6)
            if fields[4] in candidates and len(fields[4]) > best_len:
                best, best_len = fields[sep + 2], len(fields[4])
    return best


@pytest.mark.root
def test_daemon_storage_labels_the_filesystem_holding_crio_images(
    crio: CrioInfoServer, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    """``/api/v2.0/storage?label=crio-images`` names the filesystem of CRI-O's ``storage_root`` (no separate
    image store: no crio-containers label), as cAdvisor's lib/fs/fs.go addCrioImagesLabel."""
    root = crio.info["storage_root"]
    assert root == "/var/lib/containers/storage" and not crio.info["storage_image"]
    d = pycadvisor_daemon_factory("-global_housekeeping_interval=2s", f"-crio=unix://{crio.socket_path}")
    status, body = d.get("/api/v2.0/storage?label=crio-images")
    assert status == 200, body
    (item,) = json.loads(body)
    candidates = {"/", f"{root}/overlay-images", root, "/var/lib/containers", "/var/lib", "/var"}
    assert item["device"] == _deepest_mount(candidates)
    assert "crio-images" in item["labels"] and item["capacity"] > 0
    status, body = d.get("/api/v2.0/storage?label=crio-containers")
    assert status == 404 and b"crio-containers" in body
    everything = json.loads(d.get("/api/v2.0/storage")[1])
    assert [s["labels"] for s in everything if "crio-images" in s["labels"]] == [item["labels"]]
