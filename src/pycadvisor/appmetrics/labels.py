"""An endpoint's metric names and label values: interned, and capped.

An endpoint whose label values change at every poll (a request id, a time as a label) would make each answer a new
shape for the sample codec, which interns shapes and layouts for the daemon's life (``model/compact.py``,
``model/sample.py``): memory without bound. cAdvisor's ``-application_metrics_count_limit`` caps the metrics of
one answer of an endpoint (``collector/prometheus_collector.go``: "too many metrics to collect"); the same bound is
put here on what an endpoint of a container answers over its life: at most that many metric names, each with at
most that many label names, each taking at most that many distinct values. A series that would pass a bound is
refused (left out of the answer; the poller counts and logs an error) while what was admitted before goes on being
collected: refusing keeps the set of answers' shapes bounded, where forgetting the oldest values would let an
ever-new value through at every poll. The table lives as long as the container is watched.

Admitted values are interned: an answer's labels point at the first answer's strings, which the stored samples
and the codec's shapes already hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from pycadvisor.model.container import MetricVal


@dataclass(frozen=True, slots=True)
class Refused:
    """The series of one answer that were left out, and why the first one was."""

    metric: str
    label: str | None  # the label whose values are full; None: the endpoint's metric names are
    series: int

    def message(self, limit: int) -> str:
        what = (
            f"metric {self.metric!r} would be one metric name too many"
            if self.label is None
            else f"label {self.label!r} of metric {self.metric!r} has taken its {limit} values"
        )
        # No count in it: the poller logs a message again only when it changes, or after a minute.
        return f"series refused: {what} (-application_metrics_count_limit={limit})"


class LabelTable:
    """Metric name -> label name -> the values admitted so far, each level at most ``limit`` long."""

    __slots__ = ("_metrics", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._metrics: dict[str, dict[str, dict[str, str]]] = {}

    def __len__(self) -> int:
        """How many label values are held."""
        return sum(len(values) for labels in self._metrics.values() for values in labels.values())

    def admit(self, metrics: dict[str, list[MetricVal]]) -> tuple[dict[str, list[MetricVal]], Refused | None]:
        """``metrics`` without the series that would pass a bound (their labels' values interned in place), and
        what was refused (None: nothing)."""
        out: dict[str, list[MetricVal]] = {}
        first: tuple[str, str | None] | None = None
        refused = 0
        for name, vals in metrics.items():
            labels = self._metrics.get(name)
            if labels is None:
                if len(self._metrics) >= self.limit:
                    refused += len(vals)
                    first = first or (name, None)
                    continue
                labels = self._metrics[name] = {}
            kept: list[MetricVal] = []
            for mv in vals:
                full = _admit(labels, mv.labels, self.limit) if mv.labels else None
                if full is None:
                    kept.append(mv)
                else:
                    refused += 1
                    first = first or (name, full)
            if kept:
                out[name] = kept
        return out, (None if first is None else Refused(first[0], first[1], refused))


def _admit(table: dict[str, dict[str, str]], labels: dict[str, str], limit: int) -> str | None:
    """Admit the label values of one series; return the label that refuses it (then nothing is admitted)."""
    new: list[tuple[str, str]] = []
    new_names = 0
    for k, v in labels.items():
        values = table.get(k)
        if values is None:
            if len(table) + new_names >= limit:
                return k
            new_names += 1
            new.append((k, v))
            continue
        seen = values.get(v)
        if seen is not None:
            if seen is not v:
                labels[k] = seen  # the interned string: same key, the dict does not change size
            continue
        if len(values) >= limit:
            return k
        new.append((k, v))
    for k, v in new:
        table.setdefault(k, {})[v] = v
    return None
