"""Application metrics end to end: a real Docker container declares endpoints by label, the real daemon polls them.

The container (support/appmetrics.py) serves a Prometheus text file and an nginx-style status page that only its
network namespace can reach (the engine has its own); its configs live in its own root. A third endpoint is dead,
a fourth accepts and never answers, a fifth config does not parse and a sixth is missing.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.appmetrics import run_app_container
from support.docker_engine import DockerEngine
from support.procs import wait_until

pytestmark = [pytest.mark.root, pytest.mark.service]

FAST = ("-housekeeping_interval=200ms", "-allow_dynamic_housekeeping=false", "-global_housekeeping_interval=2s")


def _get_json(daemon: Any, path: str) -> Any:
    status, body = daemon.get(path)
    assert status == 200, f"{path} -> {status}: {body[:300]!r}"
    return json.loads(body)


def test_container_endpoints_reach_the_api_metrics_and_stats(
    docker_engine: DockerEngine, pycadvisor_daemon_factory: Any, prometheus_factory: Any
) -> None:
    # Pushed by remote write too, as /metrics has them.
    prom = prometheus_factory([], remote_write_receiver=True)
    # The daemon first, the container after it (a container started while pycadvisor runs).
    daemon = pycadvisor_daemon_factory(
        *FAST,
        f"-docker={docker_engine.endpoint}",
        "-storage_driver=remote_write",
        f"-storage_driver_host={prom.url}/api/v1/write",
        "-storage_driver_buffer_duration=500ms",
    )
    c = run_app_container(docker_engine)
    try:
        name = c.cgroup

        def appmetrics() -> dict[str, Any] | None:
            doc = _get_json(daemon, f"/api/v2.0/appmetrics/{name}")[name]
            want = {"app_requests_total", "app_queue_depth", "activeConnections", "waiting"}
            return doc if want <= set(doc) else None

        doc = wait_until(appmetrics, timeout=30, what="application metrics of the container", proc=daemon.process)
        assert set(doc) == {"app_requests_total", "app_queue_depth", "activeConnections", "waiting"}
        ok = doc["app_requests_total"]["__name__=app_requests_total\xffcode=200\xffmethod=get"]
        assert ok[0]["float_value"] == 1027
        assert doc["app_queue_depth"]["__name__=app_queue_depth"][0]["float_value"] == 4.5
        assert doc["activeConnections"][""][0]["int_value"] == 7
        assert doc["waiting"][""][0]["float_value"] == 4

        # v2 stats: custom_metrics in the samples, the spec lists the metrics.
        stats = _get_json(daemon, f"/api/v2.1/stats/{name}?count=1")[name]
        assert stats["spec"]["has_custom_metrics"] is True
        specs = {m["name"]: m for m in stats["spec"]["custom_metrics"]}
        assert specs["app_requests_total"] == {
            "name": "app_requests_total",
            "type": "cumulative",
            "format": "float",
            "units": "",
        }
        assert specs["activeConnections"] == {
            "name": "activeConnections",
            "type": "gauge",
            "format": "int",
            "units": "number of active connections",
        }
        sample = stats["stats"][-1]["custom_metrics"]
        assert "labels" not in sample["app_queue_depth"][0]  # omitempty, as Go
        assert sample["app_queue_depth"][0]["label"] == "__name__=app_queue_depth"
        assert {v["labels"]["code"] for v in sample["app_requests_total"]} == {"200", "500"}

        # /metrics: each metric under its own name, gauge, cAdvisor's HELP, the container's labels + app_<label>.
        status, body = daemon.get("/metrics")
        assert status == 200
        fams = {f.name: f for f in text_string_to_metric_families(body.decode())}
        req = fams["app_requests_total"]
        assert req.type == "gauge" and req.documentation == "Custom application metric."
        by_code = {s.labels["app_code"]: s for s in req.samples}
        assert by_code["200"].value == 1027 and by_code["500"].value == 3
        assert by_code["200"].labels["id"] == name and by_code["200"].labels["name"] == c.name
        assert by_code["200"].labels["app_method"] == "get"
        assert [s.value for s in fams["activeConnections"].samples] == [7]
        assert "app_ignored" not in fams
        # Prometheus, fed by remote write, holds the same series (its empty labels left out, as it stores them).
        scraped = {k: v for k, v in by_code["200"].labels.items() if v} | {"__name__": "app_requests_total"}
        stored = prom.query(f'app_requests_total{{id="{name}",app_code="200"}}')
        assert [(r["metric"], float(r["value"][1])) for r in stored] == [(scraped, 1027.0)]

        # The dead, hung and badly configured endpoints are errors counted, and fail only themselves.
        def errors() -> dict[str, float] | None:
            _, text = daemon.get("/metrics")
            got = {
                s.labels["collector"]: s.value
                for f in text_string_to_metric_families(text.decode())
                if f.name == "pycadvisor_appmetrics_errors"
                for s in f.samples
                if s.labels["id"] == name and s.name.endswith("_total")
            }
            hung = any("'prometheus_hung'" in line and "timed out" in line for line in _log(daemon).splitlines())
            return got if got.get("prometheus_dead", 0) >= 2 and hung else None

        counted = wait_until(errors, timeout=40, what="errors of the dead and hung endpoints", proc=daemon.process)
        # Each config is missing at first (written a second after the start) and read again until usable;
        # broken.json then is malformed, nothing-here.json stays missing. Each distinct failure counts once.
        wanted = (
            "/etc/broken.json: field 'metrics_config[0].metric_type': missing",
            "/etc/nothing-here.json: cannot read it in the container's root (No such file or directory)",
        )
        wait_until(lambda: all(w in _log(daemon) for w in wanted), timeout=20, what="config errors logged")
        counted = errors() or counted
        assert counted["broken"] >= 1 and counted["missing"] == 1  # each distinct failure once
        # Missing at first, maybe read while being written: the healthy endpoints' configs, never a poll of theirs.
        assert counted["prometheus"] <= 2 and counted["status"] <= 2

        # Neither sampling nor the healthy endpoints wait for them: both go on while the hung endpoint holds a poll.
        t0 = time.time()
        wait_until(
            lambda: (
                len(_get_json(daemon, f"/api/v2.0/stats/{name}?count=10")[name]) == 10
                and _newest(daemon, name) > t0 + 1.0
                and _newest_app_value(daemon, name) > t0 + 1.0  # the healthy endpoint is polled again meanwhile
            ),
            timeout=20,
            what="samples taken while an endpoint hangs",
            proc=daemon.process,
        )

        # The application's server dies: its metrics leave /metrics (no stale values), and come back with it.
        docker_engine.exec(c, "killall", "httpd")
        wait_until(lambda: "app_queue_depth" not in _families(daemon), timeout=20, what="metrics of a dead server gone")
        assert "pycadvisor_appmetrics_errors" in _families(daemon)
        docker_engine.exec(c, "httpd", "-p", "8000", "-h", "/www")
        wait_until(lambda: "app_queue_depth" in _families(daemon), timeout=20, what="metrics of the restarted server")
        assert "answer again" in _log(daemon)
    finally:
        docker_engine.rm(c)


def _ts(text: str) -> float:
    from pycadvisor.model.codec import parse_time

    return parse_time(text) / 1e9


def _newest(daemon: Any, name: str) -> float:
    return _ts(_get_json(daemon, f"/api/v2.0/stats/{name}?count=1")[name][-1]["timestamp"])


def _newest_app_value(daemon: Any, name: str) -> float:
    doc = _get_json(daemon, f"/api/v2.0/appmetrics/{name}")[name]
    return max(_ts(v["timestamp"]) for v in doc["app_queue_depth"]["__name__=app_queue_depth"])


def _log(daemon: Any) -> str:
    """The daemon's whole log (``Daemon.log`` is its tail)."""
    with open(daemon.process.log_path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _families(daemon: Any) -> set[str]:
    status, body = daemon.get("/metrics")
    assert status == 200
    return {f.name for f in text_string_to_metric_families(body.decode())}
