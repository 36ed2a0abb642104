"""The Mesos factory against the agent's v1 operator API answered from files (tests/fixtures/mesos/README.md).

No Mesos agent can be installed here, so a small HTTP server on 127.0.0.1 answers ``POST /api/v1`` calls
(``GET_VERSION``, ``GET_CONTAINERS``, ``GET_STATE``) with the fixture documents. The cgroups are real.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from pycadvisor.container.base import ContainerMetadata
from pycadvisor.container.mesos import MesosFactory, find_container, mesos_id, metadata_from
from pycadvisor.errors import RuntimeUnavailable
from support.cgroups import TestCgroup
from support.procs import sleeper, wait_until
from support.services import free_port
from support.threaded_app import ThreadedApp

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mesos"
WEB = "f0f97041-1860-4b9a-bc35-c2f2a3de2d8e"
BATCH = "5c1b9d4e-2a7f-4e0b-8c3d-9f6a1b2c3d4e"
ORPHAN = "9e8d7c6b-5a49-4382-9170-a1b2c3d4e5f6"
DOCKER_ID = "3f0a5d6c2b8e4f1a9c7d2e5b8a1f4c7d0e3b6a9c2f5d8e1b4a7c0d3f6a9e2b5c"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return doc


class MesosAgent:
    """The agent's operator API from the fixture files, in a thread with its own loop.

    ``late[id] = n`` leaves container ``id`` out of its first ``n`` ``GET_CONTAINERS`` answers (the agent made
    the cgroup before listing it); ``pids[id]`` replaces its ``executor_pid``; ``hang`` stops answering;
    ``garbage`` answers 200 with a web page.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.late: dict[str, int] = {}
        self.pids: dict[str, int] = {}
        self.hang = False
        self.garbage = False
        self.calls: list[str] = []
        self._server = ThreadedApp()
        self._released = asyncio.Event()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        call = (await request.json())["type"]
        self.calls.append(call)
        if self.hang:
            await self._released.wait()  # until the server stops
            return web.Response(status=503)
        if self.garbage:
            return web.Response(text="<html>502 Bad Gateway</html>", content_type="text/html")
        if request.headers.get("Content-Type") != "application/json":
            return web.Response(status=415, text="Expecting 'Content-Type' of application/json or protobuf")
        if call not in ("GET_VERSION", "GET_CONTAINERS", "GET_STATE"):
            return web.Response(status=400, text=f"Failed to validate agent::Call: unknown type {call}")
        doc = load(call.lower())
        if call == "GET_CONTAINERS":
            kept = []
            for c in doc["get_containers"]["containers"]:
                cid = c["container_id"]["value"]
                if self.late.get(cid, 0) > 0:
                    self.late[cid] -= 1
                    continue
                if cid in self.pids:
                    c["container_status"]["executor_pid"] = self.pids[cid]
                kept.append(c)
            doc["get_containers"]["containers"] = kept
        return web.json_response(doc)

    def start(self) -> MesosAgent:
        app = web.Application()
        app.router.add_post("/api/v1", self._handle)
        self._server.serve(app, port=self.port)
        return self

    def stop(self) -> None:
        self._server.loop.call_soon_threadsafe(self._released.set)  # a hung answer ends
        self._server.close()


@pytest.fixture
def agent_factory() -> Iterator[Callable[[int], MesosAgent]]:
    made: list[MesosAgent] = []

    def make(port: int) -> MesosAgent:
        made.append(MesosAgent(port).start())
        return made[-1]

    yield make
    for a in made:
        a.stop()


@pytest.fixture
def agent(agent_factory: Callable[[int], MesosAgent]) -> MesosAgent:
    return agent_factory(free_port())


def describe(f: MesosFactory, *names: str) -> list[ContainerMetadata | None]:
    async def go() -> list[ContainerMetadata | None]:
        try:
            return list(await asyncio.gather(*(f.describe(n) for n in names)))
        finally:
            await f.close()

    return asyncio.run(go())


# ---------------------------------------------------------------- pure parts


def test_task_labels_executor_source_framework_and_image() -> None:
    state = load("get_state")
    web_c = find_container(load("get_containers"), WEB)
    assert web_c is not None
    md = metadata_from(web_c, state, f"/mesos/{WEB}")
    assert (md.namespace, md.id, md.aliases, md.pid) == ("mesos", WEB, [WEB, f"/mesos/{WEB}"], 27001)
    assert md.labels == {
        "framework": "marathon",
        "source": "web.6a0b3c2e-9f11-11eb-a8b3-0242ac130003",
        "scheduler_sla": "non_revocable",
        "team": "shop",
        "tier": "frontend",
    }
    assert md.image == "nginx:1.25"
    batch = find_container(load("get_containers"), BATCH)
    assert batch is not None
    md = metadata_from(batch, state, f"/mesos/{BATCH}")
    assert md.labels == {"framework": "batch-scheduler", "source": "batch", "scheduler_sla": "revocable"}
    assert md.image == "library/busybox:1.36"  # the Mesos containerizer's Docker image


def test_a_container_of_an_unknown_framework_keeps_no_labels() -> None:
    orphan = find_container(load("get_containers"), ORPHAN)
    assert orphan is not None
    md = metadata_from(orphan, load("get_state"), f"/mesos/{ORPHAN}")
    assert md.labels == {} and md.image == "" and md.pid is None
    assert find_container(load("get_containers"), "00000000-0000-0000-0000-000000000000") is None


def test_cgroup_names_claimed() -> None:
    f = MesosFactory()
    assert mesos_id(f"/mesos/{WEB}") == WEB
    assert mesos_id(f"/mesos/{WEB}/mesos/{BATCH}") == BATCH  # a nested container
    assert mesos_id(f"/custom_root/{WEB}") == WEB  # the agent's --cgroups_root
    assert f.can_handle_and_accept(f"/mesos/{WEB}") == (True, True)
    for name in (f"/docker/{DOCKER_ID}", "/mesos", "/system.slice/docker.service", f"/mesos/{WEB}.mount"):
        assert f.can_handle_and_accept(name) == (False, False), name


# ---------------------------------------------------------------- against the agent's API


def factory(agent: MesosAgent, **kw: Any) -> MesosFactory:
    kw.setdefault("timeout_s", 5.0)
    kw.setdefault("backoff_s", 0.01)
    return MesosFactory(f"127.0.0.1:{agent.port}", **kw)


def test_describe_through_the_operator_api(agent: MesosAgent) -> None:
    web_md, batch_md = describe(factory(agent), f"/mesos/{WEB}", f"/mesos/{BATCH}")
    assert web_md is not None and web_md.labels["framework"] == "marathon" and web_md.pid == 27001
    assert batch_md is not None and batch_md.labels["scheduler_sla"] == "revocable"
    # Described together, the two containers share one GET_CONTAINERS and one GET_STATE.
    assert sorted(agent.calls) == ["GET_CONTAINERS", "GET_STATE", "GET_VERSION"]


def test_a_container_listed_after_its_cgroup_appeared_is_found(agent: MesosAgent) -> None:
    agent.late[WEB] = 2
    (md,) = describe(factory(agent), f"/mesos/{WEB}")
    assert md is not None and md.id == WEB
    assert agent.calls.count("GET_CONTAINERS") == 3


def test_an_unknown_container_is_asked_three_times_then_stays_raw(agent: MesosAgent) -> None:
    (md,) = describe(factory(agent), "/mesos/00000000-0000-0000-0000-000000000000")
    assert md is None
    assert agent.calls.count("GET_CONTAINERS") == 3 and "GET_STATE" not in agent.calls


def test_an_absent_agent_fails_fast() -> None:
    f = MesosFactory(f"127.0.0.1:{free_port()}", timeout_s=5.0)

    async def go() -> None:
        try:
            with pytest.raises(RuntimeUnavailable, match="mesos agent"):
                await f.describe(f"/mesos/{WEB}")
            t0 = time.monotonic()
            with pytest.raises(RuntimeUnavailable):  # within the retry window: not asked again
                await f.describe(f"/mesos/{BATCH}")
            assert time.monotonic() - t0 < 0.5
        finally:
            await f.close()

    asyncio.run(go())


def test_garbage_and_a_hung_agent_are_unavailable_not_fatal(agent: MesosAgent) -> None:
    agent.garbage = True
    with pytest.raises(RuntimeUnavailable, match="GET_VERSION"):
        describe(factory(agent), f"/mesos/{WEB}")
    agent.garbage, agent.hang = False, True
    t0 = time.monotonic()
    with pytest.raises(RuntimeUnavailable, match="did not answer in time"):
        describe(factory(agent, timeout_s=0.5), f"/mesos/{WEB}")
    assert time.monotonic() - t0 < 3  # bounded by -mesos_agent_timeout, not the agent


# ---------------------------------------------------------------- the daemon


@pytest.mark.root
def test_daemon_names_a_mesos_container_once_a_late_agent_answers(
    agent_factory: Callable[[int], MesosAgent], pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    port = free_port()
    with TestCgroup(WEB) as cg:
        proc = sleeper(cg)
        d = pycadvisor_daemon_factory(
            "-housekeeping_interval=200ms", "-global_housekeeping_interval=30s", f"-mesos_agent=127.0.0.1:{port}"
        )

        def spec() -> dict[str, Any] | None:
            status, body = d.get(f"/api/v2.0/spec{cg.name}")
            return json.loads(body)[cg.name] if status == 200 else None

        # No agent yet: the container is monitored under its raw cgroup name.
        raw = wait_until(spec, timeout=10, what="the cgroup as a raw container")
        assert not raw.get("namespace") and not raw.get("aliases")
        agent = agent_factory(port)
        agent.pids[WEB] = proc.pid

        def named() -> dict[str, Any] | None:
            s = spec()
            return s if s and s.get("namespace") == "mesos" else None

        s = wait_until(named, timeout=20, what="the container named through the agent", proc=d.process)
        assert s["aliases"] == [WEB, cg.name]
        assert s["labels"]["framework"] == "marathon" and s["labels"]["team"] == "shop"
        assert s["image"] == "nginx:1.25"
        text = d.get("/metrics")[1].decode()
        line = next(ln for ln in text.splitlines() if ln.startswith("container_memory_usage_bytes{") and WEB in ln)
        assert f'name="{WEB}"' in line and 'image="nginx:1.25"' in line and 'container_label_team="shop"' in line
