"""The remote-write 1.0 ``WriteRequest`` on the wire (``prompb/remote.proto`` and ``prompb/types.proto`` of
Prometheus)::

    message WriteRequest { repeated TimeSeries timeseries = 1; }
    message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
    message Label        { string name = 1; string value = 2; }
    message Sample       { double value = 1; int64 timestamp = 2; }   // ms since the epoch

Encoded here rather than through ``protobuf`` message objects because a series' labels are the same bytes
from one sample to the next: :class:`SeriesEncoder` encodes them once and each sample adds its ``Sample``.
Building the messages with ``protobuf`` (upb) costs about a millisecond per container sample
(``bench/remote_write.py --protobuf``), ten times what collecting the sample costs; the tests decode what is
sent with ``protobuf`` against the schema above, and a real Prometheus ingests it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

Labels = tuple[tuple[str, str], ...]

_DOUBLE = struct.Struct("<d")
_TS_LABELS = b"\x0a"  # TimeSeries.labels: field 1, length-delimited
_TS_SAMPLES = b"\x12"  # TimeSeries.samples: field 2, length-delimited
_WR_TIMESERIES = b"\x0a"  # WriteRequest.timeseries: field 1, length-delimited


def varint(n: int) -> bytes:
    """Base-128 varint; a negative int64 as its 64-bit two's complement (10 bytes), as protobuf does."""
    if n < 0:
        n += 1 << 64
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _string(tag: int, s: str) -> bytes:
    b = s.encode()
    return bytes((tag,)) + varint(len(b)) + b


def encode_labels(labels: Iterable[tuple[str, str]]) -> bytes:
    """The ``labels`` fields of a ``TimeSeries`` (labels given sorted by name, as the spec requires)."""
    out = bytearray()
    for name, value in labels:
        msg = _string(0x0A, name) + _string(0x12, value)
        out += _TS_LABELS + varint(len(msg)) + msg
    return bytes(out)


class SeriesEncoder:
    """Encodes a sample's series as ``WriteRequest.timeseries`` entries, one ``Sample`` each.

    Everything before the sample's value is the same bytes from one sample to the next (the labels, the
    lengths, the ``Sample`` tag), so it is kept per label set, by the identity of its tuple (the series builder
    hands the same tuple out while a container's spec is unchanged); the timestamp's bytes are made once per
    container sample. A series then costs one ``struct.pack`` and a concatenation. Cleared at ``limit`` entries.
    ``external`` labels are added to every series that lacks them (Prometheus' ``external_labels``).
    """

    def __init__(self, external: Labels = (), limit: int = 200_000) -> None:
        self._external = dict(external)
        self._limit = limit
        self._cache: dict[int, tuple[Labels, int, bytes]] = {}

    def encode(self, series: Iterable[tuple[Labels, float]], timestamp_ms: int) -> list[bytes]:
        tail = b"\x10" + varint(timestamp_ms)  # Sample.timestamp
        sample_len = 9 + len(tail)  # Sample.value (tag + 8 bytes) + timestamp: at most 20, a one-byte length
        cache = self._cache
        pack = _DOUBLE.pack
        out: list[bytes] = []
        for labels, value in series:
            hit = cache.get(id(labels))
            if hit is None or hit[0] is not labels or hit[1] != sample_len:
                hit = self._prefix(labels, sample_len)
            out.append(hit[2] + pack(value) + tail)
        return out

    def _prefix(self, labels: Labels, sample_len: int) -> tuple[Labels, int, bytes]:
        if len(self._cache) >= self._limit:
            self._cache.clear()
        merged = labels
        if self._external:  # as Prometheus' external_labels: added where the series has no such label
            merged = tuple(sorted((self._external | dict(labels)).items()))
        encoded = encode_labels(merged)
        body_len = len(encoded) + 2 + sample_len  # labels, then TimeSeries.samples: tag, length, Sample
        prefix = _WR_TIMESERIES + varint(body_len) + encoded + _TS_SAMPLES + bytes((sample_len,)) + b"\x09"
        hit = (labels, sample_len, prefix)  # the tuple is kept so that its id is not reused while cached
        self._cache[id(labels)] = hit
        return hit
