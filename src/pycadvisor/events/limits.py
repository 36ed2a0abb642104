"""Event storage limits from ``--event_storage_age_limit`` / ``--event_storage_event_limit``.

Syntax (cAdvisor ``manager.parseEventsStoragePolicy``): comma-separated ``type=value`` pairs where
``type`` is an event type (``oom``, ``oomKill``, ``containerCreation``, ``containerDeletion``) or
``default``; ages are Go durations (``24h``, ``90m``), counts are ints (0 disables storing that
type, a negative count means unbounded). As in cAdvisor a malformed pair is logged and skipped.
"""

from __future__ import annotations

import logging
from typing import Final, Literal

from pycadvisor.durations import parse_go_duration
from pycadvisor.model.events import ALL_EVENT_TYPES

log = logging.getLogger(__name__)

DEFAULT_KEY: Final = "default"
DEFAULT_AGE_NS: Final = 24 * 3600 * 1_000_000_000  # cAdvisor events.DefaultStoragePolicy: 24h
DEFAULT_COUNT: Final = 100_000  # cAdvisor events.DefaultStoragePolicy

LimitKind = Literal["age", "count"]


def _parse_int(text: str) -> int:
    # Go strconv.Atoi: optional sign and decimal digits only (no spaces, no "_", no "0x").
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not body.isascii() or not body.isdigit():
        raise ValueError(f"invalid integer {text!r}")
    return int(text)


def parse_limits(flag: str, kind: LimitKind, *, strict: bool = False) -> dict[str, int]:
    """Map ``default`` and each named event type to its limit (ns for ``age``, events for ``count``).

    The result always has a ``default`` entry (24h / 100000 unless the flag sets one). A malformed
    pair is logged and skipped, as cAdvisor does; with ``strict`` it raises ``ValueError`` instead
    (for validating the flag at start-up).
    """
    out: dict[str, int] = {DEFAULT_KEY: DEFAULT_AGE_NS if kind == "age" else DEFAULT_COUNT}
    for part in flag.split(","):
        if not part.strip():
            continue
        items = part.split("=")
        if len(items) != 2:
            if strict:
                raise ValueError(f"{part!r} is not <event type>=<value>")
            log.warning("unknown event storage policy %r when parsing max %s", part, kind)
            continue
        key, raw = items[0].strip(), items[1].strip()
        try:
            value = parse_go_duration(raw) if kind == "age" else _parse_int(raw)
        except ValueError as e:
            if strict:
                raise ValueError(f"bad {kind} limit for {key!r}: {e}") from None
            log.warning("unable to parse event storage %s %r: %s", kind, raw, e)
            continue
        if key != DEFAULT_KEY and key not in ALL_EVENT_TYPES:
            if strict:
                raise ValueError(f"unknown event type {key!r} (known: default, {', '.join(ALL_EVENT_TYPES)})")
            log.warning("event storage policy for unknown event type %r (known: %s)", key, ", ".join(ALL_EVENT_TYPES))
        out[key] = value
    return out


def limit_for(limits: dict[str, int], event_type: str, fallback: int) -> int:
    """The limit of ``event_type``: its own entry, else ``default``, else ``fallback``."""
    value = limits.get(event_type)
    if value is None:
        value = limits.get(DEFAULT_KEY, fallback)
    return value
