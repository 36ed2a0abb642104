"""The exporter's own process and runtime families.

cAdvisor serves the Go client's ``process_*`` and ``go_*`` families; pycadvisor serves the Python
client's ``process_*`` families, ``python_info`` (``PlatformCollector``) and ``python_gc_*``
(``GCCollector``). Samples are re-rendered with Go float formatting so the whole response is uniform.

The ``process_*`` families come from :class:`ProcessFamilies`, which yields what the client's
``ProcessCollector`` yields (names, types, HELP, values) at a fraction of its cost, from the figures
the manager's host façade reads of ``/proc/self`` (``host/ownprocess.py``). ``python_info`` and
``python_gc_*`` come from :class:`PlatformFamilies` and :class:`GCFamilies`, the client's
``platform_collector.py`` and ``gc_collector.py`` line for line (tests/metrics/test_runtime.py compares
them with the client's): importing ``prometheus_client`` for these two would cost the daemon about 1.1 MiB
of RSS (its package imports its exposition, WSGI and HTTP servers), for a dozen lines.
"""

from __future__ import annotations

import gc
import logging
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from pycadvisor.metrics.textformat import family_header, format_value, render_labels
from pycadvisor.model.process import OwnProcessStats

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


_NO_LABELS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class Family:
    """One unlabelled family; counters are named without ``_total`` (as the client names them)."""

    name: str
    documentation: str
    type: str
    samples: tuple[Sample, ...]


def _gauge(name: str, documentation: str, value: float) -> Family:
    return Family(name, documentation, "gauge", (Sample(name, _NO_LABELS, value),))


class OwnProcessSource(Protocol):
    """Where the exporter's own figures come from (the manager's ``HostInfo``, which reads ``/proc/self``)."""

    def own_process(self) -> OwnProcessStats | None: ...


class ProcessFamilies:
    """This process's ``process_*`` families, as ``prometheus_client``'s ``ProcessCollector`` yields them.

    Same names, types, HELP text and computations (``prometheus_client/process_collector.py``), from
    the figures ``source`` reads. Like the client, nothing is yielded without a boot time, the stat
    families are left out when ``stat`` could not be read, and the fd families when ``limits`` or
    ``fd`` could not.
    """

    def __init__(self, source: OwnProcessSource) -> None:
        self._source = source

    def collect(self) -> list[Family]:
        p = self._source.own_process()
        if p is None:
            return []
        out: list[Family] = []
        if p.virtual_memory_bytes is not None:
            out.append(_gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", p.virtual_memory_bytes))
        if p.resident_memory_bytes is not None:
            out.append(
                _gauge("process_resident_memory_bytes", "Resident memory size in bytes.", p.resident_memory_bytes)
            )
        if p.start_time_seconds is not None:
            out.append(
                _gauge(
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    p.start_time_seconds,
                )
            )
        if p.cpu_seconds is not None:
            out.append(
                Family(
                    "process_cpu_seconds",
                    "Total user and system CPU time spent in seconds.",
                    "counter",
                    (Sample("process_cpu_seconds_total", _NO_LABELS, p.cpu_seconds),),
                )
            )
        if p.open_fds is not None and p.max_fds is not None:
            # An int, as the client reports it (it passes len() through).
            out.append(_gauge("process_open_fds", "Number of open file descriptors.", p.open_fds))
            out.append(_gauge("process_max_fds", "Maximum number of open file descriptors.", p.max_fds))
        return out


class PlatformFamilies:
    """``python_info``, as ``prometheus_client``'s ``PlatformCollector`` yields it on CPython (read once)."""

    def __init__(self) -> None:
        major, minor, patchlevel = platform.python_version_tuple()
        labels = {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "major": major,
            "minor": minor,
            "patchlevel": patchlevel,
        }
        self._families = [
            Family("python_info", "Python platform information", "gauge", (Sample("python_info", labels, 1),))
        ]

    def collect(self) -> list[Family]:
        return self._families


class GCFamilies:
    """``python_gc_*``, as ``prometheus_client``'s ``GCCollector`` yields them: per generation of ``gc.get_stats()``."""

    _FAMILIES = (
        ("python_gc_objects_collected", "Objects collected during gc", "collected"),
        ("python_gc_objects_uncollectable", "Uncollectable objects found during GC", "uncollectable"),
        ("python_gc_collections", "Number of times this generation was collected", "collections"),
    )

    def collect(self) -> list[Family]:
        stats = gc.get_stats()
        return [
            Family(
                name,
                doc,
                "counter",
                tuple(Sample(name + "_total", {"generation": str(g)}, st[key]) for g, st in enumerate(stats)),
            )
            for name, doc, key in self._FAMILIES
        ]


def default_collectors(own_process: OwnProcessSource | None = None) -> list[Collector]:
    """Our ``process_*`` families (with a source of them), ``python_info`` and, on CPython (as the client's
    ``GCCollector``), ``python_gc_*``."""
    out: list[Collector] = [] if own_process is None else [ProcessFamilies(own_process)]
    out.append(PlatformFamilies())
    if platform.python_implementation() == "CPython":
        out.append(GCFamilies())
    return out


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
