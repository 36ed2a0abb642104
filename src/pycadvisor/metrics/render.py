"""Renders one ``/metrics`` response from container snapshots, machine info and versions.

Output matches what cAdvisor's registry gathers through Go's ``expfmt`` (text format 0.0.4): families
sorted by name, each with ``# HELP``/``# TYPE``; series sorted by label values (labels sorted by
name); families without samples omitted; duplicate series dropped (the Go registry refuses them).
Label strings come from :mod:`pycadvisor.metrics.labels` (cached per container); values use Go float
formatting. The renderer keeps only that label cache between scrapes.

Cost: families are handed whole to a :class:`~pycadvisor.metrics.expfmt.Writer` (C where built): per series
it copies the cached label text, formats the value and the timestamp into one byte buffer, and the body is
assembled once from the families' spans in name order (``bench/render_ab.py``, ``bench/exposition.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from functools import partial
from operator import itemgetter
from typing import Any

from pycadvisor.metrics import catalog, sets
from pycadvisor.metrics.expfmt import ItemPaths, SamplePaths, Writer, WriterFactory, default_writer, sort_samples
from pycadvisor.metrics.labels import ContainerLabels, LabelCache
from pycadvisor.metrics.machine import MachineMetricSpec, machine_base_labels, machine_metrics
from pycadvisor.metrics.options import ExpositionOptions, NamePattern
from pycadvisor.metrics.runtime import Collector, OwnProcessSource, RuntimeMetrics, default_collectors, render_collected
from pycadvisor.metrics.source import ContainerSnapshot, MachineInfoLike, VersionInfo
from pycadvisor.metrics.spec import GAUGE, MetricSpec
from pycadvisor.metrics.textformat import (
    family_header,
    format_value,
    is_valid_label_name,
    is_valid_metric_name,
    render_labels,
    sanitize_label_name,
)

log = logging.getLogger(__name__)

# A family of the body: (name, its text "# HELP ...\n# TYPE ...\n" and series, series count), or (name, a function
# writing it when its turn comes and returning its series count, 0). Bodies are written in name order.
Produce = Callable[["Writer"], int]
Block = tuple[str, str | Produce, int]

SELF_SERIES_FAMILY = "pycadvisor_exposition_series"
_SELF_SERIES_HELP = "Number of series in this exposition, this one included."
_ALWAYS_EMITTED = frozenset({"container_scrape_error", "machine_scrape_error", SELF_SERIES_FAMILY})
_CONTAINER_ERROR_HELP = "1 if there was an error while getting container metrics, 0 otherwise"
_MACHINE_ERROR_HELP = "1 if there was an error while getting machine metrics, 0 otherwise."
_VERSION_HELP = (
    "A metric with a constant '1' value labeled by kernel version, OS version, docker version, "
    "cadvisor version & cadvisor revision."
)

_first = itemgetter(0)
# The largest body whose buffer is kept for the next scrape (100 cgroups: ~0.5 MB).
_KEEP_BUFFER_MAX = 16 << 20


class _Row:
    """One container during a scrape."""

    __slots__ = ("base", "labels", "snap", "stats", "ts")

    def __init__(self, snap: ContainerSnapshot, labels: ContainerLabels) -> None:
        self.snap = snap
        self.labels = labels
        self.base = labels.base
        self.stats = snap.stats
        # Go NewMetricWithTimestamp: milliseconds, truncated; the line's end comes with it.
        self.ts = "\n" if snap.stats is None else f" {snap.stats.timestamp // 1_000_000}\n"


class _Columns:
    """The rows a family reads and their per-row columns, each built once a scrape and shared by the families
    (a family with a condition takes a subset, whose columns are the whole's filtered)."""

    __slots__ = ("_keep", "_parent", "_ranks", "_segs", "bases", "rows", "stats", "tails")

    def __init__(self, rows: list[_Row], parent: _Columns | None = None, keep: list[bool] | None = None) -> None:
        self.rows = rows
        self.stats = [r.stats for r in rows]
        self.bases = [r.base for r in rows]
        self.tails = [r.ts for r in rows]
        self._parent = parent
        self._keep = keep
        self._segs: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        self._ranks: dict[tuple[int, ...], list[tuple[int, ...]]] = {}

    def subset(self, keep: list[bool]) -> _Columns:
        return _Columns([r for r, k in zip(self.rows, keep, strict=True) if k], self, keep)

    def segs(self, extra: tuple[str, ...]) -> list[tuple[str, ...]]:
        """Per row, its label template for a family with extra labels ``extra``."""
        segs = self._segs.get(extra)
        if segs is None:
            if self._parent is not None and self._keep is not None:
                segs = [t for t, k in zip(self._parent.segs(extra), self._keep, strict=True) if k]
            else:
                segs = [r.labels.template(extra).segs for r in self.rows]
            self._segs[extra] = segs
        return segs

    def ranks(self, lead: tuple[str, ...]) -> list[tuple[int, ...]]:
        """Per row, the dense ranks of its base values before each of the leading extra labels ``lead``."""
        if not self.rows:
            return []
        layout = self.rows[0].labels.layout
        assert layout is not None
        # The ranks depend only on where the leading extras fall among the base names: once a scrape.
        points = layout.split_points(lead)
        ranks = self._ranks.get(points)
        if ranks is None:
            if self._parent is not None and self._keep is not None:
                # A subset's ranks are a subsequence of the whole's: ranks among a subset order it as ranks
                # among all rows do.
                ranks = [rk for rk, k in zip(self._parent.ranks(lead), self._keep, strict=True) if k]
            else:
                ranks = _prefix_ranks(self.rows, points)
            self._ranks[points] = ranks
        return ranks


class ExpositionRenderer:
    """Builds the exposition text; one instance per daemon (it owns the label cache)."""

    def __init__(
        self,
        options: ExpositionOptions,
        *,
        runtime: RuntimeMetrics | None = None,
        own_process: OwnProcessSource | None = None,
        extra: Sequence[Collector] = (),
        clock: Callable[[], int] = time.time_ns,
        writer: WriterFactory | None = None,
    ) -> None:
        self.options = options
        self._clock = clock
        self._new_writer = default_writer() if writer is None else writer
        # One writer for every scrape (renders run one at a time, on the loop): its buffer, as big as the largest
        # body so far, is written again in place rather than allocated and faulted in anew.
        self._writer: Writer | None = None
        allow = None if options.family_allowlist is None else NamePattern.parse(options.family_allowlist)

        def wanted(name: str) -> bool:
            return allow is None or name in _ALWAYS_EMITTED or allow.matches(name)

        self._wanted = wanted
        specs = [s for s in catalog.container_metrics(options.metric_sets) if wanted(s.name)]
        # The series count of the scrape is written at its place in name order, after every container family.
        assert all(s.name < SELF_SERIES_FAMILY for s in specs), "a container family sorts after the series count"
        self._spec_families = [s for s in specs if s.spec_value is not None]
        self._stats_families = [s for s in specs if s.spec_value is None]
        self._machine_families = [m for m in machine_metrics(options.metric_sets) if wanted(m.name)]
        self._app = options.metric_sets.has(sets.APP)
        self._labels = LabelCache(options)
        if runtime is None and options.runtime_metrics:
            runtime = RuntimeMetrics(default_collectors(own_process))
        self._runtime = runtime if options.runtime_metrics else None
        self._extra = list(extra)

    # ------------------------------------------------------------------ public

    def render(
        self,
        snapshots: Sequence[ContainerSnapshot] | None,
        *,
        machine: MachineInfoLike | None,
        version: VersionInfo | None,
        container_error: bool = False,
        machine_error: bool = False,
        now_ns: int | None = None,
    ) -> bytes:
        """The whole response body. ``snapshots=None`` means the manager failed (scrape error)."""
        now = self._clock() if now_ns is None else now_ns
        blocks: list[Block] = []
        if version is not None:
            blocks.append(self._version_block(version))
        else:
            container_error = True
        if snapshots is None:
            container_error = True
        else:
            blocks.extend(self._container_blocks(snapshots, now))
        blocks.append(
            (
                "container_scrape_error",
                family_header("container_scrape_error", _CONTAINER_ERROR_HELP, GAUGE)
                + f"container_scrape_error {int(container_error)}\n",
                1,
            )
        )
        if machine is None:
            machine_error = True
        else:
            blocks.extend(self._machine_blocks(machine))
        blocks.append(
            (
                "machine_scrape_error",
                family_header("machine_scrape_error", _MACHINE_ERROR_HELP, GAUGE)
                + f"machine_scrape_error {int(machine_error)}\n",
                1,
            )
        )
        if self._runtime is not None:
            blocks.extend(self._runtime.blocks())
        for collector in self._extra:
            try:
                collected = render_collected(collector.collect())
            except Exception as e:  # another component's families never break the scrape
                log.warning("Couldn't collect extra metric families: %s", e)
                continue
            blocks.extend(collected)
        blocks = [b for b in blocks if self._wanted(b[0])]
        if self.options.self_metrics:
            blocks.append((SELF_SERIES_FAMILY, "", 1))
        blocks.sort(key=_first)  # stable: families of one name stay in the order they were added
        return self._write(blocks)

    def _write(self, blocks: list[Block]) -> bytes:
        w = self._writer
        if w is None:
            w = self._writer = self._new_writer(0)
        else:
            w.reset()
        total = sum(b[2] for b in blocks)  # the texts' series, the self count's own included
        for name, body, _count in blocks:
            if isinstance(body, str):
                if name == SELF_SERIES_FAMILY and not body:
                    # Every container family sorts before it (checked in __init__): all are counted by now.
                    body = family_header(name, _SELF_SERIES_HELP, GAUGE) + f"{name} {total}\n"
                w.write(body)
                continue
            start = w.tell()
            n = body(w)
            if n:
                total += n
            else:  # families without samples are omitted, as the Go registry gathers them
                w.truncate(start)
        body_bytes = w.finish()
        if len(body_bytes) > _KEEP_BUFFER_MAX:
            # A body this large (1000 containers with compose labels: 154 MB) is not worth holding between
            # scrapes: its pages would stay in RSS for good; the next scrape allocates afresh.
            self._writer = None
        return body_bytes

    @property
    def cached_containers(self) -> int:
        """How many containers' label strings are cached."""
        return len(self._labels)

    # ------------------------------------------------------------------ containers

    @staticmethod
    def _version_block(v: VersionInfo) -> Block:
        name = "cadvisor_version_info"
        labels = render_labels(
            (
                ("cadvisorRevision", v.cadvisor_revision),
                ("cadvisorVersion", v.cadvisor_version),
                ("dockerVersion", v.docker_version),
                ("kernelVersion", v.kernel_version),
                ("osVersion", v.os_version),
            )
        )
        return (name, family_header(name, _VERSION_HELP, GAUGE) + f"{name}{labels} 1\n", 1)

    def _container_blocks(self, snapshots: Sequence[ContainerSnapshot], now_ns: int) -> list[Block]:
        bound = self._labels.labels_for(snapshots)
        rows = [_Row(s, lab) for s, lab in zip(snapshots, bound, strict=True)]
        rows.sort(key=lambda r: r.labels.values)
        with_stats = [r for r in rows if r.stats is not None]
        out: list[Block] = [(spec.name, partial(_spec_family, spec, rows), 0) for spec in self._spec_families]
        cols = _Columns(with_stats)
        out += [(spec.name, partial(_stats_family, spec, cols, now_ns), 0) for spec in self._stats_families]
        if self._app:
            out += _app_families(with_stats)
        return out

    # ------------------------------------------------------------------ machine

    def _machine_blocks(self, m: MachineInfoLike) -> list[Block]:
        base = machine_base_labels(m)
        ts = f" {m.timestamp // 1_000_000}" if m.timestamp else ""
        out: list[Block] = []
        for spec in self._machine_families:
            block = _machine_family(spec, m, base, ts)
            if block is not None:
                out.append(block)
        return out


def _header(spec: MetricSpec) -> str:
    return family_header(spec.name, spec.help, spec.type)


def _spec_family(spec: MetricSpec, rows: list[_Row], w: Writer) -> int:
    w.write(_header(spec))
    return w.family(spec.name, spec.spec_value, [r.snap.spec for r in rows], [r.base for r in rows], ["\n"] * len(rows))


def _stats_family(spec: MetricSpec, cols: _Columns, now_ns: int, w: Writer) -> int:
    name = spec.name
    cond = spec.condition
    if cond is not None:
        keep = [cond(r.snap.spec) for r in cols.rows]
        if not all(keep):
            cols = cols.subset(keep)
    rows = cols.rows
    if not rows:
        return 0
    w.write(_header(spec))
    if spec.value is not None:
        # Declared (a path): the writer walks the attributes itself (in C, no Python call per series).
        read = (spec.path, spec.scale) if spec.path else spec.value
        n = w.family(name, read, cols.stats, cols.bases, cols.tails)
    elif spec.values is not None:
        n = _multi(w, spec, cols)
    elif spec.snapshot_value is not None:
        n = w.family(name, spec.snapshot_value, [r.snap for r in rows], cols.bases, cols.tails)
    else:
        # container_last_seen (scrape_time): the scrape time in whole seconds, timestamped now.
        now = [now_ns // 1_000_000_000] * len(rows)
        n = w.family(name, None, now, cols.bases, [f" {now_ns // 1_000_000}\n"] * len(rows))
    return n


def _multi(w: Writer, spec: MetricSpec, cols: _Columns) -> int:
    """Write the series of a family with extra labels; returns their number."""
    extra = spec.extra_labels
    read: Callable[[Any], Any] | SamplePaths | ItemPaths | None = spec.values
    assert read is not None
    # Declared: the writer walks the attributes itself (in C, no Python call).
    if spec.samples:
        read = (spec.samples, spec.scale)
    elif spec.each:
        read = (spec.each, spec.each_labels, spec.path, spec.scale)
    # When every extra label sorts after `id`, which is unique per container, containers come in rank order,
    # each container's samples sorted by their extra values. When some sort before `id`, series are ordered
    # by the merged label values across containers: the base values between two extra labels are compared
    # through their dense rank among the rows (rows are sorted by all their base values), which orders
    # exactly like the values themselves, and from `id` on the row index (unique) decides, so only the
    # leading extras need a rank before them (the writer's `ranks`).
    lead = sum(1 for e in extra if e < "id")
    ranks = cols.ranks(extra[:lead]) if lead else None
    return w.multi(spec.name, read, cols.stats, cols.segs(extra), cols.tails, ranks, not spec.safe_labels, sort_samples)


def _prefix_ranks(rows: list[_Row], points: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Per row, the dense rank of its first ``p`` base values for each split point ``p`` (rows are in rank order).

    Ranks among a subset of the rows order those rows as ranks among all of them do, so a family that
    keeps only some rows can use the whole scrape's ranks."""
    columns: list[list[int]] = []
    for p in points:
        col: list[int] = []
        rank, prev = -1, None
        for r in rows:
            pre = r.labels.values[:p]
            if pre != prev:
                rank += 1
                prev = pre
            col.append(rank)
        columns.append(col)
    return list(zip(*columns, strict=True))


def _dedup(keyed: list[tuple[Any, str]]) -> list[str]:
    lines: list[str] = []
    prev: Any = None
    for key, line in keyed:
        if key != prev:
            lines.append(line)
            prev = key
    return lines


def _app_families(rows: list[_Row]) -> list[tuple[str, str, int]]:
    # Custom application metrics: one gauge family per metric name, base labels plus sanitized
    # app_<label>, value float_value (cAdvisor exports float64(metric.FloatValue)), no timestamp.
    families: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for r in rows:
        stats = r.stats
        assert stats is not None
        if not stats.custom_metrics:
            continue
        base = r.labels.pairs
        for metric_name, vals in stats.custom_metrics.items():
            if not is_valid_metric_name(metric_name):
                continue
            lines = families.setdefault(metric_name, [])
            for mv in vals:
                extra = [(sanitize_label_name("app_" + k), v) for k, v in mv.labels.items()]
                extra = [(k, v) for k, v in extra if is_valid_label_name(k)]
                pairs = sorted([*base, *extra], key=_first)
                key = tuple(v for _, v in pairs)
                # cAdvisor exports float64(metric.FloatValue), a 0 for a generic collector's "int" metric; its
                # int_value is exported instead (an int metric has no float value).
                value = mv.float_value if mv.float_value or not mv.int_value else mv.int_value
                lines.append((key, f"{metric_name}{render_labels(pairs)} {format_value(value)}\n"))
    out: list[tuple[str, str, int]] = []
    for metric_name, keyed in families.items():
        if not keyed:
            continue
        keyed.sort(key=_first)
        kept = _dedup(keyed)
        header = family_header(metric_name, "Custom application metric.", GAUGE)
        out.append((metric_name, header + "".join(kept), len(kept)))
    return out


def _machine_family(
    spec: MachineMetricSpec, m: MachineInfoLike, base: tuple[tuple[str, str], ...], ts: str
) -> tuple[str, str, int] | None:
    if spec.condition is not None and not spec.condition(m):
        return None
    keyed: list[tuple[tuple[str, ...], str]] = []
    for ev, v in spec.values(m):
        pairs = sorted([*base, *zip(spec.extra_labels, ev, strict=True)], key=_first)
        key = tuple(label_value for _, label_value in pairs)
        keyed.append((key, f"{spec.name}{render_labels(pairs)} {format_value(v)}{ts}\n"))
    if not keyed:
        return None
    keyed.sort(key=_first)
    lines = _dedup(keyed)
    return (spec.name, family_header(spec.name, spec.help, spec.type) + "".join(lines), len(lines))
