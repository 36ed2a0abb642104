"""The hand-written protobuf codec of the containerd messages (wire format per the protobuf encoding spec)."""

from __future__ import annotations

import pytest

from pycadvisor.container.containerd import event_filters, parse_envelope
from pycadvisor.container.containerd_proto.messages import (
    TASK_RUNNING,
    Container,
    ContainerEvent,
    Envelope,
    GetContainerRequest,
    GetContainerResponse,
    GetTaskRequest,
    GetTaskResponse,
    SubscribeRequest,
    TaskEvent,
    VersionResponse,
    timestamp_ns,
)
from pycadvisor.container.containerd_proto.wire import (
    FIXED32,
    FIXED64,
    WireError,
    encode_varint,
    field_bytes,
    field_string,
    field_varint,
    iter_fields,
    read_varint,
)


def msg(number: int, payload: bytes) -> bytes:
    return field_bytes(number, payload)


def timestamp(seconds: int, nanos: int) -> bytes:
    return field_varint(1, seconds) + field_varint(2, nanos)


def entry(key: str, value: str) -> bytes:
    return field_string(1, key) + field_string(2, value)


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**31, 2**63 - 1, 2**64 - 1])
def test_varints_round_trip(value: int) -> None:
    data = encode_varint(value)
    assert read_varint(data, 0) == (value, len(data))


def test_known_encodings() -> None:
    # The examples of the protobuf encoding guide.
    assert encode_varint(150) == b"\x96\x01"
    assert field_varint(1, 150) == b"\x08\x96\x01"
    assert field_string(2, "testing") == b"\x12\x07testing"
    assert encode_varint(-1) == b"\xff" * 9 + b"\x01"  # int64 -1: ten bytes
    assert field_string(1, "") == b""  # proto3 omits defaults


def test_truncated_and_malformed_input_is_rejected() -> None:
    with pytest.raises(WireError):
        list(iter_fields(b"\x12\x07test"))  # 7 bytes announced, 4 given
    with pytest.raises(WireError):
        list(iter_fields(b"\x08\x96"))  # varint cut short
    with pytest.raises(WireError):
        list(iter_fields(b"\x0b"))  # wire type 3 (start group)
    with pytest.raises(WireError):
        list(iter_fields(b"\x00\x01"))  # field number 0


def test_requests_encode_as_containerd_expects() -> None:
    assert GetContainerRequest("abc").to_bytes() == b"\x0a\x03abc"
    assert GetTaskRequest("abc").to_bytes() == b"\x0a\x03abc"
    assert SubscribeRequest(["a", "bc"]).to_bytes() == b"\x0a\x01a\x0a\x02bc"


def test_container_decodes_labels_image_spec_times_and_skips_unknown_fields() -> None:
    spec = b'{"ociVersion":"1.0.2","process":{"env":["PATH=/bin","Test_Var=1"]}}'
    body = (
        field_string(1, "c1")
        + msg(2, entry("io.kubernetes.pod.name", "web-0"))
        + msg(2, entry("io.cri-containerd.kind", "container"))
        + field_string(3, "docker.io/library/nginx:1.25")
        + msg(4, field_string(1, "io.containerd.runc.v2") + msg(2, field_string(1, "containerd.runc.v1.Options")))
        + msg(5, field_string(1, "types.containerd.io/opencontainers/runtime-spec/1/Spec") + field_bytes(2, spec))
        + field_string(6, "overlayfs")
        + field_string(7, "c1")
        + msg(8, timestamp(1_700_000_000, 123_456_789))
        + msg(9, timestamp(1_700_000_100, 0))
        + encode_varint(12 << 3 | FIXED32)
        + b"\x01\x02\x03\x04"  # a field from a future containerd
        + encode_varint(13 << 3 | FIXED64)
        + b"\x00" * 8
        + field_string(11, "sandbox-1")
    )
    c = GetContainerResponse.from_bytes(msg(1, body)).container
    assert c.id == "c1"
    assert c.labels == {"io.kubernetes.pod.name": "web-0", "io.cri-containerd.kind": "container"}
    assert c.image == "docker.io/library/nginx:1.25"
    assert c.runtime_name == "io.containerd.runc.v2"
    assert c.spec is not None and c.spec.value == spec
    assert c.snapshotter == "overlayfs" and c.snapshot_key == "c1"
    assert c.created_at_ns == 1_700_000_000_123_456_789
    assert c.updated_at_ns == 1_700_000_100_000_000_000
    assert c.sandbox == "sandbox-1"


def test_empty_messages_decode_to_defaults() -> None:
    assert Container.from_bytes(b"") == Container()
    assert GetTaskResponse.from_bytes(b"").process.pid == 0
    assert timestamp_ns(b"") is None


def test_task_process_and_version() -> None:
    process = (
        field_string(1, "c1")
        + field_varint(3, 4242)
        + field_varint(4, TASK_RUNNING)
        + field_string(6, "/run/stdout")
        + field_varint(9, 0)
    )
    p = GetTaskResponse.from_bytes(msg(1, process)).process
    assert (p.container_id, p.pid, p.status, p.exit_status) == ("c1", 4242, TASK_RUNNING, 0)
    v = VersionResponse.from_bytes(field_string(1, "1.6.20~ds1") + field_string(2, "abc"))
    assert (v.version, v.revision) == ("1.6.20~ds1", "abc")


def any_of(type_url: str, value: bytes) -> bytes:
    return field_string(1, type_url) + field_bytes(2, value)


def envelope(topic: str, event: bytes, ns: str = "k8s.io") -> Envelope:
    data = (
        msg(1, timestamp(1_700_000_000, 5))
        + field_string(2, ns)
        + field_string(3, topic)
        + msg(4, any_of("containerd.events." + topic, event))
    )
    return Envelope.from_bytes(data)


def test_task_events_of_init_processes_carry_pid_and_exit_code() -> None:
    start = parse_envelope(envelope("/tasks/start", field_string(1, "c1") + field_varint(2, 77)))
    assert start is not None and (start.topic, start.id, start.pid) == ("/tasks/start", "c1", 77)
    assert start.time_ns == 1_700_000_000_000_000_005

    exit_ = parse_envelope(
        envelope(
            "/tasks/exit", field_string(1, "c1") + field_string(2, "c1") + field_varint(3, 77) + field_varint(4, 137)
        )
    )
    assert exit_ is not None and (exit_.id, exit_.exit_code) == ("c1", 137)

    # proto3 drops a zero exit status: still an exit, with code 0.
    clean = parse_envelope(envelope("/tasks/exit", field_string(1, "c1") + field_string(2, "c1")))
    assert clean is not None and clean.exit_code == 0

    # An exec'd process exiting (a probe) is not the container's exit.
    assert parse_envelope(envelope("/tasks/exit", field_string(1, "c1") + field_string(2, "probe-1"))) is None

    delete = parse_envelope(envelope("/tasks/delete", field_string(1, "c1") + field_varint(2, 77) + field_varint(3, 2)))
    assert delete is not None and delete.exit_code == 2

    assert parse_envelope(envelope("/images/create", field_string(1, "img"))) is None


def test_container_events() -> None:
    update = parse_envelope(
        envelope("/containers/update", field_string(1, "c1") + field_string(2, "img:2") + msg(3, entry("a", "b")))
    )
    assert update is not None and update.labels == {"a": "b"} and update.image == "img:2"
    delete = parse_envelope(envelope("/containers/delete", field_string(1, "c1")))
    assert delete is not None and delete.id == "c1" and delete.labels is None
    assert ContainerEvent.from_bytes(b"").labels == {}
    assert TaskEvent.decode("/tasks/start", b"").is_init


def test_event_filters_name_the_namespace_and_topics() -> None:
    filters = event_filters("k8s.io")
    assert 'namespace=="k8s.io",topic=="/tasks/exit"' in filters
    assert all(f.startswith('namespace=="k8s.io",') for f in filters)
