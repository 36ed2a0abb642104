"""Fixtures of the exposition tests (data in :mod:`metrics.expo_fixtures`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import pytest

from metrics.expo_fixtures import SCRAPE_TIME, fixture_machine, fixture_snapshots, fixture_version
from pycadvisor.metrics.source import ContainerSnapshot, VersionInfo
from pycadvisor.model.machine import MachineInfo


@pytest.fixture
def snapshots() -> list[ContainerSnapshot]:
    return fixture_snapshots()


@pytest.fixture
def machine() -> MachineInfo:
    return fixture_machine()


@pytest.fixture
def version() -> VersionInfo:
    return fixture_version()


@pytest.fixture
def scrape_time() -> int:
    return SCRAPE_TIME


@pytest.fixture
def make_snapshots() -> Callable[[], list[ContainerSnapshot]]:
    return fixture_snapshots


@pytest.fixture
def render(machine: MachineInfo, version: VersionInfo) -> Callable[..., str]:
    """``render(snapshots=None, options=None, machine=..., version=..., **option_fields) -> str``.

    Renders with a fresh renderer, the fixed scrape time and no process/runtime families (they vary).
    """
    from pycadvisor.metrics.options import ExpositionOptions
    from pycadvisor.metrics.render import ExpositionRenderer

    default_machine, default_version = machine, version

    def _render(
        snapshots: list[ContainerSnapshot] | None = None,
        options: ExpositionOptions | None = None,
        machine: MachineInfo | Literal["default"] | None = "default",
        version: VersionInfo | Literal["default"] | None = "default",
        **fields: Any,  # ExpositionOptions fields, passed through as given
    ) -> str:
        opts = options if options is not None else ExpositionOptions(runtime_metrics=False, **fields)
        r = ExpositionRenderer(opts)
        body = r.render(
            fixture_snapshots() if snapshots is None else snapshots,
            machine=default_machine if machine == "default" else machine,
            version=default_version if version == "default" else version,
            now_ns=SCRAPE_TIME,
        )
        return body.decode()

    return _render
