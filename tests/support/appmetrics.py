"""A Docker container that declares application metrics endpoints (``io.cadvisor.metric.*`` labels) and serves
them from the offline busybox image (support/docker_engine.py): a Prometheus text file and an nginx-style status
page with busybox ``httpd`` on port 8000, configs in its own root (written a second after it starts); optionally
a dead endpoint (nothing on 8999), one that accepts and never answers (8998), a config that does not parse and
one that is missing.
"""

from __future__ import annotations

import json

from support.docker_engine import Container, DockerEngine

PROM_TEXT = """\
# HELP app_requests_total Requests served.
# TYPE app_requests_total counter
app_requests_total{code="200",method="get"} 1027
app_requests_total{code="500",method="get"} 3
# HELP app_queue_depth Jobs waiting.
# TYPE app_queue_depth gauge
app_queue_depth 4.5
# HELP app_ignored Not in metrics_config.
# TYPE app_ignored gauge
app_ignored 1
"""
PROM_CONFIG = {
    "endpoint": "http://localhost:8000/metrics",
    "polling_frequency": "1s",
    "metrics_config": ["app_requests_total", "app_queue_depth"],
}
STATUS_TEXT = "Active connections: 7 \nserver accepts handled requests\nReading: 1 Writing: 2 Waiting: 4\n"
STATUS_CONFIG = {
    "endpoint": {"protocol": "http", "port": 8000, "path": "/status"},
    "metrics_config": [
        {
            "name": "activeConnections",
            "metric_type": "gauge",
            "units": "number of active connections",
            "data_type": "int",
            "polling_frequency": 10,
            "regex": "Active connections: ([0-9]+)",
        },
        {
            "name": "waiting",
            "metric_type": "gauge",
            "units": "number of waiting connections",
            "data_type": "float",
            "polling_frequency": 10,
            "regex": "Waiting: ([0-9]+)",
        },
    ],
}
DEAD_CONFIG = {"endpoint": "http://localhost:8999/metrics", "polling_frequency": "1s"}
HUNG_CONFIG = {"endpoint": "http://127.0.0.1:8998/metrics", "polling_frequency": "1s"}


def _script() -> str:
    pages = {"/www/metrics": PROM_TEXT, "/www/status": STATUS_TEXT}
    configs = {
        "/etc/prom.json": json.dumps(PROM_CONFIG),
        "/etc/status.json": json.dumps(STATUS_CONFIG),
        "/etc/dead.json": json.dumps(DEAD_CONFIG),
        "/etc/hung.json": json.dumps(HUNG_CONFIG),
        "/etc/broken.json": '{"endpoint": "http://localhost:8000/", "metrics_config": [{"name": "x"}]}',
    }
    parts = ["mkdir -p /www"]
    parts += [f"printf '%s' '{text}' > {path}" for path, text in pages.items()]
    # httpd on the container's addresses (a config with protocol/port/path is sent to its eth0 address, as in
    # cAdvisor); nothing on the host's side can reach it. A listener that accepts and never answers on 8998.
    parts.append("httpd -p 8000 -h /www")
    parts.append("(nc -ll -p 8998 -e sleep 3600 &)")
    # The configs are written a second after the start, once the runtime has reported the container: as an
    # entrypoint that renders its config does.
    parts.append("sleep 1")
    parts += [f"printf '%s' '{text}' > {path}" for path, text in configs.items()]
    parts.append("exec sleep 3600")
    return " && ".join(parts)


def run_app_container(engine: DockerEngine, *, with_failures: bool = True) -> Container:
    labels = {"prometheus": "/etc/prom.json", "status": "/etc/status.json"}
    if with_failures:
        labels |= {
            "prometheus_dead": "/etc/dead.json",
            "prometheus_hung": "/etc/hung.json",
            "broken": "/etc/broken.json",
            "missing": "/etc/nothing-here.json",
        }
    opts: list[str] = []
    for name, path in labels.items():
        opts += ["--label", f"io.cadvisor.metric.{name}={path}"]
    return engine.run_busybox("sh", "-c", _script(), opts=tuple(opts))
