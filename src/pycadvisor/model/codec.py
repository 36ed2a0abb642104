"""The single JSON encoder for the model, following Go ``encoding/json`` rules.

Rules mimicked (Go's ``encoding/json`` ``encode.go``, as cAdvisor marshals ``info/v1``): struct fields in
declaration order; ``omitempty``
drops 0, false, "", empty lists/maps and ``None``; map keys sorted (int keys as strings);
``<``, ``>``, ``&`` escaped as ``\\u003c`` ``\\u003e`` ``\\u0026``; ``time.Time`` as RFC 3339
with trailing zeros of the nanoseconds trimmed.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import time
from typing import Any

import orjson

from pycadvisor.model.base import PTR, STRUCT, TIME

_ZERO_TIME = "0001-01-01T00:00:00Z"


def format_time(ns: int) -> str:
    """Return Go's RFC3339Nano rendering of ``ns`` (UTC); 0 is Go's zero time."""
    if ns == 0:
        return _ZERO_TIME
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        return f"{base}.{frac:09d}".rstrip("0") + "Z"
    return base + "Z"


def parse_time(text: str) -> int:
    """Parse an RFC 3339 timestamp (as Go's ``time.Parse(time.RFC3339, …)`` accepts) into ns."""
    s = text.strip()
    if not s:
        raise ValueError("empty time")
    frac_ns = 0
    main = s
    tz = ""
    # Split off the zone designator.
    if s.endswith(("Z", "z")):
        main, tz = s[:-1], "+00:00"
    else:
        idx = max(s.rfind("+"), s.rfind("-"))
        if idx > 10:
            main, tz = s[:idx], s[idx:]
        else:
            raise ValueError(f"time {text!r} lacks a zone offset")
    if "." in main:
        main, frac = main.split(".", 1)
        if not frac.isdigit() or len(frac) > 9:
            raise ValueError(f"bad fractional seconds in {text!r}")
        frac_ns = int(frac.ljust(9, "0"))
    dt = _dt.datetime.fromisoformat(main.replace("t", "T") + tz)
    return (int(dt.timestamp()) * 1_000_000_000) + frac_ns


@functools.cache
def _plan(cls: type) -> tuple[tuple[str, str, bool, str | None], ...] | None:
    """How a model class is written (attribute, JSON key, omitempty, kind); None for anything else.

    Cached per type, so a value costs one lookup here instead of ``dataclasses.is_dataclass`` and then
    the plan (is_dataclass was 13 % of a stats request).
    """
    if not dataclasses.is_dataclass(cls):
        return None
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        out.append((f.name, meta.get("json") or f.name, bool(meta.get("omitempty")), meta.get("kind")))
    return tuple(out)


_SCALARS = frozenset({int, str, bool, type(None)})


def to_plain(obj: Any) -> Any:
    """Convert model objects into plain JSON-able values with Go's field order and omission."""
    t: type = type(obj)
    if t in _SCALARS:  # the common leaf: checked first, no isinstance chain
        return obj
    plan = _plan(t)
    if plan is not None:
        out: dict[str, Any] = {}
        scalars = _SCALARS
        for attr, key, omit, kind in plan:
            v = getattr(obj, attr)
            if kind is None:  # most fields: a plain value (scalars written without a call)
                if omit and not v:  # Go omitempty: nil, 0, false, "", empty slice/map (never a struct)
                    continue
                out[key] = v if type(v) in scalars else to_plain(v)
            elif kind == TIME:
                out[key] = format_time(v)
            elif kind == PTR:
                if v is not None:
                    out[key] = to_plain(v)
            elif omit and not v:
                continue
            else:  # STRUCT: a dict standing in for a Go struct keeps its declaration order
                out[key] = dict(v) if kind == STRUCT else to_plain(v)
        return out
    if t is list or t is tuple:
        return [x if type(x) in _SCALARS else to_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): to_plain(obj[k]) for k in sorted(obj, key=str)}
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    if isinstance(obj, float) and obj.is_integer() and abs(obj) < 1e21:
        return int(obj)  # Go prints integral float64 values without a fraction: 0, not 0.0
    return obj


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` as Go's encoding/json would, returning bytes without a trailing newline."""
    raw = orjson.dumps(to_plain(obj))
    if b"<" in raw or b">" in raw or b"&" in raw:
        raw = raw.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")
    return raw
