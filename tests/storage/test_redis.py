"""Redis driver against a real redis-server on 127.0.0.1 (and the whole daemon, end to end)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Any

import redis

from pycadvisor.model import codec
from storage._helpers import IMAGE, LABELS, add_all, burst, cgroup_sample, crash, options, poll, revive, running
from support.cgroups import TestCgroup
from support.procs import memory_holder, wait_until
from support.services import RedisServer

KEY = "pycad-stats"
MIB = 1 << 20


def client(srv: RedisServer) -> redis.Redis:
    return redis.Redis(host=srv.host, port=srv.port, socket_timeout=5)


def docs(srv: RedisServer, key: str = KEY) -> list[dict[str, Any]]:
    """The list's documents, oldest first (LPUSH puts the newest at the head)."""
    return [json.loads(d) for d in reversed(client(srv).lrange(key, 0, -1))]


def test_records_of_a_test_cgroup_arrive_with_cadvisors_shape(
    test_cgroup: TestCgroup, redis_server: RedisServer
) -> None:
    memory_holder(test_cgroup, 16)
    ref, spec, stats = cgroup_sample(test_cgroup)
    assert stats.memory is not None and stats.memory.usage >= 16 * MIB

    async def main() -> None:
        opts = options("redis", storage_driver_host=redis_server.address, storage_driver_db=KEY)
        async with running(opts, "node-a") as driver:
            driver.add_stats(ref, spec, stats)
            await poll(lambda: docs(redis_server), timeout=30, what="the document in redis")

    asyncio.run(main())
    [doc] = docs(redis_server)
    assert list(doc) == [
        "timestamp",
        "machine_name",
        "container_Name",
        "container_labels",
        "container_image",
        "container_stats",
    ]
    assert doc["timestamp"] == stats.timestamp // 1000
    assert doc["machine_name"] == "node-a"
    assert doc["container_Name"] == test_cgroup.name
    assert doc["container_labels"] == LABELS and doc["container_image"] == IMAGE
    assert doc["container_stats"] == json.loads(codec.dumps(stats))
    assert doc["container_stats"]["memory"]["usage"] >= 16 * MIB


def test_every_sample_of_a_burst_is_pushed(test_cgroup: TestCgroup, redis_server: RedisServer) -> None:
    samples = burst(cgroup_sample(test_cgroup), 500)

    async def main() -> tuple[int, int]:
        async with running(options("redis", storage_driver_host=redis_server.address, storage_driver_db=KEY)) as d:
            add_all(d, samples)
            await poll(lambda: client(redis_server).llen(KEY) == 500, timeout=30, what="500 documents")
        return d.stats().written, d.stats().dropped

    assert asyncio.run(main()) == (500, 0)
    got = [d["timestamp"] for d in docs(redis_server)]
    assert got == [st.timestamp // 1000 for _, _, st in samples]  # each once, in order


def test_redis_killed_mid_run_then_back_gets_everything_buffered(
    test_cgroup: TestCgroup, redis_server: RedisServer
) -> None:
    samples = burst(cgroup_sample(test_cgroup), 100)
    before, during = samples[:50], samples[50:]

    async def main() -> None:
        async with running(options("redis", storage_driver_host=redis_server.address, storage_driver_db=KEY)) as d:
            add_all(d, before)
            await poll(lambda: client(redis_server).llen(KEY) == 50, timeout=30, what="first 50")
            # The server holds them a moment before the driver has read its reply and counted them written.
            await poll(lambda: d.stats().written == 50, timeout=30, what="first 50 acknowledged")
            crash(redis_server)
            add_all(d, during)  # returns at once: nothing waits for the dead backend
            assert d.stats().buffered == 50
            await poll(lambda: d.stats().errors >= 2, timeout=30, what="failed attempts while redis is down")
            await asyncio.to_thread(revive, redis_server, redis_server.ping)
            # redis-server runs without persistence: the list restarts empty and must receive all 50.
            await poll(lambda: client(redis_server).llen(KEY) == 50, timeout=30, what="the 50 buffered samples")
        s = d.stats()
        assert (s.written, s.dropped, s.buffered) == (100, 0, 0)

    asyncio.run(main())
    assert [d["timestamp"] for d in docs(redis_server)] == [st.timestamp // 1000 for _, _, st in during]


def test_password_only_when_the_server_wants_one(redis_server: RedisServer, test_cgroup: TestCgroup) -> None:
    sample = cgroup_sample(test_cgroup)
    client(redis_server).config_set("requirepass", "s3cret")

    def push(password: str) -> tuple[int, int]:
        async def main() -> tuple[int, int]:
            opts = options(
                "redis",
                storage_driver_host=redis_server.address,
                storage_driver_db=KEY,
                storage_driver_password=password,
                storage_driver_retry_max_interval=100_000_000,
                storage_driver_close_timeout=300_000_000,
            )
            async with running(opts) as d:
                add_all(d, [sample])
                await poll(lambda: d.stats().written or d.stats().errors, timeout=30, what="an attempt")
            return d.stats().written, d.stats().dropped

        return asyncio.run(main())

    assert push("s3cret") == (1, 0)
    assert push("wrong") == (0, 1)  # refused until shutdown: counted as dropped
    authed = redis.Redis(host=redis_server.host, port=redis_server.port, password="s3cret")
    assert authed.llen(KEY) == 1
    # The default password ("root") is sent only to a server that asks for one (cAdvisor >= v0.60 sends
    # a password only when the flag was given).
    authed.config_set("requirepass", "root")
    assert push("root") == (1, 0)
    authed = redis.Redis(host=redis_server.host, port=redis_server.port, password="root")
    assert authed.llen(KEY) == 2
    authed.config_set("requirepass", "")
    assert push("root") == (1, 0)
    assert client(redis_server).llen(KEY) == 3


# ---------------------------------------------------------------- the daemon, end to end


def metric(body: str, name: str, driver: str) -> float:
    m = re.search(rf'^{name}\{{driver="{driver}"\}} (\S+)$', body, re.M)
    return float(m.group(1)) if m else -1.0


def test_daemon_pushes_a_test_cgroups_samples_and_survives_a_redis_outage(
    pycadvisor_daemon_factory: Callable[..., Any], test_cgroup: TestCgroup, redis_server: RedisServer
) -> None:
    memory_holder(test_cgroup, 8)
    daemon = pycadvisor_daemon_factory(
        "-storage_driver=redis",
        f"-storage_driver_host={redis_server.address}",
        f"-storage_driver_db={KEY}",
        "-storage_driver_buffer_duration=100ms",
        "-storage_driver_retry_max_interval=500ms",
        "-housekeeping_interval=200ms",
        "-allow_dynamic_housekeeping=false",
        "-global_housekeeping_interval=2s",
    )

    def ours() -> list[dict[str, Any]]:
        return [d for d in docs(redis_server) if d.get("container_Name") == test_cgroup.name]

    first = wait_until(ours, timeout=60, what="a document of the test cgroup", proc=daemon.process)
    assert first[0]["machine_name"]
    assert first[0]["container_stats"]["memory"]["usage"] >= 8 * MIB

    crash(redis_server)
    down_from = time.time_ns() // 1000
    # pycadvisor keeps serving while the backend is down, and counts the failed writes.
    wait_until(
        lambda: metric(daemon.get("/metrics")[1].decode(), "pycadvisor_storage_errors_total", "redis") >= 2,
        timeout=60,
        what="storage errors counted in /metrics",
        proc=daemon.process,
    )
    assert daemon.get("/healthz") == (200, b"ok")
    status, body = daemon.get(f"/api/v2.0/spec{test_cgroup.name}")
    assert status == 200 and test_cgroup.name.encode() in body
    down_until = time.time_ns() // 1000
    revive(redis_server, redis_server.ping)

    # Samples taken while redis was down arrive once it is back, without restarting pycadvisor.
    def outage_samples() -> list[dict[str, Any]]:
        return [d for d in ours() if down_from <= d["timestamp"] <= down_until]

    wait_until(outage_samples, timeout=60, what="samples from the outage", proc=daemon.process)
    text = daemon.get("/metrics")[1].decode()
    assert metric(text, "pycadvisor_storage_dropped_total", "redis") == 0
    assert metric(text, "pycadvisor_storage_written_total", "redis") > len(first)
