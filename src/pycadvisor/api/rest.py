"""cAdvisor's REST API, v1.0–v2.1 (``cmd/internal/api/handler.go``, ``versions.go``).

Paths, JSON shapes and parameters are cAdvisor's. Status codes follow cAdvisor except where the
project asks for clearer ones: an unknown container answers 404 and a malformed parameter 400,
each body naming the container or the parameter. Container names are only ever looked up in the
manager's map, never turned into file paths, so no encoding of ``..`` can read outside the cgroup mounts.
"""

from __future__ import annotations

import functools
import logging
import posixpath
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypedDict

import orjson
from aiohttp import web

from pycadvisor.api.limits import ChunkWriter, HeavyGate, Overloaded, overloaded_response, read_body
from pycadvisor.durations import parse_go_duration
from pycadvisor.errors import BadRequest, ContainerNotFound
from pycadvisor.manager.container import ContainerState
from pycadvisor.manager.hostinfo import HostInfo, UnknownFilesystem
from pycadvisor.manager.manager import Manager
from pycadvisor.model import codec
from pycadvisor.model.container import ContainerStats, MetricValBasic
from pycadvisor.model.machine import Attributes, StorageFsInfo
from pycadvisor.model.process import ProcessInfo
from pycadvisor.model.v2 import (
    ID_TYPES,
    ContainerSpecV2,
    ContainerStatsV2,
    DeprecatedContainerStats,
    DerivedStats,
    MachineStats,
    deprecated_stats,
    machine_stats,
    spec_v2,
    stats_v2,
)

log = logging.getLogger(__name__)

_API_RE = re.compile(r"^/api/([^/]+)/?([^/]+)?(.*)$", re.DOTALL)  # a name may hold a line break

V1_TYPES = {
    "v1.0": ("containers", "machine"),
    "v1.1": ("containers", "machine", "subcontainers"),
    "v1.2": ("containers", "docker", "machine", "subcontainers"),
    "v1.3": ("containers", "docker", "events", "machine", "subcontainers"),
}
V2_TYPES = {
    "v2.0": ("appmetrics", "attributes", "events", "machine", "ps", "spec", "stats", "storage", "summary", "version"),
    "v2.1": (
        "appmetrics", "attributes", "events", "machine", "machinestats", "ps", "spec", "stats", "storage", "summary",
        "version",
    ),
}  # fmt: skip
SUPPORTED = "v1.0,v1.1,v1.2,v1.3,v2.0,v2.1"

EventsHandler = Callable[[web.Request, str], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class ApiContext:
    manager: Manager
    host: HostInfo  # attributes, storage, processes: what the API asks of the host besides its containers
    cadvisor_version: str
    events: EventsHandler | None = None
    # Bounds the heavy responses in flight (api/limits.py); None: unbounded (embedders, unit tests).
    gate: HeavyGate | None = None


class StatsWithSpec(TypedDict):
    """A container's v2.1 ``stats`` answer (cAdvisor ``info/v2`` ``ContainerInfo``: ``spec`` then ``stats``)."""

    spec: ContainerSpecV2
    stats: list[ContainerStatsV2]


class HttpError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _json(obj: object) -> web.Response:
    return web.Response(body=codec.dumps(obj), content_type="application/json")


def _raw_json(data: bytes) -> web.Response:
    return web.Response(body=data, content_type="application/json")


def _json_stream(request: web.Request) -> ChunkWriter:
    resp = web.StreamResponse()
    resp.content_type = "application/json"
    return ChunkWriter(request, resp)


async def _stream_items(
    request: web.Request, brackets: bytes, parts: Iterable[Callable[[], bytes]]
) -> web.StreamResponse:
    """A JSON object or array (``brackets``: ``b"{}"`` or ``b"[]"``) whose members ``parts`` encode, written
    one member at a time so that a large answer neither holds the loop nor the whole body in memory."""
    w = _json_stream(request)
    sep = brackets[:1]
    try:
        for part in parts:
            await w.add(sep + part())
            sep = b","
    except Exception as e:
        w.abort_if_started(e)
        raise
    await w.add(brackets if sep != b"," else brackets[1:])
    return await w.finish()


def _map_member(key: str, make: Callable[[], object]) -> Callable[[], bytes]:
    return lambda: codec.dumps(key) + b":" + codec.dumps(make())


def _list_member(make: Callable[[], object]) -> Callable[[], bytes]:
    return lambda: codec.dumps(make())


async def _stream_map(request: web.Request, items: Iterable[tuple[str, Callable[[], object]]]) -> web.StreamResponse:
    """A JSON object of ``items`` (key, value maker), encoded and written one value at a time.

    The bytes are those of ``codec.dumps`` of the whole dict: keys sorted as Go sorts map keys.
    """
    members = [_map_member(key, make) for key, make in sorted(items, key=lambda kv: kv[0])]
    return await _stream_items(request, b"{}", members)


async def _stream_list(request: web.Request, makers: Iterable[Callable[[], object]]) -> web.StreamResponse:
    """A JSON array of the values ``makers`` make, encoded and written one value at a time."""
    return await _stream_items(request, b"[]", [_list_member(make) for make in makers])


def clean_name(rest: str) -> str:
    """``/api/v1.3/containers/docker/abc`` -> ``/docker/abc`` (Go ``path.Clean("/" + rest)``).

    ``rest`` comes from the request's path, which aiohttp has already percent-decoded once, as Go's
    ``r.URL.Path`` is; decoding it again would look ``/a%2541`` up as ``/aA`` instead of ``/a%41``.
    """
    name = posixpath.normpath("/" + rest.lstrip("/"))
    return "/" if name in ("/", "//", ".") else name.replace("//", "/")


@dataclass(frozen=True, slots=True)
class V2Options:
    id_type: str = "name"
    count: int = 64
    recursive: bool = False
    max_age_ns: int | None = None


def parse_v2_options(q: Mapping[str, str]) -> V2Options:
    id_type = q.get("type", "name") or "name"
    if id_type not in ID_TYPES:
        raise BadRequest("type", f"unknown 'type' {id_type!r} (one of {', '.join(ID_TYPES)})")
    count = 64
    if "count" in q and q["count"] != "":
        try:
            count = int(q["count"])
        except ValueError:
            raise BadRequest("count", f"{q['count']!r} is not an integer") from None
        if count < -1:
            raise BadRequest("count", f"count must be >= -1, got {count}")
    recursive = q.get("recursive", "") == "true"
    max_age = None
    if q.get("max_age"):
        try:
            max_age = parse_go_duration(q["max_age"])
        except ValueError as e:
            raise BadRequest("max_age", str(e)) from None
    return V2Options(id_type=id_type, count=count, recursive=recursive, max_age_ns=max_age)


@dataclass(frozen=True, slots=True)
class _V2Call:
    """One v2 request as its handler reads it."""

    request: web.Request
    version: str
    rest: str  # the path after the request type: a container name or alias
    q: dict[str, str]
    opts: V2Options


def _v1_request(body: bytes) -> tuple[int, int, int]:
    """Parse the optional ``ContainerInfoRequest`` JSON body: (num_stats, start ns, end ns)."""
    if not body.strip():
        return 60, 0, 0
    try:
        req = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadRequest("request body", f"unable to decode the json value: {e}") from None
    if not isinstance(req, dict):
        raise BadRequest("request body", "expected a JSON object")
    num = req.get("num_stats", 60)
    if not isinstance(num, int) or isinstance(num, bool):
        raise BadRequest("num_stats", f"{num!r} is not an integer")
    start = end = 0
    for key in ("start", "end"):
        v = req.get(key)
        if v in (None, "", "0001-01-01T00:00:00Z"):
            continue
        if not isinstance(v, str):
            raise BadRequest(key, f"{v!r} is not an RFC 3339 time")
        try:
            t = codec.parse_time(v)
        except ValueError as e:
            raise BadRequest(key, str(e)) from None
        if key == "start":
            start = t
        else:
            end = t
    return num, start, end


def _with_previous(st: ContainerState, count: int) -> list[tuple[ContainerStats | None, ContainerStats]]:
    """The newest ``count`` samples (-1 = all), each with the one before it (for instantaneous rates)."""
    if count == 0:
        return []
    latest = st.history.latest()
    if count == 1 and latest is not None:  # the newest is cached once built; only the one before is built
        return [(st.history.previous(), latest)]
    window = st.history.window(count=-1 if count < 0 else count + 1)
    if not window:
        return []
    prevs: list[ContainerStats | None] = [None, *window[:-1]]
    pairs = list(zip(prevs, window, strict=True))
    return pairs if count < 0 else pairs[-count:]


def _derived(st: ContainerState) -> DerivedStats:
    return st.summary.derived


class RestApi:
    """Routes ``/api/...`` requests to cAdvisor's request types."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.m = ctx.manager
        # v2 request type -> its handler (V2_TYPES names which versions serve which)
        self._v2_host: dict[str, Callable[[_V2Call], Awaitable[web.StreamResponse]]] = {
            "version": self._v2_version,
            "machine": self._v2_machine,
            "attributes": self._v2_attributes,
            "events": self._v2_events,
            "storage": self._v2_storage,
            "machinestats": self._v2_machinestats,
        }
        self._v2_containers: dict[str, Callable[[_V2Call, list[ContainerState]], Awaitable[web.StreamResponse]]] = {
            "stats": self._v2_stats,
            "summary": self._v2_summary,
            "spec": self._v2_spec,
            "ps": self._v2_ps,
            "appmetrics": self._v2_appmetrics,
        }

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path in ("/api", "/api/"):
            return web.Response(status=400, text=f"Supported API versions: {SUPPORTED}")
        m = _API_RE.match(path)
        if m is None:
            return web.Response(status=404, text=f"unknown API path {path!r}\n")
        version, rtype, rest = m.group(1), m.group(2), m.group(3) or ""
        types = V1_TYPES.get(version) or V2_TYPES.get(version)
        if types is None:
            return web.Response(status=500, text=f'unsupported API version "{version}"\n')
        if not rtype:
            quoted = ",".join(types)
            return web.Response(status=400, text=f'Supported request types: "{quoted}"')
        if rtype not in types:
            return web.Response(status=500, text=f'unknown request type "{rtype}"\n')
        gate = self.ctx.gate
        if gate is None or rtype == "events":  # an event stream stays open: it must not hold a slot
            return await self._dispatch(request, version, rtype, rest)
        try:
            async with gate.slot():
                return await self._dispatch(request, version, rtype, rest)
        except Overloaded:
            return overloaded_response()

    async def _dispatch(self, request: web.Request, version: str, rtype: str, rest: str) -> web.StreamResponse:
        try:
            if version.startswith("v1"):
                return await self._v1(request, rtype, rest)
            return await self._v2(request, version, rtype, rest)
        except BadRequest as e:
            return web.Response(status=400, text=f"{e}\n")
        except ContainerNotFound as e:
            return web.Response(status=404, text=f'failed to get container "{e.name}" with error: {e}\n')
        except HttpError as e:
            return web.Response(status=e.status, text=e.text + "\n")
        except ValueError as e:
            return web.Response(status=500, text=f"{e}\n")

    # ------------------------------------------------------------------ v1

    async def _v1(self, request: web.Request, rtype: str, rest: str) -> web.StreamResponse:
        if rtype == "machine":
            return _json(self.m.machine_info)
        if rtype == "events":
            return await self._events(request, rest)
        body = await read_body(request)
        num, start, end = _v1_request(body)
        if rtype == "containers":
            st = self.m.get(clean_name(rest))
            return _json(self.m.info(st, count=num, start_ns=start, end_ns=end))
        if rtype == "subcontainers":
            name = clean_name(rest)
            states = self.m.subcontainers(name)
            if not states:
                raise ContainerNotFound(name)
            return await _stream_list(
                request, [functools.partial(self.m.info, st, count=num, start_ns=start, end_ns=end) for st in states]
            )
        if rtype == "docker":
            states = self._runtime_states("docker", rest)
            return await _stream_map(
                request,
                [(st.name, functools.partial(self.m.info, st, count=num, start_ns=start, end_ns=end)) for st in states],
            )
        raise HttpError(500, f'unknown request type "{rtype}"')

    def _runtime_states(self, ns: str, rest: str) -> list[ContainerState]:
        alias = rest.strip("/")
        if not alias:
            states = self.m.in_namespace(ns)
        else:
            if "/" in alias:
                # cAdvisor answers 500; a malformed parameter is a 400 here (README).
                raise BadRequest("name", f'invalid {ns} container name "{alias}": more than one path element')
            states = [self.m.find_alias(ns, alias)]
        return states

    # ------------------------------------------------------------------ v2

    def _select(self, name_or_alias: str, opts: V2Options) -> list[ContainerState]:
        if opts.id_type == "name":
            name = clean_name(name_or_alias)
            if opts.recursive:
                states = self.m.subcontainers(name)
                if not states:
                    raise ContainerNotFound(name)
                return states
            return [self.m.get(name)]
        ns = opts.id_type
        alias = name_or_alias.strip("/")
        if opts.recursive:
            if alias:
                raise BadRequest("recursive", f'invalid request for {ns} container "{alias}" with subcontainers')
            return self.m.in_namespace(ns)
        if not alias:
            raise ContainerNotFound("/")
        return [self.m.find_alias(ns, alias)]

    async def _v2(self, request: web.Request, version: str, rtype: str, rest: str) -> web.StreamResponse:
        q = {k: request.query.getone(k) for k in request.query}
        call = _V2Call(request, version, rest, q, parse_v2_options(q))
        about_host = self._v2_host.get(rtype)
        if about_host is not None:
            return await about_host(call)
        states = self._select(rest, call.opts)
        await self.m.ensure_fresh(states, call.opts.max_age_ns)
        of_containers = self._v2_containers.get(rtype)
        if of_containers is None:
            raise HttpError(500, f'unknown request type "{rtype}"')
        return await of_containers(call, states)

    # The v2 request types (cAdvisor ``cmd/internal/api/versions.go`` ``version2_0.HandleRequest``): those about
    # the host, then those about the selected containers, sampled first if older than ``max_age``.

    async def _v2_version(self, call: _V2Call) -> web.StreamResponse:
        return _json(self.ctx.cadvisor_version)

    async def _v2_machine(self, call: _V2Call) -> web.StreamResponse:
        return _json(self.m.machine_info)

    async def _v2_attributes(self, call: _V2Call) -> web.StreamResponse:
        return _json(await self._attributes())

    async def _v2_events(self, call: _V2Call) -> web.StreamResponse:
        return await self._events(call.request, call.rest)

    async def _v2_storage(self, call: _V2Call) -> web.StreamResponse:
        return _json(await self._storage(call.q))

    async def _v2_machinestats(self, call: _V2Call) -> web.StreamResponse:
        return _json(self._machinestats(call.opts))

    async def _v2_stats(self, call: _V2Call, states: list[ContainerState]) -> web.StreamResponse:
        count, version = call.opts.count, call.version
        return await _stream_map(
            call.request,
            [
                (st.name, functools.partial(self._stats_of, st, count, version))
                for st in states
                if version == "v2.0" or st.name != "/"
            ],
        )

    async def _v2_summary(self, call: _V2Call, states: list[ContainerState]) -> web.StreamResponse:
        return await _stream_map(call.request, [(st.name, functools.partial(_derived, st)) for st in states])

    async def _v2_spec(self, call: _V2Call, states: list[ContainerState]) -> web.StreamResponse:
        return await _stream_map(call.request, [(st.name, functools.partial(self._spec_of, st)) for st in states])

    async def _v2_ps(self, call: _V2Call, states: list[ContainerState]) -> web.StreamResponse:
        if call.opts.recursive or len(states) != 1:
            raise BadRequest("recursive", "ps needs exactly one container")
        return _json(self._ps(states[0]))

    async def _v2_appmetrics(self, call: _V2Call, states: list[ContainerState]) -> web.StreamResponse:
        # cAdvisor cmd/internal/api/versions.go (customMetricsAPI): {requested name: {metric: {label: [values]}}}
        # over the stats' custom_metrics. Every sample here carries the latest answer of each endpoint, so a
        # value is listed once per answer (its timestamp), not once per sample. cAdvisor keys every container of
        # a recursive request under the requested name, keeping one at random; here their values are merged.
        metrics: dict[str, dict[str, list[MetricValBasic]]] = {}
        seen: set[tuple[str, str, int]] = set()
        for st in states:
            for _, stats in _with_previous(st, call.opts.count):
                for name, vals in (stats.custom_metrics or {}).items():
                    for mv in vals:
                        key = (name, mv.label, mv.timestamp)
                        if mv.timestamp == 0 or key in seen:
                            continue
                        seen.add(key)
                        basic = MetricValBasic(
                            timestamp=mv.timestamp, int_value=mv.int_value, float_value=mv.float_value
                        )
                        metrics.setdefault(name, {}).setdefault(mv.label, []).append(basic)
        requested = clean_name(call.rest) if call.opts.id_type == "name" else "/" + call.rest.strip("/")
        return _json({requested: metrics})

    def _spec_of(self, st: ContainerState) -> ContainerSpecV2:
        return spec_v2(self.m.info(st, count=0))

    def _stats_of(self, st: ContainerState, count: int, version: str) -> list[DeprecatedContainerStats] | StatsWithSpec:
        pairs = _with_previous(st, count)
        if version == "v2.0":
            return [deprecated_stats(st.spec, p, s) for p, s in pairs]
        info = self.m.info(st, count=0)
        return StatsWithSpec(spec=spec_v2(info), stats=[stats_v2(st.spec, p, s) for p, s in pairs])

    async def _events(self, request: web.Request, rest: str) -> web.StreamResponse:
        if self.ctx.events is None:
            raise HttpError(500, "events are not enabled")
        return await self.ctx.events(request, clean_name(rest))

    async def _attributes(self) -> Attributes:
        return await self.ctx.host.attributes()

    async def _storage(self, q: Mapping[str, str]) -> StorageFsInfo | list[StorageFsInfo]:
        label = q.get("label") or None
        uuid = q.get("uuid") or None
        try:
            items = await self.ctx.host.storage(label, uuid)
        except UnknownFilesystem as e:
            raise HttpError(404, str(e)) from None
        if uuid:
            if not items:
                raise HttpError(404, f'no filesystem with uuid "{uuid}"')
            return items[0]
        return items

    def _machinestats(self, opts: V2Options) -> list[MachineStats]:
        return [machine_stats(p, s) for p, s in _with_previous(self.m.get("/"), opts.count)]

    def _ps(self, st: ContainerState) -> list[ProcessInfo]:
        return self.ctx.host.processes(st.name)
