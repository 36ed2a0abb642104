"""Driver name → implementation, imported only when selected (cAdvisor ``storage.New``/``ListDrivers``).

Each driver's client library is an optional extra (``pip install 'pycadvisor[influxdb]'``), so a module
is imported only for a name given in ``--storage_driver``.
"""

from __future__ import annotations

import importlib
from typing import Final, Protocol

from pycadvisor.storage.base import MachineSeriesFn, SeriesFn, StorageDriver
from pycadvisor.storage.metrics import storage_families
from pycadvisor.storage.options import StorageOptions

__all__ = [
    "STORAGE_DRIVERS",
    "DriverFactory",
    "SeriesFn",
    "build_drivers",
    "check_driver_names",
    "list_drivers",
    "load_driver_class",
    "storage_families",
]

STORAGE_DRIVERS: Final[dict[str, str]] = {
    "bigquery": "pycadvisor.storage.bigquery:BigQueryDriver",
    "elasticsearch": "pycadvisor.storage.elasticsearch:ElasticsearchDriver",
    "influxdb": "pycadvisor.storage.influxdb:InfluxDBDriver",
    "kafka": "pycadvisor.storage.kafka:KafkaDriver",
    "redis": "pycadvisor.storage.redis:RedisDriver",
    "remote_write": "pycadvisor.storage.remote_write:RemoteWriteDriver",
    "statsd": "pycadvisor.storage.statsd:StatsdDriver",
    "stdout": "pycadvisor.storage.stdout:StdoutDriver",
}


class DriverFactory(Protocol):
    """A driver class: built from the options and the machine's name (hostname)."""

    def __call__(self, opts: StorageOptions, *, machine_name: str) -> StorageDriver: ...


_TAKE_SERIES: Final = frozenset({"remote_write"})


# The PyPI extra that brings each driver's client library (pyproject.toml [project.optional-dependencies]).
_EXTRAS: Final[dict[str, str]] = {
    "bigquery": "bigquery",
    "influxdb": "influxdb",
    "kafka": "kafka",
    "redis": "redis",
    "remote_write": "remote_write",
}


def list_drivers() -> list[str]:
    """The valid ``--storage_driver`` names, sorted."""
    return sorted(STORAGE_DRIVERS)


def check_driver_names(names: list[str]) -> None:
    """Raise ``ValueError`` naming the first unknown driver and listing the valid ones."""
    for name in names:
        if name not in STORAGE_DRIVERS:
            raise ValueError(f"unknown backend storage driver: {name} (valid: {', '.join(list_drivers())})")


def load_driver_class(name: str) -> DriverFactory:
    """Import the module of driver ``name`` and return its class."""
    check_driver_names([name])
    module_name, _, attr = STORAGE_DRIVERS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = _EXTRAS.get(name)
        hint = f"; install it with: pip install 'pycadvisor[{extra}]'" if extra else ""
        raise ValueError(f"storage driver {name} needs a library that is not installed ({exc}){hint}") from exc
    cls: DriverFactory = getattr(module, attr)
    return cls


def build_drivers(
    opts: StorageOptions,
    *,
    machine_name: str,
    series: SeriesFn | None = None,
    machine_series: MachineSeriesFn | None = None,
) -> list[StorageDriver]:
    """One driver per name in ``opts.storage_driver`` (blanks and repeats ignored); ``series`` and
    ``machine_series`` go to the drivers that push Prometheus series (``remote_write``; without ``series`` they
    can be checked, not started; without ``machine_series`` they push no machine family).

    Raises ``ValueError`` for an unknown name, a missing client library or unusable settings; nothing
    here contacts a backend (drivers connect lazily after :meth:`StorageDriver.start`).
    """
    opts.validate()
    names = opts.driver_names()
    check_driver_names(names)
    drivers: list[StorageDriver] = []
    for n in names:
        cls = load_driver_class(n)
        if n in _TAKE_SERIES:
            drivers.append(
                cls(opts, machine_name=machine_name, series=series, machine_series=machine_series)  # type: ignore[call-arg]
            )
        else:
            drivers.append(cls(opts, machine_name=machine_name))
    return drivers
