"""In-memory sample history per container, bounded by age and count (cAdvisor ``utils/timed_store.go``)."""

from __future__ import annotations

from collections import deque

from pycadvisor.model.container import ContainerStats


class SampleHistory:
    """Samples of one container in ascending time order, oldest dropped first."""

    __slots__ = ("_max_age_ns", "_samples")

    def __init__(self, *, max_age_ns: int, max_count: int) -> None:
        self._samples: deque[ContainerStats] = deque(maxlen=max(1, max_count))
        self._max_age_ns = max_age_ns

    def add(self, stats: ContainerStats) -> None:
        s = self._samples
        if s and stats.timestamp < s[-1].timestamp:  # a clock step backwards: keep order
            return
        s.append(stats)
        cutoff = stats.timestamp - self._max_age_ns
        while s and s[0].timestamp < cutoff:
            s.popleft()

    def latest(self) -> ContainerStats | None:
        return self._samples[-1] if self._samples else None

    def previous(self) -> ContainerStats | None:
        return self._samples[-2] if len(self._samples) > 1 else None

    def window(self, *, start_ns: int = 0, end_ns: int = 0, count: int = -1) -> list[ContainerStats]:
        """The newest ``count`` samples with start <= timestamp <= end (0 = unbounded), ascending; -1 = all."""
        if count == 0:
            return []
        out: list[ContainerStats] = []
        for st in reversed(self._samples):
            if end_ns and st.timestamp > end_ns:
                continue
            if start_ns and st.timestamp < start_ns:
                break
            out.append(st)
            if 0 < count <= len(out):
                break
        out.reverse()
        return out

    def __len__(self) -> int:
        return len(self._samples)
