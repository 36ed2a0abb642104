"""Malformed requests cannot fill the disk through the log (issue 14, item 8).

aiohttp logged every malformed request at ERROR with a full traceback (796 from one fuzz run). Now a
client's fault is counted and summed up in one line at most once a minute; the client still gets its 400.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.root

MALFORMED = [
    b"GET / HTTP/1.1\r\nHost: x\r\nno colon in this header\r\n\r\n",
    b"GET / HTTP/9.Z\r\nHost: x\r\n\r\n",
    b"GET /\x00\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Long: " + b"a" * 20000 + b"\r\n\r\n",
]


def send_raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        out = b""  # the daemon answers and closes the connection
        while chunk := s.recv(65536):
            out += chunk
        return out


def test_malformed_requests_are_refused_without_flooding_the_log(pycadvisor_daemon_factory: Callable[..., Any]) -> None:
    d = pycadvisor_daemon_factory()
    log = Path(d.process.log_path)
    before = log.stat().st_size
    rounds = 40
    for _ in range(rounds):
        for req in MALFORMED:
            status_line = send_raw(d.port, req).split(b"\r\n", 1)[0]
            assert status_line.split(b" ")[1].startswith(b"4"), (req[:40], status_line)
    assert d.get("/healthz") == (200, b"ok")
    new = log.read_bytes()[before:].decode(errors="replace").splitlines()
    assert "Traceback" not in "\n".join(new)
    # 200 malformed requests: a summary line, not a line (or a traceback) each
    assert len(new) <= 5, "\n".join(new[:20])
