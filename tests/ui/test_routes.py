"""The UI's routes over real HTTP: redirects, page shells, static assets, all under a URL prefix.

These need neither root nor a browser: the routes are mounted on a bare aiohttp app.
"""

from __future__ import annotations

import gzip
import html.parser
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from pycadvisor.api import ui
from ui.uitools import http

STATIC_DIR = Path(ui.__file__).parent / "static"


def app_with_ui(prefix: str) -> web.Application:
    app = web.Application()
    ui.add_ui_routes(app, prefix=prefix, title="pycadvisor")
    return app


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.config: str = ""
        self._in_config = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("href", "src"):
            if a.get(key):
                self.urls.append(a[key] or "")
        self._in_config = tag == "script" and a.get("id") == "pyc-config"

    def handle_data(self, data: str) -> None:
        if self._in_config:
            self.config += data

    def handle_endtag(self, tag: str) -> None:
        self._in_config = False


def parse_page(body: bytes) -> _Links:
    p = _Links()
    p.feed(body.decode())
    return p


@pytest.mark.parametrize("prefix", ["", "/cadvisor", "/a/b"])
@pytest.mark.parametrize("kind", ["containers", "docker", "podman"])
def test_bare_page_paths_redirect_permanently_with_the_prefix(
    ui_server: Callable[[web.Application], str], prefix: str, kind: str
) -> None:
    url = ui_server(app_with_ui(prefix))
    r = http(f"{url}{prefix}/{kind}")
    assert r.status == 301
    assert r.headers["Location"] == f"{prefix}/{kind}/"


@pytest.mark.parametrize("prefix", ["", "/cadvisor"])
def test_page_shell_builds_every_url_from_the_prefix(ui_server: Callable[[web.Application], str], prefix: str) -> None:
    url = ui_server(app_with_ui(prefix))
    r = http(f"{url}{prefix}/containers/system.slice/ssh.service")
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    page = parse_page(r.body)
    assert page.urls, "the page links nothing"
    for u in page.urls:
        assert u.startswith(prefix + "/"), u
        assert "//" not in u, u
    assert json.loads(page.config) == {
        "prefix": prefix,
        "title": "pycadvisor",
        "kind": "containers",
        "name": "/system.slice/ssh.service",
    }
    # The browser may load scripts, styles and data from this server only.
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "connect-src 'self'" in csp
    assert "script-src 'self'" in csp


@pytest.mark.parametrize(
    ("path", "kind", "name"),
    [
        ("/containers/", "containers", "/"),
        ("/containers", None, None),
        ("/containers/docker/", "containers", "/docker"),
        ("/containers//x/../y/", "containers", "/y"),
        ("/docker/", "docker", ""),
        ("/docker/web-1", "docker", "web-1"),
        ("/podman/abc", "podman", "abc"),
    ],
)
def test_page_names(ui_server: Callable[[web.Application], str], path: str, kind: str | None, name: str) -> None:
    url = ui_server(app_with_ui(""))
    r = http(url + path)
    if kind is None:
        assert r.status == 301
        return
    assert r.status == 200
    config = json.loads(parse_page(r.body).config)
    assert (config["kind"], config["name"]) == (kind, name)


def test_names_cannot_inject_markup(ui_server: Callable[[web.Application], str]) -> None:
    url = ui_server(app_with_ui("/p"))
    r = http(url + "/p/containers/%3C/script%3E%3Cscript%3Ealert(1)%3C/script%3E")
    assert r.status == 200
    body = r.body.decode()
    assert "<script>alert(1)" not in body
    assert "</script><script>" not in body
    config = json.loads(parse_page(r.body).config)
    assert config["name"] == "/</script><script>alert(1)</script>"


def test_every_static_asset_is_served_with_its_type_etag_and_gzip(ui_server: Callable[[web.Application], str]) -> None:
    url = ui_server(app_with_ui("/cadvisor"))
    files = sorted(p.name for p in STATIC_DIR.iterdir() if p.is_file())
    assert {"app.js", "charts.js", "pycadvisor.css", "favicon.svg"} <= set(files)
    types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
    for name in files:
        r = http(f"{url}/cadvisor/static/{name}")
        assert r.status == 200, name
        assert r.body == (STATIC_DIR / name).read_bytes(), name
        assert r.headers["Content-Type"] == types[Path(name).suffix], name
        again = http(f"{url}/cadvisor/static/{name}", {"If-None-Match": r.headers["ETag"]})
        assert again.status == 304, name
        assert again.body == b""
        z = http(f"{url}/cadvisor/static/{name}", {"Accept-Encoding": "gzip"})
        if z.headers.get("Content-Encoding") == "gzip":
            assert gzip.decompress(z.body) == r.body, name


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/cadvisor/static/nope.js", b'unknown static resource "nope.js"\n'),
        ("/cadvisor/static/a/b.css", b'unknown static resource "a/b.css"\n'),
        ("/cadvisor/static/", b'unknown static resource "/static/"\n'),
        ("/cadvisor/static", b'unknown static resource "/static"\n'),
    ],
)
def test_unknown_static_resource_is_cadvisors_404(
    ui_server: Callable[[web.Application], str], path: str, body: bytes
) -> None:
    url = ui_server(app_with_ui("/cadvisor"))
    r = http(url + path)
    assert r.status == 404
    assert r.body == body
    assert r.headers["Content-Type"].startswith("text/plain")


def test_without_the_prefix_nothing_is_served(ui_server: Callable[[web.Application], str]) -> None:
    url = ui_server(app_with_ui("/cadvisor"))
    for path in ("/containers/", "/static/app.js", "/docker/"):
        assert http(url + path).status == 404, path


def test_assets_reference_nothing_outside_the_server() -> None:
    # The UI works offline: no absolute URL in any asset but the SVG namespace identifier, and every
    # module import is a relative path to a file that exists.
    for path in STATIC_DIR.iterdir():
        text = path.read_text()
        urls = re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"')]*", text)
        assert [u for u in urls if u != "http://www.w3.org/2000/svg"] == [], path.name
        for spec in re.findall(r"^import .* from \"([^\"]+)\";$", text, re.M):
            assert spec.startswith("./"), (path.name, spec)
            assert (STATIC_DIR / spec[2:]).is_file(), (path.name, spec)
