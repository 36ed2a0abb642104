"""``-profiling``: the daemon's own CPU and memory profiles at Go's pprof paths (issue 13 #6)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from support.services import http_request

pytestmark = pytest.mark.root

FAST = ("-housekeeping_interval=200ms", "-allow_dynamic_housekeeping=false")


def test_profiles_of_the_running_daemon(pycadvisor_daemon_factory: Callable[..., Any]) -> None:
    d = pycadvisor_daemon_factory(*FAST, "-profiling", "-url_base_prefix=/cadvisor")
    status, body = d.get("/debug/pprof/profile?seconds=2", timeout=30)
    text = body.decode()
    assert status == 200 and "Duration:" in text
    assert "pycadvisor/manager/scheduler.py" in text, text  # the housekeeping that ran meanwhile, sampled
    status, body = d.get("/cadvisor/debug/pprof/heap?top=5")
    assert status == 200 and body.startswith(b"Python memory traced: ") and body.count(b" KiB ") >= 5
    assert d.get("/debug/pprof/heap?group=traceback")[0] == 200
    status, body = d.get("/debug/pprof/cmdline")
    assert status == 200 and b"-profiling" in body.split(b"\x00")
    assert d.get("/cadvisor/debug/pprof/")[0] == 200
    status, body = d.get("/debug/pprof/profile?seconds=soon")
    assert status == 400 and b"'seconds'" in body


def test_no_profiles_without_the_flag(pycadvisor_daemon_factory: Callable[..., Any]) -> None:
    d = pycadvisor_daemon_factory()
    for path in ("/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1"):
        status, body = d.get(path)
        assert status == 404 and b"-profiling" in body, path


def test_profiles_are_guarded_with_auth_protect_api(
    pycadvisor_daemon_factory: Callable[..., Any], tmp_path: Any
) -> None:
    users = tmp_path / "users"
    users.write_text("u:{SHA}" + base64.b64encode(hashlib.sha1(b"pw").digest()).decode() + "\n")
    d = pycadvisor_daemon_factory("-profiling", f"-http_auth_file={users}", "-auth_protect_api")
    assert d.get("/debug/pprof/heap")[0] == 401
    creds = {"Authorization": "Basic " + base64.b64encode(b"u:pw").decode()}
    assert http_request("GET", d.url + "/debug/pprof/heap", None, headers=creds)[0] == 200
