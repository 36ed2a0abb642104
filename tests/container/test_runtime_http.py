"""The runtimes' shared HTTP transport and the way their background tasks stop.

Against a real HTTP server on a unix socket (aiohttp, in the test's loop) that plays a runtime's
API: plain answers, an event stream written line by line, a stream the runtime breaks off, an
error status; and against a socket nothing listens on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from pycadvisor.container.runtime_http import RuntimeHttpClient, RuntimeTransportError, split_endpoint
from pycadvisor.container.watch import cancel_and_wait
from pycadvisor.errors import RuntimeUnavailable
from support.sockets import ClosingSocket

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def runtime_api(socket_path: Path, routes: dict[str, Handler]) -> AsyncIterator[None]:
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.UnixSite(runner, str(socket_path)).start()
    try:
        yield
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------- endpoints


def test_tcp_endpoint_means_https_with_client_tls() -> None:
    assert split_endpoint("tcp://10.0.0.1:2376", tls=True) == ("https://10.0.0.1:2376", None)
    assert split_endpoint("tcp://10.0.0.1:2375") == ("http://10.0.0.1:2375", None)
    assert split_endpoint("http://10.0.0.1:2375/", tls=True) == ("http://10.0.0.1:2375", None)


def test_bad_endpoint_error_names_the_runtime() -> None:
    with pytest.raises(ValueError, match=r"^invalid docker endpoint 'docker\.sock'"):
        split_endpoint("docker.sock", kind="docker")
    with pytest.raises(ValueError, match=r"^invalid endpoint 'unix://x\.sock': unix socket path must be absolute"):
        split_endpoint("unix://x.sock")


# ---------------------------------------------------------------- requests


def test_get_over_a_unix_socket_with_the_runtime_host_header(tmp_path: Path) -> None:
    sock = tmp_path / "api.sock"
    hosts: list[str] = []

    async def version(request: web.Request) -> web.StreamResponse:
        hosts.append(request.host)
        return web.json_response({"Version": "1"})

    async def go() -> None:
        async with runtime_api(sock, {"/version": version}):
            for unix_host in ("docker", "d"):
                http = RuntimeHttpClient("rt", f"unix://{sock}", timeout_s=5, unix_host=unix_host)
                try:
                    assert await http.get("/version") == (200, b'{"Version": "1"}')
                    assert (await http.get("/nothing"))[0] == 404
                finally:
                    await http.close()

    asyncio.run(go())
    assert hosts == ["docker", "d"]


def test_get_without_a_runtime_is_a_transport_error(tmp_path: Path) -> None:
    async def go() -> None:
        http = RuntimeHttpClient("rt", f"unix://{tmp_path}/absent.sock", timeout_s=5)
        try:
            with pytest.raises(RuntimeTransportError):
                await http.get("/version")
        finally:
            await http.close()

    asyncio.run(go())


def test_ready_probes_once_fails_fast_then_recovers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Callers meeting a dead runtime share one probe; the next probe waits retry_after_s; each transition logs once."""
    sock = tmp_path / "api.sock"
    dead = ClosingSocket(str(sock))  # accepts and hangs up: not a runtime
    log = logging.getLogger("pycadvisor.test.runtime")
    probes: list[int] = []  # the status each probe got; 0: no answer

    async def probe() -> str:
        probes.append(0)
        status, _ = await http.get("/version")
        probes[-1] = status
        return f"answered {status}"

    async def ready() -> str:
        try:
            await http.ready(probe)
        except RuntimeUnavailable as e:
            return str(e)
        return "up"

    http = RuntimeHttpClient("rt", f"unix://{sock}", timeout_s=5, retry_after_s=0.2, log=log)

    async def go() -> None:
        try:
            outcomes = await asyncio.gather(*(ready() for _ in range(5)))
            assert all(o.startswith(f"rt at unix://{sock} unavailable") for o in outcomes), outcomes
            assert probes == [0]  # one probe, not one per caller
            assert await ready() != "up"
            assert probes == [0]  # within retry_after_s: not asked
            dead.close()

            async def version(request: web.Request) -> web.StreamResponse:
                return web.json_response({})

            async with runtime_api(sock, {"/version": version}):
                await asyncio.sleep(0.3)  # past retry_after_s
                assert await ready() == "up"
                assert await ready() == "up"
                assert probes == [0, 200]  # probed once more, then up
        finally:
            await http.close()

    with caplog.at_level(logging.INFO, logger=log.name):
        asyncio.run(go())
    messages = [r.getMessage() for r in caplog.records if r.name == log.name]
    assert len(messages) == 2, messages
    assert "unavailable" in messages[0]
    assert messages[1] == f"rt at unix://{sock} is back: answered 200"


# ---------------------------------------------------------------- event streams


def test_event_stream_hands_over_each_line_as_written_and_outlives_the_request_timeout(tmp_path: Path) -> None:
    """Line 2 is written only after the client has line 1, and after an idle gap 3x the request timeout."""
    sock = tmp_path / "api.sock"

    async def go() -> None:
        got_first = asyncio.Event()

        async def events(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse()
            await resp.prepare(request)
            await resp.write(b'{"n": 1}\n')
            await got_first.wait()
            await asyncio.sleep(0.6)  # idle longer than timeout_s: the stream must not be cut
            await resp.write(b'{"n": 2}\n')
            await resp.write_eof()
            return resp

        async with runtime_api(sock, {"/events": events}):
            http = RuntimeHttpClient("rt", f"unix://{sock}", timeout_s=0.2)
            lines: list[bytes] = []
            try:
                async with asyncio.timeout(30), http.event_stream("/events") as stream:
                    async for line in stream:
                        lines.append(line)
                        got_first.set()
            finally:
                await http.close()
            assert lines == [b'{"n": 1}\n', b'{"n": 2}\n']

    asyncio.run(go())


def test_event_stream_broken_off_by_the_runtime_is_a_transport_error(tmp_path: Path) -> None:
    sock = tmp_path / "api.sock"

    async def go() -> None:
        async def events(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse()
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            await resp.write(b'{"n": 1}\n')
            assert request.transport is not None
            request.transport.abort()  # the runtime dies mid-stream
            return resp

        async with runtime_api(sock, {"/events": events}):
            http = RuntimeHttpClient("rt", f"unix://{sock}", timeout_s=5)
            lines: list[bytes] = []
            try:
                with pytest.raises(RuntimeTransportError):
                    async with http.event_stream("/events") as stream:
                        async for line in stream:
                            lines.append(line)
            finally:
                await http.close()
            assert lines == [b'{"n": 1}\n']

    asyncio.run(go())


def test_event_stream_refused_or_absent_is_a_transport_error(tmp_path: Path) -> None:
    sock = tmp_path / "api.sock"

    async def events(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500, text="boom")

    async def go() -> None:
        async with runtime_api(sock, {"/events": events}):
            http = RuntimeHttpClient("rt", f"unix://{sock}", timeout_s=5)
            try:
                with pytest.raises(RuntimeTransportError, match="events answered 500"):
                    async with http.event_stream("/events"):
                        raise AssertionError("a 500 answer is no stream")
            finally:
                await http.close()
        http = RuntimeHttpClient("rt", f"unix://{sock}", timeout_s=5)  # the server is gone
        try:
            with pytest.raises(RuntimeTransportError):
                async with http.event_stream("/events"):
                    raise AssertionError("nothing listens")
        finally:
            await http.close()

    asyncio.run(go())


# ---------------------------------------------------------------- stopping watchers


def test_cancel_and_wait_returns_once_the_task_has_finished() -> None:
    async def go() -> None:
        steps: list[str] = []

        async def watcher() -> None:
            try:
                await asyncio.sleep(3600)
            finally:
                await asyncio.sleep(0)  # cleanup that itself awaits
                steps.append("cleaned up")

        task = asyncio.get_running_loop().create_task(watcher())
        await asyncio.sleep(0)  # let it start
        await cancel_and_wait(task)
        assert task.cancelled()
        assert steps == ["cleaned up"]
        await cancel_and_wait(task)  # already ended: nothing to do
        await cancel_and_wait(None)  # never started

    asyncio.run(go())
