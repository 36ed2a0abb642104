"""stdout driver: lines on the process's real standard output (fd 1), in-process and from the daemon."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Callable
from typing import Any

import pytest

from pycadvisor.storage.series import stats_series
from storage._helpers import IMAGE, add_all, burst, cgroup_sample, options, running
from support.cgroups import TestCgroup
from support.procs import memory_holder, wait_until

MIB = 1 << 20


def parse(line: str) -> dict[str, str]:
    """Fields of a line; a value with blanks is double-quoted (shell-style splitting reads it)."""
    return dict(field.split("=", 1) for field in shlex.split(line))


def test_a_line_per_sample_with_cadvisors_fields(test_cgroup: TestCgroup, capfd: pytest.CaptureFixture[str]) -> None:
    memory_holder(test_cgroup, 16)
    ref, spec, stats = cgroup_sample(test_cgroup)

    async def main() -> int:
        async with running(options("stdout", storage_driver_include_labels=False)) as driver:
            driver.add_stats(ref, spec, stats)
        return driver.stats().written

    assert asyncio.run(main()) == 1
    [line] = capfd.readouterr().out.splitlines()
    fields = parse(line)
    assert line.startswith(f"cName={test_cgroup.name} host=localhost:8086 ")  # cAdvisor prints -storage_driver_host
    series = {k: int(v) for k, v in fields.items() if k not in ("cName", "host")}
    want = stats_series(stats, timestamp_ns=series["timestamp"], load_key="load_average")
    assert series == want
    assert series["memory_usage"] >= 16 * MIB


def test_every_sample_of_a_burst_is_printed_once(test_cgroup: TestCgroup, capfd: pytest.CaptureFixture[str]) -> None:
    samples = burst(cgroup_sample(test_cgroup), 1000, distinct_names=True)

    async def main() -> tuple[int, int]:
        async with running(options("stdout")) as driver:
            add_all(driver, samples)
        return driver.stats().written, driver.stats().dropped

    assert asyncio.run(main()) == (1000, 0)
    lines = capfd.readouterr().out.splitlines()
    assert [parse(line)["cName"] for line in lines] == [f"c{i:04d}" for i in range(1000)]
    first = parse(lines[0])
    assert first["image"] == IMAGE
    assert first["container_label_com_example_team"] == "storage tests"
    assert first["container_label_tier"] == "backend"


def test_daemon_prints_a_test_cgroups_samples(
    pycadvisor_daemon_factory: Callable[..., Any], test_cgroup: TestCgroup
) -> None:
    memory_holder(test_cgroup, 8)
    daemon = pycadvisor_daemon_factory(
        "-storage_driver=stdout",
        "-storage_driver_host=node-x",
        "-housekeeping_interval=200ms",
        "-allow_dynamic_housekeeping=false",
        "-global_housekeeping_interval=2s",
    )
    log_path = daemon.process.log_path
    assert log_path is not None

    def ours() -> list[dict[str, str]]:
        with open(log_path) as f:
            return [parse(line) for line in f.read().splitlines() if line.startswith(f"cName={test_cgroup.name} ")]

    lines = wait_until(
        lambda: ours() if len(ours()) >= 3 else None, timeout=60, what="stdout lines of the cgroup", proc=daemon.process
    )
    for fields in lines:
        assert fields["host"] == "node-x"
        assert int(fields["memory_usage"]) >= 8 * MIB
        assert int(fields["cpu_usage_total"]) >= 0
    stamps = [int(f["timestamp"]) for f in lines]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
