"""What the poller's HTTP client does with real endpoints on 127.0.0.1: client certificates (``-collector_cert``,
``-collector_key``), answers too large, endpoints that accept and never answer, bad statuses."""

from __future__ import annotations

import http.server
import shutil
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycadvisor.appmetrics.fetch import Fetcher, FetchError, Target, client_tls_context
from support.ci import require
from support.tls import make_certs

PAGE = b"# TYPE up gauge\nup 1\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    release: threading.Event
    hanging: threading.Event

    def do_GET(self) -> None:
        if self.path == "/hang":
            self.hanging.set()
            self.release.wait(30)  # accepts, reads the request, answers nothing until the test ends
            return
        body = b"x" * 5000 if self.path == "/big" else PAGE
        self.send_response(404 if self.path == "/missing" else 200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


HANGING = threading.Event()  # set by the server once a request to /hang arrived


def _serve(ctx: ssl.SSLContext | None) -> Iterator[str]:
    release = threading.Event()
    HANGING.clear()
    handler = type("H", (_Handler,), {"release": release, "hanging": HANGING})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if ctx is not None:
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    scheme = "https" if ctx is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def plain() -> Iterator[str]:
    yield from _serve(None)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(shutil.which("openssl") is not None, "openssl not installed")
    d = tmp_path_factory.mktemp("certs")
    make_certs(str(d))
    return d


@pytest.fixture
def mtls(certs: Path) -> Iterator[str]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(certs / "ca.pem"))
    ctx.load_cert_chain(str(certs / "server.pem"), str(certs / "server.key"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    yield from _serve(ctx)


def fetcher(tls: ssl.SSLContext | None = None, max_bytes: int = 4096, timeout_s: float = 2.0) -> Fetcher:
    return Fetcher(proc_root="/proc", tls=tls or client_tls_context(), timeout_s=timeout_s, max_bytes=max_bytes)


def test_client_certificate_is_presented_and_required(mtls: str, certs: Path) -> None:
    f = fetcher(client_tls_context(str(certs / "client.pem"), str(certs / "client.key")))
    assert f.get(Target(mtls + "/metrics")) == (200, "text/plain; version=0.0.4", PAGE)
    # Without -collector_cert the server refuses the handshake: an error, not a hang.
    with pytest.raises(FetchError):
        fetcher().get(Target(mtls + "/metrics"))


def test_unusable_key_pair_is_refused_naming_the_files(certs: Path) -> None:
    with pytest.raises(ValueError, match="collector_key value must be specified"):
        client_tls_context(str(certs / "client.pem"), "")
    with pytest.raises(ValueError, match=r"server\.key"):
        client_tls_context(str(certs / "client.pem"), str(certs / "server.key"))


def test_large_hung_and_failing_endpoints_are_errors(plain: str) -> None:
    f = fetcher()
    assert f.get(Target(plain + "/metrics"))[2] == PAGE
    with pytest.raises(FetchError, match="larger than 4096 bytes"):
        f.get(Target(plain + "/big"))
    with pytest.raises(FetchError, match="timed out"):
        f.get(Target(plain + "/hang"), timeout_s=0.5)
    assert f.get(Target(plain + "/missing"))[0] == 404
    with pytest.raises(FetchError, match="cannot connect"):
        f.get(Target("http://127.0.0.1:1/metrics"))


def test_abort_ends_a_request_blocked_on_a_hung_endpoint(plain: str) -> None:
    """At stop, a worker blocked on an endpoint that never answers is released at once, not after its timeout."""
    f = fetcher(timeout_s=60)
    failures: list[BaseException] = []

    def request() -> None:
        try:
            f.get(Target(plain + "/hang"), timeout_s=60)
        except BaseException as e:
            failures.append(e)

    t = threading.Thread(target=request)
    t.start()
    assert HANGING.wait(10)
    f.abort()
    t.join(10)
    assert not t.is_alive()
    assert len(failures) == 1 and isinstance(failures[0], FetchError)
