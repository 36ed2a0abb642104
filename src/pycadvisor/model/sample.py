"""A sample as the collector writes it: an interned *layout* plus a flat ``array('q')`` of its values.

The collector reads a container's cgroup files into plain ints, appended to one list in a fixed order,
and describes what it wrote with a few small *family tokens* (``("cpu", ncpu, sched, psi)``, ...).
The tuple of tokens is the sample's :class:`Layout`; it is the same from one sample of a container to
the next, so it is interned and shared, and a sample costs its values (8 bytes each) and one tuple.

:class:`ContainerStats` objects (cAdvisor's ``info.v1.ContainerStats``) are built from a sample only
when somebody reads it: the REST API, ``/metrics``, a storage driver. At a 1 s housekeeping interval
and a 15 s scrape interval most samples are never turned into objects at all; building the object
tree on every sample and then encoding it cost 4/5 of the collector's time (bench/README.md).

Token kinds: ``("cpu", ncpu, psi)``, ``("sched",)``, ``("ref",)`` (referenced bytes),
``("load",)`` (task states and load averages), ``("mem", psi)``,
``("io", ((member, ((device, major, minor, op keys), ...)), ...), psi)``, ``("net", interface names,
tcp keys, tcp6 keys, udp keys, udp6 keys, advanced tcp keys)`` (``None`` keys: not collected, the
shared zero table), ``("perf", ((event, cpu), ...))`` (perf counters: value and scaling ratio's bits each)
and ``("obj", member, shape, n)``. Families that are off by default or rare (processes, hugetlb,
filesystems, health) are stored by the generic :class:`~pycadvisor.model.compact.Compactor` under an
``"obj"`` token.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar, cast

from pycadvisor.model.compact import Compactor
from pycadvisor.model.container import (
    TCP_STATE_NAMES,
    UDP_STAT_NAMES,
    ContainerStats,
    CpuCFS,
    CpuSchedstat,
    CpuSetStats,
    CpuStats,
    CpuUsage,
    DiskIoStats,
    Health,
    InterfaceStats,
    LoadStats,
    MemoryEvents,
    MemoryNumaStats,
    MemoryStats,
    MemoryStatsMemoryData,
    NetworkStats,
    PerDiskStats,
    PerfStat,
    PSIData,
    PSIStats,
    ResctrlStats,
)

Token = tuple[Any, ...]
_T = TypeVar("_T")
I64_MIN, I64_MAX = -(2**63), 2**63 - 1


def to_array(vals: list[int]) -> array[int]:
    """The sample's values as int64; a value outside int64 (a corrupt file) is clamped, not fatal."""
    try:
        return array("q", vals)
    except OverflowError:
        return array("q", [min(max(v, I64_MIN), I64_MAX) for v in vals])


# The slots of the flat families, in the order their values are written. host/cgroups/cpu.py,
# memory.py, pressure.py and network.py name, slot by slot and per cgroup version, the kernel file each is read from.
CPU_HEAD_SLOTS = ("total", "user", "system")  # CpuUsage; the per-CPU usage follows (v1)
CPU_CFS_SLOTS = ("periods", "throttled_periods", "throttled_time", "bursts_periods", "burst_time")  # CpuCFS
CPU_SLOTS = CPU_HEAD_SLOTS + CPU_CFS_SLOTS
CPU_HEAD, CPU_CFS = len(CPU_HEAD_SLOTS), len(CPU_CFS_SLOTS)
CPU_SCHED = 3  # run_time, runqueue_time, run_periods
MEMORY_FIELDS = (
    "usage", "max_usage", "cache", "rss", "swap", "mapped_file", "working_set", "total_active_file",
    "total_inactive_file", "file_dirty", "file_writeback", "pgscan", "pgsteal", "workingset_refault_file",
    "workingset_refault_anon", "failcnt", "kernel",
)  # fmt: skip
# MemoryStats' members, then container_data's (= hierarchical_data's) pgfault and pgmajfault and
# MemoryEvents' high and max.
MEMORY_SLOTS = (*MEMORY_FIELDS, "pgfault", "pgmajfault", "events_high", "events_max")
MEMORY_SIZE = len(MEMORY_SLOTS)
# PSIStats: some, then full (the averages stored as the IEEE bits of their doubles); host/cgroups/pressure.py.
PSI_SLOTS = (
    "some_total", "some_avg10", "some_avg60", "some_avg300", "full_total", "full_avg10", "full_avg60", "full_avg300",
)  # fmt: skip
PSI_SIZE = len(PSI_SLOTS)
# InterfaceStats' counters, per interface; host/cgroups/network.py.
IFACE_SLOTS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_bytes", "tx_packets", "tx_errors", "tx_dropped")
IFACE_SIZE = len(IFACE_SLOTS)

_D4 = struct.Struct("<4d")
_Q4 = struct.Struct("<4q")
_D1 = struct.Struct("<d")
_Q1 = struct.Struct("<q")


def psi_ints(p: PSIStats) -> tuple[int, ...]:
    """The 8 values of a PSI pair, floats as their bits (lossless, cheap)."""
    s, f = p.some, p.full
    return (
        s.total, *_Q4.unpack(_D4.pack(s.avg10, s.avg60, s.avg300, 0.0))[:3],
        f.total, *_Q4.unpack(_D4.pack(f.avg10, f.avg60, f.avg300, 0.0))[:3],
    )  # fmt: skip


def _psi(it: Iterator[int]) -> PSIStats:
    out = []
    for _ in range(2):
        total = next(it)
        a10, a60, a300, _z = _D4.unpack(_Q4.pack(next(it), next(it), next(it), 0))
        out.append(PSIData(total=total, avg10=a10, avg60=a60, avg300=a300))
    return PSIStats(some=out[0], full=out[1])


def psi_from_ints(vals: Sequence[int]) -> PSIStats:
    """The PSI pair of the 8 values :func:`psi_ints` gives."""
    return _psi(iter(vals))


class Layout:
    """An interned tuple of family tokens, with where the values the manager reads on every sample sit."""

    __slots__ = ("cpu_total", "mem_usage", "signature", "size", "tokens", "working_set")

    def __init__(self, tokens: tuple[Token, ...]) -> None:
        self.tokens = tokens
        self.cpu_total = self.mem_usage = self.working_set = -1
        sig: list[int] = []  # what dynamic housekeeping compares (cAdvisor: cpu, memory, network, disk IO)
        pos = 1  # vals[0] is the timestamp
        for t in tokens:
            kind = t[0]
            if kind == "cpu":
                self.cpu_total = pos
                sig.append(pos)
            elif kind == "mem":
                self.mem_usage = pos
                self.working_set = pos + MEMORY_SLOTS.index("working_set")
                sig.append(pos)
            elif kind == "net" and t[1]:
                sig += (pos, pos + 4)  # first interface's rx and tx bytes
            elif kind == "io":
                n = sum(len(dev[3]) for dev in t[1][0][1]) if t[1] and t[1][0][0] == "io_service_bytes" else 0
                sig += range(pos, pos + n)
            pos += token_size(t)
        self.size = pos
        self.signature = tuple(sig)

    def __repr__(self) -> str:
        return f"Layout({self.tokens!r})"


def token_size(t: Token) -> int:
    """How many values a family token stands for."""
    kind = t[0]
    if kind == "cpu":
        return CPU_HEAD + int(t[1]) + CPU_CFS + (PSI_SIZE if t[2] else 0)
    if kind == "sched":
        return CPU_SCHED
    if kind == "ref":
        return 1
    if kind == "load":
        return 7
    if kind == "mem":
        return MEMORY_SIZE + (PSI_SIZE if t[1] else 0)
    if kind == "io":
        return sum(len(dev[3]) for _m, devs in t[1] for dev in devs) + (PSI_SIZE if t[2] else 0)
    if kind == "net":
        return IFACE_SIZE * len(t[1]) + sum(len(keys) for keys in t[2:] if keys is not None)
    if kind == "numa":
        return sum(len(nodes) for _scope, _kind, nodes in t[1])
    if kind == "perf":
        return 2 * len(t[1])
    if kind == "obj":
        return int(t[3])
    raise ValueError(f"unknown sample family {kind!r}")


class SampleCodec:
    """Interns layouts and turns ``(layout, values)`` into :class:`ContainerStats` and back.

    ``zeros`` are the shared, never-mutated members a sample without data there points at (the
    collector's ``host.cgroups.samples.ZERO_MEMBERS``): task stats, resctrl, cpuset, health, the tcp/udp tables.
    """

    __slots__ = ("_layouts", "_tables", "_zeros_by_type", "compactor")

    def __init__(self, zeros: Sequence[object] = ()) -> None:
        self.compactor = Compactor(constants=tuple(zeros))
        self._layouts: dict[tuple[Token, ...], Layout] = {}
        self._zeros_by_type: dict[type, object] = {type(z): z for z in zeros if not isinstance(z, dict | list)}
        # The zero tcp, udp and advanced-tcp tables (dicts in Go struct order) of samples that do not
        # collect them; cAdvisor always sends every key.
        tables = {tuple(z)[:1]: z for z in zeros if type(z) is dict and z}
        self._tables = (
            tables.get(TCP_STATE_NAMES[:1]) or dict.fromkeys(TCP_STATE_NAMES, 0),
            tables.get(UDP_STAT_NAMES[:1]) or dict.fromkeys(UDP_STAT_NAMES, 0),
            next((z for k, z in tables.items() if k not in (TCP_STATE_NAMES[:1], UDP_STAT_NAMES[:1])), {}),
        )

    def layout(self, tokens: Sequence[Token]) -> Layout:
        key = tuple(tokens)
        lay = self._layouts.get(key)
        if lay is None:
            lay = self._layouts[key] = Layout(key)
        return lay

    @property
    def layout_count(self) -> int:
        return len(self._layouts)

    def add_object(self, member: str, obj: object, tokens: list[Token], vals: list[int]) -> None:
        """Append one member stored generically (``ContainerStats.<member> = obj``)."""
        shape, arr = self.compactor.encode(obj)
        tokens.append(("obj", member, shape, len(arr)))
        vals.extend(arr)

    def add_member(self, member: str, obj: object, tokens: list[Token], vals: list[int]) -> None:
        """Append one member of a sample: ``perf_stats`` flat (a ``("perf", ((name, cpu), ...))`` token, value
        and ratio per entry: a tenth of the generic encoding's cost), anything else generically."""
        if member == "perf_stats" and type(obj) is list and all(type(p) is PerfStat for p in obj):
            stats: list[PerfStat] = obj
            tokens.append(("perf", tuple((p.name, p.cpu) for p in stats)))
            for p in stats:
                vals.append(p.value)
                vals.append(_Q1.unpack(_D1.pack(p.scaling_ratio))[0])
            return
        self.add_object(member, obj, tokens, vals)

    def add_encoded(
        self, member: str, encoded: tuple[tuple[Any, ...], array[int]], tokens: list[Token], vals: list[int]
    ) -> None:
        """Append a member encoded once (``compactor.encode``) and shared by several samples: a value that changes
        less often than samples are taken (application metrics) is not walked again for each."""
        shape, arr = encoded
        tokens.append(("obj", member, shape, len(arr)))
        vals.extend(arr)

    def encode(self, st: ContainerStats) -> tuple[Layout, array[int]]:
        """Any ContainerStats, every member stored generically (tests, embedders, the fallback)."""
        tokens: list[Token] = []
        vals = [st.timestamp]
        for name in ContainerStats.__dataclass_fields__:
            v = getattr(st, name)
            if name != "timestamp" and v is not None:
                self.add_object(name, v, tokens, vals)
        return self.layout(tokens), array("q", vals)

    def build(self, layout: Layout, vals: array[int]) -> ContainerStats:
        zero = self._zero
        st = ContainerStats(
            timestamp=vals[0],
            task_stats=zero(LoadStats),
            resctrl=zero(ResctrlStats),
            cpuset=zero(CpuSetStats),
            health=zero(Health),
        )
        it = iter(vals)
        next(it)
        for t in layout.tokens:
            kind = t[0]
            if kind == "cpu":
                st.cpu = self._cpu(t, it)
            elif kind == "mem":
                st.memory = self._mem(t, it)
            elif kind == "ref":
                st.referenced_memory = next(it)
            elif kind == "load":  # follows "cpu"
                st.task_stats = LoadStats(
                    nr_sleeping=next(it), nr_running=next(it), nr_stopped=next(it),
                    nr_uninterruptible=next(it), nr_io_wait=next(it),
                )  # fmt: skip
                load, load_d = next(it), next(it)
                if st.cpu is not None:
                    st.cpu.load_average, st.cpu.load_d_average = load, load_d
            elif kind == "sched":  # follows "cpu"
                sched = CpuSchedstat(run_time=next(it), runqueue_time=next(it), run_periods=next(it))
                if st.cpu is not None:
                    st.cpu.schedstat = sched
            elif kind == "io":
                st.diskio = self._io(t, it)
            elif kind == "net":
                st.network = self._net(t, it)
            elif kind == "numa":  # follows "mem"
                self._numa(st, t, it)
            elif kind == "perf":
                st.perf_stats = [
                    PerfStat(value=next(it), scaling_ratio=_D1.unpack(_Q1.pack(next(it)))[0], name=name, cpu=cpu)
                    for name, cpu in t[1]
                ]
            elif kind == "obj":
                setattr(st, t[1], self.compactor.decode_from(t[2], it))
            else:
                raise ValueError(f"unknown sample family {kind!r}")
        return st

    # ------------------------------------------------------------------ families

    def _zero(self, cls: type[_T]) -> _T:
        """The shared zero-valued ``cls`` (a new one if the codec was given none)."""
        z = self._zeros_by_type.get(cls)
        return cast(_T, z) if z is not None else cls()

    def _cpu(self, t: Token, it: Iterator[int]) -> CpuStats:
        _, ncpu, psi = t
        total, user, system = next(it), next(it), next(it)
        percpu = [next(it) for _ in range(ncpu)]
        usage = CpuUsage(total=total, per_cpu_usage=percpu, user=user, system=system)
        a, b, c, d, e = next(it), next(it), next(it), next(it), next(it)
        cfs = CpuCFS(periods=a, throttled_periods=b, throttled_time=c, bursts_periods=d, burst_time=e) if (
            a or b or c or d or e) else self._zero(CpuCFS)  # fmt: skip
        cpu = CpuStats(usage=usage, cfs=cfs, schedstat=self._zero(CpuSchedstat), psi=self._zero(PSIStats))
        if psi:
            cpu.psi = _psi(it)
        return cpu

    def _mem(self, t: Token, it: Iterator[int]) -> MemoryStats:
        m = MemoryStats(psi=self._zero(PSIStats), events=self._zero(MemoryEvents))
        for name in MEMORY_FIELDS:
            object.__setattr__(m, name, next(it))
        numa = self._zero(MemoryNumaStats)
        pgf, pgmaj = next(it), next(it)
        m.container_data = MemoryStatsMemoryData(pgfault=pgf, pgmajfault=pgmaj, numa_stats=numa)
        m.hierarchical_data = MemoryStatsMemoryData(pgfault=pgf, pgmajfault=pgmaj, numa_stats=numa)
        high, mx = next(it), next(it)
        if high or mx:
            m.events = MemoryEvents(high=high, max=mx)
        if t[1]:
            m.psi = _psi(it)
        return m

    @staticmethod
    def _numa(st: ContainerStats, t: Token, it: Iterator[int]) -> None:
        own, hier = MemoryNumaStats(), MemoryNumaStats()
        for scope, member, nodes in t[1]:
            setattr(own if scope == "container" else hier, member, {n: next(it) for n in nodes})
        m = st.memory
        if m is not None:  # the memory family failed: its numa figures have nowhere to go
            m.container_data.numa_stats, m.hierarchical_data.numa_stats = own, hier

    def _io(self, t: Token, it: Iterator[int]) -> DiskIoStats:
        io = DiskIoStats(psi=self._zero(PSIStats))
        for member, devs in t[1]:
            setattr(
                io,
                member,
                [
                    PerDiskStats(device=dev, major=maj, minor=mnr, stats={k: next(it) for k in ops})
                    for dev, maj, mnr, ops in devs
                ],
            )
        if t[2]:
            io.psi = _psi(it)
        return io

    def _net(self, t: Token, it: Iterator[int]) -> NetworkStats:
        names, tcp, tcp6, udp, udp6, adv = t[1:]
        ifaces = [
            InterfaceStats(
                name=n, rx_bytes=next(it), rx_packets=next(it), rx_errors=next(it), rx_dropped=next(it),
                tx_bytes=next(it), tx_packets=next(it), tx_errors=next(it), tx_dropped=next(it),
            )
            for n in names
        ]  # fmt: skip
        zt, zu, za = self._tables
        net = NetworkStats(
            interfaces=ifaces,
            tcp={k: next(it) for k in tcp} if tcp is not None else zt,
            tcp6={k: next(it) for k in tcp6} if tcp6 is not None else zt,
            udp={k: next(it) for k in udp} if udp is not None else zu,
            udp6={k: next(it) for k in udp6} if udp6 is not None else zu,
            tcp_advanced={k: next(it) for k in adv} if adv is not None else za,
        )
        if ifaces:
            f = ifaces[0]
            net.name = f.name
            net.rx_bytes, net.rx_packets, net.rx_errors, net.rx_dropped = (
                f.rx_bytes, f.rx_packets, f.rx_errors, f.rx_dropped)  # fmt: skip
            net.tx_bytes, net.tx_packets, net.tx_errors, net.tx_dropped = (
                f.tx_bytes, f.tx_packets, f.tx_errors, f.tx_dropped)  # fmt: skip
        return net
