"""``--storage_driver=kafka``: one JSON message per sample (cAdvisor ``cmd/internal/storage/kafka``).

Messages (no key) go to ``storage_driver_kafka_topic`` on the brokers of
``storage_driver_kafka_broker_list`` with ``acks=all``, as cAdvisor's sarama producer; the value is
:func:`pycadvisor.storage.documents.kafka_document`. kafka-python's producer blocks, so it runs on a
thread of the driver's own; it is idempotent (kafka-python's default), so its own resends do not
duplicate messages, and a batch is only retried for the messages the broker did not acknowledge.

TLS is used when ``storage_driver_kafka_ssl_cert``, ``_ssl_key`` and ``_ssl_ca`` are all given (cAdvisor
silently falls back to plaintext when only some are; we refuse to start). ``_ssl_verify`` means what
its help says, "verify ssl certificate chain" (chain and host name); cAdvisor wires it to Go's
``InsecureSkipVerify``, so there the default ``true`` turns verification *off*.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Sequence
from typing import Any

from kafka import KafkaProducer

from pycadvisor.storage.base import Sample
from pycadvisor.storage.buffer import BufferedDriver, PartialWrite, encode_batch
from pycadvisor.storage.documents import kafka_document
from pycadvisor.storage.options import StorageOptions
from pycadvisor.storage.worker import BlockingWorker

TIMEOUT_MS = 10_000
DELIVERY_TIMEOUT_MS = 30_000
CLOSE_TIMEOUT_S = 2.0


def tls_context(opts: StorageOptions) -> ssl.SSLContext | None:
    """The client TLS context from the three file flags, or ``None`` when none is given."""
    files = (opts.storage_driver_kafka_ssl_cert, opts.storage_driver_kafka_ssl_key, opts.storage_driver_kafka_ssl_ca)
    if not any(files):
        return None
    if not all(files):
        raise ValueError(
            "kafka TLS needs storage_driver_kafka_ssl_cert, storage_driver_kafka_ssl_key and "
            "storage_driver_kafka_ssl_ca together"
        )
    cert, key, ca = files
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    try:
        ctx.load_verify_locations(cafile=ca)
        ctx.load_cert_chain(certfile=cert, keyfile=key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"kafka TLS files: {exc}") from exc
    if not opts.storage_driver_kafka_ssl_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class KafkaDriver(BufferedDriver):
    name = "kafka"

    def __init__(self, opts: StorageOptions, *, machine_name: str) -> None:
        super().__init__(opts, machine_name=machine_name)
        self._brokers = [b.strip() for b in opts.storage_driver_kafka_broker_list.split(",") if b.strip()]
        if not self._brokers:
            raise ValueError("storage_driver_kafka_broker_list is empty")
        self._topic = opts.storage_driver_kafka_topic
        self._tls = tls_context(opts)
        self._producer: Any = None
        self._worker = BlockingWorker(self.name)

    def encode(self, sample: Sample) -> bytes:
        return kafka_document(sample, self.machine_name, include_labels=self.include_labels)

    def _connect(self) -> Any:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self._brokers,
                client_id="pycadvisor",
                acks="all",  # sarama WaitForAll, as cAdvisor
                security_protocol="SSL" if self._tls is not None else "PLAINTEXT",
                ssl_context=self._tls,
                max_block_ms=TIMEOUT_MS,
                request_timeout_ms=TIMEOUT_MS,
                delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
                linger_ms=5,
            )
        return self._producer

    async def write(self, batch: Sequence[Sample]) -> None:
        await self._worker.run(self._write_sync, batch)

    def _write_sync(self, batch: Sequence[Sample]) -> None:
        docs, index = encode_batch(batch, self.encode, self.log, self.name)
        bad = len(batch) - len(index)
        producer = self._connect()  # NoBrokersAvailable while the brokers are down: retried
        futures = []
        detail = ""
        try:
            for doc in docs:
                futures.append(producer.send(self._topic, value=doc))
        except Exception as exc:  # KafkaTimeoutError: no metadata within max_block_ms, ...
            detail = f"{type(exc).__name__}: {exc}"
        producer.flush()  # every future resolves: acknowledged, or failed after delivery_timeout_ms
        failed = [index[i] for i, f in enumerate(futures) if f.failed()]
        failed.extend(index[len(futures) :])
        if failed:
            # A producer that lost its broker may be stuck (e.g. a fatal idempotence error after the broker
            # restarted without our producer id): start afresh on the next attempt.
            self._close_sync()
            for f in futures:
                if f.failed():
                    detail = detail or f"{type(f.exception).__name__}: {f.exception}"
                    break
            raise PartialWrite(failed, bad, detail or "not acknowledged")
        if bad:
            raise PartialWrite([], bad, "samples that could not be encoded")

    def _close_sync(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=1)
            except Exception as exc:
                self.log.log(logging.WARNING, "close", "storage kafka: closing the producer: %r", exc)

    async def close_client(self) -> None:
        try:  # behind a write still waiting for a dead broker, give up rather than hang shutdown
            await asyncio.wait_for(self._worker.run(self._close_sync), CLOSE_TIMEOUT_S)
        except Exception as exc:
            self.log.log(logging.WARNING, "close", "storage kafka: closing the producer: %r", exc)
        finally:
            self._worker.shutdown()
