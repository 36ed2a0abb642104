"""A grpclib codec for the hand-written messages of :mod:`.messages` (content type ``application/grpc+proto``)."""

from __future__ import annotations

from typing import Any

from grpclib.encoding.base import CodecBase


class MessageCodec(CodecBase):
    """Encodes with the message's ``to_bytes()``, decodes with the reply type's ``from_bytes()``."""

    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: Any) -> bytes:
        data: bytes = message.to_bytes()
        return data

    def decode(self, data: bytes, message_type: Any) -> Any:
        return message_type.from_bytes(data)
