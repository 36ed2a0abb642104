"""``events_response`` served in-process by aiohttp: JSON arrays, NDJSON streams, 400s, released watches."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from pycadvisor.api.events import events_response
from pycadvisor.events.store import EventStore
from pycadvisor.model.events import (
    ContainerDeletionEventData,
    Event,
    EventData,
    EventType,
    OomKillEventData,
)

T0 = 1_784_582_701_000_000_000  # 2026-07-20T21:25:01Z
S = 1_000_000_000


def make_app(store: EventStore) -> web.Application:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await events_response(request, store, request.match_info["name"])

    app = web.Application()
    app.router.add_route("*", "/api/{version}/events{name:.*}", handler)
    return app


class Client:
    """HTTP against the app served in-process on 127.0.0.1, as the daemon serves it (web.AppRunner)."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    def url(self, path: str) -> str:
        return self.base + path

    async def get(self, path: str) -> aiohttp.ClientResponse:
        return await self.session.get(self.url(path))

    async def post(self, path: str) -> aiohttp.ClientResponse:
        return await self.session.post(self.url(path))


def with_client(
    store: EventStore, body: Callable[[Client], Awaitable[None]], *, handler_cancellation: bool = False
) -> None:
    """Run ``body`` against the app; aiohttp's default (and the daemon's) is no handler cancellation."""

    async def main() -> None:
        runner = web.AppRunner(make_app(store), handler_cancellation=handler_cancellation)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as session:
                await body(Client(session, f"http://127.0.0.1:{port}"))
        finally:
            await runner.cleanup()

    asyncio.run(main())


def sample_store() -> EventStore:
    s = EventStore(clock=lambda: T0 + 100 * S)
    s.add(Event(container_name="/docker/abc", timestamp=T0, event_type=EventType.CONTAINER_CREATION))
    s.add(
        Event(
            container_name="/docker/abc",
            timestamp=T0 + S // 2,
            event_type=EventType.OOM_KILL,
            event_data=EventData(oom=OomKillEventData(pid=966, process_name="manager", constraint="CONSTRAINT_MEMCG")),
        )
    )
    s.add(
        Event(
            container_name="/docker/abc",
            timestamp=T0 + 2 * S,
            event_type=EventType.CONTAINER_DELETION,
            event_data=EventData(container_deletion=ContainerDeletionEventData(exit_code=1)),
        )
    )
    s.add(Event(container_name="/other", timestamp=T0 + 3 * S, event_type=EventType.CONTAINER_CREATION))
    return s


async def wait_for(pred: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def test_past_events_as_go_json_array() -> None:
    async def body(client: Client) -> None:
        resp = await client.get("/api/v1.3/events/docker/abc?all_events=true")
        assert resp.status == 200
        assert resp.content_type == "application/json"
        assert await resp.read() == (
            b'[{"container_name":"/docker/abc","timestamp":"2026-07-20T21:25:01Z","event_type":"containerCreation",'
            b'"event_data":{}},'
            b'{"container_name":"/docker/abc","timestamp":"2026-07-20T21:25:01.5Z","event_type":"oomKill",'
            b'"event_data":{"oom":{"pid":966,"process_name":"manager","constraint":"CONSTRAINT_MEMCG"}}},'
            b'{"container_name":"/docker/abc","timestamp":"2026-07-20T21:25:03Z","event_type":"containerDeletion",'
            b'"event_data":{"container_deletion":{"exit_code":1}}}]'
        )

    with_client(sample_store(), body)


def test_filters_v2_path_and_empty_answers() -> None:
    async def body(client: Client) -> None:
        resp = await client.get("/api/v2.0/events/?creation_events=1&subcontainers=true")
        assert [e["container_name"] for e in json.loads(await resp.read())] == ["/docker/abc", "/other"]
        resp = await client.get("/api/v2.1/events/docker/abc")  # no type selected
        assert await resp.read() == b"[]"
        resp = await client.get("/api/v1.3/events/docker/abc?deletion_events=true&start_time=2026-07-20T21:25:04Z")
        assert await resp.read() == b"[]"
        # Repeated parameter: the first value counts (Go url.Values); POST works like GET.
        resp = await client.post("/api/v1.3/events/docker/abc?deletion_events=true&deletion_events=false&max_events=1")
        assert [e["event_type"] for e in json.loads(await resp.read())] == ["containerDeletion"]

    with_client(sample_store(), body)


def test_bad_parameters_answer_400_naming_them() -> None:
    async def body(client: Client) -> None:
        for query, param in [
            ("oom_events=true&start_time=1700000000", "start_time"),
            ("oom_events=true&end_time=tomorrow", "end_time"),
            ("oom_events=true&max_events=ten", "max_events"),
            ("stream=true&start_time=2026-07-20T21:25:01Z", "start_time"),
        ]:
            resp = await client.get(f"/api/v1.3/events/docker/abc?{query}")
            assert resp.status == 400, query
            text = await resp.text()
            assert param in text and text.endswith("\n")

    with_client(sample_store(), body)


@pytest.mark.parametrize("cancellation", [False, True], ids=["default-server", "handler-cancellation"])
def test_stream_delivers_each_event_as_it_happens(cancellation: bool) -> None:
    store = sample_store()

    async def body(client: Client) -> None:
        resp = await client.get("/api/v1.3/events/docker?stream=true&subcontainers=true&oom_events=1&deletion_events=1")
        assert resp.status == 200  # headers before any event
        assert store.watch_count() == 1
        store.add(Event(container_name="/docker/abc", timestamp=T0 + 10 * S, event_type=EventType.OOM))
        line = await asyncio.wait_for(resp.content.readline(), 10)
        assert line == (
            b'{"container_name":"/docker/abc","timestamp":"2026-07-20T21:25:11Z","event_type":"oom","event_data":{}}\n'
        )
        store.add(
            Event(container_name="/elsewhere", timestamp=T0 + 11 * S, event_type=EventType.OOM)
        )  # not below /docker
        store.add(Event(container_name="/docker/x", timestamp=T0 + 12 * S, event_type=EventType.CONTAINER_CREATION))
        store.add(
            Event(
                container_name="/docker/x",
                timestamp=T0 + 13 * S,
                event_type=EventType.CONTAINER_DELETION,
                event_data=EventData(container_deletion=ContainerDeletionEventData(exit_code=0)),
            )
        )
        line = json.loads(await asyncio.wait_for(resp.content.readline(), 10))
        assert (line["container_name"], line["event_type"], line["event_data"]) == (
            "/docker/x",
            "containerDeletion",
            {"container_deletion": {"exit_code": 0}},
        )
        resp.close()
        await wait_for(lambda: store.watch_count() == 0, "the watch to be released")

    with_client(store, body, handler_cancellation=cancellation)


@pytest.mark.parametrize("cancellation", [False, True], ids=["default-server", "handler-cancellation"])
def test_many_dropped_streams_leave_no_watches(cancellation: bool) -> None:
    store = sample_store()

    async def body(client: Client) -> None:
        url = client.url("/api/v1.3/events/?stream=true&all_events=true&subcontainers=true")
        for _round in range(3):
            sessions = [aiohttp.ClientSession() for _ in range(25)]
            try:
                resps = await asyncio.gather(*(s.get(url) for s in sessions))
                assert all(r.status == 200 for r in resps)
                await wait_for(lambda: store.watch_count() == 25, "25 watches")
                store.add(Event(container_name="/c", timestamp=T0 + 50 * S, event_type=EventType.CONTAINER_CREATION))
                first = await asyncio.gather(*(asyncio.wait_for(r.content.readline(), 10) for r in resps))
                assert all(b'"container_name":"/c"' in line for line in first)
                # Half go away while idle, half while events keep coming.
                for r in resps[:12]:
                    r.close()
                for i in range(20):
                    store.add(Event(container_name=f"/c{i}", timestamp=T0 + 60 * S, event_type=EventType.OOM))
                for r in resps[12:]:
                    r.close()
            finally:
                for s in sessions:
                    await s.close()
            await wait_for(lambda: store.watch_count() == 0, "every watch to be released")

    with_client(store, body, handler_cancellation=cancellation)
