"""The collector configuration files a container names in its labels (cAdvisor ``collector/config.go``,
``collector_manager.go``, ``generic_collector.go`` and ``prometheus_collector.go``: ``NewCollector``,
``NewPrometheusCollector``).

Two formats, chosen by the label's name as cAdvisor's ``manager.registerCollectors`` does (a name starting
with ``prometheus`` or ``Prometheus`` is a Prometheus endpoint):

- Prometheus: ``{"endpoint": ..., "polling_frequency": N, "metrics_config": ["name", ...]}`` (an empty list
  keeps every metric);
- generic: ``{"endpoint": ..., "metrics_config": [{"name", "metric_type", "units", "data_type",
  "polling_frequency", "regex"}, ...]}``.

``endpoint`` is a URL string or ``{"protocol": "http", "port": 8000, "path": ""}`` (those defaults), which
is completed with the container's address. A polling frequency is a Go ``time.Duration``: a JSON number
counts nanoseconds (so cAdvisor's sample ``10`` is 10 ns, which the 1 s floor makes 1 s); a Go duration
string (``"10s"``) is accepted too. Every error names the file and the field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pycadvisor.durations import parse_go_duration

LABEL_PREFIX = "io.cadvisor.metric."  # collector/collector_manager.go: metricLabelPrefix
MIN_POLLING_NS = 1_000_000_000  # "Minimum supported polling frequency is 1s."
METRIC_TYPES = ("gauge", "cumulative")  # info/v1/metric.go: MetricGauge, MetricCumulative
DATA_TYPES = ("int", "float")  # info/v1/metric.go: IntType, FloatType


_KINDS = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}


class ConfigError(ValueError):
    """A collector configuration that cannot be used; names the file and the field."""

    def __init__(self, path: str, field_name: str, detail: str) -> None:
        where = f"{path}: field {field_name!r}" if field_name else path
        super().__init__(f"{where}: {detail}")
        self.path = path
        self.field = field_name


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Either a full ``url`` or the parts of one built on the container's address."""

    url: str = ""
    protocol: str = "http"
    port: int = 8000
    path: str = ""

    def resolve(self, container_host: str) -> str:
        """The URL to fetch (cAdvisor ``collector/util.go``: ``configure``)."""
        if self.url:
            return self.url
        host = f"[{container_host}]" if ":" in container_host else container_host
        return f"{self.protocol}://{host}:{self.port}{self.path}"


@dataclass(frozen=True, slots=True)
class GenericMetric:
    name: str
    metric_type: str
    units: str
    data_type: str
    polling_ns: int
    regex: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class GenericConfig:
    name: str  # the label's <name>
    path: str  # the file, as the label names it
    endpoint: Endpoint
    metrics: tuple[GenericMetric, ...]
    polling_ns: int  # the smallest of the metrics' frequencies, at least 1 s


@dataclass(frozen=True, slots=True)
class PrometheusConfig:
    name: str
    path: str
    endpoint: Endpoint
    polling_ns: int
    keep: frozenset[str] | None = field(default=None)  # metric names to keep; None: all


CollectorConfig = GenericConfig | PrometheusConfig


def collector_configs(labels: dict[str, str]) -> dict[str, str]:
    """``<name> -> config path`` from a container's labels (``GetCollectorConfigs``)."""
    return {k[len(LABEL_PREFIX) :]: v for k, v in labels.items() if k.startswith(LABEL_PREFIX)}


def is_prometheus(name: str) -> bool:
    return name.startswith(("prometheus", "Prometheus"))


def parse_config(name: str, path: str, data: bytes, count_limit: int) -> CollectorConfig:
    """Parse one configuration file; raise :class:`ConfigError` naming ``path`` and the field."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(path, "", f"not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ConfigError(path, "", f"expected a JSON object, got {_kind(doc)}")
    doc = {str(k).lower(): v for k, v in doc.items()}  # Go's encoding/json matches field names case-insensitively
    if "endpoint" not in doc:
        raise ConfigError(path, "endpoint", "missing")
    endpoint = _endpoint(path, doc["endpoint"])
    if is_prometheus(name):
        return _prometheus(name, path, doc, endpoint, count_limit)
    return _generic(name, path, doc, endpoint, count_limit)


def _prometheus(name: str, path: str, doc: dict[str, Any], endpoint: Endpoint, limit: int) -> PrometheusConfig:
    polling = max(MIN_POLLING_NS, _duration(path, "polling_frequency", doc.get("polling_frequency")))
    wanted = doc.get("metrics_config")
    keep: frozenset[str] | None = None
    if wanted is not None:
        if not isinstance(wanted, list):
            raise ConfigError(path, "metrics_config", f"expected a list of metric names, got {_kind(wanted)}")
        for i, w in enumerate(wanted):
            if not isinstance(w, str):
                raise ConfigError(path, f"metrics_config[{i}]", f"expected a metric name, got {_kind(w)}")
        if len(wanted) > limit:
            raise ConfigError(path, "metrics_config", f"too many metrics defined: {len(wanted)} limit {limit}")
        keep = frozenset(wanted) if wanted else None
    return PrometheusConfig(name=name, path=path, endpoint=endpoint, polling_ns=polling, keep=keep)


def _generic(name: str, path: str, doc: dict[str, Any], endpoint: Endpoint, limit: int) -> GenericConfig:
    items = doc.get("metrics_config")
    if items is None or items == []:
        raise ConfigError(path, "metrics_config", "no metrics provided in config")
    if not isinstance(items, list):
        raise ConfigError(path, "metrics_config", f"expected a list of metrics, got {_kind(items)}")
    if len(items) > limit:
        raise ConfigError(path, "metrics_config", f"too many metrics defined: {len(items)} limit: {limit}")
    metrics = []
    min_polling = 0
    for i, item in enumerate(items):
        where = f"metrics_config[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(path, where, f"expected an object, got {_kind(item)}")
        item = {str(k).lower(): v for k, v in item.items()}
        mname = _string(path, f"{where}.name", item.get("name"), required=True)
        mtype = _string(path, f"{where}.metric_type", item.get("metric_type"), required=True)
        if mtype not in METRIC_TYPES:
            raise ConfigError(path, f"{where}.metric_type", f"{mtype!r} is not one of {', '.join(METRIC_TYPES)}")
        dtype = _string(path, f"{where}.data_type", item.get("data_type"), required=True)
        if dtype not in DATA_TYPES:
            raise ConfigError(path, f"{where}.data_type", f"{dtype!r} is not one of {', '.join(DATA_TYPES)}")
        units = _string(path, f"{where}.units", item.get("units"), required=False)
        polling = _duration(path, f"{where}.polling_frequency", item.get("polling_frequency"))
        if polling and (min_polling == 0 or polling < min_polling):
            min_polling = polling
        pattern = _string(path, f"{where}.regex", item.get("regex"), required=True)
        try:
            rx = re.compile(pattern)
        except re.error as e:
            raise ConfigError(path, f"{where}.regex", f"invalid regexp {pattern!r}: {e}") from None
        if rx.groups < 1:
            raise ConfigError(path, f"{where}.regex", f"{pattern!r} has no group to take the value from")
        metrics.append(
            GenericMetric(name=mname, metric_type=mtype, units=units, data_type=dtype, polling_ns=polling, regex=rx)
        )
    return GenericConfig(
        name=name, path=path, endpoint=endpoint, metrics=tuple(metrics), polling_ns=max(MIN_POLLING_NS, min_polling)
    )


def _endpoint(path: str, v: Any) -> Endpoint:
    if isinstance(v, str):
        if not v.startswith(("http://", "https://")):
            raise ConfigError(path, "endpoint", f"{v!r} is not an http:// or https:// URL")
        return Endpoint(url=v)
    if not isinstance(v, dict):
        raise ConfigError(path, "endpoint", f"expected a URL or an object, got {_kind(v)}")
    v = {str(k).lower(): x for k, x in v.items()}
    protocol = _string(path, "endpoint.protocol", v.get("protocol", "http"), required=True)
    if protocol not in ("http", "https"):
        raise ConfigError(path, "endpoint.protocol", f"{protocol!r} is not http or https")
    port_v = v.get("port", 8000)
    try:
        if isinstance(port_v, bool) or not isinstance(port_v, int | str):
            raise ValueError
        port = int(port_v)
    except ValueError:
        raise ConfigError(path, "endpoint.port", f"{port_v!r} is not a port number") from None
    if not 0 < port < 65536:
        raise ConfigError(path, "endpoint.port", f"{port} is not a port number")
    url_path = _string(path, "endpoint.path", v.get("path", ""), required=False)
    return Endpoint(protocol=protocol, port=port, path=url_path)


def _duration(path: str, field_name: str, v: Any) -> int:
    if v is None:
        return 0
    if isinstance(v, int) and not isinstance(v, bool):
        if v < 0:
            raise ConfigError(path, field_name, f"{v} is negative")
        return v  # nanoseconds: a Go time.Duration decoded from a JSON number
    if isinstance(v, str):
        try:
            ns = parse_go_duration(v)
        except ValueError as e:
            raise ConfigError(path, field_name, str(e)) from None
        if ns < 0:
            raise ConfigError(path, field_name, f"{v!r} is negative")
        return ns
    raise ConfigError(path, field_name, f'expected nanoseconds or a duration such as "10s", got {_kind(v)}')


def _string(path: str, field_name: str, v: Any, *, required: bool) -> str:
    if v is None:
        if required:
            raise ConfigError(path, field_name, "missing")
        return ""
    if not isinstance(v, str):
        raise ConfigError(path, field_name, f"expected a string, got {_kind(v)}")
    if required and not v:
        raise ConfigError(path, field_name, "empty")
    return v


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    return _KINDS.get(type(v), type(v).__name__)
