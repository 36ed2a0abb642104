"""The Docker factory against a real dockerd (private, in its own netns; see support/docker_engine.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import ssl
from collections.abc import AsyncGenerator, Callable
from pathlib import Path

import pytest

from pycadvisor.container.base import ContainerMetadata
from pycadvisor.container.docker import DockerFactory, DockerInfo, tls_context
from pycadvisor.container.engine_api import ContainerEvent
from pycadvisor.container.fsusage import FsUsageTracker
from pycadvisor.errors import RuntimeUnavailable
from pycadvisor.model.codec import parse_time
from support.ci import require
from support.docker_engine import Container, DockerEngine, require_engine
from support.procs import eventually
from support.tls import make_certs

pytestmark = [pytest.mark.root, pytest.mark.service]

MiB = 1 << 20


@pytest.fixture
def engine(docker_engine: DockerEngine) -> DockerEngine:
    """The session's private engine (tests/conftest.py), never stopped by these tests."""
    return docker_engine


def factory(eng: DockerEngine, *, whitelist: tuple[str, ...] = (), timeout_s: float = 5.0) -> DockerFactory:
    return DockerFactory(
        eng.endpoint, env_whitelist=list(whitelist), docker_root="/var/lib/docker", timeout_s=timeout_s
    )


async def describe(f: DockerFactory, c: Container) -> ContainerMetadata:
    md = await f.describe(c.cgroup)
    assert md is not None, f"{c.name} not described"
    return md


# ---------------------------------------------------------------- describe


def test_describe_running_container(engine: DockerEngine) -> None:
    c = engine.run_busybox(
        opts=("--cpu-shares", "2048", "-m", "1g", "--label", "bar=baz", "-e", "TEST_VAR=FOO", "-e", "OTHER=x")
    )
    doc = engine.inspect(c)

    async def go() -> ContainerMetadata:
        f = factory(engine, whitelist=("TEST_VAR",))
        try:
            assert f.can_handle_and_accept(c.cgroup) == (True, True)
            return await describe(f, c)
        finally:
            await f.close()

    md = asyncio.run(go())
    assert md.namespace == "docker"
    assert md.id == c.id
    assert md.aliases == [c.name, c.id]
    assert md.labels == {"bar": "baz"}
    assert md.envs == {"test_var": "FOO"}
    assert md.image == "pycad-bb:1"
    assert md.creation_time == parse_time(doc["Created"])
    assert md.start_time == parse_time(doc["State"]["StartedAt"])
    assert md.creation_time is not None and md.start_time is not None and md.creation_time < md.start_time
    assert md.has_network is True
    assert md.health == ""
    # The pid is the container's init, whose cgroup is the one described.
    assert md.pid == doc["State"]["Pid"]
    with open(f"/proc/{md.pid}/cgroup") as fh:
        assert f":memory:{c.cgroup}\n" in fh.read()
    # Writable layer (vfs: <root>/vfs/dir/<mount-id>) and log dir, both real directories.
    with open(f"{engine.data_root}/image/vfs/layerdb/mounts/{c.id}/mount-id") as fh:
        mount_id = fh.read().strip()
    assert md.fs_dirs == [f"{engine.data_root}/vfs/dir/{mount_id}", f"{engine.data_root}/containers/{c.id}"]
    assert all(os.path.isdir(d) for d in md.fs_dirs)
    assert os.path.isfile(os.path.join(md.fs_dirs[0], "bin", "busybox"))


def test_stopped_unknown_and_removed_containers_are_not_described(engine: DockerEngine) -> None:
    gone = engine.run_busybox()
    stopped = engine.run_busybox("sh", "-c", "exit 3")
    engine.docker("wait", stopped.id)
    engine.rm(gone)

    async def go() -> list[ContainerMetadata | None]:
        f = factory(engine)
        try:
            return [
                await f.describe(stopped.cgroup),
                await f.describe(gone.cgroup),
                await f.describe("/docker/" + "0" * 64),
                await f.describe("/system.slice/docker.service"),
            ]
        finally:
            await f.close()

    assert asyncio.run(go()) == [None, None, None, None]


def test_restart_count_label_and_health_status(engine: DockerEngine) -> None:
    flappy = engine.run_busybox("sh", "-c", "sleep 0.3; exit 1", opts=("--restart", "always"))
    healthy = engine.run_busybox(opts=("--health-cmd", "true", "--health-interval", "1s"))

    async def go() -> tuple[ContainerMetadata, ContainerMetadata]:
        f = factory(engine)
        try:

            async def restarted() -> ContainerMetadata | None:
                md = await f.describe(flappy.cgroup)  # None while it is between two runs
                return md if md is not None and "restartcount" in md.labels else None

            async def is_healthy() -> ContainerMetadata | None:
                md = await f.describe(healthy.cgroup)
                return md if md is not None and md.health == "healthy" else None

            first = await describe(f, healthy)
            assert first.health in ("starting", "healthy")
            return (
                await eventually(restarted, timeout=30, what="a restart count"),
                await eventually(is_healthy, timeout=30, what="healthy"),
            )
        finally:
            await f.close()

    r, h = asyncio.run(go())
    assert int(r.labels["restartcount"]) >= 1
    assert h.health == "healthy"
    engine.rm(flappy)


def test_network_mode_decides_has_network(engine: DockerEngine) -> None:
    owner = engine.run_busybox()
    sharer = engine.run_busybox(opts=("--network", f"container:{owner.id}"))
    on_host = engine.run_busybox(opts=("--network", "host"))
    isolated = engine.run_busybox(opts=("--network", "none"))

    async def go() -> list[bool | None]:
        f = factory(engine)
        try:
            return [(await describe(f, c)).has_network for c in (owner, sharer, on_host, isolated)]
        finally:
            await f.close()

    # cAdvisor needNet: only a container sharing another container's netns reports no network.
    assert asyncio.run(go()) == [True, False, True, True]


def test_info_reports_engine_version_root_and_driver(engine: DockerEngine) -> None:
    version = engine.api_get("/version")

    async def go() -> DockerInfo | None:
        f = factory(engine)
        try:
            return await f.info()
        finally:
            await f.close()

    info = asyncio.run(go())
    assert info is not None
    assert info.server_version == version["Version"]
    assert info.api_version == version["ApiVersion"]
    assert info.negotiated_api_version == version["ApiVersion"]
    assert info.root_dir == engine.data_root
    assert info.driver == "vfs"
    assert info.containers_running >= 0


def test_tcp_endpoint(engine: DockerEngine) -> None:
    """``--docker=tcp://host:port`` reaches an engine over TCP (here a loopback proxy to its socket)."""
    c = engine.run_busybox()

    async def go() -> ContainerMetadata:
        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            w.close()

        async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
            ur, uw = await asyncio.open_unix_connection(engine.socket)
            await asyncio.gather(pipe(cr, uw), pipe(ur, cw))

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        f = DockerFactory(f"tcp://127.0.0.1:{port}", env_whitelist=[], docker_root="", timeout_s=5)
        try:
            return await describe(f, c)
        finally:
            await f.close()
            server.close()

    assert asyncio.run(go()).aliases == [c.name, c.id]


def test_tls_endpoint_with_client_certificate(engine: DockerEngine, tmp_path: Path) -> None:
    """``--docker=tcp://… --docker-tls``: server verified against the CA, client certificate presented.

    The TLS side is a loopback proxy that requires a client certificate signed by the CA and
    forwards to the engine's socket (dockerd's own TLS listener would sit inside its netns).
    """
    require(shutil.which("openssl") is not None, "openssl not installed")
    d = str(tmp_path)
    make_certs(d)
    c = engine.run_busybox()

    async def go() -> tuple[ContainerMetadata, BaseException | None]:
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=f"{d}/ca.pem")
        server_ctx.load_cert_chain(f"{d}/server.pem", f"{d}/server.key")
        server_ctx.verify_mode = ssl.CERT_REQUIRED

        async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
            ur, uw = await asyncio.open_unix_connection(engine.socket)
            await asyncio.gather(_pipe(cr, uw), _pipe(ur, cw))

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
        endpoint = f"tcp://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        good = DockerFactory(
            endpoint,
            env_whitelist=[],
            docker_root="",
            timeout_s=5,
            tls=tls_context(f"{d}/client.pem", f"{d}/client.key", f"{d}/ca.pem"),
        )
        no_cert = ssl.create_default_context(cafile=f"{d}/ca.pem")  # trusts the server, shows no certificate
        bad = DockerFactory(endpoint, env_whitelist=[], docker_root="", timeout_s=5, tls=no_cert)
        try:
            md = await describe(good, c)
            refused: BaseException | None = None
            try:
                await bad.describe(c.cgroup)
            except RuntimeUnavailable as e:
                refused = e
            return md, refused
        finally:
            await good.close()
            await bad.close()
            server.close()

    md, refused = asyncio.run(go())
    assert md.aliases == [c.name, c.id]
    assert refused is not None  # the proxy demands a client certificate


async def _pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    with contextlib.suppress(OSError):
        w.close()


# ---------------------------------------------------------------- faults


def test_absent_engine_then_started_then_stopped_then_back() -> None:
    """Absent at start: RuntimeUnavailable, logged once; started later: works without a new factory."""
    require_engine()
    eng = DockerEngine(live_restore=True)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.WARNING)
    logging.getLogger("pycadvisor.container.docker").addHandler(handler)
    try:

        async def absent(f: DockerFactory) -> None:
            for _ in range(3):
                with pytest.raises(RuntimeUnavailable):
                    await f.describe("/docker/" + "a" * 64)
                await asyncio.sleep(0.06)  # past retry_after_s: each call probes again
            assert await f.info() is None
            assert f.available is False

        async def go() -> None:
            f = DockerFactory(eng.endpoint, env_whitelist=[], docker_root="", timeout_s=2, retry_after_s=0.05)
            try:
                await absent(f)
                assert len(records) == 1  # logged once, not per call
                assert "unavailable" in records[0].getMessage()

                await asyncio.to_thread(eng.start)
                c = await asyncio.to_thread(eng.run_busybox)
                md = await eventually(lambda: f.describe(c.cgroup), timeout=10, what="describe after start")
                assert md.aliases == [c.name, c.id]
                assert f.available is True

                await asyncio.to_thread(eng.stop)  # live-restore: the container keeps running
                assert os.path.isdir(f"/sys/fs/cgroup/memory/docker/{c.id}")
                await absent(f)

                await asyncio.to_thread(eng.start)
                md = await eventually(lambda: f.describe(c.cgroup), timeout=10, what="describe after restart")
                assert md.id == c.id
                # One line per transition: down, back, down, back.
                messages = [r.getMessage() for r in records]
                assert len(messages) == 4, messages
                assert ["unavailable" in m for m in messages] == [True, False, True, False]
                assert all("is back" in m for m in messages[1::2])
            finally:
                await f.close()

        asyncio.run(go())
    finally:
        logging.getLogger("pycadvisor.container.docker").removeHandler(handler)
        eng.cleanup()


def test_hung_engine_fails_within_timeout_and_recovers(engine: DockerEngine) -> None:
    c = engine.run_busybox()

    async def go() -> ContainerMetadata:
        f = factory(engine, timeout_s=0.5)
        try:
            await describe(f, c)
            engine.freeze()
            try:
                # Bounded by timeout_s even though the engine accepts the connection and never answers.
                with pytest.raises(RuntimeUnavailable):
                    await asyncio.wait_for(f.describe(c.cgroup), timeout=30)
                with pytest.raises(RuntimeUnavailable):  # fails fast while it is down
                    await asyncio.wait_for(f.describe(c.cgroup), timeout=30)
            finally:
                engine.thaw()
            return await eventually(lambda: f.describe(c.cgroup), timeout=10, what="describe after thaw")
        finally:
            await f.close()

    assert asyncio.run(go()).id == c.id


# ---------------------------------------------------------------- events


def test_events_report_exit_codes_and_engine_restarts() -> None:
    require_engine()
    with DockerEngine(live_restore=True) as eng:

        async def go() -> list[ContainerEvent]:
            f = DockerFactory(eng.endpoint, env_whitelist=[], docker_root="", timeout_s=2, retry_after_s=0.1)
            seen: list[ContainerEvent] = []
            it: AsyncGenerator[ContainerEvent, None] = f.events()

            async def until(pred: Callable[[ContainerEvent], bool], what: str) -> ContainerEvent:
                async def step() -> ContainerEvent:
                    while True:
                        ev = await it.__anext__()
                        seen.append(ev)
                        if pred(ev):
                            return ev

                try:
                    return await asyncio.wait_for(step(), timeout=30)
                except TimeoutError:
                    raise AssertionError(f"no {what} event; saw {[e.action for e in seen]}") from None

            try:
                await until(lambda e: e.action == "connected", "connected")
                c = await asyncio.to_thread(eng.run_busybox, "sh", "-c", "sleep 0.5; exit 3")
                await until(lambda e: e.action == "start" and e.id == c.id, "start")
                die = await until(lambda e: e.action == "die" and e.id == c.id, "die")
                assert die.exit_code == 3 and die.name == c.name
                await asyncio.to_thread(eng.rm, c)
                await until(lambda e: e.action == "destroy" and e.id == c.id, "destroy")
                await asyncio.to_thread(eng.stop)
                await until(lambda e: e.action == "disconnected", "disconnected")
                await asyncio.to_thread(eng.start)
                await until(lambda e: e.action == "connected", "connected again")
                h = await asyncio.to_thread(eng.run_busybox, opts=("--health-cmd", "true", "--health-interval", "1s"))
                health = await until(lambda e: e.action == "health_status" and e.id == h.id, "health_status")
                assert health.health == "healthy"
            finally:
                await it.aclose()
                await f.close()
            return seen

        actions = [e.action for e in asyncio.run(go())]
        assert actions.count("connected") == 2 and actions.count("disconnected") == 1


# ---------------------------------------------------------------- live metadata


def test_described_metadata_follows_health_renames_and_exit(engine: DockerEngine) -> None:
    """The object describe() returned is updated in place from engine events (no re-describe)."""
    c = engine.run_busybox(opts=("--health-cmd", "true", "--health-interval", "1s"))
    new_name = c.name + "-renamed"

    async def go() -> ContainerMetadata:
        f = factory(engine)
        try:
            md = await describe(f, c)
            await eventually(lambda: _now(md.health == "healthy"), timeout=30, what="health to turn healthy")
            await asyncio.to_thread(engine.docker, "rename", c.name, new_name)
            await eventually(lambda: _now(md.aliases[0] == new_name), timeout=30, what="the new name")
            await asyncio.to_thread(engine.docker, "kill", "--signal", "KILL", c.id)
            await eventually(lambda: _now(md.exit_code is not None), timeout=30, what="the exit code")
            assert await f.exit_code(c.cgroup) == 137  # SIGKILL: 128 + 9
            return md
        finally:
            await f.close()

    md = asyncio.run(go())
    assert md.aliases == [new_name, c.id] and md.exit_code == 137


def test_exit_code_of_a_stopped_container_without_events(engine: DockerEngine) -> None:
    c = engine.run_busybox("sh", "-c", "sleep 0.2; exit 7")
    engine.docker("wait", c.id)

    async def go() -> tuple[int | None, int | None, int | None]:
        f = DockerFactory(engine.endpoint, env_whitelist=[], docker_root="", timeout_s=5, watch_events=False)
        try:
            return (
                await f.exit_code(c.cgroup),  # from inspect: the container still exists
                await f.exit_code("/docker/" + "0" * 64),  # never existed
                await f.exit_code("/system.slice/docker.service"),
            )
        finally:
            await f.close()

    assert asyncio.run(go()) == (7, None, None)


def test_exit_code_of_an_auto_removed_container_comes_from_its_die_event(engine: DockerEngine) -> None:
    keeper = engine.run_busybox()  # described first, so the event watcher runs

    async def go() -> int | None:
        f = factory(engine)
        try:
            await describe(f, keeper)
            c = await asyncio.to_thread(engine.run_busybox, "sh", "-c", "sleep 0.5; exit 5", opts=("--rm",))
            await asyncio.to_thread(engine.docker, "wait", c.id, check=False)
            return await f.exit_code(c.cgroup)  # inspect says 404: the die event tells
        finally:
            await f.close()

    assert asyncio.run(go()) == 5


async def _now(value: bool) -> bool:
    return value


# ---------------------------------------------------------------- filesystem usage


def test_writable_layer_usage_grows_when_the_container_writes_10_mib(engine: DockerEngine) -> None:
    c = engine.run_busybox()

    async def go() -> tuple[int, int]:
        f = factory(engine)
        t = FsUsageTracker(interval_s=0.2, budget_s_per_round=0.05, round_s=0.05)
        runner = asyncio.ensure_future(t.run())
        try:
            md = await describe(f, c)
            t.track(c.cgroup, md.fs_dirs)

            async def base() -> int | None:
                fs = t.fs_usage(c.cgroup)
                return fs.base_bytes if fs is not None else None

            before = await eventually(base, timeout=30, what="a first measurement")
            await asyncio.to_thread(engine.exec, c, "dd", "if=/dev/zero", "of=/tmp/blob", "bs=1M", "count=10")

            async def grown() -> int | None:
                b = await base()
                return b if b is not None and b >= before + 10 * MiB else None

            return before, await eventually(grown, timeout=30, what="usage to grow by 10 MiB")
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            await f.close()

    before, after = asyncio.run(go())
    assert 10 * MiB <= after - before <= 11 * MiB
