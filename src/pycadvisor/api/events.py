"""``/api/v1.3/events/<name>`` and ``/api/v2.x/events/<name>`` (cAdvisor ``handleEventRequest``).

Without ``stream`` the answer is a JSON array of events (``[]`` when none), oldest first. With
``stream=true`` it is ``200`` with headers sent at once, then one JSON event per line (NDJSON, as
Go's ``json.Encoder`` writes them), each flushed as it happens, until the client goes away or the
watch ends (it fell too far behind: see :mod:`pycadvisor.events.store`). Bad parameters answer 400
with a plain-text body naming the parameter (cAdvisor ignores them or answers 500).

aiohttp (>= 3.9) does not cancel a handler when its client disconnects unless the server runs with
``handler_cancellation=True``; an idle stream therefore checks its connection every
``DISCONNECT_CHECK`` seconds, so a dropped client releases its watch within that time either way.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from pycadvisor.errors import BadRequest
from pycadvisor.events.request import parse_events_request
from pycadvisor.events.store import EventStore
from pycadvisor.model.codec import dumps

DISCONNECT_CHECK: Final = 1.0  # s between connection checks of an idle stream
NDJSON: Final = "application/x-ndjson"


def _first_values(request: web.Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in request.query.items():  # a repeated parameter counts with its first value (Go url.Values)
        out.setdefault(k, v)
    return out


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def events_response(request: web.Request, store: EventStore, name: str) -> web.StreamResponse:
    """Answer an events request for container ``name`` (the path after ``/events``)."""
    try:
        req = parse_events_request(_first_values(request), name)
    except BadRequest as e:
        return web.Response(status=400, text=f"{e}\n", content_type="text/plain", charset="utf-8")

    if not req.stream:
        return web.Response(body=dumps(store.query(req)), content_type="application/json")

    resp = web.StreamResponse(status=200, headers={"Content-Type": NDJSON, "Cache-Control": "no-cache"})
    resp.enable_chunked_encoding()
    watch = store.watch(req)
    try:
        await resp.prepare(request)  # headers go out now, before the first event (cAdvisor flushes them)
        while True:
            try:
                event = await watch.next_event(DISCONNECT_CHECK)
            except StopAsyncIteration:
                break
            if event is None:
                if _client_gone(request):
                    break
                continue
            await resp.write(dumps(event) + b"\n")
    except ConnectionError:
        pass  # the client went away mid-write (aiohttp's ClientConnectionResetError)
    finally:
        watch.close()
    return resp
