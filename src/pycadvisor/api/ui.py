"""The web UI: container pages and the static assets they load (cAdvisor ``cmd/internal/pages``).

Pages are a small server-rendered shell; the browser code in ``static/`` reads everything else
from the REST API (``api/v1.0/machine``, ``api/v1.0/containers<name>``, ``api/v1.1/subcontainers<name>``,
``api/v1.2/docker/``, ``api/v2.0/ps<name>``, ``api/v2.0/spec``) and draws its own SVG charts, so
the UI needs no CDN and no request leaves the host (the pages' Content-Security-Policy forbids it).

Routes (under ``prefix``, and at the root too when the server asks), as cAdvisor's
``cmd/internal/http/handlers.go`` and ``cmd/internal/pages/pages.go``:

- ``/containers`` → 301 ``/containers/``; ``/containers/<name>``: the page of cgroup ``/<name>``
  (the root page adds the machine overview and the top containers);
- ``/docker`` → 301 ``/docker/``; ``/docker/``: Docker containers; ``/docker/<id or name>``: one of them;
- ``/podman`` → 301 ``/podman/`` (cAdvisor registers this one only with digest auth, a bug not copied);
- ``/static/<file>``: the assets; anything else → 404 ``unknown static resource "<path>"``.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import importlib.resources
import json
import posixpath
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from string import Template

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Content types by extension (cAdvisor static.go uses mime.TypeByExtension).
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}

# The pages load scripts, styles and data from this server only; nothing may be fetched elsewhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

PAGE_KINDS = ("containers", "docker", "podman")


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None  # None when compression does not pay
    etag: str
    content_type: str


def load_assets() -> dict[str, Asset]:
    """Read every file of the package's ``static/`` directory, with an ETag and a gzip variant."""
    out: dict[str, Asset] = {}
    root = importlib.resources.files("pycadvisor.api") / "static"
    for entry in root.iterdir():
        if not entry.is_file() or entry.name.startswith("."):
            continue
        body = entry.read_bytes()
        ext = posixpath.splitext(entry.name)[1]
        ctype = _TYPES.get(ext, "application/octet-stream")
        gz: bytes | None = None
        if ctype.startswith(("text/", "image/svg")) and len(body) > 512:
            packed = gzip.compress(body, compresslevel=9, mtime=0)
            gz = packed if len(packed) < len(body) * 0.9 else None
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        out[entry.name] = Asset(body, gz, etag, ctype)
    return out


def load_template() -> Template:
    text = (importlib.resources.files("pycadvisor.api") / "templates" / "page.html").read_text("utf-8")
    return Template(text)


def _script_json(value: object) -> str:
    # JSON inside <script>: escape what could close the element or start markup (as Go's encoding/json).
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def go_quote(s: str) -> str:
    """Go's ``%q`` of ``s`` for printable text (double quotes, backslash escapes)."""
    return json.dumps(s, ensure_ascii=False)


def container_name(tail: str) -> str:
    """cgroup name of ``/containers/<tail>``: ``"/" + tail`` cleaned, as cAdvisor's ``path.Clean``."""
    name = posixpath.normpath("/" + tail.lstrip("/"))  # normpath keeps a leading "//"; path.Clean does not
    return "/" if name in ("/", ".") else name.rstrip("/")


def render_page(template: Template, *, prefix: str, title: str, kind: str, name: str) -> str:
    """The HTML shell of a page; ``name`` is a cgroup name (containers) or an alias (docker, podman)."""
    shown = name if kind == "containers" else (name or f"{kind.capitalize()} containers")
    config = {"prefix": prefix, "title": title, "kind": kind, "name": name}
    return template.substitute(
        prefix=html.escape(prefix, quote=True),
        title=html.escape(title),
        page_title=html.escape(shown),
        kind=html.escape(kind, quote=True),
        config=_script_json(config),
    )


def add_ui_routes(
    app: web.Application, *, prefix: str, title: str = "pycadvisor", mounts: tuple[str, ...] | None = None
) -> None:
    """Register the UI pages, their redirects and ``/static/`` on ``app`` under each of ``mounts``
    (default: ``prefix`` alone); links and redirects always carry ``prefix``."""
    prefix = prefix.rstrip("/")
    assets = load_assets()
    template = load_template()
    for mount in (prefix,) if mounts is None else mounts:
        _add_ui_mount(app, mount.rstrip("/"), prefix=prefix, title=title, assets=assets, template=template)


def _add_ui_mount(
    app: web.Application, mount: str, *, prefix: str, title: str, assets: dict[str, Asset], template: Template
) -> None:
    static_root = mount + "/static/"

    def redirect_to(kind: str) -> Handler:
        async def handler(_: web.Request) -> web.StreamResponse:
            raise web.HTTPMovedPermanently(location=f"{prefix}/{kind}/")

        return handler

    def page(kind: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            tail = request.match_info.get("name", "")
            name = container_name(tail) if kind == "containers" else tail.strip("/")
            body = render_page(template, prefix=prefix, title=title, kind=kind, name=name)
            return web.Response(text=body, content_type="text/html", headers=_PAGE_HEADERS)

        return handler

    async def static(request: web.Request) -> web.StreamResponse:
        path = request.path
        resource = path[len(static_root) :] if path.startswith(static_root) else ""
        asset = assets.get(resource) if resource else None
        if asset is None:
            # cAdvisor static.go: http.Error(w, fmt.Sprintf("unknown static resource %q", …), 404);
            # the whole path when nothing follows "/static/".
            shown = resource if resource else path[len(mount) :]
            return web.Response(
                status=404,
                text=f"unknown static resource {go_quote(shown)}\n",
                headers={"X-Content-Type-Options": "nosniff"},
            )
        headers = {
            "Content-Type": asset.content_type,
            "ETag": asset.etag,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Vary": "Accept-Encoding",
        }
        inm = request.headers.get("If-None-Match", "")
        if asset.etag in (t.strip() for t in inm.split(",")):
            return web.Response(status=304, headers=headers)
        if asset.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=asset.gzipped, headers=headers)
        return web.Response(body=asset.body, headers=headers)

    r = app.router
    for kind in PAGE_KINDS:
        r.add_get(f"{mount}/{kind}", redirect_to(kind))
        r.add_get(f"{mount}/{kind}/{{name:.*}}", page(kind))
    r.add_get(mount + "/static", static)
    r.add_get(mount + "/static/{file:.*}", static)
