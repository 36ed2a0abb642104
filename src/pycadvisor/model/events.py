"""cAdvisor's container events (``info/v1`` ``Event``, ``EventData``), Go field order kept.

Wire shape (cAdvisor ``info/v1/container.go`` ``Event``): ``container_name, timestamp, event_type, event_data``;
``event_data`` is always present: ``{}``, ``{"oom": {"pid", "process_name", "constraint"}}`` (on
``oomKill``) or ``{"container_deletion": {"exit_code"}}`` (on ``containerDeletion``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from pycadvisor.model.base import opt, time_field


class EventType:
    """The ``event_type`` strings (Go ``info.EventType`` constants)."""

    OOM: Final = "oom"  # a process was OOM-killed; container = the killed task's cgroup
    OOM_KILL: Final = "oomKill"  # same kill; container = the cgroup whose limit was hit
    CONTAINER_CREATION: Final = "containerCreation"
    CONTAINER_DELETION: Final = "containerDeletion"


# In the order cAdvisor documents them; also the tie-break order of equal timestamps in queries.
ALL_EVENT_TYPES: Final[tuple[str, ...]] = (
    EventType.OOM,
    EventType.OOM_KILL,
    EventType.CONTAINER_CREATION,
    EventType.CONTAINER_DELETION,
)


@dataclass(slots=True, kw_only=True, frozen=True)
class OomKillEventData:
    pid: int = 0  # pid of the killed task; 0 when unknown (kill seen only through cgroup counters)
    process_name: str = ""  # the task's comm (15 chars at most); "" when unknown
    constraint: str = ""  # CONSTRAINT_NONE | CONSTRAINT_CPUSET | CONSTRAINT_MEMORY_POLICY | CONSTRAINT_MEMCG


@dataclass(slots=True, kw_only=True, frozen=True)
class ContainerDeletionEventData:
    exit_code: int = -1  # the runtime's exit code; -1 for raw cgroups or when the runtime did not say


@dataclass(slots=True, kw_only=True, frozen=True)
class EventData:
    """At most one member is set (Go pointers with ``omitempty``); an empty one prints ``{}``."""

    oom: OomKillEventData | None = opt()
    container_deletion: ContainerDeletionEventData | None = opt()


_NO_DATA: Final = EventData()


@dataclass(slots=True, kw_only=True, frozen=True)
class Event:
    container_name: str  # absolute cgroup name, e.g. "/docker/<id>"
    timestamp: int = time_field()  # ns since the epoch
    event_type: str  # one of EventType
    event_data: EventData = field(default=_NO_DATA)
