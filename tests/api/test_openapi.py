"""The OpenAPI document (``/api/openapi.json``, issue 14): it is current, it lists exactly the routes the
daemon serves, and the live daemon's answers validate against it, under a URL prefix too."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.openapi import from_dict

from pycadvisor.api import openapi
from pycadvisor.api.rest import V1_TYPES, V2_TYPES, ApiContext
from pycadvisor.api.server import ServerOptions, build_app
from pycadvisor.manager.hostinfo import HostInfo
from pycadvisor.manager.manager import Manager
from support.cgroups import TestCgroup
from support.openapi import StrictResponses
from support.procs import sleeper, wait_until

FAST = ("-housekeeping_interval=200ms", "-allow_dynamic_housekeeping=false", "-global_housekeeping_interval=1s")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_kept_document_is_the_generated_one() -> None:
    # A change of the model or of the routes must come with `python -m pycadvisor.api.openapi > .../openapi.json`.
    assert openapi.load_document() == json.loads(openapi.render(openapi.build_document()))


def _served_api_paths(app: web.Application) -> set[str]:
    """Every ``/api`` path the app answers: its own routes, with the REST catch-all expanded through
    the dispatch tables it hands requests to."""
    out: set[str] = set()
    for resource in app.router.resources():
        canonical = resource.canonical
        if canonical == "/api":
            out.add("/api/")  # a 301 to /api/
        elif canonical == "/api/{tail}":
            for version, rtypes in {**V1_TYPES, **V2_TYPES}.items():
                out.update(f"/api/{version}/{rtype}" for rtype in rtypes)
        elif canonical.startswith("/api"):
            out.add(canonical)
    return out


def test_document_lists_exactly_the_served_routes() -> None:
    app = build_app(
        ApiContext(manager=cast(Manager, None), host=cast(HostInfo, None), cadvisor_version="test"), ServerOptions()
    )
    documented = {re.sub(r"/\{(name|alias)\}$", "", p) for p in openapi.load_document()["paths"]}
    assert documented == _served_api_paths(app)


def test_document_is_served_under_the_url_prefix() -> None:
    async def fetch() -> tuple[int, Any, int, Any]:
        app = build_app(
            ApiContext(manager=cast(Manager, None), host=cast(HostInfo, None), cadvisor_version="test"),
            ServerOptions(prefix="/cadvisor"),
        )
        async with TestClient(TestServer(app)) as client:
            r = await client.get("/cadvisor/api/openapi.json")
            doc = await r.json()
            bare = await client.get("/api/openapi.json", allow_redirects=False)
            return r.status, doc, bare.status, (await bare.json())["servers"]

    status, doc, bare, bare_servers = asyncio.run(fetch())
    assert status == 200
    assert doc["servers"] == [{"url": "/cadvisor"}]  # clients resolve every path under the prefix
    assert doc["paths"] == openapi.load_document()["paths"]
    # Every handler also answers at the root (a proxy that strips the prefix, a probe written for cAdvisor):
    # that copy of the document says so.
    assert bare == 200 and bare_servers == [{"url": "/"}]


def _path_values(path: str, name: str) -> dict[str, str]:
    return (
        {"name": name.lstrip("/")} if "{name}" in path else {"alias": "no-such-container"} if "{alias}" in path else {}
    )


def test_live_answers_validate_against_the_document(
    pycadvisor_daemon_factory: Callable[..., Any], test_cgroup: TestCgroup
) -> None:
    test_cgroup.adopt(sleeper(test_cgroup))
    prefix = ""
    d = pycadvisor_daemon_factory(*FAST)
    status, body = d.get("/api/openapi.json")
    assert status == 200
    served = json.loads(body)
    assert served == {**openapi.load_document(), "servers": [{"url": "/"}]}

    # Two samples of the test cgroup, so every stats shape (with instantaneous rates) is on the wire.
    wait_until(
        lambda: d.get(f"{prefix}/api/v2.1/stats{test_cgroup.name}?count=2")[1].count(b'"timestamp"') >= 2,
        timeout=15,
        what="two samples of the test cgroup",
    )
    schema = from_dict(served)
    strict = StrictResponses(served)
    checked = 0
    for path, item in served["paths"].items():
        for method in item:
            op = schema[path][method.upper()]
            for name in ("/", test_cgroup.name):
                if path.endswith("/events/{name}") or path.endswith("/events"):
                    query = {"all_events": "true", "subcontainers": "true", "max_events": "-1"}
                elif "count" in {p["name"] for p in item[method].get("parameters", [])}:
                    query = {"count": "2"}
                else:
                    query = {}
                case = op.Case(path_parameters=_path_values(path, name), query=query)
                resp = case.call(base_url=d.url + prefix, timeout=30)
                case.validate_response(resp, checks=CHECKS)
                errors = strict.response_errors(path, method, resp)
                assert not errors, f"{method} {path} ({name}): {errors}"
                if "{alias}" not in path and path != "/api/":
                    assert resp.status_code == 200, f"{method} {path} ({name}): {resp.status_code} {resp.text[:200]}"
                checked += 1
    assert checked >= 2 * len(served["paths"])
