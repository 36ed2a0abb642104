"""What every sample of the collector shares: the zero-valued members, and the codec that stores them.

A sample with nothing to report in a member (no CFS quota, no PSI, no task stats, the tcp/udp tables
of a container whose netns is not read) points at one shared zero-valued object; samples are never
mutated once built, so one set serves them all. cAdvisor always sends every key of the tcp, udp and
advanced-tcp tables (info/v1/container.go), so their zeros are full tables.
"""

from __future__ import annotations

from pycadvisor.host.net import tcp_advanced_zero
from pycadvisor.model.container import (
    TCP_STATE_NAMES,
    UDP_STAT_NAMES,
    CpuCFS,
    CpuSchedstat,
    CpuSetStats,
    Health,
    LoadStats,
    MemoryEvents,
    MemoryNumaStats,
    PSIStats,
    ResctrlStats,
)
from pycadvisor.model.sample import SampleCodec

#: The shared zero-valued members (task stats, resctrl, cpuset, health, CFS, schedstat, PSI, memory
#: events, NUMA, the tcp, udp and advanced-tcp tables, no interfaces).
ZERO_MEMBERS: tuple[object, ...] = (
    LoadStats(), ResctrlStats(), CpuSetStats(), Health(), CpuCFS(), CpuSchedstat(), PSIStats(), MemoryEvents(),
    MemoryNumaStats(), dict.fromkeys(TCP_STATE_NAMES, 0), dict.fromkeys(UDP_STAT_NAMES, 0), tcp_advanced_zero(), [],
)  # fmt: skip


def new_codec() -> SampleCodec:
    """The codec for the collector's samples (one per manager: it interns their layouts)."""
    return SampleCodec(ZERO_MEMBERS)
