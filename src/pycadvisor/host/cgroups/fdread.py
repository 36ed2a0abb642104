"""Read and parse a held file descriptor in one call: the native reader, or its pure-Python twin.

A sample re-reads each of a container's files with ``pread`` at offset 0 and keeps a few integers of
it. ``pycadvisor.host.cgroups._cgread`` (C, built with the package when a compiler is there) does the read
into a stack buffer and converts only the values asked for; :class:`PyFdReader` does the same with
``os.pread``. Both raise ``OSError`` (with the read's errno: ENODEV once a cgroup is removed) and
``ValueError`` for content that is not what was asked for. bench/fdread.py measures the two.
"""

from __future__ import annotations

import os
from typing import Protocol, cast, runtime_checkable

from pycadvisor.host.cgroups.cpu import V1_CPU, cpu_scales, cpu_values
from pycadvisor.host.cgroups.memory import V2_MEMORY, v1_memory_values, v2_memory_values
from pycadvisor.host.cgroups.pressure import psi_values
from pycadvisor.model.sample import CPU_HEAD

__all__ = ["FamilyReader", "FdReader", "PyFdReader", "default_reader", "family_reader", "native_reader"]

_BUF = 16384
_FAMILY_CALLS = ("v1_cpu", "v1_memory", "v2_memory")  # FamilyReader's methods
_V2_EVENT_KEYS = V2_MEMORY.keys["memory.events"]
_CPUACCT_KEYS, _CFS_KEYS = V1_CPU.keys["cpuacct.stat"], V1_CPU.keys["cpu.stat"]


class FdReader(Protocol):
    """What the collector's :class:`~pycadvisor.host.cgroups.files.FileSet` reads held descriptors with."""

    def read_bytes(self, fd: int, /) -> bytes:
        """The whole file from offset 0."""
        ...

    def read_int(self, fd: int, /) -> int | None:
        """The file's one integer (surrounding whitespace allowed); ``None`` when the file is empty."""
        ...

    def read_ints(self, fd: int, /) -> list[int]:
        """The file's whitespace-separated integers (``cpuacct.usage_percpu``)."""
        ...

    def read_keyed(self, fd: int, keys: tuple[bytes, ...], /) -> tuple[int | None, ...]:
        """The values of ``keys`` in a file of ``key value`` lines, in the order of ``keys``; ``None``
        for a key the file does not have. Other lines are not looked at; a repeated key keeps its last
        value."""
        ...

    def read_psi(self, fd: int, /) -> tuple[int, ...]:
        """A pressure file's 8 values, the PSI slots as host/cgroups/pressure.py names them (``psi_values``)."""
        ...


@runtime_checkable
class FamilyReader(Protocol):
    """One call per family for the collector's most common families (both readers have them).

    Each reads the family's held files and appends its values to the sample's list in the collector's
    order; anything but the plain case (an empty or malformed file, a read error) raises ``ValueError``
    or ``OSError``, and the collector reads the family again through its general path, which is the
    reference: tests/host/cgroups/test_collector.py checks that all three give the same samples.
    """

    def v1_cpu(self, fd_percpu: int, fd_stat: int, fd_cfs: int, ns_per_tick: int, vals: list[int], /) -> int:
        """cpuacct.usage_percpu, cpuacct.stat, cpu.stat: the CPU family's values; returns the CPU count."""
        ...

    def v1_memory(
        self,
        fd_usage: int,
        fd_stat: int,
        fd_max: int,
        fd_failcnt: int,
        fd_kmem: int,
        keys: tuple[bytes, ...],
        vals: list[int],
        /,
    ) -> None:
        """memory.usage_in_bytes, memory.stat (``keys``), max usage, failcnt, kmem usage: 21 values."""
        ...

    def v2_memory(
        self,
        fd_stat: int,
        fd_current: int,
        fd_peak: int,
        fd_swap: int,
        fd_events: int,
        keys: tuple[bytes, ...],
        vals: list[int],
        /,
    ) -> None:
        """memory.stat (``keys``), memory.current, and memory.peak, memory.swap.current, memory.events
        (each -1 when this kernel does not have it: 0): the 21 values of the v2 memory family."""
        ...


def family_reader(reader: FdReader) -> FamilyReader | None:
    """``reader``'s one-call family reads, if it has them (both of these readers do).

    The attributes are looked up directly: ``isinstance`` against the runtime-checkable protocol took 131 µs
    here (typing's protocol machinery), paid by every container the manager adds."""
    if all(callable(getattr(reader, name, None)) for name in _FAMILY_CALLS):
        return cast(FamilyReader, reader)
    return None


def _pread_all(fd: int) -> bytes:
    data = os.pread(fd, _BUF, 0)
    if len(data) < _BUF:
        return data
    chunks = [data]
    off = len(data)
    while more := os.pread(fd, _BUF * 4, off):
        chunks.append(more)
        off += len(more)
    return b"".join(chunks)


class PyFdReader:
    """The pure-Python reader: the same results as the native one, for hosts without a compiler."""

    __slots__ = ("_cpu_scales",)

    def __init__(self) -> None:
        self._cpu_scales: dict[int, tuple[int, ...]] = {}  # per clock tick length: V1_CPU's factors

    def read_bytes(self, fd: int, /) -> bytes:
        return _pread_all(fd)

    def read_int(self, fd: int, /) -> int | None:
        data = _pread_all(fd).strip()
        return int(data) if data else None

    def read_ints(self, fd: int, /) -> list[int]:
        return [int(x) for x in _pread_all(fd).split()]

    def read_keyed(self, fd: int, keys: tuple[bytes, ...], /) -> tuple[int | None, ...]:
        data = _pread_all(fd)
        parts = data.split()
        if len(parts) == 2 * data.count(b"\n") and data.endswith(b"\n"):
            # Every line is "key value" (all the files this is used for): one split, no per-line work.
            d = dict(zip(parts[::2], parts[1::2], strict=True))
        else:
            d = {}
            for line in data.split(b"\n"):
                k, _, rest = line.partition(b" ")
                if k in keys:
                    tok = rest.split(None, 1)
                    if not tok:
                        raise ValueError(f"not an integer: {rest!r}")
                    d[k] = tok[0]
        return tuple(None if (v := d.get(k)) is None else int(v) for k in keys)

    def read_psi(self, fd: int, /) -> tuple[int, ...]:
        return psi_values(_pread_all(fd))

    # The one-call family reads, as _cgread.c's: host/cgroups/cpu.py and memory.py say what each value is.

    def v1_cpu(self, fd_percpu: int, fd_stat: int, fd_cfs: int, ns_per_tick: int, vals: list[int], /) -> int:
        percpu = self.read_ints(fd_percpu)
        if not percpu:
            raise ValueError("cpuacct.usage_percpu: no per-CPU figures")
        read = (*self.read_keyed(fd_stat, _CPUACCT_KEYS), *self.read_keyed(fd_cfs, _CFS_KEYS))
        scales = self._cpu_scales.get(ns_per_tick)
        if scales is None:
            scales = self._cpu_scales[ns_per_tick] = cpu_scales(V1_CPU, ns_per_tick)
        out = cpu_values(V1_CPU, scales, read, sum(percpu))
        vals += out[:CPU_HEAD]
        vals += percpu
        vals += out[CPU_HEAD:]
        return len(percpu)

    def v1_memory(
        self,
        fd_usage: int,
        fd_stat: int,
        fd_max: int,
        fd_failcnt: int,
        fd_kmem: int,
        keys: tuple[bytes, ...],
        vals: list[int],
        /,
    ) -> None:
        usage = self.read_int(fd_usage)
        if usage is None:
            raise ValueError("memory.usage_in_bytes: empty")
        stat = self.read_keyed(fd_stat, keys)
        vals += v1_memory_values(
            (usage, *stat, self.read_int(fd_max), self.read_int(fd_failcnt), self.read_int(fd_kmem))
        )

    def v2_memory(
        self,
        fd_stat: int,
        fd_current: int,
        fd_peak: int,
        fd_swap: int,
        fd_events: int,
        keys: tuple[bytes, ...],
        vals: list[int],
        /,
    ) -> None:
        stat = self.read_keyed(fd_stat, keys)
        current = self.read_int(fd_current)
        if current is None:  # a hierarchy's root: the general path sums anon and file
            raise ValueError("memory.current: empty")
        peak = self.read_int(fd_peak) if fd_peak >= 0 else None
        swap = self.read_int(fd_swap) if fd_swap >= 0 else None
        events = self.read_keyed(fd_events, _V2_EVENT_KEYS) if fd_events >= 0 else (None, None)
        vals += v2_memory_values((*stat, current, peak, swap, *events))


def native_reader() -> FdReader | None:
    """The C reader, or ``None`` when the package was installed without it."""
    try:  # lazy: the native reader is built only where a compiler was there; its absence is not an error
        from pycadvisor.host.cgroups import _cgread
    except ImportError:
        return None
    return _cgread


def default_reader() -> FdReader:
    """The native reader where it was built, else the Python one."""
    return native_reader() or PyFdReader()
