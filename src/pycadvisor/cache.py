"""In-memory sample history per container, bounded by age and count (cAdvisor ``utils/timed_store.go``).

Samples are kept compact (:mod:`pycadvisor.model.compact`): the newest one as an object, since
``/metrics`` and storage read it every time, the rest as an interned shape plus an int64 array,
decoded only when an API call asks for history.
"""

from __future__ import annotations

from array import array
from collections import deque
from typing import Any

from pycadvisor.model.compact import Compactor
from pycadvisor.model.container import ContainerStats

_Entry = tuple[tuple[Any, ...], "array[int]"]


class SampleHistory:
    """Samples of one container in ascending time order, oldest dropped first."""

    __slots__ = ("_compactor", "_latest", "_max_age_ns", "_prev", "_samples")

    def __init__(self, *, max_age_ns: int, max_count: int, compactor: Compactor | None = None) -> None:
        self._samples: deque[_Entry] = deque(maxlen=max(1, max_count))
        self._max_age_ns = max_age_ns
        self._compactor = compactor or Compactor()
        self._latest: ContainerStats | None = None
        self._prev: ContainerStats | None = None

    def add(self, stats: ContainerStats) -> None:
        if self._latest is not None and stats.timestamp < self._latest.timestamp:
            return  # a clock step backwards: keep the order
        s = self._samples
        s.append(self._compactor.encode(stats))
        self._prev, self._latest = self._latest, stats
        cutoff = stats.timestamp - self._max_age_ns
        # The sample's timestamp is its first encoded value (ContainerStats.timestamp is the first field).
        while len(s) > 1 and s[0][1][0] < cutoff:
            s.popleft()

    def latest(self) -> ContainerStats | None:
        return self._latest

    def previous(self) -> ContainerStats | None:
        return self._prev if len(self._samples) > 1 else None

    def window(self, *, start_ns: int = 0, end_ns: int = 0, count: int = -1) -> list[ContainerStats]:
        """The newest ``count`` (-1 = all) samples with start <= timestamp <= end (0 = unbounded), ascending."""
        if count == 0 or not self._samples:
            return []
        picked: list[_Entry] = []
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
        latest = self._latest
        out: list[ContainerStats] = []
        for i, (shape, vals) in enumerate(picked):
            if i == len(picked) - 1 and latest is not None and vals[0] == latest.timestamp:
                out.append(latest)
            else:
                out.append(self._compactor.decode(shape, vals))
        return out

    def __len__(self) -> int:
        return len(self._samples)

    def nbytes(self) -> int:
        """Bytes held by the encoded samples (arrays and entry tuples), for the memory benchmark."""
        return sum(64 + 8 * len(v) + 56 for _, v in self._samples)
