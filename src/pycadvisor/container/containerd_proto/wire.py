"""Protocol-buffers wire format: varints, field keys, length-delimited values (protobuf encoding spec).

A message is a sequence of ``key value`` pairs with ``key = field_number << 3 | wire_type``:
wire type 0 varint, 1 fixed 64-bit, 2 length-delimited (strings, bytes, sub-messages, map
entries, packed repeats), 5 fixed 32-bit. Groups (3, 4) are obsolete and rejected.
"""

from __future__ import annotations

from collections.abc import Iterator

VARINT = 0
FIXED64 = 1
LENGTH = 2
FIXED32 = 5


class WireError(ValueError):
    """Bytes that are not a valid protobuf message."""


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of the varint at ``pos``."""
    result = 0
    shift = 0
    n = len(data)
    while True:
        if pos >= n:
            raise WireError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def encode_varint(value: int) -> bytes:
    """A non-negative integer (or a negative int64 as its 10-byte two's complement) as a varint."""
    if value < 0:
        value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def iter_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """``(field number, wire type, value)`` of each field; value is an int, or bytes for LENGTH."""
    pos = 0
    n = len(data)
    while pos < n:
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire_type == VARINT:
            value, pos = read_varint(data, pos)
            yield number, wire_type, value
        elif wire_type == LENGTH:
            size, pos = read_varint(data, pos)
            end = pos + size
            if end > n:
                raise WireError("truncated length-delimited field")
            yield number, wire_type, data[pos:end]
            pos = end
        elif wire_type == FIXED64:
            if pos + 8 > n:
                raise WireError("truncated fixed64")
            yield number, wire_type, int.from_bytes(data[pos : pos + 8], "little")
            pos += 8
        elif wire_type == FIXED32:
            if pos + 4 > n:
                raise WireError("truncated fixed32")
            yield number, wire_type, int.from_bytes(data[pos : pos + 4], "little")
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wire_type}")


def as_int64(value: int) -> int:
    """A varint read as a signed int64 (protobuf ``int64``/``int32`` store negatives as 10-byte varints)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def field_string(number: int, value: str) -> bytes:
    """Encoded string field; proto3 omits empty strings."""
    if not value:
        return b""
    raw = value.encode()
    return encode_varint(number << 3 | LENGTH) + encode_varint(len(raw)) + raw


def field_bytes(number: int, value: bytes) -> bytes:
    return encode_varint(number << 3 | LENGTH) + encode_varint(len(value)) + value


def field_varint(number: int, value: int) -> bytes:
    if not value:
        return b""
    return encode_varint(number << 3 | VARINT) + encode_varint(value)
