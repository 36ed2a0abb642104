"""HTTP probes on 127.0.0.1: one request per connection, timed to the last body byte (like curl time_total)."""

from __future__ import annotations

import http.client
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    seconds: float


def get(port: int, path: str, *, host: str = "127.0.0.1", timeout: float = 120.0) -> Response:
    """GET ``path`` on a fresh connection; the time covers connect, request and the whole body."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Accept-Encoding": "identity"})
        resp = conn.getresponse()
        body = resp.read()
        return Response(resp.status, body, time.perf_counter() - t0)
    finally:
        conn.close()


def get_json(port: int, path: str, *, timeout: float = 120.0) -> Any:
    r = get(port, path, timeout=timeout)
    if r.status != 200:
        raise OSError(f"GET {path}: HTTP {r.status}: {r.body[:200]!r}")
    return json.loads(r.body)


def ok(port: int, path: str) -> bool:
    try:
        return get(port, path, timeout=2.0).status == 200
    except OSError:
        return False


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class Latency:
    p50_ms: float
    p90_ms: float
    max_ms: float
    bytes: int
    n: int


def measure(port: int, path: str, *, n: int = 20, pause: float = 0.25, warmup: int = 1) -> Latency:
    """``warmup`` untimed requests, then ``n`` timed ones ``pause`` s apart; every answer must be 200."""
    times: list[float] = []
    size = 0
    for i in range(warmup + n):
        r = get(port, path)
        if r.status != 200:
            raise OSError(f"GET {path}: HTTP {r.status}: {r.body[:200]!r}")
        if i >= warmup:
            times.append(r.seconds * 1000)
            size = len(r.body)
        if pause:
            time.sleep(pause)
    return Latency(percentile(times, 0.5), percentile(times, 0.9), max(times), size, n)
