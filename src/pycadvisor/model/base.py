"""Field helpers that record each attribute's Go-JSON name and encoding rules.

The JSON codec (:mod:`pycadvisor.model.codec`) reads this metadata; no class writes
its own serializer (cAdvisor's hand-written ``Clone()`` silently dropped fields:
``lib/model/doc.go``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

# Encodings a field may ask for, beyond the plain JSON value.
TIME = "time"  # int nanoseconds since the Unix epoch -> RFC 3339 with nanoseconds (Go time.Time)
PTR = "ptr"  # a Go pointer tagged omitempty: omitted only when nil (None), printed even when it points at 0
STRUCT = "struct"  # a dict of ints standing for a Go struct: keys kept in insertion order, not sorted


def jfield(
    *,
    omitempty: bool = False,
    name: str | None = None,
    kind: str | None = None,
    default: Any = dataclasses.MISSING,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
) -> Any:
    """Return a dataclass field carrying its JSON name, ``omitempty`` and encoding kind."""
    meta = {"json": name, "omitempty": omitempty, "kind": kind}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def time_field(default: int = 0) -> Any:
    """A Go ``time.Time`` held as int nanoseconds since the epoch; never omitted (Go rule)."""
    return jfield(kind=TIME, default=default)


def opt(name: str | None = None) -> Any:
    """An ``omitempty`` member defaulting to ``None`` (a pointer in cAdvisor's Go types)."""
    return jfield(omitempty=True, name=name, default=None)
