"""Collector configuration files (cAdvisor ``collector/config.go`` and its ``collector/config/*.json`` samples):
what they declare, and a clear error naming the file and the field for every file that cannot be used."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pycadvisor.appmetrics.config import (
    ConfigError,
    Endpoint,
    GenericConfig,
    PrometheusConfig,
    collector_configs,
    parse_config,
)

S = 1_000_000_000

# cAdvisor's collector/config/sample_config.json (generic, nginx status page).
SAMPLE_CONFIG: dict[str, Any] = {
    "endpoint": "http://localhost:8000/nginx_status",
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
            "name": "reading",
            "metric_type": "gauge",
            "units": "number of reading connections",
            "data_type": "int",
            "polling_frequency": 10,
            "regex": "Reading: ([0-9]+) .*",
        },
    ],
}


def parse(name: str, doc: Any, limit: int = 100) -> Any:
    data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return parse_config(name, "/etc/app.json", data, limit)


def error(name: str, doc: Any, limit: int = 100) -> ConfigError:
    with pytest.raises(ConfigError) as e:
        parse(name, doc, limit)
    assert str(e.value).startswith("/etc/app.json")
    return e.value


def test_labels_with_the_prefix_name_the_configs() -> None:
    labels = {"io.cadvisor.metric.prometheus": "/m.json", "io.cadvisor.metric.nginx": "/n.json", "other": "x"}
    assert collector_configs(labels) == {"prometheus": "/m.json", "nginx": "/n.json"}


def test_cadvisor_sample_generic_config() -> None:
    cfg = parse("nginx", SAMPLE_CONFIG)
    assert isinstance(cfg, GenericConfig)
    assert cfg.endpoint == Endpoint(url="http://localhost:8000/nginx_status")
    assert [m.name for m in cfg.metrics] == ["activeConnections", "reading"]
    assert cfg.metrics[0].units == "number of active connections" and cfg.metrics[0].data_type == "int"
    # polling_frequency is a Go time.Duration: 10 is 10 ns, raised to the 1 s floor as cAdvisor does.
    assert cfg.polling_ns == S


def test_cadvisor_sample_prometheus_configs() -> None:
    # collector/config/sample_config_prometheus_endpoint_config.json: the URL is built on the container's address.
    cfg = parse(
        "prometheus", {"endpoint": {"protocol": "http", "port": 8081, "path": "/METRICS"}, "polling_frequency": 10}
    )
    assert isinstance(cfg, PrometheusConfig)
    assert cfg.endpoint.resolve("172.17.0.2") == "http://172.17.0.2:8081/METRICS"
    assert cfg.keep is None and cfg.polling_ns == S
    # sample_config_prometheus_filtered.json
    filtered = parse(
        "Prometheus",
        {"endpoint": "http://localhost:8080/metrics", "polling_frequency": "15s", "metrics_config": ["qps"]},
    )
    assert isinstance(filtered, PrometheusConfig)
    assert filtered.keep == frozenset({"qps"}) and filtered.polling_ns == 15 * S


def test_endpoint_object_defaults_and_go_case_insensitive_keys() -> None:
    cfg = parse("prometheus", {"Endpoint": {}})
    assert cfg.endpoint.resolve("10.0.0.1") == "http://10.0.0.1:8000"
    assert cfg.endpoint.resolve("fd00::1") == "http://[fd00::1]:8000"


@pytest.mark.parametrize(
    ("name", "doc", "field", "detail"),
    [
        ("nginx", b"{not json", "", "not valid JSON"),
        ("nginx", b"\xff\xfe", "", "not valid JSON"),
        ("nginx", [1, 2], "", "expected a JSON object, got a list"),
        ("nginx", {"metrics_config": []}, "endpoint", "missing"),
        ("nginx", {"endpoint": 8000}, "endpoint", "expected a URL or an object, got a number"),
        ("nginx", {"endpoint": "ftp://x/"}, "endpoint", "is not an http:// or https:// URL"),
        ("nginx", {"endpoint": {"port": "http"}}, "endpoint.port", "is not a port number"),
        ("nginx", {"endpoint": {"port": 70000}}, "endpoint.port", "is not a port number"),
        ("nginx", {"endpoint": {"protocol": "gopher"}}, "endpoint.protocol", "is not http or https"),
        ("nginx", {"endpoint": "http://x/"}, "metrics_config", "no metrics provided in config"),
        ("nginx", {"endpoint": "http://x/", "metrics_config": {"a": 1}}, "metrics_config", "expected a list"),
        ("nginx", {"endpoint": "http://x/", "metrics_config": ["a"]}, "metrics_config[0]", "expected an object"),
        (
            "nginx",
            {"endpoint": "http://x/", "metrics_config": [{"name": "x"}]},
            "metrics_config[0].metric_type",
            "missing",
        ),
        (
            "prometheus",
            {"endpoint": "http://x/", "polling_frequency": "often"},
            "polling_frequency",
            "invalid duration",
        ),
        ("prometheus", {"endpoint": "http://x/", "polling_frequency": 1.5}, "polling_frequency", "got a number"),
        ("prometheus", {"endpoint": "http://x/", "metrics_config": "qps"}, "metrics_config", "expected a list"),
        ("prometheus", {"endpoint": "http://x/", "metrics_config": [1]}, "metrics_config[0]", "expected a metric name"),
    ],
)
def test_unusable_files_name_the_file_and_field(name: str, doc: Any, field: str, detail: str) -> None:
    e = error(name, doc)
    assert e.field == field
    assert detail in str(e)
    if field:
        assert f"field {field!r}" in str(e)


def _metric(**over: Any) -> dict[str, Any]:
    m: dict[str, Any] = dict(SAMPLE_CONFIG["metrics_config"][0])
    m.update(over)
    return m


@pytest.mark.parametrize(
    ("metric", "field", "detail"),
    [
        (_metric(metric_type="counter"), "metrics_config[0].metric_type", "'counter' is not one of gauge, cumulative"),
        (_metric(data_type="double"), "metrics_config[0].data_type", "'double' is not one of int, float"),
        (_metric(regex="Active ([0-9]+"), "metrics_config[0].regex", "invalid regexp"),
        (_metric(regex="Active connections"), "metrics_config[0].regex", "has no group"),
        (_metric(name=""), "metrics_config[0].name", "empty"),
        (_metric(units=5), "metrics_config[0].units", "expected a string, got a number"),
        (_metric(polling_frequency=-1), "metrics_config[0].polling_frequency", "negative"),
    ],
)
def test_bad_generic_metric_names_its_field(metric: dict[str, Any], field: str, detail: str) -> None:
    e = error("nginx", {"endpoint": "http://x/", "metrics_config": [metric]})
    assert e.field == field and detail in str(e)


def test_application_metrics_count_limit() -> None:
    e = error("nginx", SAMPLE_CONFIG, limit=1)
    assert e.field == "metrics_config" and "too many metrics defined: 2 limit: 1" in str(e)
    e = error("prometheus", {"endpoint": "http://x/", "metrics_config": ["a", "b"]}, limit=1)
    assert e.field == "metrics_config" and "too many metrics defined: 2 limit 1" in str(e)
