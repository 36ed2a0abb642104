"""The /metrics handler in-process behind aiohttp's test server: query parameters, gzip, errors."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from metrics.expo_fixtures import (
    DOCKER_ID,
    OwnProcess,
    fixture_machine,
    fixture_snapshots,
    fixture_version,
    parse_series,
)
from pycadvisor.api.prometheus import accepts_gzip, make_metrics_handler
from pycadvisor.metrics.options import ExpositionOptions
from pycadvisor.metrics.source import ContainerSnapshot, MachineInfoLike, VersionInfo


class StaticSource:
    """A MetricsSource over fixed containers that filters by runtime namespace like the manager does."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[str | None, int | None]] = []

    async def snapshot(self, *, namespace: str | None, max_age_ns: int | None) -> list[ContainerSnapshot]:
        self.calls.append((namespace, max_age_ns))
        if self.fail:
            raise RuntimeError("manager is gone")
        return [s for s in fixture_snapshots() if namespace is None or s.namespace == namespace]

    def machine_info(self) -> MachineInfoLike | None:
        return fixture_machine()

    def version_info(self) -> VersionInfo:
        return fixture_version()


def serve(source: StaticSource, check: Callable[[aiohttp.ClientSession, str], Awaitable[None]], **opts: Any) -> None:
    async def main() -> None:
        app = web.Application()
        app.router.add_get(
            "/metrics", make_metrics_handler(source, ExpositionOptions(**opts), own_process=OwnProcess())
        )
        async with (
            TestServer(app, host="127.0.0.1") as server,
            aiohttp.ClientSession(auto_decompress=False, headers={"Accept-Encoding": "identity"}) as s,
        ):
            await check(s, str(server.make_url("/metrics")))

    asyncio.run(main())


def test_serves_text_format_0_0_4() -> None:
    async def check(s: aiohttp.ClientSession, url: str) -> None:
        async with s.get(url) as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            assert "Content-Encoding" not in r.headers
            text = (await r.read()).decode()
        series = parse_series(text)
        assert series["container_scrape_error"] == [({}, 0.0, None)]
        assert "process_cpu_seconds_total" in series  # the runtime families are on by default
        ids = {lab["id"] for lab, _, _ in series["container_start_time_seconds"]}
        assert ids == {s.name for s in fixture_snapshots()}

    serve(StaticSource(), check)


def test_gzip_when_the_client_accepts_it() -> None:
    async def check(s: aiohttp.ClientSession, url: str) -> None:
        async with s.get(url, headers={"Accept-Encoding": "gzip"}) as r:
            assert r.status == 200
            assert r.headers["Content-Encoding"] == "gzip"
            raw = await r.read()
        plain = gzip.decompress(raw).decode()
        assert "container_memory_usage_bytes{" in plain
        assert len(raw) * 5 < len(plain)
        async with s.get(url, headers={"Accept-Encoding": "deflate, gzip;q=0.5"}) as r:
            assert r.headers["Content-Encoding"] == "gzip"
        async with s.get(url, headers={"Accept-Encoding": "identity"}) as r:
            assert "Content-Encoding" not in r.headers
            assert (await r.read()).startswith(b"# HELP ")

    serve(StaticSource(), check, runtime_metrics=False)


def test_type_docker_serves_only_docker_containers() -> None:
    source = StaticSource()

    async def check(s: aiohttp.ClientSession, url: str) -> None:
        async with s.get(url + "?type=docker") as r:
            text = (await r.read()).decode()
        ids = {lab["id"] for lab, _, _ in parse_series(text)["container_start_time_seconds"]}
        assert ids == {f"/system.slice/docker-{DOCKER_ID}.scope"}
        async with s.get(url + "?type=name") as r:
            assert r.status == 200

    serve(source, check)
    assert source.calls == [("docker", None), (None, None)]


def test_every_runtime_namespace_is_a_type() -> None:
    """cAdvisor's types (name, docker, podman) and the other runtimes pycadvisor names containers of."""
    source = StaticSource()

    async def check(s: aiohttp.ClientSession, url: str) -> None:
        for kind in ("containerd", "crio", "mesos"):
            async with s.get(url + "?type=" + kind) as r:
                assert r.status == 200, kind
                text = (await r.read()).decode()
            ids = {lab["id"] for lab, _, _ in parse_series(text).get("container_start_time_seconds", [])}
            assert ids == {s.name for s in fixture_snapshots() if s.namespace == kind}, kind
            assert "container_scrape_error 0" in text

    serve(source, check, runtime_metrics=False)
    assert source.calls == [("containerd", None), ("crio", None), ("mesos", None)]


def test_max_age_is_a_go_duration() -> None:
    source = StaticSource()

    async def check(s: aiohttp.ClientSession, url: str) -> None:
        async with s.get(url + "?max_age=1m30s") as r:
            assert r.status == 200
        async with s.get(url + "?max_age=250ms&type=podman") as r:
            assert r.status == 200

    serve(source, check, runtime_metrics=False)
    assert source.calls == [(None, 90_000_000_000), ("podman", 250_000_000)]


def test_bad_parameters_are_400_naming_the_parameter() -> None:
    source = StaticSource()

    async def check(s: aiohttp.ClientSession, url: str) -> None:
        async with s.get(url + "?type=kubernetes") as r:
            assert r.status == 400
            body = await r.text()
            assert "'type'" in body and "kubernetes" in body
        async with s.get(url + "?max_age=ten") as r:
            assert r.status == 400
            assert "'max_age'" in await r.text()
        async with s.get(url + "?max_age=-5s") as r:
            assert r.status == 400

    serve(source, check, runtime_metrics=False)
    assert source.calls == []  # nothing was collected for a bad request


def test_a_failing_manager_gives_a_scrape_error_not_a_failed_scrape() -> None:
    async def check(s: aiohttp.ClientSession, url: str) -> None:
        async with s.get(url) as r:
            assert r.status == 200
            series = parse_series((await r.read()).decode())
        assert series["container_scrape_error"] == [({}, 1.0, None)]
        assert series["machine_scrape_error"] == [({}, 0.0, None)]
        assert "machine_memory_bytes" in series
        assert "container_memory_usage_bytes" not in series

    serve(StaticSource(fail=True), check, runtime_metrics=False)


def test_accept_encoding_parsing_matches_promhttp() -> None:
    assert accepts_gzip("gzip")
    assert accepts_gzip("br, gzip")
    assert accepts_gzip("gzip;q=1.0, identity; q=0.5")
    assert not accepts_gzip("")
    assert not accepts_gzip("x-gzip")
    assert not accepts_gzip("identity")


def test_a_large_exposition_is_compressed_off_the_event_loop_and_intact() -> None:
    class ManySource(StaticSource):
        async def snapshot(self, *, namespace: str | None, max_age_ns: int | None) -> list[ContainerSnapshot]:
            base = fixture_snapshots()[0]
            return [dataclasses.replace(base, name=f"{base.name}-{i}") for i in range(40)]

    async def check(s: aiohttp.ClientSession, url: str) -> None:
        async with s.get(url) as r:
            plain = await r.read()
        async with s.get(url, headers={"Accept-Encoding": "gzip"}) as r:
            assert r.headers["Content-Encoding"] == "gzip"
            packed = await r.read()
        assert len(plain) > 256 * 1024  # above the size compressed in a worker thread

        def steady(body: bytes) -> list[bytes]:  # container_last_seen moves with the clock
            return [ln for ln in body.split(b"\n") if not ln.startswith(b"container_last_seen{")]

        assert steady(gzip.decompress(packed)) == steady(plain)

    serve(ManySource(), check, runtime_metrics=False)
