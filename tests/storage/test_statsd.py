"""StatsD driver against Etsy's statsd daemon (npm statsd@0.9.0) on 127.0.0.1, read over its admin port."""

from __future__ import annotations

import asyncio

from pycadvisor.storage.base import Sample
from pycadvisor.storage.options import StorageOptions
from pycadvisor.storage.series import stats_series
from storage._helpers import add_all, burst, cgroup_sample, crash, options, poll, revive, running
from support.cgroups import TestCgroup
from support.procs import memory_holder
from support.services import StatsdServer

MIB = 1 << 20


def statsd_name(container: str) -> str:
    """The gauge name statsd keeps: it turns ``/`` into ``-`` (stats.js sanitizeKeyName)."""
    return container.replace("/", "-")


def driver_opts(srv: StatsdServer) -> StorageOptions:
    return options("statsd", storage_driver_host=f"{srv.host}:{srv.port}")


def test_gauges_of_a_test_cgroup_arrive_named_as_cadvisor_names_them(
    test_cgroup: TestCgroup, statsd_server: StatsdServer
) -> None:
    memory_holder(test_cgroup, 16)
    ref, spec, stats = cgroup_sample(test_cgroup)
    prefix = f"cadvisor.{statsd_name(test_cgroup.name)}."

    async def main() -> None:
        async with running(driver_opts(statsd_server)) as driver:
            driver.add_stats(ref, spec, stats)
            await poll(lambda: statsd_server.gauges().get(prefix + "memory_usage"), timeout=30, what="memory gauge")

    asyncio.run(main())
    ours = {k.removeprefix(prefix): v for k, v in statsd_server.gauges().items() if k.startswith(prefix)}
    want = stats_series(Sample(ref, spec, stats, 0).stats, timestamp_ns=None, load_key="cpu_load_average")
    assert ours == {k: float(v) for k, v in want.items()}
    assert "timestamp" not in ours and "cpu_load_average" in ours
    assert ours["memory_usage"] >= 16 * MIB


def test_every_sample_of_a_burst_arrives(test_cgroup: TestCgroup, statsd_server: StatsdServer) -> None:
    samples = burst(cgroup_sample(test_cgroup), 300, distinct_names=True)

    def arrived() -> int:
        g = statsd_server.gauges()
        return sum(f"cadvisor.c{i:04d}.memory_usage" in g for i in range(300))

    statsd_server.keep_up()  # what is under test is the driver's pacing, not the host's spare CPU

    async def main() -> tuple[int, int]:
        async with running(driver_opts(statsd_server)) as driver:
            add_all(driver, samples)
            # Sent first, then read: statsd is single-threaded and drops datagrams (UDP) while it renders
            # a large admin dump, so polling it during the burst would lose the very data under test.
            await poll(lambda: driver.stats().written == 300, timeout=30, what="300 samples sent")
            try:
                await poll(lambda: arrived() == 300, timeout=30, what="gauges of 300 samples")
            except TimeoutError as e:
                dropped = statsd_server.udp_drops()  # the kernel's count: what statsd was too slow to take
                raise AssertionError(f"{arrived()} of 300 arrived; statsd's socket dropped {dropped} datagrams") from e
        return driver.stats().written, driver.stats().dropped

    assert asyncio.run(main()) == (300, 0)
    g = statsd_server.gauges()
    for ref, _, st in samples:
        assert st.memory is not None
        assert g[f"cadvisor.{ref.aliases[0]}.memory_usage"] == st.memory.usage


def test_statsd_killed_mid_run_then_back_gets_the_buffered_samples(
    test_cgroup: TestCgroup, statsd_server: StatsdServer
) -> None:
    samples = burst(cgroup_sample(test_cgroup), 100, distinct_names=True)
    statsd_server.keep_up()

    def arrived(lo: int, hi: int) -> bool:
        g = statsd_server.gauges()
        return all(f"cadvisor.c{i:04d}.memory_usage" in g for i in range(lo, hi))

    async def main() -> None:
        async with running(driver_opts(statsd_server)) as driver:
            add_all(driver, samples[:50])
            await poll(lambda: driver.stats().written == 50, timeout=30, what="first 50 sent")
            await poll(lambda: arrived(0, 50), timeout=30, what="first 50")
            crash(statsd_server)
            add_all(driver, samples[50:])
            await poll(lambda: driver.stats().errors >= 2, timeout=30, what="failed sends while statsd is down")
            await asyncio.to_thread(revive, statsd_server, lambda: "health: up" in statsd_server.admin("health"))
            statsd_server.keep_up()
            # A restarted statsd starts without gauges: the 50 kept meanwhile must all show up.
            await poll(lambda: driver.stats().written == 100, timeout=30, what="the 50 buffered samples sent")
            await poll(lambda: arrived(50, 100), timeout=30, what="the 50 buffered samples")
        s = driver.stats()
        assert (s.written, s.dropped, s.buffered) == (100, 0, 0)

    asyncio.run(main())
