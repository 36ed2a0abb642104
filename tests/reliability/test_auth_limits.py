"""Authentication under hostile clients (issue 14, items 5 and 6).

- An unknown user used to be checked against the file's *first* hash: with a ``{SHA}`` entry first and
  bcrypt users after it, an unknown user cost 1.3 ms and a known one 150 ms, which told users apart.
  Now every failed check costs what the file's costliest hash costs.
- Wrong passwords were unlimited (50 clients held both cores with bcrypt). Now failures are limited per
  client address (429 with ``Retry-After``), before any hash is computed; successes never count.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from aiohttp.test_utils import make_mocked_request

from pycadvisor.api import auth, authfiles, authlimit

PASSWORD = b"s3cret-pass"


def basic(user: str, password: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(user.encode() + b":" + password).decode()}


def sha_entry(password: bytes) -> str:
    return "{SHA}" + base64.b64encode(hashlib.sha1(password).digest()).decode()


@pytest.fixture
def mixed_htpasswd(tmp_path: Path) -> str:
    """A file whose first entry is the cheapest kind ({SHA}) and whose others are bcrypt, cost 8 at most."""
    p = tmp_path / "htpasswd"
    p.write_text(
        f"cheap:{sha_entry(PASSWORD)}\n"
        f"light:{bcrypt.hashpw(PASSWORD, bcrypt.gensalt(rounds=4)).decode()}\n"
        f"admin:{bcrypt.hashpw(PASSWORD, bcrypt.gensalt(rounds=8)).decode()}\n"
    )
    return str(p)


def checks_made(monkeypatch: pytest.MonkeyPatch, htpasswd: str, user: str, password: bytes) -> list[str]:
    """The hashes a Basic check of ``user:password`` verified a password against, in order."""
    seen: list[str] = []
    real = authfiles.check_password

    def spy(pw: bytes, secret: str) -> bool:
        seen.append(secret)
        return real(pw, secret)

    monkeypatch.setattr(auth, "check_password", spy)
    authn = auth.BasicAuthenticator(htpasswd, "localhost")
    request = make_mocked_request("GET", "/containers/", headers=basic(user, password))

    async def check() -> tuple[str | None, dict[str, str]]:
        return await authn.check(request)

    assert asyncio.run(check())[0] is None
    return seen


def bcrypt_cost(secret: str) -> int | None:
    return int(secret[4:6]) if secret[:4] in ("$2a$", "$2b$", "$2y$") else None


@pytest.mark.parametrize("user", ["nobody", "cheap", "light"])
def test_every_failed_check_costs_the_costliest_hash_of_the_file(
    monkeypatch: pytest.MonkeyPatch, mixed_htpasswd: str, user: str
) -> None:
    # an unknown user, a user of the cheapest kind and one of a cheaper bcrypt cost all pay for a bcrypt
    # check of cost 8, as the admin's wrong password does: the time of a refusal tells no user apart
    seen = checks_made(monkeypatch, mixed_htpasswd, user, b"wrong")
    assert 8 in {bcrypt_cost(s) for s in seen}, seen


def test_failures_limiter_refills_refunds_successes_and_forgets_the_oldest_address() -> None:
    now = [0.0]
    lim = authlimit.FailureLimiter(burst=3, refill_s=2.0, max_clients=2, clock=lambda: now[0])
    for _ in range(3):
        assert lim.take("10.0.0.1") == 0
    assert lim.take("10.0.0.1") == 2  # no token left: wait one refill
    assert lim.take("10.0.0.2") == 0  # per address
    now[0] += 2.0
    assert lim.take("10.0.0.1") == 0  # one token back after refill_s
    lim.refund("10.0.0.1")  # ... and that attempt succeeded: it costs nothing
    assert lim.take("10.0.0.1") == 0

    small = authlimit.FailureLimiter(burst=1, refill_s=100.0, max_clients=1, clock=lambda: now[0])
    assert small.take("a") == 0 and small.take("a") > 0
    assert small.take("b") == 0  # a table of one address: "a" is forgotten ...
    assert small.take("a") == 0  # ... and starts again with a full bucket (the table stays bounded)


def get_from(source: str, port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        r.read()
        return r.status, dict(r.getheaders())
    finally:
        conn.close()


@pytest.mark.root
def test_wrong_passwords_are_limited_per_client_address_and_successes_are_not(
    pycadvisor_daemon_factory: Callable[..., Any], tmp_path: Path
) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"admin:{bcrypt.hashpw(PASSWORD, bcrypt.gensalt(rounds=4)).decode()}\n")
    os.chmod(htpasswd, 0o600)
    d = pycadvisor_daemon_factory(f"-http_auth_file={htpasswd}")
    good, bad = basic("admin", PASSWORD), basic("admin", b"guess")

    # a user who logs in often is never limited
    for _ in range(40):
        assert get_from("127.0.0.1", d.port, "/containers/", good)[0] == 200

    answers = [get_from("127.0.0.1", d.port, "/containers/", bad) for _ in range(60)]
    statuses = [s for s, _ in answers]
    assert set(statuses) <= {401, 429}, statuses
    assert 429 in statuses, "60 wrong passwords in a row from one address were never refused"
    assert statuses[0] == 401
    for s, h in answers:
        if s == 429:
            assert h.get("Retry-After", "").isdigit() and int(h["Retry-After"]) >= 1, h

    # another address is not held back by this one's failures
    assert get_from("127.0.0.2", d.port, "/containers/", good)[0] == 200
    # and /healthz stays open to everyone
    assert get_from("127.0.0.1", d.port, "/healthz", {})[0] == 200
