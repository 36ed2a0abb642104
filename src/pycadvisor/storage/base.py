"""The contract between the manager and the storage drivers (cAdvisor ``lib/storage/storage.go``).

cAdvisor's ``StorageDriver`` is ``AddStats(cInfo, stats) error`` + ``Close() error``, called inline from
housekeeping, so a slow backend slows collection. Here ``add_stats`` only queues the sample: every
driver owns a bounded buffer (:mod:`pycadvisor.storage.buffer`) drained by its own task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from pycadvisor.model.container import ContainerReference, ContainerSpec, ContainerStats


class StorageDriver(Protocol):
    """A backend that receives every sample the manager collects."""

    name: str  # the --storage_driver name, e.g. "influxdb"

    def add_stats(self, ref: ContainerReference, spec: ContainerSpec, stats: ContainerStats) -> None:
        """Queue one sample; never blocks, never raises for backend trouble.

        Call it from the event loop's thread (other threads are accepted, at a small extra cost). The
        sample objects are kept by reference until written: callers must not mutate them afterwards.
        """
        ...

    async def start(self) -> None:
        """Start the delivery task; does not need the backend to be up (it connects lazily, retrying)."""
        ...

    async def close(self) -> None:
        """Flush what it can within ``storage_driver_close_timeout``; the rest counts as dropped."""
        ...

    def stats(self) -> DriverStats:
        """Delivery counters, for ``/metrics``."""
        ...


@dataclass(slots=True, kw_only=True)
class DriverStats:
    """Counters of one driver since start; ``buffered`` is a gauge."""

    written: int = 0  # samples the backend accepted
    dropped: int = 0  # samples given up: buffer full (oldest first), rejected by the backend, left at close
    errors: int = 0  # failed write attempts (each retry counts)
    buffered: int = 0  # samples waiting (queued + in flight)


class Sample(NamedTuple):
    """One queued sample: what ``add_stats`` got, plus when (wall clock, ns)."""

    ref: ContainerReference
    spec: ContainerSpec
    stats: ContainerStats
    added_ns: int  # cAdvisor's drivers stamp some records with time.Now() at AddStats (stdout, kafka)


# A sample's Prometheus series, (labels sorted by name with __name__, value): what /metrics exposes for it.
# Built by the composition root from metrics/ (storage/ does not import it) for the drivers that push series.
SeriesFn = Callable[[Sample], Sequence[tuple[tuple[tuple[str, str], ...], float]]]
# The machine families' series as /metrics has them (none while the machine is not known yet), for the same drivers.
MachineSeriesFn = Callable[[], Sequence[tuple[tuple[tuple[str, str], ...], float]]]


def container_name(ref: ContainerReference) -> str:
    """First alias if any, else the cgroup name (cAdvisor ``utils/container.GetPreferredName``)."""
    return ref.aliases[0] if ref.aliases else ref.name
