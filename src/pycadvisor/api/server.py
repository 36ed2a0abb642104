"""The HTTP server: every route of cAdvisor's mux, at the root and, with ``--url_base_prefix``, under it too.

With a prefix, each route answers both as ``<prefix>/x`` (cAdvisor ``cmd/cadvisor.go`` mounts its mux
there with ``http.StripPrefix``) and as ``/x`` (what a reverse proxy that strips the prefix forwards, and
what a Kubernetes probe or Prometheus job written for the defaults asks for); links and redirects
always carry the prefix (issue 13 #5).
``/healthz``, ``/api``, the Prometheus endpoint and ``/validate/`` are open unless
``--auth_protect_api``; the UI is behind ``--http_auth_file``/``--http_digest_file`` when given.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from pycadvisor.api.auth import make_auth_middleware
from pycadvisor.api.openapi import make_openapi_handler
from pycadvisor.api.profiling import add_profiling_routes
from pycadvisor.api.rest import ApiContext, RestApi
from pycadvisor.api.ui import add_ui_routes
from pycadvisor.api.validate import validate_text

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

KUBELET_METRICS_PATH = "/metrics/cadvisor"


@dataclass(frozen=True, slots=True)
class ServerOptions:
    prefix: str = ""
    prometheus_endpoint: str = "/metrics"
    # -kubelet_compatible: the kubelet's exposition at its path (pkg/kubelet/server/server.go
    # cadvisorMetricsPath), where kube-prometheus's kubelet job scrapes it; build_app's kubelet_metrics_handler.
    kubelet_endpoint: bool = False
    http_auth_file: str = ""
    http_auth_realm: str = "localhost"
    http_digest_file: str = ""
    http_digest_realm: str = "localhost"
    auth_protect_api: bool = False
    ui: bool = True
    profiling: bool = False


def normalize_prefix(prefix: str) -> str:
    p = prefix.strip()
    if not p or p == "/":
        return ""
    return "/" + p.strip("/")


def build_app(
    ctx: ApiContext,
    opts: ServerOptions,
    *,
    metrics_handler: Handler | None = None,
    kubelet_metrics_handler: Handler | None = None,
) -> web.Application:
    """Assemble the aiohttp application for one manager.

    With ``opts.kubelet_endpoint``, ``kubelet_metrics_handler`` serves ``/metrics/cadvisor`` (also when
    ``-prometheus_endpoint`` names that path: the path is the kubelet's contract) and must be given."""
    prefix = normalize_prefix(opts.prefix)
    routes: dict[str, Handler] = {}
    if metrics_handler is not None:
        routes[opts.prometheus_endpoint] = metrics_handler
    if opts.kubelet_endpoint:
        if kubelet_metrics_handler is None:
            raise ValueError("kubelet_endpoint needs kubelet_metrics_handler")
        routes[KUBELET_METRICS_PATH] = kubelet_metrics_handler
    metrics_paths = (opts.prometheus_endpoint, *(p for p in routes if p != opts.prometheus_endpoint))
    middlewares: list[Middleware] = []
    if opts.http_auth_file or opts.http_digest_file:
        middlewares.append(
            make_auth_middleware(
                basic_file=opts.http_auth_file or None,
                basic_realm=opts.http_auth_realm,
                digest_file=opts.http_digest_file or None,
                digest_realm=opts.http_digest_realm,
                protect_api=opts.auth_protect_api,
                prefix=prefix,
                metrics_path=opts.prometheus_endpoint,
                more_paths=metrics_paths[1:],
            )
        )
    app = web.Application(middlewares=middlewares, client_max_size=1 << 20)
    api = RestApi(ctx)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    mounts = (prefix, "") if prefix else ("",)

    def api_handler(mount: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            # request.path is decoded once; with_path() re-encodes it, so the API decodes it once too.
            path = request.path[len(mount) :] or "/"
            return await api.handle(request.clone(rel_url=request.rel_url.with_path(path, keep_query=True)))

        return handler

    async def api_redirect(_: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(location=prefix + "/api/")

    async def validate(_: web.Request) -> web.Response:
        return web.Response(text=await validate_text(ctx))

    async def root_redirect(_: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(location=prefix + "/containers/")

    r = app.router
    for mount in mounts:
        r.add_get(mount + "/healthz", healthz)
        r.add_route("*", mount + "/api", api_redirect)
        r.add_get(mount + "/api/openapi.json", make_openapi_handler(mount))
        # (?s:.*): a container name may hold a line break, which a bare ".*" does not match.
        r.add_route("*", mount + "/api/{tail:(?s:.*)}", api_handler(mount))
        r.add_get(mount + "/validate/", validate)
        r.add_get(mount + "/validate", validate)
        for path, handler in routes.items():
            r.add_get(mount + path, handler)
    if opts.ui:
        add_ui_routes(app, prefix=prefix, mounts=mounts)
    add_profiling_routes(app, mounts, enabled=opts.profiling)
    # Go's mux "/" is a catch-all: any other path leads to the containers page.
    for mount in mounts:
        r.add_get(mount + "/{tail:.*}", root_redirect)
    if prefix:
        r.add_get(prefix, root_redirect)
    return app
