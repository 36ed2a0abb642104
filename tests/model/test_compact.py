"""Compact sample storage: every value survives the round trip, shapes are shared."""

from __future__ import annotations

from pycadvisor.cache import SampleHistory
from pycadvisor.host.cgroups.samples import ZERO_MEMBERS, new_codec
from pycadvisor.model.compact import Compactor
from pycadvisor.model.container import (
    ContainerStats,
    CpuStats,
    CpuUsage,
    DiskIoStats,
    InterfaceStats,
    MemoryStats,
    NetworkStats,
    PerDiskStats,
    PSIData,
    PSIStats,
)
from pycadvisor.model.sample import to_array


def sample(ts: int, total: int) -> ContainerStats:
    return ContainerStats(
        timestamp=ts,
        cpu=CpuStats(
            usage=CpuUsage(total=total, per_cpu_usage=[total // 2, total - total // 2], user=1, system=2),
            psi=PSIStats(some=PSIData(total=7, avg10=0.54)),
        ),
        memory=MemoryStats(usage=2**63 + 5, working_set=18446744073709551615),
        diskio=DiskIoStats(
            io_service_bytes=[PerDiskStats(device="/dev/vda", major=254, minor=0, stats={"Read": 1, "Write": 2})]
        ),
        network=NetworkStats(name="eth0", rx_bytes=10, interfaces=[InterfaceStats(name="eth0", rx_bytes=10)]),
    )


def test_round_trip_keeps_every_value() -> None:
    c = Compactor(ZERO_MEMBERS)
    s = sample(1, 12345)
    shape, vals = c.encode(s)
    assert c.decode(shape, vals) == s  # uint64 above 2^63, floats, strings, dict keys, lists
    shape2, _ = c.encode(sample(2, 999))
    assert shape2 is shape  # same structure -> one interned shape
    assert c.shape_count == 1


def test_history_window_and_age_limit() -> None:
    h = SampleHistory(max_age_ns=10, max_count=100, codec=new_codec())
    for t in range(1, 31):
        h.add_stats(sample(t, t * 100))
    assert len(h) == 11  # t = 20..30 (age limit 10)
    w = h.window(count=3)
    assert [x.timestamp for x in w] == [28, 29, 30]
    assert w[-1] is h.latest()
    assert w[0].cpu is not None and w[0].cpu.usage.total == 2800
    assert [x.timestamp for x in h.window(start_ns=22, end_ns=24)] == [22, 23, 24]
    assert h.window(count=0) == []
    h.add_stats(sample(5, 1))  # a step back in time is ignored
    assert (latest := h.latest()) is not None and latest.timestamp == 30


def test_any_stats_object_survives_the_sample_codec() -> None:
    codec = new_codec()
    s = sample(7, 4242)
    layout, vals = codec.encode(s)
    assert codec.build(layout, vals) == s
    assert codec.encode(sample(8, 1))[0] is layout  # one interned layout for one structure
    assert codec.layout_count == 1


def test_out_of_range_values_are_clamped_not_fatal() -> None:
    assert list(to_array([1, 2**64 - 1, -(2**70)])) == [1, 2**63 - 1, -(2**63)]
