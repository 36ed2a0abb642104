"""The exporter's own process and runtime families.

cAdvisor serves the Go client's ``process_*`` and ``go_*`` families; pycadvisor serves the Python
client's ``process_*`` families, ``python_info`` (``PlatformCollector``) and ``python_gc_*``
(``GCCollector``), the last two from the client itself in a private registry (never the client's
global ``REGISTRY``). Samples are re-rendered with Go float formatting so the whole response is uniform.

The ``process_*`` families come from :class:`ProcessFamilies`, which yields what the client's
``ProcessCollector`` yields (names, types, HELP, values) at a fraction of its cost: the client counts
open fds with ``len(os.listdir('/proc/self/fd'))``, 8-16 ms per scrape at 12,000 fds (pycadvisor holds
about ten per container). Since Linux 6.2 (``fs/proc/fd.c`` ``proc_readfd_count``) ``stat`` of that
directory gives the count in ``st_size``; older kernels report 0 there, and the listing is kept.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from pycadvisor.host.paths import read_bytes
from pycadvisor.metrics.textformat import family_header, format_value, render_labels

log = logging.getLogger(__name__)


class SampleLike(Protocol):
    """A sample as ``prometheus_client`` collectors yield it (``Sample`` named tuple)."""

    @property
    def name(self) -> str: ...
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def value(self) -> float: ...


class FamilyLike(Protocol):
    """A metric family as ``prometheus_client`` collectors yield it (``Metric``): counters are named
    without their ``_total``, their samples with it."""

    @property
    def name(self) -> str: ...
    @property
    def documentation(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def samples(self) -> Iterable[SampleLike]: ...


class Collector(Protocol):
    def collect(self) -> Iterable[FamilyLike]: ...


_NO_LABELS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class Family:
    """One unlabelled family; counters are named without ``_total`` (as the client names them)."""

    name: str
    documentation: str
    type: str
    samples: tuple[Sample, ...]


def _gauge(name: str, documentation: str, value: float) -> Family:
    return Family(name, documentation, "gauge", (Sample(name, _NO_LABELS, value),))


def _fd_dir_size_counts_fds(fd_dir: str) -> bool:
    """Whether ``st_size`` of our own ``fd`` directory is the number of open fds (Linux >= 6.2).

    Checked against a listing, which sees one fd more (the directory it has open). Older kernels
    report 0, and a directory that is not procfs (a fixture tree) reports its own size: both fail.
    Another thread opening or closing fds meanwhile makes the two stats differ: try again.
    """
    for _ in range(3):
        before = os.stat(fd_dir).st_size
        listed = len(os.listdir(fd_dir))
        after = os.stat(fd_dir).st_size
        if before != after:
            continue
        return before > 0 and listed == before + 1
    return False


class ProcessFamilies:
    """This process's ``process_*`` families, as ``prometheus_client``'s ``ProcessCollector`` yields them.

    Same names, types, HELP text and computations (``prometheus_client/process_collector.py``), read
    from ``<proc>/self/stat`` and ``<proc>/self/limits``. ``process_open_fds`` is what a listing of
    ``<proc>/self/fd`` counts, the listing's own fd included (as the Python and Go clients report it),
    from ``st_size`` of that directory where the kernel provides it. Like the client, nothing is
    collected when ``<proc>/stat`` has no boot time, the stat families are left out when
    ``stat`` cannot be read, and the fd families when ``limits`` or ``fd`` cannot.
    """

    def __init__(self, proc: str = "/proc") -> None:
        self._stat = f"{proc}/self/stat"
        self._limits = f"{proc}/self/limits"
        self._fd_dir = f"{proc}/self/fd"
        ticks: float = 100.0
        try:
            ticks = os.sysconf("SC_CLK_TCK")
        except (ValueError, OSError):
            pass
        self._ticks = ticks
        self._pagesize = os.sysconf("SC_PAGE_SIZE")
        self._btime = 0.0
        try:
            self._btime = _boot_time(f"{proc}/stat")
        except (OSError, ValueError):
            pass
        self._size_counts: bool | None = None  # decided at the first collection

    def open_fds(self) -> int:
        """Open fds of this process, as ``len(os.listdir('<proc>/self/fd'))`` counts them."""
        if self._size_counts is None:
            self._size_counts = _fd_dir_size_counts_fds(self._fd_dir)
        if self._size_counts:
            n = os.stat(self._fd_dir).st_size
            if n > 0:
                return n + 1  # + the fd a listing holds on the directory
        return len(os.listdir(self._fd_dir))

    def collect(self) -> list[Family]:
        if not self._btime:
            return []
        out: list[Family] = []
        try:
            parts = read_bytes(self._stat).rpartition(b")")[2].split()
            ticks = self._ticks
            out.append(_gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", float(parts[20])))
            out.append(
                _gauge(
                    "process_resident_memory_bytes",
                    "Resident memory size in bytes.",
                    float(parts[21]) * self._pagesize,
                )
            )
            out.append(
                _gauge(
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    float(parts[19]) / ticks + self._btime,
                )
            )
            cpu = float(parts[11]) / ticks + float(parts[12]) / ticks  # utime + stime
            out.append(
                Family(
                    "process_cpu_seconds",
                    "Total user and system CPU time spent in seconds.",
                    "counter",
                    (Sample("process_cpu_seconds_total", _NO_LABELS, cpu),),
                )
            )
        except OSError:
            pass
        try:
            max_fds = _max_open_files(read_bytes(self._limits))
            open_fds = self.open_fds()
        except OSError:
            return out
        if max_fds is not None:
            # An int, as the client reports it (it passes len() through).
            out.append(_gauge("process_open_fds", "Number of open file descriptors.", open_fds))
            out.append(_gauge("process_max_fds", "Maximum number of open file descriptors.", max_fds))
        return out


def _boot_time(path: str) -> float:
    """``btime`` of ``/proc/stat`` (``fs/proc/stat.c``), in seconds since the epoch; 0 if absent."""
    data = read_bytes(path)
    i = data.find(b"\nbtime ")
    if i < 0:
        return 0.0
    return float(data[i + 7 : data.find(b"\n", i + 7)].strip() or b"0")


def _max_open_files(limits: bytes) -> float | None:
    """The soft ``Max open files`` of ``/proc/<pid>/limits`` (``fs/proc/base.c`` ``proc_pid_limits``)."""
    i = limits.find(b"Max open file")
    if i < 0:
        return None
    end = limits.find(b"\n", i)
    fields = limits[i : end if end >= 0 else len(limits)].split()
    try:
        return float(fields[3])
    except (IndexError, ValueError):
        return None  # "unlimited" cannot be RLIMIT_NOFILE (bounded by fs.nr_open)


def default_collectors(proc: str = "/proc") -> list[Collector]:
    """Our ``process_*`` families, and the Python client's platform and GC collectors in a private registry."""
    out: list[Collector] = [ProcessFamilies(proc)]
    try:
        from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector
    except ImportError:  # pragma: no cover - prometheus_client is a declared dependency
        log.warning("prometheus_client is not installed: no python_* families")
        return out

    registry = CollectorRegistry(auto_describe=False)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    out.append(registry)
    return out


def render_collected(metrics: Iterable[FamilyLike]) -> list[tuple[str, str, int]]:
    """``(family name, text block, series count)`` for each family the collectors yield."""
    out: list[tuple[str, str, int]] = []
    for m in metrics:
        name = m.name + "_total" if m.type == "counter" and not m.name.endswith("_total") else m.name
        mtype = m.type if m.type in ("counter", "gauge", "histogram", "summary") else "untyped"
        lines = [family_header(name, m.documentation, mtype)]
        for s in m.samples:
            lines.append(f"{s.name}{render_labels(sorted(s.labels.items()))} {format_value(s.value)}\n")
        if len(lines) > 1:
            out.append((name, "".join(lines), len(lines) - 1))
    return out


class RuntimeMetrics:
    """Renders the runtime collectors' families on each scrape."""

    def __init__(self, collectors: list[Collector] | None = None) -> None:
        self._collectors = default_collectors() if collectors is None else collectors

    def blocks(self) -> list[tuple[str, str, int]]:
        out: list[tuple[str, str, int]] = []
        for c in self._collectors:
            out.extend(render_collected(c.collect()))
        return out
