"""Creation, deletion and OOM events of the real daemon while cgroups come and go (issue 13, item 8).

A client reads the time, then cgroups are made (some one hierarchy after another, as runc does),
one of them is OOM-killed, and all are removed. The stored events since that time, and a stream
opened before, must hold every creation and deletion and the OOM, once each. Before the fix, the
``containerCreation`` event was stamped with the cgroup's mtime, which the kernel takes from a clock
that trails by up to a tick: it fell before the client's time and the query lost it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pycadvisor.model.codec import format_time
from support.cgroups import TestCgroup
from support.procs import ManagedProcess, sleeper, wait_until

pytestmark = pytest.mark.root

FAST = ("-housekeeping_interval=200ms", "-allow_dynamic_housekeeping=false", "-global_housekeeping_interval=1h")
_HOG = "import sys; b = bytearray(int(sys.argv[1]) << 20); sys.exit(3)"  # touches every page


class Stream:
    """An NDJSON event stream read from a raw socket (so the test sees each event as it comes)."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        self.buf = b""
        self.events: list[dict[str, Any]] = []
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200"), head

    def read_until(self, cond: Callable[[list[dict[str, Any]]], bool], timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while not cond(self.events):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"stream: {len(self.events)} events, condition not met")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionError("stream closed")
            self.buf += chunk
            # Chunked transfer encoding: the events are the lines that parse as JSON objects.
            *lines, self.buf = self.buf.split(b"\n")
            for line in lines:
                line = line.strip()
                if line.startswith(b"{"):
                    self.events.append(json.loads(line))
        return self.events

    def close(self) -> None:
        self.sock.close()


def _kinds(events: list[dict[str, Any]], prefix: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in events:
        if e["container_name"].startswith(prefix):
            out.setdefault(e["event_type"], []).append(e["container_name"])
    return out


def test_events_under_churn_none_lost(
    pycadvisor_daemon_factory: Callable[..., Any], test_cgroup: TestCgroup, tmp_path: Path
) -> None:
    d = pycadvisor_daemon_factory(*FAST)
    top = test_cgroup.name
    wait_until(lambda: d.get("/api/v1.3/containers" + top)[0] == 200, timeout=10, what="the test cgroup")
    stream = Stream(d.port, f"/api/v1.3/events{top}?stream=true&all_events=true&subcontainers=true")
    try:
        since = format_time(time.time_ns())  # a client's clock, read just before the first mkdir
        made: list[TestCgroup] = []
        for i in range(24):
            staged = i % 2 == 1
            cg = test_cgroup.child(f"k{i}", create=not staged)
            if staged:  # one hierarchy after another, as runc does
                for root in cg.layout.unique_roots():
                    cg.make_in(root)
            if i % 3 == 0:
                sleeper(cg)
            made.append(cg)
        victim = made[-1]
        if victim.version == 1:
            victim.set("memory.limit_in_bytes", 32 << 20)
        else:
            victim.set("memory.max", 32 << 20)
        hog = tmp_path / "pycad-churnhog"
        hog.symlink_to(os.path.realpath(sys.executable))
        p = ManagedProcess([str(hog), "-c", _HOG, "256"], what="OOM hog", cgroup_procs=victim.procs_files())
        wait_until(lambda: not p.alive(), timeout=60, what="the hog's OOM kill")
        assert p.returncode == -9, f"not OOM-killed: {p.returncode}"
        for cg in made:
            cg.close()
        names = sorted(cg.name for cg in made)

        def complete(events: list[dict[str, Any]]) -> bool:
            k = _kinds(events, top + "/")
            return (
                len(k.get("containerCreation", [])) >= len(names)
                and len(k.get("containerDeletion", [])) >= len(names)
                and bool(k.get("oom"))
            )

        streamed = _kinds(stream.read_until(complete, timeout=30), top + "/")
        assert sorted(streamed["containerCreation"]) == names
        assert sorted(streamed["containerDeletion"]) == names
        assert streamed["oom"] == [victim.name]

        status, body = d.get(
            f"/api/v1.3/events{top}?all_events=true&subcontainers=true&max_events=-1&start_time={since}"
        )
        assert status == 200, body[:300]
        stored = _kinds(json.loads(body), top + "/")
        assert sorted(stored["containerCreation"]) == names, "every creation since the client's time is stored"
        assert sorted(stored["containerDeletion"]) == names
        assert stored["oom"] == [victim.name] and stored["oomKill"] == [victim.name]
    finally:
        stream.close()
