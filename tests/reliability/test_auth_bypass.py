"""Spellings of protected paths against -http_auth_file / -http_digest_file with -auth_protect_api
(issue 14): without valid credentials no protected resource answers, whatever the case, slashes,
dot segments, encodings, prefix variants or method; the exact spelling answers 401."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reliability.conftest import FAST_FLAGS
from reliability.scenarios import METHODS, PROTECTED_PATHS, auth_bypass, spellings

USER, PASSWORD = "admin", "password1"


def credentials_flag(scheme: str, tmp_path: Path) -> str:
    if scheme == "basic":
        path = tmp_path / "test.htpasswd"
        path.write_text(f"{USER}:{{SHA}}" + base64.b64encode(hashlib.sha1(PASSWORD.encode()).digest()).decode() + "\n")
        return f"-http_auth_file={path}"
    path = tmp_path / "test.htdigest"
    path.write_text(f"{USER}:localhost:" + hashlib.md5(f"{USER}:localhost:{PASSWORD}".encode()).hexdigest() + "\n")
    return f"-http_digest_file={path}"


@pytest.mark.parametrize(("scheme", "prefix"), [("basic", "/cadvisor"), ("digest", "")])
def test_no_spelling_of_a_protected_path_gets_past_the_guard(
    pycadvisor_daemon_factory: Callable[..., Any], tmp_path: Path, scheme: str, prefix: str
) -> None:
    flags = [*FAST_FLAGS, credentials_flag(scheme, tmp_path), "-auth_protect_api"]
    if prefix:
        flags.append(f"-url_base_prefix={prefix}")
    d = pycadvisor_daemon_factory(*flags)
    r = auth_bypass(d.port, scheme=scheme, prefix=prefix, user=USER, password=PASSWORD)
    spelled = len(spellings("/api/", prefix, d.port))
    assert spelled >= 33 and len(PROTECTED_PATHS) >= 22
    assert r.requests == len(PROTECTED_PATHS) * spelled * (len(METHODS) + 2)
    assert not r.bypasses, "\n".join(r.bypasses[:20])
    assert not r.canonical_not_401, r.canonical_not_401[:20]
    assert not r.valid_refused, r.valid_refused
