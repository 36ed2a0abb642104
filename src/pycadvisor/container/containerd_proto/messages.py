"""containerd API messages: only the fields pycadvisor reads; unknown fields are skipped.

Field numbers come from containerd's ``api/services/containers/v1/containers.proto``,
``api/services/tasks/v1/tasks.proto``, ``api/types/task/task.proto``,
``api/services/version/v1/version.proto``, ``api/services/events/v1/events.proto``,
``api/events/task.proto`` and ``api/events/container.proto`` (unchanged from 1.0 to 2.x).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol, Self

from pycadvisor.container.containerd_proto.wire import (
    LENGTH,
    VARINT,
    as_int64,
    field_string,
    iter_fields,
)


class Encodable(Protocol):
    def to_bytes(self) -> bytes: ...


class Decodable(Protocol):
    @classmethod
    def from_bytes(cls, data: bytes) -> Self: ...


def _str(value: int | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


def _bytes(value: int | bytes) -> bytes:
    return value if isinstance(value, bytes) else b""


def _int(value: int | bytes) -> int:
    return value if isinstance(value, int) else 0


def timestamp_ns(data: bytes) -> int | None:
    """``google.protobuf.Timestamp {int64 seconds = 1; int32 nanos = 2}`` as ns since the epoch; None if zero."""
    seconds = nanos = 0
    for number, wt, value in iter_fields(data):
        if number == 1 and wt == VARINT:
            seconds = as_int64(_int(value))
        elif number == 2 and wt == VARINT:
            nanos = as_int64(_int(value))
    ns = seconds * 1_000_000_000 + nanos
    return ns if ns > 0 else None


def _map_entry(data: bytes) -> tuple[str, str]:
    """A ``map<string, string>`` entry: ``{key = 1; value = 2}``."""
    key = val = ""
    for number, wt, value in iter_fields(data):
        if number == 1 and wt == LENGTH:
            key = _str(value)
        elif number == 2 and wt == LENGTH:
            val = _str(value)
    return key, val


@dataclass(slots=True, kw_only=True)
class AnyMessage:
    """``google.protobuf.Any {string type_url = 1; bytes value = 2}``."""

    type_url: str = ""
    value: bytes = b""

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        out = cls()
        for number, wt, value in iter_fields(data):
            if number == 1 and wt == LENGTH:
                out.type_url = _str(value)
            elif number == 2 and wt == LENGTH:
                out.value = _bytes(value)
        return out


# ---------------------------------------------------------------- containers.v1


@dataclass(slots=True, kw_only=True)
class Container:
    """``containerd.services.containers.v1.Container``."""

    id: str = ""  # 1
    labels: dict[str, str] = field(default_factory=dict)  # 2
    image: str = ""  # 3
    runtime_name: str = ""  # 4: Runtime {string name = 1}
    spec: AnyMessage | None = None  # 5: the OCI runtime spec as JSON
    snapshotter: str = ""  # 6
    snapshot_key: str = ""  # 7
    created_at_ns: int | None = None  # 8
    updated_at_ns: int | None = None  # 9
    sandbox: str = ""  # 11

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        out = cls()
        for number, wt, value in iter_fields(data):
            if wt != LENGTH:
                continue
            raw = _bytes(value)
            if number == 1:
                out.id = _str(raw)
            elif number == 2:
                k, v = _map_entry(raw)
                out.labels[k] = v
            elif number == 3:
                out.image = _str(raw)
            elif number == 4:
                for n2, wt2, v2 in iter_fields(raw):
                    if n2 == 1 and wt2 == LENGTH:
                        out.runtime_name = _str(v2)
            elif number == 5:
                out.spec = AnyMessage.from_bytes(raw)
            elif number == 6:
                out.snapshotter = _str(raw)
            elif number == 7:
                out.snapshot_key = _str(raw)
            elif number == 8:
                out.created_at_ns = timestamp_ns(raw)
            elif number == 9:
                out.updated_at_ns = timestamp_ns(raw)
            elif number == 11:
                out.sandbox = _str(raw)
        return out


@dataclass(slots=True)
class GetContainerRequest:
    """``GetContainerRequest {string id = 1}``."""

    id: str
    METHOD: ClassVar[str] = "/containerd.services.containers.v1.Containers/Get"

    def to_bytes(self) -> bytes:
        return field_string(1, self.id)


@dataclass(slots=True, kw_only=True)
class GetContainerResponse:
    """``GetContainerResponse {Container container = 1}``."""

    container: Container = field(default_factory=Container)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        out = cls()
        for number, wt, value in iter_fields(data):
            if number == 1 and wt == LENGTH:
                out.container = Container.from_bytes(_bytes(value))
        return out


# ---------------------------------------------------------------- tasks.v1

# containerd.v1.types.Status
TASK_UNKNOWN, TASK_CREATED, TASK_RUNNING, TASK_STOPPED, TASK_PAUSED, TASK_PAUSING = range(6)


@dataclass(slots=True, kw_only=True)
class Process:
    """``containerd.v1.types.Process``."""

    container_id: str = ""  # 1
    id: str = ""  # 2
    pid: int = 0  # 3
    status: int = TASK_UNKNOWN  # 4
    exit_status: int = 0  # 9
    exited_at_ns: int | None = None  # 10

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        out = cls()
        for number, wt, value in iter_fields(data):
            if number == 1 and wt == LENGTH:
                out.container_id = _str(value)
            elif number == 2 and wt == LENGTH:
                out.id = _str(value)
            elif number == 3 and wt == VARINT:
                out.pid = _int(value)
            elif number == 4 and wt == VARINT:
                out.status = _int(value)
            elif number == 9 and wt == VARINT:
                out.exit_status = _int(value)
            elif number == 10 and wt == LENGTH:
                out.exited_at_ns = timestamp_ns(_bytes(value))
        return out


@dataclass(slots=True)
class GetTaskRequest:
    """``tasks.v1.GetRequest {string container_id = 1; string exec_id = 2}``."""

    container_id: str
    exec_id: str = ""
    METHOD: ClassVar[str] = "/containerd.services.tasks.v1.Tasks/Get"

    def to_bytes(self) -> bytes:
        return field_string(1, self.container_id) + field_string(2, self.exec_id)


@dataclass(slots=True, kw_only=True)
class GetTaskResponse:
    """``tasks.v1.GetResponse {containerd.v1.types.Process process = 1}``."""

    process: Process = field(default_factory=Process)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        out = cls()
        for number, wt, value in iter_fields(data):
            if number == 1 and wt == LENGTH:
                out.process = Process.from_bytes(_bytes(value))
        return out


# ---------------------------------------------------------------- version.v1


@dataclass(slots=True)
class Empty:
    """``google.protobuf.Empty``."""

    METHOD_VERSION: ClassVar[str] = "/containerd.services.version.v1.Version/Version"

    def to_bytes(self) -> bytes:
        return b""


@dataclass(slots=True, kw_only=True)
class VersionResponse:
    """``VersionResponse {string version = 1; string revision = 2}``."""

    version: str = ""
    revision: str = ""

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        out = cls()
        for number, wt, value in iter_fields(data):
            if number == 1 and wt == LENGTH:
                out.version = _str(value)
            elif number == 2 and wt == LENGTH:
                out.revision = _str(value)
        return out


# ---------------------------------------------------------------- events.v1


@dataclass(slots=True)
class SubscribeRequest:
    """``SubscribeRequest {repeated string filters = 1}`` (containerd filter syntax, any-of)."""

    filters: list[str]
    METHOD: ClassVar[str] = "/containerd.services.events.v1.Events/Subscribe"

    def to_bytes(self) -> bytes:
        return b"".join(field_string(1, f) for f in self.filters)


@dataclass(slots=True, kw_only=True)
class Envelope:
    """``Envelope {Timestamp timestamp = 1; string namespace = 2; string topic = 3; Any event = 4}``."""

    timestamp_ns: int | None = None
    namespace: str = ""
    topic: str = ""
    event: AnyMessage = field(default_factory=AnyMessage)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        out = cls()
        for number, wt, value in iter_fields(data):
            if wt != LENGTH:
                continue
            if number == 1:
                out.timestamp_ns = timestamp_ns(_bytes(value))
            elif number == 2:
                out.namespace = _str(value)
            elif number == 3:
                out.topic = _str(value)
            elif number == 4:
                out.event = AnyMessage.from_bytes(_bytes(value))
        return out


@dataclass(slots=True, kw_only=True)
class TaskEvent:
    """The fields shared by ``containerd.events.TaskStart``, ``TaskExit`` and ``TaskDelete``.

    TaskStart ``{container_id = 1; uint32 pid = 2}``; TaskExit ``{container_id = 1; id = 2;
    uint32 pid = 3; uint32 exit_status = 4}``; TaskDelete ``{container_id = 1; uint32 pid = 2;
    uint32 exit_status = 3; …; id = 5}``. ``id`` is the exec id; it equals the container id
    (TaskExit) or is empty (TaskDelete) for the task's init process.
    """

    container_id: str = ""
    id: str = ""
    pid: int = 0
    exit_status: int | None = None

    @classmethod
    def decode(cls, topic: str, data: bytes) -> Self:
        out = cls()
        for number, wt, value in iter_fields(data):
            if number == 1 and wt == LENGTH:
                out.container_id = _str(value)
            elif topic == "/tasks/start":
                if number == 2 and wt == VARINT:
                    out.pid = _int(value)
            elif topic == "/tasks/exit":
                if number == 2 and wt == LENGTH:
                    out.id = _str(value)
                elif number == 3 and wt == VARINT:
                    out.pid = _int(value)
                elif number == 4 and wt == VARINT:
                    out.exit_status = _int(value)
            elif topic == "/tasks/delete":
                if number == 2 and wt == VARINT:
                    out.pid = _int(value)
                elif number == 3 and wt == VARINT:
                    out.exit_status = _int(value)
                elif number == 5 and wt == LENGTH:
                    out.id = _str(value)
        if out.exit_status is None and topic in ("/tasks/exit", "/tasks/delete"):
            out.exit_status = 0  # proto3 omits zero
        return out

    @property
    def is_init(self) -> bool:
        return self.id in ("", self.container_id)


@dataclass(slots=True, kw_only=True)
class ContainerEvent:
    """``ContainerUpdate {id = 1; image = 2; map<string,string> labels = 3}`` and ``ContainerDelete {id = 1}``."""

    id: str = ""
    image: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        out = cls()
        for number, wt, value in iter_fields(data):
            if wt != LENGTH:
                continue
            if number == 1:
                out.id = _str(value)
            elif number == 2:
                out.image = _str(value)
            elif number == 3:
                k, v = _map_entry(_bytes(value))
                out.labels[k] = v
        return out
