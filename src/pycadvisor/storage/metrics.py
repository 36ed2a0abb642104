"""``/metrics`` families of the storage drivers' delivery counters.

Each family is a plain object with the attributes of a ``prometheus_client`` ``Metric`` (``name``,
``documentation``, ``type``, ``samples`` of ``name``/``labels``/``value``), so the exposition renders
it like any collected family without this module importing ``prometheus_client``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pycadvisor.storage.base import StorageDriver
from pycadvisor.storage.buffer import storage_stats


@dataclass(frozen=True, slots=True)
class FamilySample:
    name: str
    labels: dict[str, str]
    value: float


@dataclass(slots=True)
class Family:
    name: str  # counters without the _total suffix, as prometheus_client's CounterMetricFamily
    documentation: str
    type: str  # "counter" | "gauge"
    samples: list[FamilySample] = field(default_factory=list)


# (family, counter key, type, help)
FAMILIES = (
    ("pycadvisor_storage_written", "written", "counter", "Samples a storage driver delivered to its backend."),
    (
        "pycadvisor_storage_dropped",
        "dropped",
        "counter",
        "Samples a storage driver gave up: buffer full (oldest first), refused by the backend, or left at shutdown.",
    ),
    (
        "pycadvisor_storage_errors",
        "errors",
        "counter",
        "Failed write attempts of a storage driver (each retry counts).",
    ),
    (
        "pycadvisor_storage_buffered_samples",
        "buffered",
        "gauge",
        "Samples waiting in a storage driver's buffer.",
    ),
)


def storage_families(drivers: Iterable[StorageDriver]) -> list[Family]:
    """The four families, one sample per driver (label ``driver``); none without drivers."""
    stats = storage_stats(drivers)
    if not stats:
        return []
    out = []
    for name, key, kind, help_text in FAMILIES:
        sample_name = name + "_total" if kind == "counter" else name
        fam = Family(name, help_text, kind)
        for driver in sorted(stats):
            fam.samples.append(FamilySample(sample_name, {"driver": driver}, float(stats[driver][key])))
        out.append(fam)
    return out
