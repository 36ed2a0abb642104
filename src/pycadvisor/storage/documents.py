"""JSON documents of the elasticsearch, redis and kafka drivers, as cAdvisor's ``detailSpec`` structs.

Elasticsearch and Redis (``cmd/internal/storage/{elasticsearch,redis}``)::

    {"timestamp": <sample time, µs since epoch>, "machine_name": ..., "container_Name": ...,
     "container_stats": <v1 ContainerStats>}

Kafka (``cmd/internal/storage/kafka/kafka.go``)::

    {"timestamp": <RFC 3339 time of AddStats>, "machine_name", "container_Name", "container_Id",
     "container_labels", "container_envs", "container_stats"}

All but ``timestamp`` are ``omitempty``. cAdvisor never filled labels/envs (its backends get no spec);
pycadvisor does, unless ``--storage_driver_include_labels=false``, and adds ``container_image``. For
Elasticsearch the same ``container_labels`` and ``container_image`` members are added; label names
there have their dots replaced by ``_`` (a label ``a.b`` beside a label ``a`` would otherwise be a
mapping conflict, as dots are object paths in Elasticsearch field names).
"""

from __future__ import annotations

from pycadvisor.model import codec
from pycadvisor.storage.base import Sample, container_name


def _str(s: str) -> bytes:
    return codec.dumps(s)


def _add_str(parts: list[bytes], key: bytes, value: str) -> None:
    if value:  # omitempty
        parts.append(key + _str(value))


def _add_map(parts: list[bytes], key: bytes, value: dict[str, str]) -> None:
    if value:  # omitempty; codec sorts keys as Go does
        parts.append(key + codec.dumps(value))


def _dedot(labels: dict[str, str]) -> dict[str, str]:
    return {k.replace(".", "_"): v for k, v in labels.items()}


def detail_document(sample: Sample, machine_name: str, *, include_labels: bool, dedot: bool = False) -> bytes:
    """The Elasticsearch/Redis document of one sample."""
    parts = [b'{"timestamp":' + str(sample.stats.timestamp // 1000).encode()]
    _add_str(parts, b'"machine_name":', machine_name)
    _add_str(parts, b'"container_Name":', container_name(sample.ref))
    if include_labels:
        labels = sample.spec.labels
        _add_map(parts, b'"container_labels":', _dedot(labels) if dedot else labels)
        _add_str(parts, b'"container_image":', sample.spec.image)
    parts.append(b'"container_stats":' + codec.dumps(sample.stats))
    return b",".join(parts) + b"}"


def kafka_document(sample: Sample, machine_name: str, *, include_labels: bool) -> bytes:
    """The Kafka message value of one sample (``timestamp`` = when the sample was handed over)."""
    parts = [b'{"timestamp":' + _str(codec.format_time(sample.added_ns))]
    _add_str(parts, b'"machine_name":', machine_name)
    _add_str(parts, b'"container_Name":', container_name(sample.ref))
    _add_str(parts, b'"container_Id":', sample.ref.id)
    if include_labels:
        _add_map(parts, b'"container_labels":', sample.spec.labels)
        _add_map(parts, b'"container_envs":', sample.spec.envs)
        _add_str(parts, b'"container_image":', sample.spec.image)
    parts.append(b'"container_stats":' + codec.dumps(sample.stats))
    return b",".join(parts) + b"}"
