"""Endpoint answers as custom metrics (cAdvisor ``collector/prometheus_collector_test.go``,
``generic_collector_test.go``): Prometheus text through prometheus_client's parser, regexes for the generic one."""

from __future__ import annotations

import json

import pytest

from pycadvisor.appmetrics.config import GenericConfig, PrometheusConfig, parse_config
from pycadvisor.appmetrics.parse import ParseError, parse_generic
from pycadvisor.appmetrics.promtext import parse_prometheus

NOW = 1_700_000_000_000_000_000

# The page of cAdvisor's TestPrometheus.
PAGE = """# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 5.8348000000000004e-05
go_gc_duration_seconds{quantile="1"} 0.000499764
go_gc_duration_seconds_sum 1.7560473e+07
go_gc_duration_seconds_count 2693
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 16
# HELP empty_metric A metric without any values
# TYPE empty_metric counter
# HELP metric_with_spaces_in_label A metric with spaces in a label.
# TYPE metric_with_spaces_in_label gauge
metric_with_spaces_in_label{name="Network Agent"} 72
# HELP metric_with_multiple_labels A metric with multiple labels.
# TYPE metric_with_multiple_labels gauge
metric_with_multiple_labels{label1="One", label2="Two", label3="Three"} 81
# TYPE http_requests_total counter
http_requests_total{code="200"} 1027 1395066363000
"""


def prom(keep: list[str] | None = None) -> PrometheusConfig:
    doc: dict[str, object] = {"endpoint": "http://localhost:8080/metrics"}
    if keep is not None:
        doc["metrics_config"] = keep
    cfg = parse_config("prometheus", "/p.json", json.dumps(doc).encode(), 100)
    assert isinstance(cfg, PrometheusConfig)
    return cfg


def test_cadvisor_prometheus_page() -> None:
    r = parse_prometheus(PAGE, prom(), NOW, 100)
    specs = {s.name: (s.type, s.format) for s in r.specs}
    assert specs == {
        "go_gc_duration_seconds": ("SUMMARY", "float"),
        "go_goroutines": ("gauge", "float"),
        "metric_with_spaces_in_label": ("gauge", "float"),
        "metric_with_multiple_labels": ("gauge", "float"),
        "http_requests_total": ("cumulative", "float"),
    }  # empty_metric has no sample: no spec, as expfmt gives no family for it
    gc = r.metrics["go_gc_duration_seconds"]
    assert [(v.float_value, v.label) for v in gc] == [
        (5.8348000000000004e-05, "__name__=go_gc_duration_seconds\xffquantile=0"),
        (0.000499764, "__name__=go_gc_duration_seconds\xffquantile=1"),
    ]
    assert r.metrics["go_gc_duration_seconds_sum"][0].float_value == 1.7560473e07
    assert r.metrics["go_gc_duration_seconds_count"][0].label == "__name__=go_gc_duration_seconds_count"
    assert r.metrics["go_goroutines"][0].float_value == 16 and r.metrics["go_goroutines"][0].timestamp == NOW
    spaces = r.metrics["metric_with_spaces_in_label"][0]
    assert spaces.label == "__name__=metric_with_spaces_in_label\xffname=Network Agent"
    assert spaces.labels == {"name": "Network Agent"}
    multi = r.metrics["metric_with_multiple_labels"][0]
    assert multi.label == "__name__=metric_with_multiple_labels\xfflabel1=One\xfflabel2=Two\xfflabel3=Three"
    # A sample's own timestamp (ms) is kept.
    assert r.metrics["http_requests_total"][0].timestamp == 1_395_066_363_000_000_000


def test_metrics_config_keeps_only_the_named_samples() -> None:
    r = parse_prometheus(PAGE, prom(["go_goroutines", "http_requests_total"]), NOW, 100)
    assert set(r.metrics) == {"go_goroutines", "http_requests_total"}
    assert {s.name for s in r.specs} == {"go_goroutines", "http_requests_total"}


def test_more_metrics_than_the_limit_keeps_nothing() -> None:
    with pytest.raises(ParseError, match="too many metrics to collect"):
        parse_prometheus(PAGE, prom(), NOW, 3)


@pytest.mark.parametrize("garbage", ["<html><body>Not Found</body></html>", "x{ 1", "metric_a not-a-number\n"])
def test_garbage_is_a_parse_error(garbage: str) -> None:
    with pytest.raises(ParseError, match="not Prometheus text"):
        parse_prometheus(garbage, prom(), NOW, 100)


def generic() -> GenericConfig:
    doc = {
        "endpoint": "http://localhost:8000/nginx_status",
        "metrics_config": [
            {
                "name": "activeConnections",
                "metric_type": "gauge",
                "data_type": "int",
                "regex": "Active connections: ([0-9]+)",
            },
            {"name": "ratio", "metric_type": "gauge", "data_type": "float", "regex": "Ratio: ([0-9.]+)"},
            {"name": "waiting", "metric_type": "gauge", "data_type": "int", "regex": "Waiting: ([0-9a-z]+)"},
            {"name": "absent", "metric_type": "cumulative", "data_type": "int", "regex": "Absent: ([0-9]+)"},
        ],
    }
    cfg = parse_config("nginx", "/n.json", json.dumps(doc).encode(), 100)
    assert isinstance(cfg, GenericConfig)
    return cfg


def test_generic_collector_takes_each_first_group() -> None:
    r = parse_generic("Active connections: 3 \nRatio: 0.25\nWaiting: lots\n", generic(), NOW)
    assert r.metrics["activeConnections"][0].int_value == 3 and r.metrics["activeConnections"][0].timestamp == NOW
    assert r.metrics["ratio"][0].float_value == 0.25
    # Unparseable and unmatched metrics are errors and left out (never a fake zero); the others are kept.
    assert "waiting" not in r.metrics and "absent" not in r.metrics
    assert len(r.errors) == 2 and any("'lots' is not an int" in e for e in r.errors)
    assert [s.name for s in r.specs] == ["activeConnections", "ratio", "waiting", "absent"]
    assert r.specs[3].type == "cumulative" and r.specs[0].format == "int"
