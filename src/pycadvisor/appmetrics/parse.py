"""An endpoint's answer as cAdvisor's custom metrics: ``{metric name: [MetricVal]}`` and the metrics' specs.

The generic collector applies each metric's regular expression to the page and takes its first group
(``collector/generic_collector.go``: ``Collect``). Prometheus text is read in ``promtext.py``, which the
poller imports on the first Prometheus endpoint (its parser brings ``prometheus_client``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pycadvisor.appmetrics.config import GenericConfig
from pycadvisor.model.container import MetricSpec, MetricVal


class ParseError(ValueError):
    """The answer could not be read at all (no metric is kept from it)."""


@dataclass(slots=True)
class Result:
    metrics: dict[str, list[MetricVal]]
    specs: list[MetricSpec]
    errors: list[str] = field(default_factory=list)  # metrics that could not be read (the others are kept)


def generic_specs(cfg: GenericConfig) -> list[MetricSpec]:
    """The specs the configuration declares (``GenericCollector.GetSpec``)."""
    return [MetricSpec(name=m.name, type=m.metric_type, format=m.data_type, units=m.units) for m in cfg.metrics]


def parse_generic(text: str, cfg: GenericConfig, now_ns: int) -> Result:
    """Each configured metric's first regex match, as an int or a float; a metric that does not match or
    does not parse is an error and is left out (cAdvisor stores a zero for the latter: never a fake zero here)."""
    metrics: dict[str, list[MetricVal]] = {}
    errors: list[str] = []
    for m in cfg.metrics:
        found = m.regex.search(text)
        if found is None or found.group(1) is None:
            errors.append(f"no match found for regexp: {m.regex.pattern} for metric {m.name!r} in config")
            continue
        raw = found.group(1).strip()
        try:
            if m.data_type == "float":
                val = MetricVal(timestamp=now_ns, float_value=float(raw))
            else:
                val = MetricVal(timestamp=now_ns, int_value=int(raw, 10))
        except ValueError:
            errors.append(f"metric {m.name!r}: {raw!r} is not {'a float' if m.data_type == 'float' else 'an int'}")
            continue
        metrics[m.name] = [val]
    return Result(metrics=metrics, specs=generic_specs(cfg), errors=errors)
