"""What the remote-write tests share: the WriteRequest schema for ``protobuf`` and a small receiver.

The schema is Prometheus' ``prompb/types.proto`` and ``prompb/remote.proto`` (remote-write 1.0), built at run
time so no generated stubs are needed; the receiver answers each request with the next status of a script
and keeps what it got (headers and the decoded series).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import cramjam
from aiohttp import web
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from pycadvisor.app import sample_series
from pycadvisor.metrics.options import ExpositionOptions
from pycadvisor.storage.base import StorageDriver
from pycadvisor.storage.options import StorageOptions
from pycadvisor.storage.registry import build_drivers

_STRING, _DOUBLE, _INT64, _MESSAGE = 9, 1, 3, 11
_OPTIONAL, _REPEATED = 1, 3


def _write_request_class() -> Any:
    fdp = descriptor_pb2.FileDescriptorProto(name="pycad_remote.proto", package="prometheus", syntax="proto3")
    label = fdp.message_type.add(name="Label")
    label.field.add(name="name", number=1, type=_STRING, label=_OPTIONAL)
    label.field.add(name="value", number=2, type=_STRING, label=_OPTIONAL)
    sample = fdp.message_type.add(name="Sample")
    sample.field.add(name="value", number=1, type=_DOUBLE, label=_OPTIONAL)
    sample.field.add(name="timestamp", number=2, type=_INT64, label=_OPTIONAL)
    ts = fdp.message_type.add(name="TimeSeries")
    ts.field.add(name="labels", number=1, type=_MESSAGE, label=_REPEATED, type_name=".prometheus.Label")
    ts.field.add(name="samples", number=2, type=_MESSAGE, label=_REPEATED, type_name=".prometheus.Sample")
    wr = fdp.message_type.add(name="WriteRequest")
    wr.field.add(name="timeseries", number=1, type=_MESSAGE, label=_REPEATED, type_name=".prometheus.TimeSeries")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


WriteRequest = _write_request_class()

# (labels as sent, in order) -> [(value, timestamp ms)]
Decoded = dict[tuple[tuple[str, str], ...], list[tuple[float, int]]]


def decode(body: bytes) -> Decoded:
    """A snappy (block format) WriteRequest, decoded by ``protobuf``."""
    req = WriteRequest()
    req.ParseFromString(bytes(cramjam.snappy.decompress_raw(body)))
    out: Decoded = {}
    for ts in req.timeseries:
        labels = tuple((lab.name, lab.value) for lab in ts.labels)
        out.setdefault(labels, []).extend((s.value, s.timestamp) for s in ts.samples)
    return out


@dataclass
class Receiver:
    """A remote-write endpoint on 127.0.0.1 answering with ``script`` (then 204 for ever)."""

    script: list[int] = field(default_factory=list)
    requests: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)  # (status answered, ...)
    url: str = ""
    got: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.script.pop(0) if self.script else 204
        self.requests.append((status, dict(request.headers), body))
        self.got.set()
        return web.Response(status=status, text="" if status < 300 else f"scripted {status}")

    def accepted(self) -> Decoded:
        out: Decoded = {}
        for status, _, body in self.requests:
            if status // 100 == 2:
                for labels, samples in decode(body).items():
                    out.setdefault(labels, []).extend(samples)
        return out


@contextlib.asynccontextmanager
async def receiver(script: Iterable[int] = (), tls: ssl.SSLContext | None = None) -> AsyncIterator[Receiver]:
    rec = Receiver(list(script))
    app = web.Application()
    app.router.add_post("/api/v1/write", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rec.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/api/v1/write"
    try:
        yield rec
    finally:
        await runner.cleanup()


def driver(opts: StorageOptions) -> StorageDriver:
    """The remote_write driver of ``opts`` with the daemon's series function (default metric sets)."""
    [d] = build_drivers(opts, machine_name="n", series=sample_series(ExpositionOptions(), lambda name: 0))
    return d


_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def parse_exposition(text: str) -> list[tuple[str, dict[str, str], float, int | None]]:
    """Series of a text-format 0.0.4 body as written (names untouched, unlike prometheus_client's parser,
    which renames counters to ``_total``): (name, labels, value, timestamp ms or None)."""
    out = []
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        m = _LINE.match(line)
        assert m, line
        labels = {
            k: re.sub(r"\\[\\\"n]", lambda e: _UNESCAPE[e.group(0)], v) for k, v in _LABEL.findall(m.group(2) or "")
        }
        out.append((m.group(1), labels, float(m.group(3)), None if m.group(4) is None else int(m.group(4))))
    return out
