"""Fixtures of the stats engine's tests."""

from __future__ import annotations

import pytest

from pycadvisor.host.cgroups.fdread import FdReader, PyFdReader
from support.readers import require_native


@pytest.fixture(params=["native", "python"])
def reader(request: pytest.FixtureRequest) -> FdReader:
    """Each reader of held descriptors in turn: the C one and its pure-Python twin."""
    return require_native() if request.param == "native" else PyFdReader()
