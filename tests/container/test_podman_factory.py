"""The Podman factory against a real rootful Podman API service (support/services.py).

Podman runs with runc, the cgroupfs manager and vfs storage, with its API on a private socket,
fed the offline busybox image; containers use ``--network none`` (no CNI rules on the host).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pycadvisor.container.base import ContainerMetadata
from pycadvisor.container.podman import PodmanFactory
from pycadvisor.model.codec import parse_time
from support import services as svc
from support.cgroups import rmdir_everywhere
from support.procs import eventually
from support.runtimes import fails_fast_then_found, fast_manager, named_and_sampled, podman_with_busybox
from support.sockets import ClosingSocket

pytestmark = [pytest.mark.root, pytest.mark.service]


@dataclass
class Ctr:
    id: str
    name: str
    cgroup: str
    doc: dict[str, Any]


class Pod:
    """The running service, its image and helpers to start containers."""

    def __init__(self, srv: svc.PodmanService, image: str) -> None:
        self.srv = srv
        self.image = image
        self.endpoint = f"unix://{srv.socket}"

    def run(self, *opts: str, cmd: tuple[str, ...] = ("sleep", "600"), name: str | None = None) -> Ctr:
        name = name or f"pcp-{uuid.uuid4().hex[:8]}"
        net = () if "--network" in opts else ("--network", "none")
        out = self.srv.podman("run", "-d", *net, "--name", name, *opts, self.image, *cmd)
        cid = out.stdout.strip().splitlines()[-1]
        doc = self.inspect(cid)
        # An exited container has no CgroupPath any more; the cgroupfs manager's layout names it.
        cgroup = str(doc["State"].get("CgroupPath") or f"/libpod_parent/libpod-{cid}")
        return Ctr(cid, name, cgroup, doc)

    def inspect(self, cid: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.srv.podman("inspect", cid).stdout)[0]
        return doc

    def rm(self, c: Ctr) -> None:
        self.srv.podman("rm", "-f", "-t", "0", c.id, check=False)


@pytest.fixture(scope="module")
def pod(busybox_image: svc.BusyboxImage) -> Iterator[Pod]:
    with podman_with_busybox(busybox_image) as (srv, image):
        yield Pod(srv, image)


def factory(p: Pod, **kw: Any) -> PodmanFactory:
    kw.setdefault("timeout_s", 5.0)
    return PodmanFactory(p.endpoint, **kw)


# ---------------------------------------------------------------- describe


def test_describe_running_container(pod: Pod) -> None:
    c = pod.run("--label", "bar=baz", "--label", "app=web", "-e", "TEST_VAR=FOO", "-e", "OTHER=x")
    assert c.cgroup == f"/libpod_parent/libpod-{c.id}"  # the cgroupfs manager's layout

    async def go() -> ContainerMetadata | None:
        f = factory(pod, env_whitelist=["TEST_"])
        try:
            assert f.can_handle_and_accept(c.cgroup) == (True, True)
            return await f.describe(c.cgroup)
        finally:
            await f.close()

    md = asyncio.run(go())
    assert md is not None
    assert md.namespace == "podman"
    assert md.id == c.id
    assert md.aliases == [c.name, c.id]
    assert md.labels == {"bar": "baz", "app": "web"}
    assert md.envs == {"test_var": "FOO"}  # key lower-cased, as cAdvisor
    assert md.image == pod.image
    assert md.creation_time == parse_time(c.doc["Created"])
    assert md.start_time == parse_time(c.doc["State"]["StartedAt"])
    assert md.has_network is True
    assert md.health == ""
    assert md.pid == c.doc["State"]["Pid"]
    with open(f"/proc/{md.pid}/cgroup") as fh:
        assert f":memory:{c.cgroup}\n" in fh.read()
    # Writable layer (vfs: <graphRoot>/vfs/dir/<layer>) holds the image's files; userdata holds the log.
    assert len(md.fs_dirs) == 2
    layer, userdata = md.fs_dirs
    assert layer.startswith(pod.srv.workdir + "/root/vfs/dir/")
    assert os.path.isfile(os.path.join(layer, "bin", "busybox"))
    assert userdata == c.doc["StaticDir"] and os.path.isdir(userdata)
    pod.rm(c)


def test_stopped_unknown_and_removed_containers_are_not_described(pod: Pod) -> None:
    gone = pod.run()
    stopped = pod.run(cmd=("sh", "-c", "exit 3"))
    pod.srv.podman("wait", stopped.id)
    pod.rm(gone)

    async def go() -> list[ContainerMetadata | None]:
        f = factory(pod)
        try:
            return [
                await f.describe(stopped.cgroup),
                await f.describe(gone.cgroup),
                await f.describe("/libpod_parent/libpod-" + "0" * 64),
            ]
        finally:
            await f.close()

    assert asyncio.run(go()) == [None, None, None]

    async def exit_codes() -> tuple[int | None, int | None]:
        # No event stream: the exit code of a stopped container comes from inspect; a removed one has none.
        f = factory(pod, watch_events=False, timeout_s=3.0)  # a removed container: gives up after that
        try:
            return await f.exit_code(stopped.cgroup), await f.exit_code(gone.cgroup)
        finally:
            await f.close()

    assert asyncio.run(exit_codes()) == (3, None)
    pod.rm(stopped)


def test_health_and_shared_network_namespace(pod: Pod) -> None:
    web = pod.run("--health-cmd", "true", "--health-interval", "0")
    side = pod.run("--network", f"container:{web.id}")
    pod.srv.podman("healthcheck", "run", web.id)

    async def go() -> tuple[ContainerMetadata | None, ContainerMetadata | None]:
        f = factory(pod)
        try:
            return await f.describe(web.cgroup), await f.describe(side.cgroup)
        finally:
            await f.close()

    md_web, md_side = asyncio.run(go())
    assert md_web is not None and md_side is not None
    assert md_web.health == "healthy"
    assert md_web.has_network is True
    assert md_side.has_network is False  # shares web's netns: its interfaces are web's
    pod.rm(side)
    pod.rm(web)


def test_described_metadata_follows_rename_health_and_exit(pod: Pod) -> None:
    c = pod.run("--health-cmd", "true", "--health-interval", "0")
    new_name = c.name + "-renamed"

    async def go() -> ContainerMetadata:
        f = factory(pod)
        try:
            md = await f.describe(c.cgroup)
            assert md is not None and md.health == "starting" and md.aliases[0] == c.name
            await eventually(lambda: _true(f._main.stream_up), timeout=10, what="event stream")
            pod.srv.podman("healthcheck", "run", c.id)
            await eventually(lambda: _true(md.health == "healthy"), timeout=10, what="health from events")
            pod.srv.podman("rename", c.id, new_name)
            await eventually(lambda: _true(md.aliases[0] == new_name), timeout=10, what="rename from events")
            # While the stream is up, describing again answers from the cache: the same object.
            assert await f.describe(c.cgroup) is md
            pod.srv.podman("kill", "-s", "KILL", c.id)
            await eventually(lambda: _true(md.exit_code is not None), timeout=10, what="exit code from events")
            assert await f.exit_code(c.cgroup) == 137
            return md
        finally:
            await f.close()

    md = asyncio.run(go())
    assert md.exit_code == 137
    assert md.aliases == [new_name, c.id]
    pod.rm(c)


async def _true(value: bool) -> bool:
    return value


# ---------------------------------------------------------------- rootless: the user's own socket


def test_rootless_containers_are_named_through_their_users_socket(pod: Pod) -> None:
    """A cgroup below ``user@<uid>.service`` is looked up on ``/run/user/<uid>/podman/podman.sock``.

    The root-owned ``--podman`` socket does not answer at all here; the user's socket path (under a
    private root) leads to the real API service, and the container runs in a cgroup below
    ``user@4242.service`` as a rootless container's would.
    """
    fake_root = tempfile.mkdtemp(prefix="pycad-rl-")
    parent = f"/pycadtest-rootless-{uuid.uuid4().hex[:8]}"
    try:
        user_sock = os.path.join(fake_root, "run/user/4242/podman/podman.sock")
        os.makedirs(os.path.dirname(user_sock))
        os.symlink(pod.srv.socket, user_sock)
        c = pod.run("--cgroup-parent", f"{parent}/user@4242.service/apps", "--label", "who=rootless")
        assert c.cgroup == f"{parent}/user@4242.service/apps/libpod-{c.id}"

        async def go() -> tuple[ContainerMetadata | None, ContainerMetadata | None]:
            f = PodmanFactory(
                f"unix://{fake_root}/run/podman/podman.sock",  # root's socket: absent
                timeout_s=5.0,
                rootless_socket=os.path.join(fake_root, "run/user/{uid}/podman/podman.sock"),
            )
            try:
                md = await f.describe(c.cgroup)
                # A user without an API service: raw (None), not an unavailable runtime.
                other = await f.describe(f"{parent}/user@4343.service/apps/libpod-{c.id}")
                return md, other
            finally:
                await f.close()

        md, other = asyncio.run(go())
        assert md is not None and md.namespace == "podman"
        assert md.aliases == [c.name, c.id]
        assert md.labels == {"who": "rootless"}
        assert other is None
        pod.rm(c)
    finally:
        shutil.rmtree(fake_root, ignore_errors=True)
        _rmdir_tree(parent)


def _rmdir_tree(name: str) -> None:
    """Remove the test's cgroup tree in every hierarchy; conmon may linger a moment after ``podman rm``."""
    left = rmdir_everywhere(name, timeout=10.0)
    assert not left, f"cgroups left behind: {left}"


def test_crun_subgroup_is_named_like_its_scope_without_a_second_layer_walk(pod: Pod) -> None:
    """cgroup v2 + crun put the payload in ``libpod-<id>.scope/container``: named like the scope (cAdvisor)."""
    c = pod.run()

    async def go() -> tuple[ContainerMetadata | None, ContainerMetadata | None]:
        f = factory(pod)
        try:
            scope = f"/machine.slice/libpod-{c.id}.scope"
            assert f.can_handle_and_accept(scope + "/container") == (True, True)
            assert f.can_handle_and_accept(f"/machine.slice/libpod-conmon-{c.id}.scope") == (False, False)
            return await f.describe(scope), await f.describe(scope + "/container")
        finally:
            await f.close()

    md_scope, md_child = asyncio.run(go())
    assert md_scope is not None and md_child is not None
    assert md_scope.aliases == md_child.aliases == [c.name, c.id]
    assert md_scope.fs_dirs and md_child.fs_dirs == []
    pod.rm(c)


# ---------------------------------------------------------------- faults


def test_unanswering_service_fails_fast_then_is_found_once_it_answers(pod: Pod, tmp_path: Any) -> None:
    sock = str(tmp_path / "later.sock")
    closer = ClosingSocket(sock)
    c = pod.run()

    def make(retry_after_s: float) -> PodmanFactory:
        return PodmanFactory(f"unix://{sock}", timeout_s=2.0, retry_after_s=retry_after_s)

    md, _ = asyncio.run(fails_fast_then_found(make, c.cgroup, closer, pod.srv.socket))
    assert md is not None and md.id == c.id
    pod.rm(c)


# ---------------------------------------------------------------- through the manager


def test_manager_names_the_container_and_its_stats_flow(pod: Pod) -> None:
    c = pod.run("--label", "team=obs", "-m", "64m")

    async def go() -> None:
        async with fast_manager(PodmanFactory(pod.endpoint, timeout_s=5.0)) as m:
            await named_and_sampled(m, c.cgroup, "podman")
            st = m.find_alias("podman", c.name)
            assert st.name == c.cgroup and st.id == c.id and st.aliases == [c.name, c.id]
            assert m.find_alias("podman", c.id[:12]) is st
            assert st.spec.labels == {"team": "obs"} and st.spec.image == pod.image
            assert st.spec.memory.limit == 64 << 20
            latest = st.history.latest()
            assert latest is not None and latest.memory is not None and latest.memory.usage > 0
            assert latest.cpu is not None and latest.cpu.usage.total > 0

    asyncio.run(go())
    pod.rm(c)
