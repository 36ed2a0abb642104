"""InfluxDB driver against a real InfluxDB 1.x (Debian's influxd) on 127.0.0.1."""

from __future__ import annotations

import asyncio
from typing import Any

from influxdb import InfluxDBClient

from pycadvisor.storage.base import Sample
from pycadvisor.storage.influxdb import sample_lines
from pycadvisor.storage.options import StorageOptions
from storage._helpers import IMAGE, add_all, burst, cgroup_sample, crash, options, poll, revive, running
from support.cgroups import TestCgroup
from support.procs import memory_holder
from support.services import InfluxDBServer, http_get

DB = "cadvisor"
MIB = 1 << 20


def client(srv: InfluxDBServer) -> InfluxDBClient:
    return InfluxDBClient(host=srv.host, port=srv.port, database=DB, timeout=10)


def rows(srv: InfluxDBServer, q: str) -> list[dict[str, Any]]:
    return list(client(srv).query(q, epoch="ns").get_points())


def count(srv: InfluxDBServer, measurement: str, rp: str = "autogen") -> int:
    r = rows(srv, f'SELECT count("value") FROM "{rp}"."{measurement}"')
    return int(r[0]["count"]) if r else 0


def driver_opts(srv: InfluxDBServer, **kw: Any) -> StorageOptions:
    return options("influxdb", storage_driver_host=srv.address, **kw)


def test_points_of_a_test_cgroup_arrive_with_cadvisors_measurements_and_tags(
    test_cgroup: TestCgroup, influxdb_server: InfluxDBServer
) -> None:
    influxdb_server.query(f"CREATE DATABASE {DB}")
    memory_holder(test_cgroup, 16)
    ref, spec, stats = cgroup_sample(test_cgroup)
    assert stats.memory is not None

    async def main() -> None:
        async with running(driver_opts(influxdb_server), "node-a") as driver:
            driver.add_stats(ref, spec, stats)
            await poll(lambda: count(influxdb_server, "memory_usage"), timeout=30, what="memory_usage point")

    asyncio.run(main())
    expected = {line.split(",", 1)[0] for line in sample_lines(Sample(ref, spec, stats, 0), "n", include_labels=False)}
    assert "cpu_usage_total" in expected and "memory_failure" in expected
    got = {r["name"] for r in rows(influxdb_server, "SHOW MEASUREMENTS")}
    assert got == expected
    [mem] = rows(influxdb_server, 'SELECT * FROM "memory_usage"')
    assert mem["time"] == stats.timestamp
    assert mem["value"] == stats.memory.usage >= 16 * MIB
    assert mem["machine"] == "node-a" and mem["container_name"] == test_cgroup.name
    assert mem["image"] == IMAGE and mem["tier"] == "backend" and mem["com.example.team"] == "storage tests"
    failures = rows(influxdb_server, 'SELECT "value", "failure_type", "scope" FROM "memory_failure"')
    assert sorted((r["failure_type"], r["scope"], r["value"]) for r in failures) == sorted(
        [
            ("pgfault", "container", stats.memory.container_data.pgfault),
            ("pgmajfault", "container", stats.memory.container_data.pgmajfault),
            ("pgfault", "hierarchical", stats.memory.hierarchical_data.pgfault),
            ("pgmajfault", "hierarchical", stats.memory.hierarchical_data.pgmajfault),
        ]
    )
    assert stats.cpu is not None
    [cpu] = rows(influxdb_server, 'SELECT "value" FROM "cpu_usage_total"')
    assert cpu["value"] == stats.cpu.usage.total > 0


def test_retention_policy_flag_and_every_sample_of_a_burst(
    test_cgroup: TestCgroup, influxdb_server: InfluxDBServer
) -> None:
    influxdb_server.query(f"CREATE DATABASE {DB}")
    influxdb_server.query(f'CREATE RETENTION POLICY "week" ON "{DB}" DURATION 7d REPLICATION 1', db=DB)
    samples = burst(cgroup_sample(test_cgroup), 400)

    async def main() -> tuple[int, int]:
        opts = driver_opts(influxdb_server, storage_driver_influxdb_retention_policy="week")
        async with running(opts) as driver:
            add_all(driver, samples)
            await poll(lambda: count(influxdb_server, "memory_usage", "week") == 400, timeout=60, what="400 points")
        return driver.stats().written, driver.stats().dropped

    assert asyncio.run(main()) == (400, 0)
    times = [r["time"] for r in rows(influxdb_server, 'SELECT "value" FROM "week"."memory_usage"')]
    assert times == [st.timestamp for _, _, st in samples]
    assert count(influxdb_server, "memory_usage") == 0  # nothing in the default policy


def test_influxdb_killed_mid_run_then_back_gets_everything_buffered(
    test_cgroup: TestCgroup, influxdb_server: InfluxDBServer
) -> None:
    influxdb_server.query(f"CREATE DATABASE {DB}")
    samples = burst(cgroup_sample(test_cgroup), 100)

    async def main() -> None:
        async with running(driver_opts(influxdb_server)) as driver:
            add_all(driver, samples[:50])
            await poll(lambda: count(influxdb_server, "memory_usage") == 50, timeout=30, what="first 50")
            await poll(lambda: driver.stats().written == 50, timeout=30, what="first 50 acknowledged")
            crash(influxdb_server)
            add_all(driver, samples[50:])
            await poll(lambda: driver.stats().errors >= 2, timeout=60, what="failed attempts while influxd is down")
            await asyncio.to_thread(
                revive, influxdb_server, lambda: http_get(f"{influxdb_server.url}/ping", timeout=2)[0] == 204
            )
            await poll(lambda: count(influxdb_server, "memory_usage") == 100, timeout=60, what="all 100 points")
        s = driver.stats()
        assert (s.written, s.dropped, s.buffered) == (100, 0, 0)

    asyncio.run(main())


def test_a_missing_database_is_retried_until_it_exists(
    test_cgroup: TestCgroup, influxdb_server: InfluxDBServer
) -> None:
    sample = cgroup_sample(test_cgroup)

    async def main() -> None:
        async with running(driver_opts(influxdb_server)) as driver:
            add_all(driver, [sample])
            await poll(lambda: driver.stats().errors >= 1, timeout=30, what="a refused write (database not found)")
            await asyncio.to_thread(influxdb_server.query, f"CREATE DATABASE {DB}")
            await poll(lambda: count(influxdb_server, "memory_usage") == 1, timeout=30, what="the point")
        assert (driver.stats().written, driver.stats().dropped) == (1, 0)

    asyncio.run(main())
