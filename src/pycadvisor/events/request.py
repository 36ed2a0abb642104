"""The events query (``/api/v1.3/events/<name>``, same in v2.x) as cAdvisor's ``getEventRequest`` reads it.

Parameters (cAdvisor ``cmd/internal/api/handler.go`` ``getEventRequest``): booleans ``stream``,
``subcontainers``, ``all_events``,
``oom_events``, ``oom_kill_events``, ``creation_events``, ``deletion_events`` in Go ``ParseBool``
syntax (an invalid boolean is ignored, as in cAdvisor); ``max_events`` (int, default 10);
``start_time`` / ``end_time`` (RFC 3339, inclusive). A repeated parameter counts with its first value.

Deliberate differences from cAdvisor, which silently ignores a bad ``max_events`` or time and answers
500 for a time together with ``stream=true``: here each is a :class:`BadRequest` naming the
parameter (the API answers 400). An empty value counts as absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from pycadvisor.errors import BadRequest
from pycadvisor.model.codec import parse_time
from pycadvisor.model.events import ALL_EVENT_TYPES, EventType

DEFAULT_MAX_EVENTS: Final = 10  # cAdvisor events.NewRequest

# Query parameter -> event type (cAdvisor cmd/internal/api/handler.go getEventRequest).
TYPE_PARAMS: Final[dict[str, str]] = {
    "oom_events": EventType.OOM,
    "oom_kill_events": EventType.OOM_KILL,
    "creation_events": EventType.CONTAINER_CREATION,
    "deletion_events": EventType.CONTAINER_DELETION,
}

_TRUE: Final = frozenset(("1", "t", "T", "TRUE", "true", "True"))  # Go strconv.ParseBool
_FALSE: Final = frozenset(("0", "f", "F", "FALSE", "false", "False"))


@dataclass(frozen=True, slots=True, kw_only=True)
class EventsRequest:
    """Which stored or future events a client wants (cAdvisor ``events.Request`` plus ``stream``)."""

    container_name: str = "/"
    event_types: frozenset[str] = frozenset()  # none selected -> no events at all
    include_subcontainers: bool = False
    max_events: int = DEFAULT_MAX_EVENTS  # <= 0: all
    start_ns: int | None = None  # inclusive; None = unbounded
    end_ns: int | None = None  # inclusive; None = unbounded
    stream: bool = False

    def matches(self, event_type: str, container_name: str, timestamp: int) -> bool:
        """cAdvisor ``checkIfEventSatisfiesRequest``: type, time window and container (or subtree)."""
        if event_type not in self.event_types:
            return False
        if self.start_ns is not None and timestamp < self.start_ns:
            return False
        if self.end_ns is not None and timestamp > self.end_ns:
            return False
        return self.matches_container(container_name)

    def matches_container(self, container_name: str) -> bool:
        want = self.container_name
        if not self.include_subcontainers:
            return container_name == want
        # cAdvisor checkIfIsSubcontainer: "/" matches all, else equal or below "<name>/".
        return want == "/" or container_name == want or container_name.startswith(want + "/")


def parse_go_bool(text: str) -> bool | None:
    """Go ``strconv.ParseBool``; ``None`` for anything else."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def clean_container_name(name: str) -> str:
    """Go ``path.Join("/", name)``: absolute, no empty, ``.`` or ``..`` elements, no trailing slash."""
    parts: list[str] = []
    for p in name.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if parts:
                parts.pop()
            continue
        parts.append(p)
    return "/" + "/".join(parts)


def _parse_max_events(text: str) -> int:
    # Go strconv.Atoi: optional sign, ASCII digits, within int64.
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not body.isascii() or not body.isdigit():
        raise BadRequest("max_events", f"{text!r} is not an integer")
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise BadRequest("max_events", f"{text!r} is out of range")
    return value


def _parse_time_param(param: str, text: str) -> int:
    try:
        return parse_time(text)
    except ValueError:
        raise BadRequest(param, f"{text!r} is not an RFC 3339 time (e.g. 2026-07-20T21:25:01Z)") from None


def parse_events_request(query: Mapping[str, str], name: str) -> EventsRequest:
    """Build the request from the first value of each query parameter and the container ``name``.

    Raises :class:`BadRequest` (naming the parameter) for a malformed ``max_events`` or time, or a
    time given with ``stream=true``.
    """

    def flag(param: str) -> bool | None:
        raw = query.get(param)
        return None if raw is None else parse_go_bool(raw)

    stream = flag("stream") is True
    include_sub = flag("subcontainers") is True
    if flag("all_events") is True:
        types = frozenset(ALL_EVENT_TYPES)
    else:
        types = frozenset(t for p, t in TYPE_PARAMS.items() if flag(p) is True)

    max_events = DEFAULT_MAX_EVENTS
    raw_max = query.get("max_events")
    if raw_max:
        max_events = _parse_max_events(raw_max)

    bounds: dict[str, int] = {}
    for param in ("start_time", "end_time"):
        raw = query.get(param)
        if not raw:
            continue
        if stream:
            # cAdvisor WatchEvents: "for a call to watch, request.StartTime and request.EndTime must be uninitialized"
            raise BadRequest(param, "a time bound cannot be combined with stream=true")
        bounds[param] = _parse_time_param(param, raw)

    return EventsRequest(
        container_name=clean_container_name(name),
        event_types=types,
        include_subcontainers=include_sub,
        max_events=max_events,
        start_ns=bounds.get("start_time"),
        end_ns=bounds.get("end_time"),
        stream=stream,
    )
