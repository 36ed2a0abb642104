"""Tests that run only inside scripts/test-v2's cgroup v2 guest (tests/conftest.py leaves this folder out
elsewhere): they assert what a pure cgroup v2 host gives, and fail on any other host."""

from __future__ import annotations

import os

import pytest

from support.cgroups import host_layout


def pytest_runtest_setup(item: pytest.Item) -> None:
    layout = host_layout()
    if layout is None or layout.version != 2:
        pytest.fail("tests/v2 needs a cgroup v2 only host: run it through scripts/test-v2", pytrace=False)


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    # scripts/test-v2 reports the guest's uptime when its first test starts (boot to first test).
    out = os.environ.get("PYCAD_V2_OUT")
    if not out or os.path.exists(os.path.join(out, "timings")):
        return
    with open("/proc/uptime") as f:
        uptime = f.read().split()[0]
    with open(os.path.join(out, "timings"), "w") as f:
        f.write(f"first-test-uptime {uptime}\n")
