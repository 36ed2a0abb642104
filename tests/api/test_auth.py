"""Basic and Digest authentication as a client sees it, through a real HTTP server and real clients.

The server is aiohttp on 127.0.0.1 with the auth middleware and stand-in handlers; clients are
``urllib.request`` (including its own RFC 2617 digest implementation) and hand-made headers.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import bcrypt
import pytest
from aiohttp import web

from pycadvisor.api import auth, authfiles
from support.procs import run_cli_expecting_exit

PREFIX = "/cadvisor"
PASSWORD = "password1"


# ------------------------------------------------------------------ a real server


@contextmanager
def serve(app: web.Application) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1 in a background thread; yield its base URL."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    started = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        box["port"] = runner.addresses[0][1]
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert started.wait(10), "test server did not start"
    try:
        yield f"http://127.0.0.1:{box['port']}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        t.join(10)


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text=f"handled {request.path}")


def make_app(prefix: str = PREFIX, **kwargs: Any) -> web.Application:
    mw = auth.make_auth_middleware(prefix=prefix, **kwargs)
    app = web.Application(middlewares=[mw])
    for path in (
        "/containers/{name:.*}",
        "/docker/{name:.*}",
        "/podman/{name:.*}",
        "/static/{file:.*}",
        "/api/{rest:.*}",
        "/metrics",
        "/validate/",
        "/healthz",
        "/other",
    ):
        app.router.add_route("*", prefix + path, _ok)
    return app


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def fetch(url: str, headers: dict[str, str] | None = None, opener: Any = None) -> Reply:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=30) as r:
            return Reply(r.status, dict(r.headers.items()), r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, dict(e.headers.items()), e.read())


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def openssl_passwd(kind: str, salt: str, password: str) -> str | None:
    """Hash with the openssl CLI (an independent implementation), if it is installed."""
    exe = shutil.which("openssl")
    if exe is None:
        return None
    out = subprocess.run([exe, "passwd", kind, "-salt", salt, password], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


@pytest.fixture
def htpasswd(tmp_path: Any) -> str:
    sha = "{SHA}" + base64.b64encode(hashlib.sha1(PASSWORD.encode()).digest()).decode()
    b = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    lines = [
        "# users of the test",
        "apr:" + authfiles.md5_crypt(PASSWORD.encode(), b"Qj9w2xZb", b"$apr1$").decode(),
        "md5:" + authfiles.md5_crypt(PASSWORD.encode(), b"saltsalt").decode(),
        "sha:" + sha,
        "bc2b:" + b,
        "bc2y:$2y$" + b[4:],
        "bc2a:$2a$" + b[4:],
        "plain:" + PASSWORD,  # plain text: refused, as by go-http-auth
        "",
    ]
    path = tmp_path / "test.htpasswd"
    path.write_text("\n".join(lines))
    return str(path)


def ha1(user: str, realm: str, password: str) -> str:
    return hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()


@pytest.fixture
def htdigest(tmp_path: Any) -> str:
    path = tmp_path / "test.htdigest"
    path.write_text(
        f"admin:localhost:{ha1('admin', 'localhost', PASSWORD)}\n"
        f"other:elsewhere:{ha1('other', 'elsewhere', PASSWORD)}\n"
    )
    return str(path)


def basic_app(htpasswd: str, **kw: Any) -> web.Application:
    args: dict[str, Any] = dict(
        basic_file=htpasswd,
        basic_realm="localhost",
        digest_file=None,
        digest_realm="localhost",
        protect_api=False,
    )
    args.update(kw)
    return make_app(**args)


def digest_app(htdigest: str, **kw: Any) -> web.Application:
    args: dict[str, Any] = dict(
        basic_file=None,
        basic_realm="localhost",
        digest_file=htdigest,
        digest_realm="localhost",
        protect_api=False,
    )
    args.update(kw)
    return make_app(**args)


# ------------------------------------------------------------------ hashes


@pytest.mark.parametrize(
    ("kind", "magic", "salt"),
    [
        ("-apr1", b"$apr1$", "abcdefgh"),
        ("-1", b"$1$", "abcdefgh"),
        ("-apr1", b"$apr1$", "x"),
        ("-1", b"$1$", "s4lt"),
    ],
)
def test_md5_crypt_matches_openssl(kind: str, magic: bytes, salt: str) -> None:
    expected = openssl_passwd(kind, salt, PASSWORD)
    if expected is None:  # fixed vectors produced by `openssl passwd` on Debian 12
        expected = {
            ("-apr1", "abcdefgh"): "$apr1$abcdefgh$QLvgL9Maogn2kBtlvaQ0J.",
            ("-1", "abcdefgh"): "$1$abcdefgh$tofDR1wBNbKhWudE9h5HJ1",
        }.get((kind, salt))
        if expected is None:
            pytest.skip("openssl CLI not installed")
    assert authfiles.md5_crypt(PASSWORD.encode(), salt.encode(), magic).decode() == expected


def test_htpasswd_file_keeps_accepted_schemes_and_drops_plain_text(htpasswd: str) -> None:
    users = authfiles.load_htpasswd(htpasswd)
    assert sorted(users) == ["apr", "bc2a", "bc2b", "bc2y", "md5", "sha"]
    for secret in users.values():
        assert authfiles.check_password(PASSWORD.encode(), secret)
        assert not authfiles.check_password(b"password2", secret)
    assert not authfiles.check_password(PASSWORD.encode(), PASSWORD)


def test_htdigest_file_is_read_per_realm(htdigest: str) -> None:
    realms = authfiles.load_htdigest(htdigest)
    assert realms == {
        "localhost": {"admin": ha1("admin", "localhost", PASSWORD)},
        "elsewhere": {"other": ha1("other", "elsewhere", PASSWORD)},
    }


def test_missing_credentials_file_fails_at_startup(tmp_path: Any) -> None:
    with pytest.raises(OSError):
        auth.make_auth_middleware(
            basic_file=str(tmp_path / "nope"),
            basic_realm="r",
            digest_file=None,
            digest_realm="r",
            protect_api=False,
            prefix="",
        )


# ------------------------------------------------------------------ basic


@pytest.mark.parametrize("user", ["apr", "md5", "sha", "bc2b", "bc2y", "bc2a"])
def test_basic_accepts_every_supported_hash(htpasswd: str, user: str) -> None:
    with serve(basic_app(htpasswd)) as url:
        r = fetch(url + PREFIX + "/containers/", basic(user, PASSWORD))
        assert r.status == 200
        assert r.body == f"handled {PREFIX}/containers/".encode()
        again = fetch(url + PREFIX + "/containers/x", basic(user, PASSWORD))  # remembered credentials
        assert again.status == 200
        assert fetch(url + PREFIX + "/containers/", basic(user, "password2")).status == 401


def test_basic_refusal_is_exactly_cadvisors_and_reveals_nothing(htpasswd: str) -> None:
    with serve(basic_app(htpasswd, basic_realm="my realm")) as url:
        replies = [
            fetch(url + PREFIX + "/containers/"),
            fetch(url + PREFIX + "/containers/", basic("apr", "wrong")),
            fetch(url + PREFIX + "/containers/", basic("nobody", PASSWORD)),
            fetch(url + PREFIX + "/containers/", basic("plain", PASSWORD)),
            fetch(url + PREFIX + "/containers/", {"Authorization": "Basic !!notbase64"}),
            fetch(url + PREFIX + "/containers/", {"Authorization": "Bearer abc"}),
        ]
    for r in replies:
        assert r.status == 401
        assert r.body == b"401 Unauthorized\n"
        assert r.headers["Content-Type"] == "text/plain"
        assert r.headers["WWW-Authenticate"] == 'Basic realm="my realm"'
    shapes = {tuple(sorted((k, v) for k, v in r.headers.items() if k != "Date")) for r in replies}
    assert len(shapes) == 1  # unknown user, wrong password, bad header: indistinguishable


def test_password_may_contain_colons(tmp_path: Any) -> None:
    path = tmp_path / "h"
    path.write_text("u:" + authfiles.md5_crypt(b"a:b:c", b"12345678", b"$apr1$").decode() + "\n")
    with serve(basic_app(str(path))) as url:
        assert fetch(url + PREFIX + "/docker/", basic("u", "a:b:c")).status == 200
        assert fetch(url + PREFIX + "/docker/", basic("u", "a")).status == 401


@pytest.mark.parametrize(
    ("path", "protect_api", "guarded"),
    [
        ("/containers/", False, True),
        ("/containers/system.slice/x", False, True),
        ("/docker/", False, True),
        ("/podman/abc", False, True),
        ("/static/app.js", False, True),
        ("/api/v1.0/machine", False, False),
        ("/metrics", False, False),
        ("/validate/", False, False),
        ("/healthz", False, False),
        ("/api/v1.0/machine", True, True),
        ("/api/v2.0/ps/", True, True),
        ("/metrics", True, True),
        ("/validate/", True, True),
        ("/healthz", True, False),
        ("/other", True, False),
    ],
)
def test_which_paths_are_guarded(htpasswd: str, path: str, protect_api: bool, guarded: bool) -> None:
    with serve(basic_app(htpasswd, protect_api=protect_api)) as url:
        anonymous = fetch(url + PREFIX + path)
        assert anonymous.status == (401 if guarded else 200)
        assert fetch(url + PREFIX + path, basic("sha", PASSWORD)).status == 200


def test_spellings_of_a_path_do_not_slip_past_the_guard(htpasswd: str) -> None:
    # Without the guard, the two %2e%2e spellings reach a guarded handler (aiohttp routes them as is).
    paths = (
        "/healthz/../containers/",
        "//containers/",
        "/./api/v1.0/machine",
        "/api/%2e%2e/metrics",
        "/containers/%2e%2e/healthz",
    )
    with serve(basic_app(htpasswd, protect_api=True)) as url:
        for path in paths:
            r = fetch(url + PREFIX + path)
            assert r.status == 401, path
            assert r.body == b"401 Unauthorized\n", path


def test_without_prefix_the_middleware_guards_root_paths(htpasswd: str) -> None:
    with serve(basic_app(htpasswd, prefix="")) as url:
        assert fetch(url + "/containers/").status == 401
        assert fetch(url + "/containers/", basic("md5", PASSWORD)).status == 200
        assert fetch(url + "/healthz").status == 200


def test_changed_htpasswd_file_is_reloaded(htpasswd: str) -> None:
    with serve(basic_app(htpasswd)) as url:
        assert fetch(url + PREFIX + "/containers/", basic("sha", PASSWORD)).status == 200
        sha2 = "{SHA}" + base64.b64encode(hashlib.sha1(b"new-secret").digest()).decode()
        with open(htpasswd, "w") as f:
            f.write(f"sha:{sha2}\n")
        st = os.stat(htpasswd)
        os.utime(htpasswd, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        assert fetch(url + PREFIX + "/containers/", basic("sha", PASSWORD)).status == 401
        assert fetch(url + PREFIX + "/containers/", basic("sha", "new-secret")).status == 200
        assert fetch(url + PREFIX + "/containers/", basic("md5", PASSWORD)).status == 401


def test_basic_file_wins_over_digest_file(htpasswd: str, htdigest: str) -> None:
    with serve(basic_app(htpasswd, digest_file=htdigest)) as url:
        r = fetch(url + PREFIX + "/containers/")
        assert r.headers["WWW-Authenticate"] == 'Basic realm="localhost"'


def test_no_files_means_no_auth() -> None:
    app = make_app(basic_file=None, basic_realm="r", digest_file=None, digest_realm="r", protect_api=True)
    with serve(app) as url:
        assert fetch(url + PREFIX + "/containers/").status == 200
        assert fetch(url + PREFIX + "/api/v1.0/machine").status == 200


# ------------------------------------------------------------------ digest


def digest_opener(url: str, user: str, password: str) -> Any:
    mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    mgr.add_password(None, url, user, password)
    return urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(mgr))


def test_digest_works_with_pythons_own_client(htdigest: str) -> None:
    with serve(digest_app(htdigest)) as url:
        opener = digest_opener(url, "admin", PASSWORD)
        for path in ("/containers/", "/containers/a?x=1", "/docker/", "/static/app.js"):
            r = fetch(url + PREFIX + path, opener=opener)
            assert r.status == 200, path
            assert r.body == f"handled {PREFIX}{path.split('?')[0]}".encode()
        wrong = fetch(url + PREFIX + "/containers/", opener=digest_opener(url, "admin", "nope"))
        assert wrong.status == 401
        # a user of another realm in the same file is not a user of this realm
        assert fetch(url + PREFIX + "/containers/", opener=digest_opener(url, "other", PASSWORD)).status == 401


def challenge_params(reply: Reply) -> dict[str, str]:
    scheme, _, rest = reply.headers["WWW-Authenticate"].partition(" ")
    assert scheme == "Digest"
    return auth.parse_auth_params(rest)


def digest_header(
    ch: dict[str, str],
    uri: str,
    nc: int,
    *,
    user: str = "admin",
    password: str = PASSWORD,
    method: str = "GET",
) -> dict[str, str]:
    h1 = ha1(user, ch["realm"], password)
    h2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    ncs, cnonce = f"{nc:08x}", "0a4f113b"
    resp = hashlib.md5(f"{h1}:{ch['nonce']}:{ncs}:{cnonce}:auth:{h2}".encode()).hexdigest()
    value = (
        f'Digest username="{user}", realm="{ch["realm"]}", nonce="{ch["nonce"]}", uri="{uri}", '
        f'algorithm=MD5, response="{resp}", opaque="{ch["opaque"]}", qop=auth, nc={ncs}, cnonce="{cnonce}"'
    )
    return {"Authorization": value}


def test_digest_challenge_and_mutual_auth(htdigest: str) -> None:
    with serve(digest_app(htdigest, digest_realm="localhost")) as url:
        first = fetch(url + PREFIX + "/containers/")
        assert first.status == 401
        assert first.headers["Content-Type"] == "text/plain"
        ch = challenge_params(first)
        assert ch["realm"] == "localhost"
        assert ch["algorithm"] == "MD5"
        assert ch["qop"] == "auth"
        assert "stale" not in ch
        uri = PREFIX + "/containers/"
        ok = fetch(url + uri, digest_header(ch, uri, 1))
        assert ok.status == 200
        info = auth.parse_auth_params(ok.headers["Authentication-Info"])
        h1 = ha1("admin", "localhost", PASSWORD)
        h2 = hashlib.md5(f":{uri}".encode()).hexdigest()
        assert info["rspauth"] == hashlib.md5(f"{h1}:{ch['nonce']}:00000001:0a4f113b:auth:{h2}".encode()).hexdigest()


def test_digest_replay_is_refused_and_reordering_is_not(htdigest: str) -> None:
    with serve(digest_app(htdigest)) as url:
        ch = challenge_params(fetch(url + PREFIX + "/containers/"))
        uri = PREFIX + "/containers/"
        assert fetch(url + uri, digest_header(ch, uri, 1)).status == 200
        assert fetch(url + uri, digest_header(ch, uri, 1)).status == 401  # the same request again
        assert fetch(url + uri, digest_header(ch, uri, 5)).status == 200
        assert fetch(url + uri, digest_header(ch, uri, 3)).status == 200  # arrived late, never seen
        assert fetch(url + uri, digest_header(ch, uri, 3)).status == 401
        assert fetch(url + uri, digest_header(ch, uri, 5)).status == 401
        assert fetch(url + uri, digest_header(ch, uri, 200)).status == 200
        assert fetch(url + uri, digest_header(ch, uri, 100)).status == 401  # fell out of the window


def test_digest_refuses_foreign_nonce_wrong_uri_and_opaque(htdigest: str) -> None:
    with serve(digest_app(htdigest)) as url:
        ch = challenge_params(fetch(url + PREFIX + "/containers/"))
        uri = PREFIX + "/containers/"
        forged = dict(ch, nonce="00112233445566778899aabbccddeeff")
        r = fetch(url + uri, digest_header(forged, uri, 1))
        assert r.status == 401
        assert challenge_params(r).get("stale") == "TRUE"  # right password, unknown nonce: fetch a new one
        assert fetch(url + uri, digest_header(ch, PREFIX + "/docker/", 1)).status == 401
        assert fetch(url + uri, digest_header(dict(ch, opaque="x"), uri, 1)).status == 401
        assert fetch(url + uri, digest_header(ch, uri, 2, password="nope")).status == 401
        assert fetch(url + uri, digest_header(ch, uri, 3, method="POST")).status == 401  # signed for POST


def test_digest_nonces_expire(htdigest: str) -> None:
    now = [1000.0]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    with serve(digest_app(htdigest, nonce_ttl=60.0, clock=clock)) as url:
        ch = challenge_params(fetch(url + PREFIX + "/containers/"))
        uri = PREFIX + "/containers/"
        assert fetch(url + uri, digest_header(ch, uri, 1)).status == 200
        now[0] += 61
        r = fetch(url + uri, digest_header(ch, uri, 2))
        assert r.status == 401
        fresh = challenge_params(r)
        assert fresh["stale"] == "TRUE"
        assert fresh["nonce"] != ch["nonce"]
        assert fetch(url + uri, digest_header(fresh, uri, 1)).status == 200


def test_digest_guards_api_only_when_asked(htdigest: str) -> None:
    with serve(digest_app(htdigest, protect_api=True)) as url:
        assert fetch(url + PREFIX + "/api/v1.0/machine").status == 401
        assert fetch(url + PREFIX + "/metrics").status == 401
        assert fetch(url + PREFIX + "/healthz").status == 200
        assert fetch(url + PREFIX + "/metrics", opener=digest_opener(url, "admin", PASSWORD)).status == 200


def test_auth_params_parser_handles_quotes_and_commas() -> None:
    p = auth.parse_auth_params('username="a\\"b", uri="/x?a=1,2", nc=00000001, qop=auth,realm=""')
    assert p == {"username": 'a"b', "uri": "/x?a=1,2", "nc": "00000001", "qop": "auth", "realm": ""}


# ------------------------------------------------------------------ startup checks (issue 14 #2)


def test_the_default_install_verifies_bcrypt() -> None:
    """``pip install pycadvisor`` (scripts/run installs ``.[docker]``) brings bcrypt; ``[auth]`` still resolves."""
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    assert any(dep.split(">")[0].split("=")[0].strip() == "bcrypt" for dep in project["dependencies"])
    assert "auth" in project["optional-dependencies"]


def _sha(password: str) -> str:
    return "{SHA}" + base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()


@pytest.mark.parametrize(
    ("flag", "content", "needle"),
    [
        ("http_auth_file", None, "No such file"),
        ("http_auth_file", "dir", "Is a directory"),
        ("http_auth_file", "# nobody\n\n", "no user"),
        ("http_auth_file", f"ok:{_sha(PASSWORD)}\nplain:{PASSWORD}\n", "line 2: the password of user 'plain'"),
        ("http_auth_file", "crypt6:$6$salt$" + "a" * 86 + "\n", "user 'crypt6' is not a hash"),
        ("http_auth_file", "bc:$2b$04$tooshort\n", "bcrypt hash of user 'bc' is malformed"),
        ("http_digest_file", "", "no user in realm 'localhost'"),
        ("http_digest_file", f"admin:elsewhere:{ha1('admin', 'elsewhere', PASSWORD)}\n", "realm 'localhost'"),
        ("http_digest_file", "admin:localhost:not-a-digest\n", "line 1: the HA1 of user 'admin'"),
    ],
)
def test_credentials_that_cannot_work_stop_the_start(
    tmp_path: Any, flag: str, content: str | None, needle: str
) -> None:
    path = tmp_path / "creds"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    r = run_cli_expecting_exit(f"-{flag}={path}")
    assert r.returncode == 2, r.stderr
    assert f'invalid value "{path}" for flag -{flag}: ' in r.stderr and needle in r.stderr, r.stderr


def test_an_install_without_bcrypt_does_not_start(tmp_path: Any) -> None:
    """bcrypt is a dependency, imported when the file checked at start has a bcrypt entry: an install where
    it cannot be imported stops at start with an error naming it, before any login could answer a 500
    traceback."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "bcrypt.py").write_text('raise ImportError("bcrypt left out of this install")\n')
    users = tmp_path / "users.htpasswd"
    users.write_text("admin:" + bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode() + "\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")]))
    r = run_cli_expecting_exit(f"-http_auth_file={users}", env=env)
    assert r.returncode != 0, r.stderr
    assert "ImportError: bcrypt left out of this install" in r.stderr
