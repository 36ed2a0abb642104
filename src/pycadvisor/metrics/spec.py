"""Declarative description of one container metric family (cAdvisor's ``containerMetric``).

Each family module (``cpu.py``, ``memory.py``, ...) is a table of :class:`MetricSpec`; the renderer
(:mod:`pycadvisor.metrics.render`) walks the table for every container. Exactly one source of values
is given per spec:

- ``value``: one sample from the latest stats, no extra labels; ``None`` = member not collected;
- ``path`` (with an optional ``scale``): the same, declared rather than written: the attributes walked from the
  stats (``("memory", "cache")``), ``None`` at any step meaning no series, the value divided by ``scale`` when
  given (``v / 1e9``). The C writer walks it with no Python call per series; ``value`` is then the equivalent
  Python reader (:func:`path_reader`), which the Python writer and remote write (``metrics/series.py``) call;
- ``each`` with ``each_labels``, ``path`` and an optional ``scale``: ``values`` declared as a sample per item of
  the list at ``each`` (``("network", "interfaces")``), its extra label values the items' ``each_labels``
  attributes, its value read through ``path`` from the item (:func:`items_reader`);
- ``samples`` (with an optional ``scale``): ``values`` declared as fixed pairs ``(extra label values, path)``,
  a sample per path that reads a value (``values`` is then built from them, :func:`samples_reader`);
- ``values``: several samples ``(extra label values, value)`` from the latest stats;
- ``spec_value``: one sample from the container spec, emitted even without stats, not timestamped
  (``container_spec_*``, creation/start time);
- ``snapshot_value``: one sample from the snapshot (``container_oom_events_total``);
- ``scrape_time``: the scrape's own time (``container_last_seen``).

Stats samples carry the sample's timestamp in ms, as cAdvisor's do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pycadvisor.model.container import ContainerSpec, ContainerStats

if TYPE_CHECKING:
    from pycadvisor.metrics.source import ContainerSnapshot

Number = int | float
Sample = tuple[tuple[str, ...], Number]  # (extra label values in extra_labels order, value)

COUNTER = "counter"
GAUGE = "gauge"

NS_PER_S = 1e9  # float: Go divides float64(v) by float64(time.Second)
US_PER_S = 1e6


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSpec:
    name: str
    help: str  # copied byte-for-byte from cAdvisor
    type: str  # COUNTER | GAUGE
    extra_labels: tuple[str, ...] = ()  # sorted by name; values come in this order
    value: Callable[[ContainerStats], Number | None] | None = None
    path: tuple[str, ...] = ()
    scale: float | None = None  # the value read through `path` or `samples` is divided by it (ns -> s: NS_PER_S)
    samples: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    each: tuple[str, ...] = ()  # with `path` read from each item of this list
    each_labels: tuple[str, ...] = ()  # the items' attributes giving the extra label values
    values: Callable[[ContainerStats], Sequence[Sample]] | None = None
    spec_value: Callable[[ContainerSpec], Number | None] | None = None
    snapshot_value: Callable[[ContainerSnapshot], Number] | None = None
    scrape_time: bool = False
    # cAdvisor's `condition`: the family is skipped for containers whose spec fails it.
    condition: Callable[[ContainerSpec], bool] | None = None
    # True when extra label values are fixed literals (cpu00, "pgfault", tcp states) that need no escaping.
    safe_labels: bool = False

    def __post_init__(self) -> None:
        if self.each:
            if self.values is not None or not self.path or len(self.each_labels) != len(self.extra_labels):
                raise ValueError(f"{self.name}: `each` takes `path` and one of `each_labels` per extra label")
            object.__setattr__(self, "values", items_reader(self.each, self.each_labels, self.path, self.scale))
        elif self.path:
            if self.value is not None:
                raise ValueError(f"{self.name}: `path` and `value` exclude each other")
            object.__setattr__(self, "value", path_reader(self.path, self.scale))  # frozen: set once, here
        elif self.samples:
            if self.values is not None:
                raise ValueError(f"{self.name}: `samples` and `values` exclude each other")
            object.__setattr__(self, "values", samples_reader(self.samples, self.scale))
        elif self.scale is not None:
            raise ValueError(f"{self.name}: `scale` goes with `path` or `samples`")
        given = [
            self.value is not None,
            self.values is not None,
            self.spec_value is not None,
            self.snapshot_value is not None,
            self.scrape_time,
        ]
        if sum(given) != 1:
            raise ValueError(f"{self.name}: exactly one value source must be given")
        if list(self.extra_labels) != sorted(self.extra_labels):
            raise ValueError(f"{self.name}: extra_labels must be sorted by name")
        if bool(self.extra_labels) != (self.values is not None):
            raise ValueError(f"{self.name}: extra labels go with `values`, and only with it")
        if self.type not in (COUNTER, GAUGE):
            raise ValueError(f"{self.name}: unknown type {self.type!r}")


def path_reader(path: tuple[str, ...], scale: float | None) -> Callable[[object], Number | None]:
    """The Python reader of a declared ``path``/``scale``: what ``_expfmt_read.c`` (``ef_read_path``) computes."""
    if not path:
        raise ValueError("an empty path")

    def read(obj: object) -> Number | None:
        v: object = obj
        for attr in path:
            v = getattr(v, attr)
            if v is None:
                return None
        n: Number = v  # type: ignore[assignment]  # the end of a path is a number
        return n if scale is None else n / scale

    return read


def samples_reader(
    samples: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...], scale: float | None
) -> Callable[[object], Sequence[Sample]]:
    """The Python reader of declared ``samples``: what ``_expfmt_read.c`` (``ef_read_samples``) computes."""
    reads = [(ev, path_reader(path, scale)) for ev, path in samples]

    def read(obj: object) -> Sequence[Sample]:
        out: list[Sample] = []
        for ev, value in reads:
            v = value(obj)
            if v is not None:
                out.append((ev, v))
        return out

    return read


def items_reader(
    each: tuple[str, ...], labels: tuple[str, ...], path: tuple[str, ...], scale: float | None
) -> Callable[[object], Sequence[Sample]]:
    """The Python reader of declared items (``each``): what ``_expfmt_read.c`` (``ef_read_items``) computes."""
    items = path_reader(each, None)
    value = path_reader(path, scale)

    def read(obj: object) -> Sequence[Sample]:
        got: Any = items(obj)
        if not got:
            return ()
        out: list[Sample] = []
        for item in got:
            v = value(item)
            if v is not None:
                out.append((tuple([getattr(item, a) for a in labels]), v))
        return out

    return read
