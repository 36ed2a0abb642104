"""The containerd factory against a real standalone containerd driven with ``ctr`` (support/services.py).

containerd runs with its own socket, root and state (CRI plugin off), fed the offline busybox
image; containers get Kubernetes-style cgroup paths with ``ctr run --cgroup``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pycadvisor.container.base import ContainerMetadata
from pycadvisor.container.containerd import ContainerdFactory
from pycadvisor.errors import RuntimeUnavailable
from pycadvisor.model.codec import parse_time
from support import services as svc
from support.cgroups import rmdir_everywhere
from support.procs import eventually
from support.runtimes import containerd_with_busybox, fails_fast_then_found, fast_manager, named_and_sampled
from support.sockets import ClosingSocket, HungSocket

pytestmark = [pytest.mark.root, pytest.mark.service]


@dataclass
class Task:
    id: str
    cgroup: str
    namespace: str


class Ctd:
    def __init__(self, srv: svc.ContainerdServer, image: str) -> None:
        self.srv = srv
        self.image = image
        self.parents: set[str] = set()

    def run(self, *opts: str, cid: str | None = None, cgroup: str | None = None, namespace: str = "default") -> Task:
        """``ctr run -d``; ``cgroup`` None keeps containerd's default ``/<namespace>/<id>``."""
        if cid is None:  # a kubepods path ends in the id, as the CRI names it
            cid = cgroup.rsplit("/", 1)[-1] if cgroup else uuid.uuid4().hex * 2
        extra = ("--cgroup", cgroup) if cgroup else ()
        if cgroup:
            self.parents.add("/" + cgroup.strip("/").split("/", 1)[0])
        self.srv.ctr("run", "-d", *extra, *opts, self.image, cid, "sleep", "600", namespace=namespace)
        return Task(cid, cgroup or f"/{namespace}/{cid}", namespace)

    def info(self, t: Task) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.srv.ctr("containers", "info", t.id, namespace=t.namespace).stdout)
        return doc

    def pid(self, t: Task) -> int:
        for line in self.srv.ctr("tasks", "ls", namespace=t.namespace).stdout.splitlines()[1:]:
            parts = line.split()
            if parts and parts[0] == t.id:
                return int(parts[1])
        raise AssertionError(f"no task {t.id}")

    def kill(self, t: Task) -> None:
        self.srv.ctr("tasks", "kill", "-s", "SIGKILL", t.id, namespace=t.namespace, check=False)


@pytest.fixture(scope="module")
def ctd(busybox_image: svc.BusyboxImage) -> Iterator[Ctd]:
    parents: set[str] = set()
    try:
        with containerd_with_busybox(busybox_image, ("default", "k8s.io")) as (srv, image):
            c = Ctd(srv, image)
            parents = c.parents
            yield c
    finally:  # once containerd is gone: the cgroups its shims made
        for parent in parents:
            rmdir_everywhere(parent)


def kubepods(cid: str = "") -> str:
    """A cgroupfs kubelet's container cgroup: ``/kubepods/<qos>/pod<uid>/<id>`` (a fresh id by default)."""
    return f"/kubepods/besteffort/pod{uuid.uuid4()}/{cid or uuid.uuid4().hex * 2}"


def factory(c: Ctd, namespace: str = "default", **kw: Any) -> ContainerdFactory:
    kw.setdefault("timeout_s", 5.0)
    return ContainerdFactory(c.srv.socket, namespace=namespace, **kw)


async def _true(value: bool) -> bool:
    return value


# ---------------------------------------------------------------- describe


def test_describe_kubepods_container_with_labels_image_env_and_pid(ctd: Ctd) -> None:
    labels = ("io.kubernetes.container.name=web", "io.kubernetes.pod.namespace=shop", "team=obs")
    opts = [a for label in labels for a in ("--label", label)]
    cid = uuid.uuid4().hex * 2
    env = ("--env", "TEST_VAR=FOO", "--env", "Test_Other=x", "--env", "OTHER=y")
    t = ctd.run(*opts, *env, cid=cid, cgroup=kubepods(cid))
    info = ctd.info(t)

    async def go() -> ContainerMetadata | None:
        f = factory(ctd, env_whitelist=["TEST", "Test_"])
        try:
            assert f.can_handle_and_accept(t.cgroup) == (True, True)
            return await f.describe(t.cgroup)
        finally:
            await f.close()

    md = asyncio.run(go())
    assert md is not None
    assert md.namespace == "containerd"
    assert md.id == t.id
    assert md.aliases == [t.id, t.cgroup]  # cAdvisor: [id, name]
    assert md.labels == info["Labels"]
    assert {"io.kubernetes.container.name": "web", "io.kubernetes.pod.namespace": "shop", "team": "obs"}.items() <= (
        md.labels.items()
    )
    assert md.envs == {"TEST_VAR": "FOO", "Test_Other": "x"}  # key case kept, as cAdvisor
    assert md.image == ctd.image
    assert md.creation_time == parse_time(info["CreatedAt"])
    assert md.pid == ctd.pid(t)
    with open(f"/proc/{md.pid}/cgroup") as fh:
        assert f":memory:{t.cgroup}\n" in fh.read()
    assert md.has_network is False  # not a pod sandbox: shares the sandbox's netns
    assert md.fs_dirs == []  # cAdvisor collects no filesystem stats for containerd
    ctd.kill(t)


def test_default_layout_with_a_named_container_and_a_sandbox(ctd: Ctd) -> None:
    named = ctd.run(cid=f"web-{uuid.uuid4().hex[:6]}")
    sid = uuid.uuid4().hex * 2
    sandbox = ctd.run("--label", "io.cri-containerd.kind=sandbox", cid=sid, cgroup=kubepods(sid))
    assert named.cgroup == f"/default/{named.id}"

    async def go() -> tuple[ContainerMetadata | None, ContainerMetadata | None]:
        f = factory(ctd)
        try:
            assert f.can_handle_and_accept(named.cgroup) == (True, True)
            # Another namespace's default layout is not claimed, nor is Docker's.
            assert f.can_handle_and_accept(f"/other/{named.id}") == (False, False)
            assert f.can_handle_and_accept("/docker/" + "a" * 64) == (False, False)
            return await f.describe(named.cgroup), await f.describe(sandbox.cgroup)
        finally:
            await f.close()

    md_named, md_sandbox = asyncio.run(go())
    assert md_named is not None and md_named.aliases == [named.id, named.cgroup]
    assert md_sandbox is not None and md_sandbox.has_network is True
    ctd.kill(named)
    ctd.kill(sandbox)


def test_cri_scope_in_the_k8s_namespace(ctd: Ctd) -> None:
    cid = uuid.uuid4().hex * 2
    pod = f"kubepods-besteffort-pod{uuid.uuid4().hex}"
    cgroup = f"/kubepods.slice/kubepods-besteffort.slice/{pod}.slice/cri-containerd-{cid}.scope"
    t = ctd.run("--label", "io.kubernetes.container.name=api", cid=cid, cgroup=cgroup, namespace="k8s.io")

    async def go() -> tuple[ContainerMetadata | None, ContainerMetadata | None]:
        k8s = factory(ctd, namespace="k8s.io")
        default = factory(ctd, namespace="default")
        try:
            return await k8s.describe(t.cgroup), await default.describe(t.cgroup)
        finally:
            await k8s.close()
            await default.close()

    md_k8s, md_default = asyncio.run(go())
    assert md_k8s is not None and md_k8s.id == cid and md_k8s.labels["io.kubernetes.container.name"] == "api"
    assert md_default is None  # looked up in the configured namespace only
    ctd.kill(t)


def test_unknown_and_never_started_containers_are_not_described(ctd: Ctd) -> None:
    created = f"created-{uuid.uuid4().hex[:6]}"
    ctd.srv.ctr("containers", "create", ctd.image, created, "sleep", "1")

    async def go() -> tuple[ContainerMetadata | None, ContainerMetadata | None]:
        f = factory(ctd, task_backoff_s=0.01)
        try:
            return await f.describe("/default/nope-" + uuid.uuid4().hex[:6]), await f.describe(f"/default/{created}")
        finally:
            await f.close()

    assert asyncio.run(go()) == (None, None)
    ctd.srv.ctr("containers", "delete", created)


def test_described_metadata_follows_label_updates_and_exit(ctd: Ctd) -> None:
    t = ctd.run("--label", "v=1", cgroup=kubepods())

    async def go() -> ContainerMetadata:
        f = factory(ctd)
        try:
            md = await f.describe(t.cgroup)
            assert md is not None and md.labels["v"] == "1"
            await eventually(lambda: _true(f._stream_up), timeout=10, what="event stream")
            ctd.srv.ctr("containers", "label", t.id, "v=2", "extra=yes")
            await eventually(lambda: _true(md.labels.get("v") == "2"), timeout=10, what="label update")
            assert md.labels["extra"] == "yes"
            assert await f.describe(t.cgroup) is md  # served from the live cache while the stream is up
            ctd.kill(t)
            await eventually(lambda: _true(md.exit_code is not None), timeout=10, what="exit event")
            assert await f.exit_code(t.cgroup) == 137
            return md
        finally:
            await f.close()

    assert asyncio.run(go()).exit_code == 137


def test_exit_code_of_a_stopped_task_without_events(ctd: Ctd) -> None:
    t = ctd.run(cgroup=kubepods())
    ctd.kill(t)  # SIGKILL; ctr keeps the stopped task until it is deleted

    async def go() -> tuple[int | None, int | None]:
        f = factory(ctd, watch_events=False, timeout_s=5.0)
        unknown = factory(ctd, watch_events=False, timeout_s=0.3)
        try:
            code = await eventually(lambda: f.exit_code(t.cgroup), timeout=10, what="the task to stop")
            return code, await unknown.exit_code(kubepods())
        finally:
            await f.close()
            await unknown.close()

    assert asyncio.run(go()) == (137, None)  # 128 + SIGKILL
    ctd.srv.ctr("tasks", "delete", t.id, check=False)


# ---------------------------------------------------------------- faults


def test_unanswering_socket_fails_fast_then_is_found_once_it_answers(ctd: Ctd, tmp_path: Any) -> None:
    sock = str(tmp_path / "later.sock")
    closer = ClosingSocket(sock)
    t = ctd.run(cgroup=kubepods())

    def make(retry_after_s: float) -> ContainerdFactory:
        return ContainerdFactory(sock, namespace="default", timeout_s=2.0, retry_after_s=retry_after_s)

    md, version = asyncio.run(fails_fast_then_found(make, t.cgroup, closer, ctd.srv.socket))
    assert (version or "").startswith("1.")
    assert md is not None and md.id == t.id
    ctd.kill(t)


def test_hung_socket_fails_within_the_timeout(tmp_path: Any) -> None:
    """A socket that accepts and never answers (a wedged containerd) costs at most ``timeout_s``."""
    path = str(tmp_path / "hung.sock")
    hung = HungSocket(path)

    async def go() -> None:
        f = ContainerdFactory(path, namespace="default", timeout_s=0.5)
        try:
            # The outer bound only guards the test: describe must give up by itself, with RuntimeUnavailable.
            with pytest.raises(RuntimeUnavailable):
                await asyncio.wait_for(f.describe("/default/x"), timeout=30)
        finally:
            await f.close()

    try:
        asyncio.run(go())
    finally:
        hung.close()


# ---------------------------------------------------------------- through the manager


def test_manager_names_the_container_and_its_stats_flow(ctd: Ctd) -> None:
    t = ctd.run("--label", "io.kubernetes.container.name=web", "--memory-limit", str(64 << 20), cgroup=kubepods())

    async def go() -> None:
        async with fast_manager(ContainerdFactory(ctd.srv.socket, namespace="default", timeout_s=5.0)) as m:
            await named_and_sampled(m, t.cgroup, "containerd")
            st = m.find_alias("containerd", t.id)
            assert st.name == t.cgroup and st.aliases == [t.id, t.cgroup]
            assert st.spec.labels["io.kubernetes.container.name"] == "web"
            assert st.spec.image == ctd.image
            assert st.spec.memory.limit == 64 << 20
            latest = st.history.latest()
            assert latest is not None and latest.memory is not None and latest.memory.usage > 0
            assert latest.cpu is not None and latest.cpu.usage.total > 0

    asyncio.run(go())
    ctd.kill(t)
