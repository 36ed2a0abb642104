"""CI gating: under ``CI=true`` a test that cannot run is a failure, elsewhere it is a skip."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True when running under CI (env ``CI=true``), where skipped tests are failures."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def timeout_scale() -> float:
    """Factor on the tests' waits (``PYCAD_TIMEOUT_SCALE``, default 1): scripts/test-v2 sets it in its
    guest when qemu emulates the CPU (TCG), where a Python start takes seconds instead of milliseconds."""
    try:
        return max(1.0, float(os.environ.get("PYCAD_TIMEOUT_SCALE", "1")))
    except ValueError:
        return 1.0


def cannot_run(reason: str) -> NoReturn:
    """Fail the test under CI, skip it elsewhere."""
    if in_ci():
        pytest.fail(f"required under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def require(condition: object, reason: str) -> None:
    """Continue only if ``condition`` holds; otherwise fail under CI, skip elsewhere."""
    if not condition:
        cannot_run(reason)


def is_root() -> bool:
    return os.geteuid() == 0
