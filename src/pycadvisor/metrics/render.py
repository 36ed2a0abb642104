"""Renders one ``/metrics`` response from container snapshots, machine info and versions.

Output matches what cAdvisor's registry gathers through Go's ``expfmt`` (text format 0.0.4): families
sorted by name, each with ``# HELP``/``# TYPE``; series sorted by label values (labels sorted by
name); families without samples omitted; duplicate series dropped (the Go registry refuses them).
Label strings come from :mod:`pycadvisor.metrics.labels` (cached per container); values use Go float
formatting. The renderer keeps only that label cache between scrapes.

Cost: a series is appended as a few references to already-built strings (name, cached labels, value,
timestamp) and the response is joined once, so each byte of label text is copied once per scrape
(``bench/exposition.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from pycadvisor.metrics import catalog, sets
from pycadvisor.metrics.labels import ContainerLabels, LabelCache
from pycadvisor.metrics.machine import MachineMetricSpec, machine_base_labels, machine_metrics
from pycadvisor.metrics.options import ExpositionOptions, NamePattern
from pycadvisor.metrics.runtime import Collector, OwnProcessSource, RuntimeMetrics, default_collectors, render_collected
from pycadvisor.metrics.source import ContainerSnapshot, MachineInfoLike, VersionInfo
from pycadvisor.metrics.spec import GAUGE, MetricSpec
from pycadvisor.metrics.textformat import (
    escape_label_value,
    family_header,
    format_value,
    is_valid_label_name,
    is_valid_metric_name,
    render_labels,
    sanitize_label_name,
)

log = logging.getLogger(__name__)

# (family name, text pieces: "# HELP ...\n# TYPE ...\n" then the series, series count)
Block = tuple[str, list[str], int]
EscMemo = dict[tuple[str, ...], tuple[str, ...]]
# Leading extra label names -> per row, the dense ranks of its base values before each of them.
RanksOf = Callable[[tuple[str, ...]], list[tuple[int, ...]]]

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


def _text_block(name: str, text: str, count: int) -> Block:
    return (name, [text], count)


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
    ) -> None:
        self.options = options
        self._clock = clock
        allow = None if options.family_allowlist is None else NamePattern.parse(options.family_allowlist)

        def wanted(name: str) -> bool:
            return allow is None or name in _ALWAYS_EMITTED or allow.matches(name)

        self._wanted = wanted
        specs = [s for s in catalog.container_metrics(options.metric_sets) if wanted(s.name)]
        self._spec_families = [s for s in specs if s.spec_value is not None]
        self._stats_families = [s for s in specs if s.spec_value is None]
        self._machine_families = [m for m in machine_metrics(options.metric_sets) if wanted(m.name)]
        self._app = options.metric_sets.has(sets.APP)
        self._labels = LabelCache(options)
        self._esc_memo: EscMemo = {}  # escaped extra label values (device, interface names repeat)
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
            self._add(blocks, self._version_block(version))
        else:
            container_error = True
        if snapshots is None:
            container_error = True
        else:
            blocks.extend(self._container_blocks(snapshots, now))
        blocks.append(
            _text_block(
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
            _text_block(
                "machine_scrape_error",
                family_header("machine_scrape_error", _MACHINE_ERROR_HELP, GAUGE)
                + f"machine_scrape_error {int(machine_error)}\n",
                1,
            )
        )
        if self._runtime is not None:
            for name, text, count in self._runtime.blocks():
                self._add(blocks, _text_block(name, text, count))
        for collector in self._extra:
            try:
                collected = render_collected(collector.collect())
            except Exception as e:  # another component's families never break the scrape
                log.warning("Couldn't collect extra metric families: %s", e)
                continue
            for name, text, count in collected:
                self._add(blocks, _text_block(name, text, count))
        if self.options.self_metrics:
            total = sum(b[2] for b in blocks) + 1
            blocks.append(
                _text_block(
                    SELF_SERIES_FAMILY,
                    family_header(SELF_SERIES_FAMILY, _SELF_SERIES_HELP, GAUGE) + f"{SELF_SERIES_FAMILY} {total}\n",
                    1,
                )
            )
        blocks.sort(key=_first)
        pieces: list[str] = []
        for b in blocks:
            pieces += b[1]
        return "".join(pieces).encode()

    @property
    def cached_containers(self) -> int:
        """How many containers' label strings are cached."""
        return len(self._labels)

    # ------------------------------------------------------------------ containers

    def _add(self, blocks: list[Block], block: Block) -> None:
        if self._wanted(block[0]):
            blocks.append(block)

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
        return _text_block(name, family_header(name, _VERSION_HELP, GAUGE) + f"{name}{labels} 1\n", 1)

    def _container_blocks(self, snapshots: Sequence[ContainerSnapshot], now_ns: int) -> list[Block]:
        bound = self._labels.labels_for(snapshots)
        rows = [_Row(s, lab) for s, lab in zip(snapshots, bound, strict=True)]
        rows.sort(key=lambda r: r.labels.values)
        with_stats = [r for r in rows if r.stats is not None]
        if len(self._esc_memo) > 50_000:
            self._esc_memo.clear()
        out: list[Block] = []
        for spec in self._spec_families:
            block = _spec_family(spec, rows)
            if block is not None:
                out.append(block)
        ranks_memo: dict[tuple[int, ...], list[tuple[int, ...]]] = {}

        def ranks_of(lead: tuple[str, ...]) -> list[tuple[int, ...]]:
            # The ranks depend only on where the leading extras fall among the base names: once a scrape.
            if not with_stats:
                return []
            layout = with_stats[0].labels.layout
            assert layout is not None
            points = layout.split_points(lead)
            ranks = ranks_memo.get(points)
            if ranks is None:
                ranks = ranks_memo[points] = _prefix_ranks(with_stats, points)
            return ranks

        for spec in self._stats_families:
            block = _stats_family(spec, with_stats, now_ns, self._esc_memo, ranks_of)
            if block is not None:
                out.append(block)
        if self._app:
            out.extend(b for b in _app_families(with_stats) if self._wanted(b[0]))
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


def _spec_family(spec: MetricSpec, rows: list[_Row]) -> Block | None:
    read = spec.spec_value
    assert read is not None
    name = spec.name
    pieces = [_header(spec)]
    fmt = format_value
    n = 0
    for r in rows:
        v = read(r.snap.spec)
        if v is not None:
            pieces += (name, r.base, " ", fmt(v), "\n")
            n += 1
    return (name, pieces, n) if n else None


def _stats_family(
    spec: MetricSpec, rows: list[_Row], now_ns: int, esc_memo: EscMemo, ranks_of: RanksOf
) -> Block | None:
    name = spec.name
    cond = spec.condition
    if cond is not None:
        keep = [cond(r.snap.spec) for r in rows]
        if not all(keep):
            # A subset of the rows: their ranks are a subsequence of the whole scrape's ranks.
            whole = ranks_of
            rows = [r for r, k in zip(rows, keep, strict=True) if k]

            def ranks_of(lead: tuple[str, ...]) -> list[tuple[int, ...]]:
                return [rk for rk, k in zip(whole(lead), keep, strict=True) if k]

    pieces = [_header(spec)]
    fmt = format_value
    n = 0
    if spec.value is not None:
        read = spec.value
        for r in rows:
            v = read(r.stats)  # type: ignore[arg-type]  # rows all have stats
            if v is not None:
                pieces += (name, r.base, " ", fmt(v), r.ts)
                n += 1
    elif spec.values is not None:
        n = _multi(spec, rows, esc_memo, ranks_of, pieces)
    elif spec.snapshot_value is not None:
        snap_read = spec.snapshot_value
        for r in rows:
            pieces += (name, r.base, " ", fmt(snap_read(r.snap)), r.ts)
        n = len(rows)
    elif spec.scrape_time:
        # container_last_seen: the scrape time in whole seconds, timestamped now.
        tail = f" {fmt(now_ns // 1_000_000_000)} {now_ns // 1_000_000}\n"
        for r in rows:
            pieces += (name, r.base, tail)
        n = len(rows)
    return (name, pieces, n) if n else None


def _escaper(esc_memo: EscMemo) -> Callable[[tuple[str, ...]], tuple[str, ...]]:
    def esc(values: tuple[str, ...]) -> tuple[str, ...]:
        out = esc_memo.get(values)
        if out is None:
            out = esc_memo[values] = tuple([escape_label_value(v) for v in values])
        return out

    return esc


def _multi(spec: MetricSpec, rows: list[_Row], esc_memo: EscMemo, ranks_of: RanksOf, pieces: list[str]) -> int:
    """Append the series of a family with extra labels to ``pieces``; returns their number."""
    name = spec.name
    extra = spec.extra_labels
    read = spec.values
    assert read is not None
    esc = None if spec.safe_labels else _escaper(esc_memo)
    fmt = format_value
    n = 0
    if extra[0] > "id":
        # Every extra label sorts after `id`, which is unique per container: containers in rank order,
        # each container's samples sorted by their extra values.
        for r in rows:
            samples = read(r.stats)  # type: ignore[arg-type]  # rows all have stats
            if not samples:
                continue
            t = r.labels.template(extra)
            ts = r.ts
            if len(samples) > 1:
                samples = sorted(samples, key=_first)
            prev: tuple[str, ...] | None = None
            for ev, v in samples:
                if ev == prev:
                    continue
                prev = ev
                if esc is not None:
                    ev = esc(ev)
                pieces += _labelled(name, t.segs, ev)
                pieces += (" ", fmt(v), ts)
                n += 1
        return n
    # Some extra label sorts before `id`: order by the merged label values across containers. The
    # base values between two extra labels are compared through their dense rank among the rows
    # (rows are sorted by all their base values), which orders exactly like the values themselves.
    # From `id` on, the row index (unique) decides, so only the leading extras need a rank before them.
    # A series' sort key is then (leading ranks and values interleaved, row index, other extra values):
    # the series are grouped by the part before the row index, and only the few distinct groups are
    # sorted; rows are visited in order and each row's samples sorted, so a group's lines come in order.
    groups: dict[tuple[Any, ...], list[str]] = {}
    lead = sum(1 for e in extra if e < "id")
    ranks = ranks_of(extra[:lead])
    for i, r in enumerate(rows):
        samples = read(r.stats)  # type: ignore[arg-type]  # rows all have stats
        if not samples:
            continue
        t = r.labels.template(extra)
        rk, ts = ranks[i], r.ts
        if len(samples) > 1:
            samples = sorted(samples, key=_first)
        prev = None
        for ev, v in samples:
            if ev == prev:  # the same series twice: the first wins, as the sorted dedup kept it
                continue
            prev = ev
            if lead == 1:
                key: tuple[Any, ...] = (rk[0], ev[0])
            else:
                key = tuple([x for pair in zip(rk, ev[:lead], strict=True) for x in pair])
            if esc is not None:
                ev = esc(ev)
            group = groups.get(key)
            if group is None:
                group = groups[key] = []
            group += _labelled(name, t.segs, ev)
            group += (" ", fmt(v), ts)
            n += 1
    for key in sorted(groups):
        pieces += groups[key]
    return n


def _labelled(name: str, segs: tuple[str, ...], ev: tuple[str, ...]) -> tuple[str, ...]:
    """``name{...}`` with the extra values slotted between the template's literal pieces.

    Tuples of references, not ``%`` formatting: formatting re-scans and copies the long label text.
    """
    k = len(ev)
    if k == 1:
        return (name, segs[0], ev[0], segs[1])
    if k == 2:
        return (name, segs[0], ev[0], segs[1], ev[1], segs[2])
    if k == 3:
        return (name, segs[0], ev[0], segs[1], ev[1], segs[2], ev[2], segs[3])
    out = [name, segs[0]]
    for value, seg in zip(ev, segs[1:], strict=True):
        out += (value, seg)
    return tuple(out)


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


def _app_families(rows: list[_Row]) -> list[Block]:
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
    out: list[Block] = []
    for metric_name, keyed in families.items():
        if not keyed:
            continue
        keyed.sort(key=_first)
        text = [family_header(metric_name, "Custom application metric.", GAUGE)]
        text.extend(_dedup(keyed))
        out.append((metric_name, text, len(text) - 1))
    return out


def _machine_family(
    spec: MachineMetricSpec, m: MachineInfoLike, base: tuple[tuple[str, str], ...], ts: str
) -> Block | None:
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
    return (spec.name, [family_header(spec.name, spec.help, spec.type), *lines], len(lines))
