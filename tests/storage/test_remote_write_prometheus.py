"""The daemon pushing to a real Prometheus (Debian's 2.42, ``--web.enable-remote-write-receiver``).

The order of a real host: the daemon starts while its Prometheus is not up yet, Prometheus starts late on that
port, a cgroup appears after both, and Prometheus is killed and started again on the same port and data dir
mid-run. What a user relies on: the series queried back from Prometheus are those ``/metrics`` serves, with the
same values at the same timestamps, no sample collected meanwhile is missing, and what Prometheus refuses
(a wrong path, samples too old) is dropped and counted rather than retried for ever.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from storage._helpers import add_all, crash, full_sample, options, poll, revive
from storage._remote_write import driver, parse_exposition
from support.cgroups import TestCgroup
from support.procs import memory_holder, wait_until
from support.services import PrometheusServer, free_port, http_get, http_json

MIB = 1 << 20
Labels = frozenset[tuple[str, str]]


def counter(body: str, name: str) -> float:
    m = re.search(rf'^{name}\{{driver="remote_write"\}} (\S+)$', body, re.M)
    return float(m.group(1)) if m else -1.0


def scraped(daemon: Any, ids: set[str]) -> tuple[dict[Labels, tuple[float, int | None]], dict[str, int]]:
    """``/metrics`` series of the containers ``ids`` (empty labels left out, as Prometheus stores them):
    labels -> (value, timestamp ms or None), and each container's sample time in ms."""
    status, body = daemon.get("/metrics")
    assert status == 200
    out: dict[Labels, tuple[float, int | None]] = {}
    times: dict[str, int] = {}
    for name, labels, value, ts in parse_exposition(body.decode()):
        cid = labels.get("id")
        if cid not in ids or name == "container_last_seen":  # last_seen is the scrape's time
            continue
        out[frozenset({("__name__", name), *((k, v) for k, v in labels.items() if v != "")})] = (value, ts)
        if ts is not None:
            times[cid] = ts
    return out, times


def raw_samples(prom: PrometheusServer, selector: str, at_s: float) -> dict[Labels, dict[int, float]]:
    """Every stored sample of ``selector`` in the 10 minutes before ``at_s``: labels -> {ms: value}."""
    q = urllib.parse.urlencode({"query": f"{selector}[10m]", "time": f"{at_s:.3f}"})
    res = http_json("GET", f"{prom.url}/api/v1/query?{q}")
    assert res["status"] == "success", res
    return {
        frozenset(r["metric"].items()): {round(float(t) * 1000): float(v) for t, v in r["values"]}
        for r in res["data"]["result"]
    }


def history_ms(daemon: Any, name: str) -> set[int]:
    """The sample times (ms) of ``name`` in the daemon's in-memory history (RFC 3339 with ns, UTC)."""
    status, body = daemon.get(f"/api/v1.3/containers{name}")
    assert status == 200
    stamps = set()
    for st in json.loads(body)["stats"]:
        whole, _, frac = st["timestamp"].rstrip("Z").partition(".")
        sec = int(datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp())
        stamps.add(sec * 1000 + int((frac + "000")[:3]))
    return stamps


def stored_at(got: dict[Labels, dict[int, float]], labels: Labels, ts: int) -> float | None:
    return got.get(labels, {}).get(ts)


def test_pushed_series_equal_metrics_and_a_prometheus_restart_loses_nothing(
    pycadvisor_daemon_factory: Callable[..., Any],
    prometheus_factory: Callable[..., PrometheusServer],
    cgroup_factory: Callable[[str], TestCgroup],
) -> None:
    parent = cgroup_factory("rw")
    first = parent.child("first")
    memory_holder(first, 8)
    port = free_port()
    top = "/" + first.name.strip("/").split("/")[0]
    daemon = pycadvisor_daemon_factory(
        "-storage_driver=remote_write",
        f"-storage_driver_host=http://127.0.0.1:{port}/api/v1/write",
        "-storage_driver_buffer_duration=500ms",
        "-storage_driver_retry_max_interval=500ms",
        "-housekeeping_interval=1s",
        "-allow_dynamic_housekeeping=false",
        "-docker_only=true",
        f"-raw_cgroup_prefix_whitelist={top}",
    )
    # Prometheus is not up yet: writes fail, samples (the test cgroup's among them) wait in the buffer.
    wait_until(
        lambda: (
            history_ms(daemon, first.name)
            and counter(daemon.get("/metrics")[1].decode(), "pycadvisor_storage_errors_total") >= 2
        ),
        timeout=60,
        what="samples collected and failed writes counted while Prometheus is down",
        proc=daemon.process,
    )
    prom_started = time.time_ns() // 1_000_000
    prom = prometheus_factory([], remote_write_receiver=True, port=port)
    late = parent.child("late")  # a container that appears after the daemon and Prometheus

    def delivered() -> bool:
        body = daemon.get("/metrics")[1].decode()
        return counter(body, "pycadvisor_storage_written_total") > 0 and (
            counter(body, "pycadvisor_storage_buffered_samples") == 0
        )

    ids = {first.name, late.name}
    wait_until(
        lambda: prom.query_once(f'container_memory_usage_bytes{{id="{late.name}"}}'),
        timeout=60,
        what="the late cgroup's samples in Prometheus",
        proc=prom.process,
    )

    # The series /metrics serves now are in Prometheus, with the same labels, values and timestamps.
    series, times = scraped(daemon, ids)
    assert set(times) == ids
    selector = f'{{id=~"{parent.name}/.+"}}'

    def when(labels: Labels, ts: int | None) -> int:
        return ts if ts is not None else times[dict(labels)["id"]]  # spec families: the sample's time

    def pushed() -> dict[Labels, dict[int, float]] | None:
        got = raw_samples(prom, selector, max(times.values()) / 1000 + 1)
        ready = all(stored_at(got, lab, when(lab, ts)) is not None for lab, (_, ts) in series.items())
        return got if ready else None

    try:
        got = wait_until(pushed, timeout=30, what="every scraped series in Prometheus", proc=prom.process)
    except TimeoutError:  # the assertions below name the series that is missing
        got = raw_samples(prom, selector, max(times.values()) / 1000 + 1)
    for labels, (value, ts) in series.items():
        stored = stored_at(got, labels, when(labels, ts))
        assert stored is not None, f"{sorted(labels)} not pushed"
        assert stored == value or (math.isnan(stored) and math.isnan(value)), sorted(labels)
    at_scrape = {lab for lab, vals in got.items() if times[dict(lab)["id"]] in vals}
    pushed_only = {dict(lab)["__name__"] for lab in at_scrape - set(series)}
    assert pushed_only == {"container_last_seen"}  # /metrics stamps it with the scrape, not the sample
    assert any(dict(lab)["__name__"] == "container_memory_usage_bytes" for lab in series)
    mem_labels = frozenset({("__name__", "container_memory_usage_bytes"), ("id", first.name)})
    assert series[mem_labels][0] >= 8 * MIB
    # The machine families too, with /metrics' labels and values (stamped at each request's newest sample).
    machine = {
        frozenset({("__name__", name), *((k, v) for k, v in labels.items() if v != "")}): value
        for name, labels, value, _ in parse_exposition(daemon.get("/metrics")[1].decode())
        if name in ("machine_cpu_cores", "machine_memory_bytes")
    }
    assert len(machine) == 2
    stored_machine = {
        frozenset(r["metric"].items()): float(r["value"][1])
        for r in prom.query_once('{__name__=~"machine_cpu_cores|machine_memory_bytes"}')
    }
    assert stored_machine == machine

    # Prometheus killed mid-run, then started again on the same port and data directory.
    errors_before = counter(daemon.get("/metrics")[1].decode(), "pycadvisor_storage_errors_total")
    crash(prom)
    down_from = time.time_ns() // 1_000_000
    wait_until(
        lambda: counter(daemon.get("/metrics")[1].decode(), "pycadvisor_storage_errors_total") >= errors_before + 2,
        timeout=60,
        what="failed writes while Prometheus is dead",
        proc=daemon.process,
    )
    wait_until(
        lambda: len([t for t in history_ms(daemon, first.name) if t > down_from]) >= 2,
        timeout=60,
        what="samples collected while Prometheus is dead",
        proc=daemon.process,
    )
    assert daemon.get("/healthz") == (200, b"ok")
    revive(prom, lambda: http_get(f"{prom.url}/-/ready", timeout=2)[0] == 200)
    wait_until(delivered, timeout=60, what="the buffer drained into Prometheus", proc=daemon.process)
    body = daemon.get("/metrics")[1].decode()
    assert counter(body, "pycadvisor_storage_dropped_total") == 0

    # Every sample the daemon collected since it started (before Prometheus, and while it was dead) is stored.
    collected = history_ms(daemon, first.name)
    last = max(collected)

    def newest_stored() -> dict[int, float] | None:
        got = raw_samples(prom, f'container_memory_usage_bytes{{id="{first.name}"}}', last / 1000 + 1)
        return got.get(mem_labels) if stored_at(got, mem_labels, last) is not None else None

    stamps = wait_until(newest_stored, timeout=60, what="the newest sample stored", proc=prom.process)
    assert min(collected) < prom_started and len([t for t in collected if t > down_from]) >= 2
    assert collected <= set(stamps), sorted(collected - set(stamps))

    # Refusals of a real Prometheus are dropped and counted, never retried: a wrong path (404) and samples
    # older than its head accepts (400, "out of bounds").
    async def refused(url: str) -> tuple[int, int, int]:
        d = driver(options("remote_write", storage_driver_host=url))
        await d.start()
        add_all(d, [full_sample()])  # stamped 2025-10-09: far too old for a head started now
        await poll(lambda: d.stats().dropped == 1, timeout=30, what="the refused sample dropped")
        st = d.stats()
        await d.close()
        return st.written, st.dropped, st.errors

    assert asyncio.run(refused(f"{prom.url}/api/v1/wrong")) == (0, 1, 1)
    assert asyncio.run(refused(f"{prom.url}/api/v1/write")) == (0, 1, 1)
