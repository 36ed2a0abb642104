"""The ``--prometheus_endpoint`` handler (cAdvisor ``cmd/internal/http/handlers.go``).

``?type=`` picks the containers (default ``name``: all; a runtime's namespace: its containers, ``ID_TYPES`` of
``model/v2.py``: cAdvisor's ``name|docker|podman`` and the other runtimes'), ``?max_age=<Go duration>``
asks the manager to re-collect samples older than that; a malformed parameter is a 400 naming it.
The body is the text exposition format 0.0.4, gzip-compressed when the client accepts gzip (the
check of promhttp's ``gzipAccepted``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import zlib
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from pycadvisor.api.limits import HeavyGate, Overloaded, overloaded_response, send_body
from pycadvisor.durations import parse_go_duration
from pycadvisor.errors import BadRequest
from pycadvisor.metrics.exposition import scrape
from pycadvisor.metrics.options import ExpositionOptions
from pycadvisor.metrics.render import ExpositionRenderer
from pycadvisor.metrics.runtime import FamilyLike, OwnProcessSource
from pycadvisor.metrics.source import MetricsSource
from pycadvisor.metrics.textformat import CONTENT_TYPE
from pycadvisor.model.v2 import ID_TYPES

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_GZIP_LEVEL = 1  # speed over ratio: the text compresses ~20x even at level 1
_COMPRESS_IN_THREAD = 256 * 1024  # zlib releases the GIL: big bodies are compressed off the loop


def accepts_gzip(accept_encoding: str) -> bool:
    """promhttp's ``gzipAccepted``: a comma-separated token equal to ``gzip`` or starting ``gzip;``."""
    for part in accept_encoding.split(","):
        part = part.strip()
        if part == "gzip" or part.startswith("gzip;"):
            return True
    return False


def gzip_bytes(body: bytes) -> bytes:
    c = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, 31)  # wbits 31: gzip container
    return c.compress(body) + c.flush()


def parse_query(query: dict[str, str]) -> tuple[str | None, int | None]:
    """``(namespace, max_age_ns)`` from ``type`` and ``max_age``; raises :class:`BadRequest`."""
    kind = query.get("type", "") or "name"
    if kind not in ID_TYPES:
        raise BadRequest("type", f"unknown 'type' \"{kind}\" (one of {', '.join(ID_TYPES)})")
    max_age: int | None = None
    raw = query.get("max_age", "")
    if raw:
        try:
            max_age = parse_go_duration(raw)
        except ValueError as e:
            raise BadRequest("max_age", str(e)) from None
        if max_age < 0:
            raise BadRequest("max_age", f"negative duration {raw!r}")
    return (None if kind == "name" else kind), max_age


class _FamiliesCollector:
    def __init__(self, families: Callable[[], Iterable[FamilyLike]]) -> None:
        self._families = families

    def collect(self) -> Iterable[FamilyLike]:
        return self._families()


def make_metrics_handler(
    source: MetricsSource,
    options: ExpositionOptions,
    *,
    extra_families: Callable[[], Iterable[FamilyLike]] | None = None,
    own_process: OwnProcessSource | None = None,
    renderer: ExpositionRenderer | None = None,
    gate: HeavyGate | None = None,
) -> Handler:
    """An aiohttp handler serving the exposition of ``source``'s containers and machine.

    ``extra_families`` returns further families of other components on each scrape (e.g. storage
    driver counters): ``prometheus_client`` metric families (``CounterMetricFamily``, ...) or objects
    of the same shape (:class:`~pycadvisor.metrics.runtime.FamilyLike`); they are rendered with the
    rest, sorted in and subject to the family allow-list. ``own_process`` gives the exporter's own
    ``process_*`` families (the manager's ``HostInfo``; without it they are left out). ``gate`` bounds
    the scrapes rendered at once with the REST API's heavy responses (api/limits.py).
    """
    if renderer is None:
        extra = [] if extra_families is None else [_FamiliesCollector(extra_families)]
        renderer = ExpositionRenderer(options, own_process=own_process, extra=extra)
    rend = renderer

    async def handle_metrics(request: web.Request) -> web.StreamResponse:
        try:
            # First value of each parameter, as Go's url.Values.Get.
            query = {k: request.query.getone(k) for k in ("type", "max_age") if k in request.query}
            namespace, max_age = parse_query(query)
        except BadRequest as e:
            return web.Response(status=400, text=f"{e}\n", content_type="text/plain", charset="utf-8")
        if gate is None:
            return await respond(request, namespace, max_age)
        try:
            async with gate.slot():
                return await respond(request, namespace, max_age)
        except Overloaded:
            return overloaded_response()

    async def respond(request: web.Request, namespace: str | None, max_age: int | None) -> web.StreamResponse:
        body = await scrape(source, rend, namespace=namespace, max_age_ns=max_age)
        headers = {"Content-Type": CONTENT_TYPE, "Vary": "Accept-Encoding"}
        if accepts_gzip(request.headers.get("Accept-Encoding", "")):
            if len(body) >= _COMPRESS_IN_THREAD:
                body = await asyncio.get_running_loop().run_in_executor(None, gzip_bytes, body)
            else:
                body = gzip_bytes(body)
            headers["Content-Encoding"] = "gzip"
        if gate is None:
            return web.Response(body=body, headers=headers)
        # Written while the gate's slot is held, each piece within a timeout: a client that reads slowly
        # cannot keep scrapes in memory beyond the gate's bound.
        return await send_body(request, web.StreamResponse(headers=headers), body)

    return handle_metrics


def make_kubelet_metrics_handler(
    source: MetricsSource, options: ExpositionOptions, *, gate: HeavyGate | None = None
) -> Handler:
    """The kubelet's ``/metrics/cadvisor`` (``-kubelet_compatible``): what kubernetes
    ``pkg/kubelet/server/server.go`` ``InstallAuthNotRequiredHandlers`` registers on that path's own registry,
    cAdvisor's machine collector and its container collector (with the kubelet's label function, set in
    ``options``), and nothing else: no ``process_*``/``python_*`` (the kubelet's process and Go collectors are
    on its ``/metrics``), no ``pycadvisor_*`` self-series, no storage or application-metrics counters.
    ``cadvisor_version_info``, ``container_scrape_error`` and ``machine_scrape_error`` stay: they are those two
    collectors' own. A renderer of its own, so each path keeps its label cache."""
    kubelet = dataclasses.replace(options, runtime_metrics=False, self_metrics=False)
    return make_metrics_handler(source, kubelet, gate=gate)
