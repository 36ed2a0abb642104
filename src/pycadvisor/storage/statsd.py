"""``--storage_driver=statsd``: gauges over UDP (cAdvisor ``cmd/internal/storage/statsd``).

Each series of a sample becomes the gauge ``<storage_driver_db>.<container name>.<key>:<uint>|g`` sent
to ``storage_driver_host``. Keys are the stdout driver's (:mod:`pycadvisor.storage.series`) without
``timestamp`` and with ``cpu_load_average`` for the load. cAdvisor sends one datagram per gauge; we pack
several newline-separated gauges into a datagram of at most 1432 bytes (the multi-metric packet form
every StatsD server reads), which is the same data for a fraction of the syscalls.

StatsD has no tags, so labels and image are not sent. UDP gives no delivery receipt: a write fails only
when the kernel reports the port unreachable (ICMP) on a later send, and then the batch is retried.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

from pycadvisor.storage.base import Sample, container_name
from pycadvisor.storage.buffer import BufferedDriver, PartialWrite, encode_batch
from pycadvisor.storage.options import StorageOptions, split_host_port
from pycadvisor.storage.series import stats_series

MAX_DATAGRAM = 1432  # Etsy statsd's advice for a 1500-byte MTU (docs/metric_types.md, "Multi-Metric Packets")


def gauge_lines(prefix: str, name: str, stats_series_: dict[str, int]) -> list[str]:
    """The gauges of one sample, e.g. ``cadvisor./docker/abc.memory_usage:1234|g``."""
    head = f"{prefix}.{name}."
    return [f"{head}{k}:{v}|g" for k, v in stats_series_.items()]


def pack(lines_per_sample: Sequence[Sequence[str]], limit: int = MAX_DATAGRAM) -> list[tuple[int, bytes]]:
    """Pack lines into datagrams of at most ``limit`` bytes (a longer line goes alone).

    Each datagram is returned with the index of the sample its first line belongs to, so a failed send
    can be resumed from that sample.
    """
    out: list[tuple[int, bytes]] = []
    buf: list[bytes] = []
    size = 0
    first = 0
    for i, lines in enumerate(lines_per_sample):
        for line in lines:
            b = line.encode()
            if buf and size + 1 + len(b) > limit:
                out.append((first, b"\n".join(buf)))
                buf, size = [], 0
            if not buf:
                first = i
                size = len(b)
            else:
                size += 1 + len(b)
            buf.append(b)
    if buf:
        out.append((first, b"\n".join(buf)))
    return out


class StatsdDriver(BufferedDriver):
    name = "statsd"

    def __init__(self, opts: StorageOptions, *, machine_name: str) -> None:
        super().__init__(opts, machine_name=machine_name)
        self._host, self._port = split_host_port(opts.storage_driver_host, 8125)
        self._prefix = opts.storage_driver_db
        self._sock: socket.socket | None = None

    def encode(self, sample: Sample) -> list[str]:
        series = stats_series(sample.stats, timestamp_ns=None, load_key="cpu_load_average")
        return gauge_lines(self._prefix, container_name(sample.ref), series)

    async def _socket(self) -> socket.socket:
        if self._sock is None:
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(self._host, self._port, type=socket.SOCK_DGRAM)
            family, type_, proto, _, addr = infos[0]
            sock = socket.socket(family, type_, proto)
            sock.setblocking(False)
            try:
                sock.connect(addr)  # connected UDP: the kernel reports ICMP port-unreachable on send
            except OSError:
                sock.close()
                raise
            self._sock = sock
        return self._sock

    async def write(self, batch: Sequence[Sample]) -> None:
        records, index = encode_batch(batch, self.encode, self.log, self.name)
        sock = await self._socket()
        for first, datagram in pack(records):
            try:
                sock.send(datagram)
            except OSError as exc:  # ECONNREFUSED (nobody listening), EAGAIN (socket buffer full), ...
                raise PartialWrite(index[first:], len(batch) - len(index), f"send to statsd: {exc}") from exc
        if len(index) < len(batch):
            raise PartialWrite([], len(batch) - len(index), "samples that could not be encoded")

    async def close_client(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
