"""Fixtures of the reliability suite (issue 14): a daemon to attack, the OpenAPI document, and the
process-holdings probe. The scenarios themselves are in :mod:`reliability.scenarios`, shared with
``bench/torture.py``, which runs them larger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pycadvisor.api import openapi

# Samples every 200 ms and no dynamic back-off: containers appear, are sampled and leave quickly.
FAST_FLAGS = ("-housekeeping_interval=200ms", "-allow_dynamic_housekeeping=false", "-global_housekeeping_interval=1s")


@pytest.fixture
def api_document() -> dict[str, Any]:
    """The OpenAPI document the daemon serves (``/api/openapi.json``)."""
    return openapi.load_document()


@pytest.fixture
def fast_daemon(pycadvisor_daemon_factory: Callable[..., Any]) -> Any:
    """The real daemon with fast housekeeping, on a free 127.0.0.1 port."""
    return pycadvisor_daemon_factory(*FAST_FLAGS)
