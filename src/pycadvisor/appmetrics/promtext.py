"""A Prometheus endpoint's answer as cAdvisor's custom metrics, read with prometheus_client's parser (cAdvisor
``collector/prometheus_collector.go``: ``Collect`` and ``GetSpec`` over ``expfmt``).

Its own module so that ``prometheus_client`` (about 1.1 MiB of RSS with what its package imports) is loaded
only once a container declares a Prometheus endpoint (``poller.py`` imports it by name then).
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from pycadvisor.appmetrics.config import PrometheusConfig
from pycadvisor.appmetrics.parse import ParseError, Result
from pycadvisor.model.container import MetricSpec, MetricVal

# collector/prometheus_collector.go: metricType maps counter and gauge, and keeps client_model's name of the others.
_PROM_TYPES = {
    "counter": "cumulative",
    "gauge": "gauge",
    "summary": "SUMMARY",
    "histogram": "HISTOGRAM",
    "gaugehistogram": "GAUGE_HISTOGRAM",
    "unknown": "UNTYPED",
    "untyped": "UNTYPED",
}


def parse_prometheus(text: str, cfg: PrometheusConfig, now_ns: int, count_limit: int) -> Result:
    """Every sample of ``text`` (those ``cfg.keep`` names, if set), keyed by the sample's own name.

    A summary's or histogram's ``_sum``/``_count``/``_bucket`` samples are metrics of their own, as the Go
    decoder makes them; a sample without a timestamp is stamped ``now_ns``. More distinct names than
    ``count_limit`` is an error ("too many metrics to collect") and keeps nothing."""
    metrics: dict[str, list[MetricVal]] = {}
    specs: list[MetricSpec] = []
    keep = cfg.keep
    try:
        for fam in text_string_to_metric_families(text):
            if not fam.samples:
                continue  # a TYPE line without samples: expfmt yields no family for it
            name = fam.name
            if fam.type == "counter" and not any(s.name == name for s in fam.samples):
                name += "_total"  # prometheus_client cuts a counter's _total; expfmt keeps the name as written
            if keep is None or name in keep:
                kind = _PROM_TYPES.get(fam.type, fam.type.upper())
                specs.append(MetricSpec(name=name, type=kind, format="float", units=""))
            for s in fam.samples:
                if keep is not None and s.name not in keep:
                    continue
                labels = {str(k): str(v) for k, v in s.labels.items()}
                pairs = sorted([("__name__", s.name), *labels.items()])
                ts = int(float(s.timestamp) * 1e9) if s.timestamp is not None else now_ns
                vals = metrics.setdefault(s.name, [])
                vals.append(
                    MetricVal(
                        label="\xff".join(f"{k}={v}" for k, v in pairs),
                        labels=labels,
                        timestamp=ts,
                        float_value=float(s.value),
                    )
                )
                if len(metrics) > count_limit:
                    raise ParseError(f"too many metrics to collect (limit {count_limit})")
    except ParseError:
        raise
    except (ValueError, TypeError, IndexError, KeyError) as e:
        raise ParseError(f"not Prometheus text: {e}") from None
    return Result(metrics=metrics, specs=specs)
