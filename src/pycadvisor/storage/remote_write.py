"""``--storage_driver=remote_write``: every sample pushed as Prometheus remote-write 1.0 (cAdvisor has no such driver).

``-storage_driver_host`` is the whole write URL (``http://127.0.0.1:9090/api/v1/write``). A sample becomes the
series ``/metrics`` exposes for its container, its application metrics included (the series function is given by
the composition root, built from the exposition's family tables), each with the sample's timestamp in ms. Every
request also carries the machine families (``machine_cpu_cores``, ``machine_memory_bytes``, ...), with
``/metrics``' labels and values, stamped with the request's newest sample time as a scrape would stamp a series
without a timestamp: ``/metrics`` stamps them with ``MachineInfo``'s time, which moves only every
``-update_machine_info_interval``, and a stored series without a sample for 5 minutes (Prometheus'
lookback) vanishes from queries, while pushing that older time again is out of order once newer samples are in
(refused with the whole request once it is out of the head's range). A batch is one ``WriteRequest``,
snappy block-compressed, POSTed with the spec's headers; batches are sent every
``-storage_driver_buffer_duration`` (at most 5 s) or when full. As the spec asks of a sender: 5xx and 429 are retried
with backoff (the shared buffer's), any other 4xx drops the batch (counted in
``pycadvisor_storage_dropped_total``) since sending it again would fail the same way; a connection error is
retried.

Authentication: HTTP Basic from the URL's ``user:password@`` or, when either differs from cAdvisor's
``root``/``root`` defaults, ``-storage_driver_user``/``-storage_driver_password``; or a bearer token read from
``-storage_driver_remote_write_bearer_token_file`` at each request (so a rotated token is picked up), never
both. ``-storage_driver_remote_write_external_labels`` adds labels to every series that lacks them, as Prometheus'
``external_labels`` (several hosts pushing to one Prometheus need one, e.g. ``instance=<host>``, since ``/metrics``'
series carry none: a scrape adds ``instance``). ``https://`` URLs are verified against the system's CAs or
``-storage_driver_remote_write_ca_file``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import ssl
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
import cramjam

from pycadvisor.storage.base import MachineSeriesFn, Sample, SeriesFn
from pycadvisor.storage.buffer import BufferedDriver, PartialWrite, encode_batch
from pycadvisor.storage.options import StorageOptions
from pycadvisor.storage.prompb import SeriesEncoder

TIMEOUT_S = 30.0  # Prometheus' own remote_timeout default
ENCODE_CHUNK = 16  # samples encoded between two yields to the event loop (a few ms)
HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "pycadvisor",
}
_DEFAULT_CREDENTIAL = "root"  # cAdvisor's default -storage_driver_user and -storage_driver_password
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class RemoteWriteDriver(BufferedDriver):
    name = "remote_write"
    # Samples are sent in batches: those of -storage_driver_buffer_duration, at most 5 s (Prometheus' own
    # batch_send_deadline), or a full -storage_driver_batch_size; one request per container sample would cost
    # an HTTP round trip each.
    honours_buffer_duration = True
    max_linger_s = 5.0

    def __init__(
        self,
        opts: StorageOptions,
        *,
        machine_name: str,
        series: SeriesFn | None = None,
        machine_series: MachineSeriesFn | None = None,
    ) -> None:
        super().__init__(opts, machine_name=machine_name)
        self._series = series
        self._machine_series = machine_series
        self.url, self._basic = _parse_url(opts)
        self._token_file = opts.storage_driver_remote_write_bearer_token_file
        if self._token_file:
            if self._basic is not None:
                raise ValueError(
                    "-storage_driver_remote_write_bearer_token_file and basic auth (-storage_driver_user/"
                    "-storage_driver_password or the URL's user) cannot both be set"
                )
            self._read_token()  # unreadable or empty: fail at start, naming the flag
        self._ssl: ssl.SSLContext | bool = True  # aiohttp's default: verify against the system's CAs
        if self.url.startswith("https:"):
            ca = opts.storage_driver_remote_write_ca_file or None
            try:
                self._ssl = ssl.create_default_context(cafile=ca)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"-storage_driver_remote_write_ca_file={ca}: cannot load it: {exc}") from exc
        self._encoder = SeriesEncoder(parse_external_labels(opts.storage_driver_remote_write_external_labels))
        self._session: aiohttp.ClientSession | None = None

    def _read_token(self) -> str:
        path = self._token_file
        try:
            with open(path, encoding="utf-8") as f:
                token = f.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"-storage_driver_remote_write_bearer_token_file={path}: cannot read it: {exc}") from exc
        if not token:
            raise ValueError(f"-storage_driver_remote_write_bearer_token_file={path}: the file is empty")
        return token

    async def open(self) -> None:
        if self._series is None:
            raise ValueError("storage driver remote_write was built without its series function")
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S))

    def encode(self, sample: Sample) -> list[bytes]:
        """The ``WriteRequest.timeseries`` entries of one sample (one sample per series)."""
        assert self._series is not None
        # ms, truncated as /metrics does (render._Row)
        return self._encoder.encode(self._series(sample), sample.stats.timestamp // 1_000_000)

    def request_body(self, batch: Sequence[Sample]) -> tuple[bytes, int]:
        """The compressed ``WriteRequest`` of ``batch`` and how many samples could not be encoded."""
        raw, bad = self._entries(batch)
        return _snappy(raw + self._machine_entries(batch)), bad

    def _machine_entries(self, batch: Sequence[Sample]) -> bytes:
        """The machine families, at the batch's newest sample time (ms)."""
        if self._machine_series is None or not batch:
            return b""
        try:
            series = self._machine_series()
        except Exception as exc:  # the containers' samples go anyway
            self.log.log(logging.WARNING, "machine", "remote_write: cannot build the machine series: %s", exc)
            return b""
        newest = max(s.stats.timestamp for s in batch) // 1_000_000
        return b"".join(self._encoder.encode(series, newest))

    def _entries(self, batch: Sequence[Sample]) -> tuple[bytes, int]:
        per_sample, index = encode_batch(batch, self.encode, self.log, self.name)
        return b"".join(b for entries in per_sample for b in entries), len(batch) - len(index)

    async def _request_body(self, batch: Sequence[Sample]) -> tuple[bytes, int]:
        """:meth:`request_body` in pieces on the event loop: a backlog of 500 samples is about 0.1 s of encoding,
        which would otherwise hold up housekeeping and the API in one go."""
        parts: list[bytes] = []
        bad = 0
        for i in range(0, len(batch), ENCODE_CHUNK):
            raw, n = self._entries(batch[i : i + ENCODE_CHUNK])
            parts.append(raw)
            bad += n
            await asyncio.sleep(0)
        parts.append(self._machine_entries(batch))
        raw = b"".join(parts)
        if len(raw) > 1 << 20:  # cramjam lets go of the GIL while it compresses
            return await asyncio.to_thread(_snappy, raw), bad
        return _snappy(raw), bad

    async def write(self, batch: Sequence[Sample]) -> None:
        assert self._session is not None
        body, bad = await self._request_body(batch)
        headers = dict(HEADERS)
        if self._basic is not None:
            headers["Authorization"] = self._basic
        elif self._token_file:
            headers["Authorization"] = "Bearer " + self._read_token()
        async with self._session.post(self.url, data=body, headers=headers, ssl=self._ssl) as resp:
            if resp.status // 100 == 2:
                if bad:
                    raise PartialWrite([], bad, "samples that could not be encoded")
                return
            detail = f"HTTP {resp.status} from {self.url}: {(await resp.text(errors='replace'))[:512].strip()}"
        if resp.status == 429 or resp.status >= 500:
            raise RuntimeError(detail)  # retried by the buffer, with backoff
        raise PartialWrite([], len(batch), detail)  # other 4xx: the same request would fail again

    async def close_client(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _snappy(raw: bytes) -> bytes:
    """Snappy's block format, as the remote-write spec asks (not the framed format)."""
    return bytes(cramjam.snappy.compress_raw(raw))


def parse_external_labels(text: str) -> tuple[tuple[str, str], ...]:
    """``name=value[,name=value...]``; names as Prometheus allows them, not ``__``-reserved, not repeated."""
    flag = "-storage_driver_remote_write_external_labels"
    out: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not _LABEL_NAME.fullmatch(name) or name.startswith("__") or not value:
            raise ValueError(f"{flag}={text}: {item.strip()!r} is not name=value with a valid label name and a value")
        if name in out:
            raise ValueError(f"{flag}={text}: label {name} given twice")
        out[name] = value
    return tuple(sorted(out.items()))


def _basic(user: str, password: str) -> str:
    """The ``Authorization`` value of HTTP Basic (RFC 7617, UTF-8)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _parse_url(opts: StorageOptions) -> tuple[str, str | None]:
    """The write URL without its credentials, and the Basic ``Authorization`` to send (if any)."""
    raw = opts.storage_driver_host.strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"-storage_driver_host={raw}: remote_write needs the full write URL, "
            "e.g. http://127.0.0.1:9090/api/v1/write"
        )
    basic = None
    if parts.username is not None:
        basic = _basic(unquote(parts.username), unquote(parts.password or ""))
        netloc = parts.netloc.rpartition("@")[2]
        raw = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    elif (opts.storage_driver_user, opts.storage_driver_password) != (_DEFAULT_CREDENTIAL, _DEFAULT_CREDENTIAL):
        basic = _basic(opts.storage_driver_user, opts.storage_driver_password)
    return raw, basic
