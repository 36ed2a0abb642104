"""In-memory sample history per container, bounded by age and count (cAdvisor ``utils/timed_store.go``).

Samples are kept as the collector wrote them (:mod:`pycadvisor.model.sample`): an interned layout
and an ``array('q')`` of values, about 8 bytes per value. :class:`ContainerStats` objects are built
only when read; the newest one is kept once built, since ``/metrics`` and the API read it often.
"""

from __future__ import annotations

from array import array
from collections import deque

from pycadvisor.model.container import ContainerStats
from pycadvisor.model.sample import Layout, SampleCodec

Entry = tuple[Layout, "array[int]"]


class SampleHistory:
    """Samples of one container in ascending time order, oldest dropped first."""

    __slots__ = ("_codec", "_latest", "_max_age_ns", "_samples")

    def __init__(self, *, max_age_ns: int, max_count: int, codec: SampleCodec | None = None) -> None:
        self._samples: deque[Entry] = deque(maxlen=max(1, max_count))
        self._max_age_ns = max_age_ns
        self._codec = codec or SampleCodec()
        self._latest: ContainerStats | None = None  # the newest sample as an object, once built

    def add(self, layout: Layout, vals: array[int], stats: ContainerStats | None = None) -> None:
        """Append a sample; ``stats`` is its object when the caller already built it."""
        s = self._samples
        ts = vals[0]  # the timestamp is a sample's first value
        if s and ts < s[-1][1][0]:
            return  # a clock step backwards: keep the order
        s.append((layout, vals))
        self._latest = stats
        cutoff = ts - self._max_age_ns
        while len(s) > 1 and s[0][1][0] < cutoff:
            s.popleft()

    def add_stats(self, stats: ContainerStats) -> None:
        """Append a sample given as an object (embedders, tests)."""
        layout, vals = self._codec.encode(stats)
        self.add(layout, vals, stats)

    def latest_entry(self) -> Entry | None:
        return self._samples[-1] if self._samples else None

    def latest(self) -> ContainerStats | None:
        if self._latest is None and self._samples:
            self._latest = self._codec.build(*self._samples[-1])
        return self._latest

    def previous(self) -> ContainerStats | None:
        return self._codec.build(*self._samples[-2]) if len(self._samples) > 1 else None

    def window(self, *, start_ns: int = 0, end_ns: int = 0, count: int = -1) -> list[ContainerStats]:
        """The newest ``count`` (-1 = all) samples with start <= timestamp <= end (0 = unbounded), ascending."""
        if count == 0 or not self._samples:
            return []
        picked: list[Entry] = []
        for entry in reversed(self._samples):
            ts = entry[1][0]
            if end_ns and ts > end_ns:
                continue
            if start_ns and ts < start_ns:
                break
            picked.append(entry)
            if 0 < count <= len(picked):
                break
        picked.reverse()
        newest, latest = self._samples[-1], self.latest()
        build = self._codec.build
        return [latest if e is newest and latest is not None else build(*e) for e in picked]

    def __len__(self) -> int:
        return len(self._samples)

    def nbytes(self) -> int:
        """Bytes held by the samples (arrays and entry tuples), for the memory benchmark."""
        return sum(64 + 8 * len(v) + 56 for _, v in self._samples)
