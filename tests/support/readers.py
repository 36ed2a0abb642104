"""Readers of held descriptors for the collector's tests: the general path alone, and a reader that
counts its one-call family reads (so a test sees which path a sample took without private state)."""

from __future__ import annotations

from collections import Counter

from pycadvisor.host.cgroups.fdread import FamilyReader, FdReader, PyFdReader, family_reader, native_reader
from support.ci import require


class GeneralPathReader:
    """``reader``'s single-file reads (the pure-Python reader's by default) and no one-call family
    reads: the collector reads every family file by file, its reference path."""

    __slots__ = ("_r",)

    def __init__(self, reader: FdReader | None = None) -> None:
        self._r: FdReader = reader or PyFdReader()

    def read_bytes(self, fd: int, /) -> bytes:
        return self._r.read_bytes(fd)

    def read_int(self, fd: int, /) -> int | None:
        return self._r.read_int(fd)

    def read_ints(self, fd: int, /) -> list[int]:
        return self._r.read_ints(fd)

    def read_keyed(self, fd: int, keys: tuple[bytes, ...], /) -> tuple[int | None, ...]:
        return self._r.read_keyed(fd, keys)

    def read_psi(self, fd: int, /) -> tuple[int, ...]:
        return self._r.read_psi(fd)


class CountingReader(GeneralPathReader):
    """``reader`` (native or Python) with its one-call family reads counted in :attr:`calls`: those
    that returned (one that raised sent the collector to its general path)."""

    __slots__ = ("_fam", "calls")

    def __init__(self, reader: FdReader) -> None:
        super().__init__(reader)
        fam = family_reader(reader)
        assert fam is not None, "a reader without one-call family reads"
        self._fam: FamilyReader = fam
        self.calls: Counter[str] = Counter()

    def v1_cpu(self, fd_percpu: int, fd_stat: int, fd_cfs: int, ns_per_tick: int, vals: list[int], /) -> int:
        n = self._fam.v1_cpu(fd_percpu, fd_stat, fd_cfs, ns_per_tick, vals)
        self.calls["v1_cpu"] += 1
        return n

    def v1_memory(
        self, fd_usage: int, fd_stat: int, fd_max: int, fd_failcnt: int, fd_kmem: int, keys: tuple[bytes, ...],
        vals: list[int], /,
    ) -> None:  # fmt: skip
        self._fam.v1_memory(fd_usage, fd_stat, fd_max, fd_failcnt, fd_kmem, keys, vals)
        self.calls["v1_memory"] += 1

    def v2_memory(
        self, fd_stat: int, fd_current: int, fd_peak: int, fd_swap: int, fd_events: int, keys: tuple[bytes, ...],
        vals: list[int], /,
    ) -> None:  # fmt: skip
        self._fam.v2_memory(fd_stat, fd_current, fd_peak, fd_swap, fd_events, keys, vals)
        self.calls["v2_memory"] += 1


def require_native() -> FdReader:
    """The native reader; it is built wherever the suite is installed (a laptop without a compiler skips)."""
    r = native_reader()
    require(r is not None, "pycadvisor.host.cgroups._cgread was not built (no C compiler or Python headers)")
    assert r is not None
    return r
