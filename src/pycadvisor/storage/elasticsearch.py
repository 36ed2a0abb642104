"""``--storage_driver=elasticsearch``: one document per sample (cAdvisor ``cmd/internal/storage/elasticsearch``).

Documents are :func:`pycadvisor.storage.documents.detail_document` (labels de-dotted), indexed into
``storage_driver_es_index`` at ``storage_driver_es_host`` (several URLs may be given, comma-separated).

cAdvisor uses the olivere ``elastic.v2`` client (Elasticsearch 1.x/2.x) and indexes one document per
request. Here the samples of a batch go in one ``_bulk`` request, sent with aiohttp: the official
Python client 8.x refuses any server that does not answer with the ``X-Elastic-Product:
Elasticsearch`` header (OpenSearch and the API emulators we test against), while ``_bulk`` is the
same on Elasticsearch 5–8 and OpenSearch. ``storage_driver_es_type`` is sent as ``_type`` only to
Elasticsearch before 7 (7 deprecated mapping types, 8 and OpenSearch reject them); the version is read
from ``GET /`` on first contact. Each document gets the id ``<machine>:<container>:<sample time ns>``,
so a batch resent after a timeout overwrites instead of duplicating. Items refused with 429 or 5xx
are retried; other refusals (e.g. a mapping conflict) are counted as dropped.

With ``storage_driver_es_enable_sniffer`` the node list is read from ``GET /_nodes/http`` at first
contact and every 15 minutes (olivere's default interval), and writes rotate over the nodes when one
does not answer.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from pycadvisor.storage.base import Sample, container_name
from pycadvisor.storage.buffer import BufferedDriver, PartialWrite, encode_batch
from pycadvisor.storage.documents import detail_document
from pycadvisor.storage.options import StorageOptions

SNIFF_INTERVAL_S = 15 * 60.0
TIMEOUT_S = 30.0
MAX_ID_BYTES = 512  # Elasticsearch's limit on _id


def document_id(machine_name: str, name: str, timestamp_ns: int) -> str:
    """A stable id for a sample (a sha1 when the readable form exceeds Elasticsearch's 512 bytes)."""
    readable = f"{machine_name}:{name}:{timestamp_ns}"
    if len(readable.encode()) <= MAX_ID_BYTES:
        return readable
    return hashlib.sha1(readable.encode()).hexdigest()


def uses_mapping_types(info: dict[str, Any]) -> bool:
    """Whether the server (``GET /`` body) still takes a ``_type``: Elasticsearch before 7."""
    version = info.get("version") or {}
    if version.get("distribution") == "opensearch":
        return False
    number = str(version.get("number", ""))
    major = number.split(".", 1)[0]
    return major.isdigit() and int(major) < 7


def _normalize_url(url: str) -> str:
    u = url.strip().rstrip("/")
    if "://" not in u:
        u = "http://" + u
    parts = urlsplit(u)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"bad storage_driver_es_host URL: {url!r}")
    return u


def sniffed_urls(nodes: dict[str, Any], scheme: str) -> list[str]:
    """Node URLs from a ``GET /_nodes/http`` body (``publish_address`` may read ``name/ip:port``)."""
    out: list[str] = []
    for node in (nodes.get("nodes") or {}).values():
        addr = str(((node or {}).get("http") or {}).get("publish_address", ""))
        if "/" in addr:
            addr = addr.rsplit("/", 1)[1]
        if addr:
            out.append(f"{scheme}://{addr}")
    return sorted(set(out))


class ElasticsearchDriver(BufferedDriver):
    name = "elasticsearch"

    def __init__(self, opts: StorageOptions, *, machine_name: str) -> None:
        super().__init__(opts, machine_name=machine_name)
        self._seeds = [_normalize_url(u) for u in opts.storage_driver_es_host.split(",") if u.strip()]
        if not self._seeds:
            raise ValueError("storage_driver_es_host is empty")
        self._hosts = list(self._seeds)
        self._current = 0
        self._index = opts.storage_driver_es_index
        self._type = opts.storage_driver_es_type
        self._sniff = opts.storage_driver_es_enable_sniffer
        self._next_sniff = 0.0
        self._use_types: bool | None = None  # known after the first GET /
        self._session: aiohttp.ClientSession | None = None

    def encode(self, sample: Sample) -> tuple[str, bytes]:
        doc = detail_document(sample, self.machine_name, include_labels=self.include_labels, dedot=True)
        return document_id(self.machine_name, container_name(sample.ref), sample.stats.timestamp), doc

    def _host(self) -> str:
        return self._hosts[self._current % len(self._hosts)]

    async def _get_json(self, session: aiohttp.ClientSession, path: str) -> dict[str, Any]:
        async with session.get(self._host() + path) as resp:
            resp.raise_for_status()
            body: dict[str, Any] = orjson.loads(await resp.read())
            return body

    async def _prepare(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S, connect=5.0))
        session = self._session
        if self._sniff and time.monotonic() >= self._next_sniff:
            scheme = urlsplit(self._host()).scheme
            urls = sniffed_urls(await self._get_json(session, "/_nodes/http"), scheme)
            if urls:
                self._hosts, self._current = urls, 0
            self._next_sniff = time.monotonic() + SNIFF_INTERVAL_S
        if self._use_types is None:
            self._use_types = uses_mapping_types(await self._get_json(session, "/"))
        return session

    def _action(self, doc_id: str) -> bytes:
        meta: dict[str, str] = {"_index": self._index}
        if self._use_types:
            meta["_type"] = self._type
        meta["_id"] = doc_id
        return orjson.dumps({"index": meta})

    async def write(self, batch: Sequence[Sample]) -> None:
        records, index = encode_batch(batch, self.encode, self.log, self.name)
        bad = len(batch) - len(index)
        if records:
            try:
                session = await self._prepare()
                body = b"".join(self._action(doc_id) + b"\n" + doc + b"\n" for doc_id, doc in records)
                async with session.post(
                    self._host() + "/_bulk", data=body, headers={"Content-Type": "application/x-ndjson"}
                ) as resp:
                    payload = await resp.read()
                    status = resp.status
            except (aiohttp.ClientConnectionError, TimeoutError):
                self._current += 1  # try the next node next time
                if self._sniff and len(self._hosts) > 1:
                    self._next_sniff = 0.0
                raise
            if status == 429 or status >= 500:
                raise RuntimeError(f"Elasticsearch _bulk answered {status}: {payload[:300]!r}")
            if status != 200:
                raise PartialWrite([], len(batch), f"Elasticsearch _bulk answered {status}: {payload[:300]!r}")
            retry, rejected, detail = self._bulk_outcome(orjson.loads(payload))
            if retry or rejected:
                raise PartialWrite([index[i] for i in retry], rejected + bad, detail)
        if bad:
            raise PartialWrite([], bad, "samples that could not be encoded")

    @staticmethod
    def _bulk_outcome(result: dict[str, Any]) -> tuple[list[int], int, str]:
        """(items to retry, items refused for good, first error) of a ``_bulk`` response."""
        if not result.get("errors"):
            return [], 0, ""
        retry: list[int] = []
        rejected = 0
        detail = ""
        for i, item in enumerate(result.get("items") or ()):
            outcome: dict[str, Any] = next(iter(item.values()), {}) if isinstance(item, dict) else {}
            status = int(outcome.get("status", 200))
            if status < 300:
                continue
            detail = detail or f"{status}: {orjson.dumps(outcome.get('error', ''))[:300]!r}"
            if status == 429 or status >= 500:
                retry.append(i)
            else:
                rejected += 1
        return retry, rejected, detail

    async def close_client(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
