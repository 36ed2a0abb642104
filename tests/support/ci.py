"""CI gating: under ``CI=true`` a test that cannot run is a failure, elsewhere it is a skip."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True when running under CI (env ``CI=true``), where skipped tests are failures."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


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
