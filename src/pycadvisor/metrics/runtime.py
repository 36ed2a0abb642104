"""The exporter's own process and runtime families, from the Python Prometheus client's collectors.

cAdvisor serves the Go client's ``process_*`` and ``go_*`` families; pycadvisor serves the Python
client's ``process_*`` (``ProcessCollector``), ``python_info`` (``PlatformCollector``) and
``python_gc_*`` (``GCCollector``), registered in a private registry (never the client's global
``REGISTRY``). Samples are re-rendered with Go float formatting so the whole response is uniform.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Protocol

from pycadvisor.metrics.textformat import family_header, format_value, render_labels

log = logging.getLogger(__name__)


class SampleLike(Protocol):
    """A sample as ``prometheus_client`` collectors yield it (``Sample`` named tuple)."""

    @property
    def name(self) -> str: ...
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def value(self) -> float: ...


class FamilyLike(Protocol):
    """A metric family as ``prometheus_client`` collectors yield it (``Metric``): counters are named
    without their ``_total``, their samples with it."""

    @property
    def name(self) -> str: ...
    @property
    def documentation(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def samples(self) -> Iterable[SampleLike]: ...


class Collector(Protocol):
    def collect(self) -> Iterable[FamilyLike]: ...


def default_collectors(proc: str = "/proc") -> list[Collector]:
    """The Python client's process, platform and GC collectors, in a private registry."""
    try:
        from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
    except ImportError:  # pragma: no cover - prometheus_client is a declared dependency
        log.warning("prometheus_client is not installed: no process_* or python_* families")
        return []

    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(proc=proc, registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return [registry]


def render_collected(metrics: Iterable[FamilyLike]) -> list[tuple[str, str, int]]:
    """``(family name, text block, series count)`` for each family the collectors yield."""
    out: list[tuple[str, str, int]] = []
    for m in metrics:
        name = m.name + "_total" if m.type == "counter" and not m.name.endswith("_total") else m.name
        mtype = m.type if m.type in ("counter", "gauge", "histogram", "summary") else "untyped"
        lines = [family_header(name, m.documentation, mtype)]
        for s in m.samples:
            lines.append(f"{s.name}{render_labels(sorted(s.labels.items()))} {format_value(s.value)}\n")
        if len(lines) > 1:
            out.append((name, "".join(lines), len(lines) - 1))
    return out


class RuntimeMetrics:
    """Renders the runtime collectors' families on each scrape."""

    def __init__(self, collectors: list[Collector] | None = None) -> None:
        self._collectors = default_collectors() if collectors is None else collectors

    def blocks(self) -> list[tuple[str, str, int]]:
        out: list[tuple[str, str, int]] = []
        for c in self._collectors:
            out.extend(render_collected(c.collect()))
        return out
