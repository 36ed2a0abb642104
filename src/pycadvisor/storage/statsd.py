"""``--storage_driver=statsd``: gauges over UDP (cAdvisor ``cmd/internal/storage/statsd``).

Each series of a sample becomes the gauge ``<storage_driver_db>.<container name>.<key>:<uint>|g`` sent
to ``storage_driver_host``. Keys are the stdout driver's (:mod:`pycadvisor.storage.series`) without
``timestamp`` and with ``cpu_load_average`` for the load. cAdvisor sends one datagram per gauge; we pack
several newline-separated gauges into a datagram of at most 1432 bytes (the multi-metric packet form
every StatsD server reads), which is the same data for a fraction of the syscalls.

StatsD has no tags, so labels and image are not sent. UDP gives no delivery receipt: a write fails only
when the kernel reports the port unreachable (ICMP) on a later send; then the whole batch is sent again
(gauges are idempotent) once an empty probe datagram draws no such report. The datagrams sent between
the server's death and the first report are lost; nothing else is.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Sequence

from pycadvisor.storage.base import Sample, container_name
from pycadvisor.storage.buffer import BufferedDriver, PartialWrite, encode_batch
from pycadvisor.storage.options import StorageOptions, split_host_port
from pycadvisor.storage.series import stats_series

PROBE_WAIT_S = 0.05  # time for an ICMP port-unreachable to come back (loopback: microseconds)
MAX_DATAGRAM = 1432
# UDP has no flow control: what exceeds the server's socket buffer (Linux default 208 KiB) is silently
# dropped by the kernel. Etsy statsd lost 40 % of a 300-sample burst sent at once, and lost some now and
# then at 2,000 datagrams/s whenever it was descheduled on a busy 2-core machine; at 1,000/s it lost none
# in our runs. So: bursts of up to PACE_BURST datagrams (45 KB), then at most PACE_RATE per second
# (1.4 MB/s, about 30k gauges/s, i.e. 1,000 containers at a 1 s interval), sleeping in steps of at least
# PACE_STEP_S to keep the cost of pacing low.
PACE_RATE = 1000.0
PACE_BURST = 32
PACE_STEP_S = 0.002


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
        self._suspect = False  # the last send failed: probe before sending again
        self._next_send = 0.0  # token bucket of _pace (monotonic s)

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
        try:
            if self._suspect:
                await self._probe(sock)
            for _, datagram in pack(records):
                await self._pace()
                sock.send(datagram)
        except OSError:  # ECONNREFUSED (nobody listening), EAGAIN (socket buffer full), ...
            # Gauges are idempotent (the last value wins): the whole batch is simply sent again.
            self._suspect = True
            raise
        if len(index) < len(batch):
            raise PartialWrite([], len(batch) - len(index), "samples that could not be encoded")

    async def _pace(self) -> None:
        """Token bucket: wait until one more datagram fits in PACE_RATE with PACE_BURST of slack."""
        now = time.monotonic()
        ahead = self._next_send - now - PACE_BURST / PACE_RATE
        if ahead >= PACE_STEP_S:
            await asyncio.sleep(ahead)
            now = time.monotonic()
        self._next_send = max(self._next_send, now) + 1.0 / PACE_RATE

    @staticmethod
    async def _probe(sock: socket.socket) -> None:
        """After a failure, check that someone listens again before sending real data.

        An empty datagram (StatsD servers skip empty lines) draws an ICMP port-unreachable if nobody
        listens; the kernel then flags the socket (``SO_ERROR``), which we read instead of losing the
        batch's first datagram to a dead port.
        """
        sock.send(b"")
        await asyncio.sleep(PROBE_WAIT_S)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise ConnectionRefusedError(err, os.strerror(err))

    async def close_client(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
