"""One container sample as the series ``/metrics`` exposes for it, for pushing (``-storage_driver=remote_write``).

The families, their label names and values, and the metric sets, allow-lists and label policy are the
exposition's own (:mod:`pycadvisor.metrics.catalog`, :class:`~pycadvisor.metrics.labels.LabelPolicy`,
:func:`~pycadvisor.metrics.labels.make_layout`), walked as :mod:`pycadvisor.metrics.render` walks them, so
a pushed series is the scraped one (``lib/metrics/prometheus.go`` ``collectContainersInfo``). Differences,
all forced by pushing one sample at a time:

- labels with an empty value are left out: the exposition pads them (``label=""``) because every series of a
  scrape carries the union of label names, and Prometheus treats an empty label as absent, so the series
  identity is the same;
- every series carries the sample's timestamp (ms), the spec families (``container_spec_*``, start time) too,
  which ``/metrics`` leaves untimestamped; ``container_last_seen`` is the sample's time in seconds, not the
  scrape's;
- label-name collisions after sanitizing are settled among the container's own labels, not across all of
  a scrape's containers.

Application metrics (``custom_metrics``, with the ``app`` set) are part of a container sample and come with its
other series, as the renderer names them (``render._app_families``). The machine families are not part of any
container sample: :meth:`SampleSeries.machine_series` gives them, as ``/metrics`` labels and values them
(``lib/metrics/prometheus_machine.go``), for the driver to push with each request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pycadvisor.metrics import catalog, sets
from pycadvisor.metrics.labels import LabelPolicy, make_layout
from pycadvisor.metrics.machine import machine_base_labels, machine_metrics
from pycadvisor.metrics.options import ExpositionOptions, NamePattern
from pycadvisor.metrics.source import ContainerSnapshot, MachineInfoLike
from pycadvisor.metrics.spec import MetricSpec
from pycadvisor.metrics.textformat import is_valid_label_name, is_valid_metric_name, sanitize_label_name
from pycadvisor.model.container import ContainerSpec, MetricVal

NAME_LABEL = "__name__"

Labels = tuple[tuple[str, str], ...]  # sorted by name, __name__ included, no empty value
Series = tuple[Labels, float]


@dataclass(slots=True, eq=False)
class _Container:
    """One container's base labels and its series' label sets, kept while its spec and aliases are unchanged."""

    spec: ContainerSpec
    aliases: tuple[str, ...]
    base: Labels
    labels: dict[tuple[str, tuple[str, ...]], Labels] = field(default_factory=dict)
    # (metric name, its labels as the endpoint gave them) -> label set; emptied when it outgrows _APP_LABEL_SETS
    # (an endpoint whose label values change at every poll must not grow it without bound)
    app: dict[tuple[str, tuple[tuple[str, str], ...]], Labels] = field(default_factory=dict)
    used: int = 0


_APP_LABEL_SETS = 4096


class SampleSeries:
    """Builds the series of container samples; one instance per driver (it caches label sets per container).

    The label tuples it returns are the same objects from one sample to the next while a container's spec
    is unchanged, so a caller may cache what it derives from them (their wire encoding) by identity.
    """

    _EVICT_AFTER = 10_000  # calls without a sample of a container before its cache entry goes

    def __init__(self, options: ExpositionOptions) -> None:
        allow = None if options.family_allowlist is None else NamePattern.parse(options.family_allowlist)
        self._specs = tuple(
            s for s in catalog.container_metrics(options.metric_sets) if allow is None or allow.matches(s.name)
        )
        self._policy = LabelPolicy(options)
        self._label_allow = None if options.label_allowlist is None else NamePattern.parse(options.label_allowlist)
        self._app = options.metric_sets.has(sets.APP)
        self._app_allow = allow
        self._machine_specs = tuple(
            m for m in machine_metrics(options.metric_sets) if allow is None or allow.matches(m.name)
        )
        self._machine: tuple[MachineInfoLike, list[Series]] | None = None
        self._containers: dict[str, _Container] = {}
        self._calls = 0
        self._high_water = 1024

    def series(self, snap: ContainerSnapshot) -> list[Series]:
        """Every series of ``snap`` with its value; its timestamp is the sample's (none without stats)."""
        stats = snap.stats
        if stats is None:
            return []
        c = self._container(snap)
        cache = c.labels
        spec = snap.spec
        # label set -> value; the first of duplicate series is kept, as the exposition does (render._multi)
        out: dict[Labels, float] = {}
        for m in self._specs:
            if m.condition is not None and not m.condition(spec):
                continue
            name = m.name
            if m.values is not None:
                for ev, v in m.values(stats):
                    labels = cache.get((name, ev))
                    if labels is None:
                        labels = _labels(c, m, ev)
                    if labels not in out:
                        out[labels] = float(v)
                continue
            value: float | int | None
            if m.value is not None:
                value = m.value(stats)
            elif m.spec_value is not None:
                value = m.spec_value(spec)
            elif m.snapshot_value is not None:
                value = m.snapshot_value(snap)
            else:  # scrape_time: container_last_seen, here the sample's time
                value = stats.timestamp // 1_000_000_000
            if value is not None:
                labels = cache.get((name, ()))
                if labels is None:
                    labels = _labels(c, m, ())
                out[labels] = float(value)
        if self._app and stats.custom_metrics:
            self._app_series(c, stats.custom_metrics, out)
        return list(out.items())

    def _app_series(self, c: _Container, custom: dict[str, list[MetricVal]], out: dict[Labels, float]) -> None:
        """Application metrics as ``/metrics`` has them: each metric under its own name, the container's labels
        plus ``app_<label>`` (sanitized), the float value, or a generic collector's int value (render._app_families)."""
        cache = c.app
        allow = self._app_allow
        for metric_name, vals in custom.items():
            if not is_valid_metric_name(metric_name) or (allow is not None and not allow.matches(metric_name)):
                continue
            for mv in vals:
                key = (metric_name, tuple(mv.labels.items()))
                labels = cache.get(key)
                if labels is None:
                    if len(cache) >= _APP_LABEL_SETS:
                        cache.clear()
                    pairs = dict(c.base)
                    for k, v in mv.labels.items():
                        name = sanitize_label_name("app_" + k)
                        if is_valid_label_name(name) and name not in pairs:
                            pairs[name] = v
                    pairs[NAME_LABEL] = metric_name
                    labels = cache[key] = tuple(sorted((k, v) for k, v in pairs.items() if v != ""))
                if labels not in out:
                    out[labels] = float(mv.float_value if mv.float_value or not mv.int_value else mv.int_value)

    def machine_series(self, machine: MachineInfoLike) -> list[Series]:
        """The machine families' series (``/metrics``' labels and values, empty labels left out), built once per
        ``MachineInfo`` object: the label tuples stay the same objects until the manager reads the machine again."""
        if self._machine is not None and self._machine[0] is machine:
            return self._machine[1]
        base = machine_base_labels(machine)
        out: dict[Labels, float] = {}
        for m in self._machine_specs:
            if m.condition is not None and not m.condition(machine):
                continue
            for ev, value in m.values(machine):
                pairs = dict(base)
                pairs.update(zip(m.extra_labels, ev, strict=True))
                pairs[NAME_LABEL] = m.name
                labels = tuple(sorted((k, v) for k, v in pairs.items() if v != ""))
                if labels not in out:  # the first of duplicate series, as the renderer keeps it
                    out[labels] = float(value)
        series = list(out.items())
        self._machine = (machine, series)
        return series

    def _container(self, snap: ContainerSnapshot) -> _Container:
        self._calls += 1
        c = self._containers.get(snap.name)
        if c is None or c.spec is not snap.spec or c.aliases != snap.aliases:
            raw = self._policy.raw_labels(snap)
            layout = make_layout(frozenset(raw), self._label_allow)
            base = tuple((n, raw[r]) for n, r in zip(layout.names, layout.raws, strict=True) if raw[r] != "")
            c = _Container(snap.spec, snap.aliases, base)
            self._containers[snap.name] = c
            if len(self._containers) > self._high_water:
                self._evict()
        c.used = self._calls
        return c

    def _evict(self) -> None:
        """Forget containers not seen for a while (removed ones), then let the cache grow to twice its size."""
        old = [n for n, c in self._containers.items() if self._calls - c.used > self._EVICT_AFTER]
        for n in old:
            del self._containers[n]
        self._high_water = max(1024, 2 * len(self._containers))


def _labels(c: _Container, m: MetricSpec, ev: tuple[str, ...]) -> Labels:
    """The label set of family ``m`` with extra values ``ev`` for container ``c`` (made once, then cached)."""
    pairs = dict(c.base)
    pairs.update(zip(m.extra_labels, ev, strict=True))  # an extra label wins over a base one
    pairs[NAME_LABEL] = m.name
    labels = tuple(sorted((k, v) for k, v in pairs.items() if v != ""))
    c.labels[(m.name, ev)] = labels
    return labels
