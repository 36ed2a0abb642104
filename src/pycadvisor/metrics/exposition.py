"""One scrape: ask the :class:`MetricsSource` for data, render it, contain failures.

As in cAdvisor's collectors, a failing source never fails the scrape: the manager's failure gives
``container_scrape_error 1`` (and no container series), the machine's ``machine_scrape_error 1``.
"""

from __future__ import annotations

import logging

from pycadvisor.metrics.render import ExpositionRenderer
from pycadvisor.metrics.source import ContainerSnapshot, MachineInfoLike, MetricsSource, VersionInfo

log = logging.getLogger(__name__)


async def scrape(
    source: MetricsSource,
    renderer: ExpositionRenderer,
    *,
    namespace: str | None = None,
    max_age_ns: int | None = None,
) -> bytes:
    """The ``/metrics`` body for the containers of ``namespace`` (``None``: all)."""
    snapshots: list[ContainerSnapshot] | None
    try:
        snapshots = await source.snapshot(namespace=namespace, max_age_ns=max_age_ns)
    except Exception as e:  # the scrape goes on without container series
        log.warning("Couldn't get containers: %s", e)
        snapshots = None
    machine: MachineInfoLike | None = None
    machine_error = False
    try:
        machine = source.machine_info()
    except Exception as e:
        log.warning("Couldn't get machine info: %s", e)
        machine_error = True
    version: VersionInfo | None = None
    try:
        version = source.version_info()
    except Exception as e:
        log.warning("Couldn't get version info: %s", e)
    return renderer.render(snapshots, machine=machine, version=version, machine_error=machine_error)
