"""One HTTP GET of a metrics endpoint, from the container's network namespace when the address is the container's.

A config usually says ``http://localhost:<port>/metrics``: cAdvisor (``collector/prometheus_collector.go``,
``generic_collector.go``) asks that of its own namespace, which only works when it shares the container's.
Here the socket is created inside the container's namespace (``setns(2)`` on ``/proc/<pid>/ns/net`` in a
short-lived thread of its own, which then ends, so no other thread ever runs in the container's namespace);
a socket keeps the namespace it was created in (``net/socket.c``: ``sock_create`` takes ``current->nsproxy``),
so the connect, TLS and HTTP run afterwards in the calling thread with the standard library's ``http.client``.
Addresses that are not the container's own are fetched from the daemon's namespace, as cAdvisor does.

Blocking: the poller calls :meth:`Fetcher.get` in worker threads, never on the event loop.
"""

from __future__ import annotations

import ctypes
import functools
import http.client
import ipaddress
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

_T = TypeVar("_T")
_CLONE_NEWNET = 0x40000000  # include/uapi/linux/sched.h
_PROBE = ("192.0.2.1", 9)  # TEST-NET-1 (RFC 5737): a UDP connect to it picks the source address; nothing is sent


class FetchError(Exception):
    """The endpoint could not be read (refused, timed out, bad status, too large)."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where to GET: ``url``, through the namespace of ``pid`` when set (None: the daemon's own)."""

    url: str
    pid: int | None = None


def is_container_local(host: str) -> bool:
    """``localhost`` or a loopback address: the container's own, seen from its namespace."""
    h = host.strip("[]").lower()
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def client_tls_context(cert_file: str = "", key_file: str = "") -> ssl.SSLContext:
    """cAdvisor's collector client (``cmd/cadvisor.go``: ``createCollectorHTTPClient``): endpoints are not
    verified (``InsecureSkipVerify``), and ``-collector_cert``/``-collector_key`` are presented when given.
    Raises ``ValueError`` naming the file when the pair cannot be loaded."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert_file:
        if not key_file:
            raise ValueError("the collector_key value must be specified if the collector_cert value is set")
        try:
            ctx.load_cert_chain(cert_file, key_file)
        except (OSError, ssl.SSLError) as e:
            raise ValueError(f"failed to load the key pair {cert_file!r}, {key_file!r}: {e}") from None
    return ctx


class Fetcher:
    """GETs endpoints with a timeout and a size cap; see the module's docstring for the namespaces."""

    def __init__(self, *, proc_root: str, tls: ssl.SSLContext, timeout_s: float, max_bytes: int) -> None:
        self.proc_root = proc_root
        self.tls = tls
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._libc: Any = None
        self._open: set[socket.socket] = set()  # sockets of the requests in flight, for abort()
        self._lock = threading.Lock()

    def container_address(self, pid: int) -> str:
        """The address the container reaches its default route from (its ``eth0``), else ``127.0.0.1``."""

        def probe() -> str:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.connect(_PROBE)
                return str(s.getsockname()[0])
            except OSError:
                return "127.0.0.1"
            finally:
                s.close()

        return self._in_netns(pid, probe)

    def get(self, target: Target, timeout_s: float | None = None) -> tuple[int, str, bytes]:
        """``(status, content type, body)`` within ``timeout_s`` (at most the fetcher's); raises :class:`FetchError`."""
        timeout = self.timeout_s if timeout_s is None else min(timeout_s, self.timeout_s)
        deadline = time.monotonic() + timeout
        parts = urlsplit(target.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"{target.url!r} is not an http:// or https:// URL")
        host = parts.hostname
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as e:
            raise FetchError(f"{target.url!r}: {e}") from None
        sock = self._connect(host, port, target.pid, timeout)
        try:
            if parts.scheme == "https":
                sock = self.tls.wrap_socket(sock, server_hostname=host)  # the plain socket is detached: track this one
            with self._lock:
                self._open.add(sock)
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
            conn.sock = sock  # http.client sends on a socket already set rather than connecting
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            conn.request("GET", path, headers={"Accept": "text/plain;version=0.0.4;q=1,*/*;q=0.1"})
            resp = conn.getresponse()
            chunks: list[bytes] = []
            size = 0
            while True:
                if time.monotonic() > deadline:
                    raise FetchError(f"no complete answer within {timeout:g} s")
                chunk = resp.read1(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchError(f"answer larger than {self.max_bytes} bytes")
                chunks.append(chunk)
            return resp.status, resp.getheader("Content-Type", ""), b"".join(chunks)
        except (OSError, http.client.HTTPException) as e:
            raise FetchError(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__) from None
        finally:
            with self._lock:
                self._open.discard(sock)
            sock.close()

    def abort(self) -> None:
        """End the requests in flight (their reads return at once and fail): at stop, a worker thread blocked on a
        hung endpoint would otherwise hold the exit for up to the timeout."""
        with self._lock:
            socks = list(self._open)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _connect(self, host: str, port: int, pid: int | None, timeout: float) -> socket.socket:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as e:
            raise FetchError(f"cannot resolve {host!r}: {e}") from None
        last: Exception | None = None
        for family, kind, proto, _, addr in infos:
            try:
                if pid is None:
                    s = socket.socket(family, kind, proto)
                else:
                    s = self._in_netns(pid, functools.partial(socket.socket, family, kind, proto))
            except OSError as e:
                last = e
                continue
            try:
                s.settimeout(timeout)
                s.connect(addr)
                return s
            except OSError as e:
                s.close()
                last = e
        raise FetchError(f"cannot connect to {host}:{port}: {last}")

    def _in_netns(self, pid: int, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` in a new thread that first joins the network namespace of ``pid``; the thread then ends."""
        if self._libc is None:
            self._libc = ctypes.CDLL(None, use_errno=True)
        libc = self._libc
        result: list[Any] = []
        failure: list[BaseException] = []
        ns_path = os.path.join(self.proc_root, str(pid), "ns", "net")

        def run() -> None:
            try:
                fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                failure.append(FetchError(f"cannot open {ns_path}: {e.strerror}"))
                return
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    failure.append(FetchError(f"setns {ns_path}: {os.strerror(err)}"))
                    return
                result.append(fn())
            except BaseException as e:
                failure.append(e)
            finally:
                os.close(fd)

        t = threading.Thread(target=run, name=f"appmetrics-netns-{pid}", daemon=True)
        t.start()
        t.join()
        if failure:
            raise failure[0]
        out: _T = result[0]
        return out
