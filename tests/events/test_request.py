"""Events query parsing, as cAdvisor's getEventRequest reads it (plus 400s for bad input)."""

from __future__ import annotations

import pytest

from pycadvisor.errors import BadRequest
from pycadvisor.events.request import EventsRequest, clean_container_name, parse_events_request, parse_go_bool
from pycadvisor.model.events import ALL_EVENT_TYPES


def test_defaults_select_nothing() -> None:
    req = parse_events_request({}, "/")
    assert req == EventsRequest(container_name="/", event_types=frozenset(), max_events=10)


def test_cadvisor_versions_test_case() -> None:
    # cmd/internal/api/versions_test.go: oom_events=true&stream=false&max_events=20
    req = parse_events_request({"oom_events": "true", "stream": "false", "max_events": "20"}, "/")
    assert req.event_types == {"oom"}
    assert req.max_events == 20
    assert not req.stream and not req.include_subcontainers


@pytest.mark.parametrize("text", ["1", "t", "T", "TRUE", "true", "True"])
def test_go_parse_bool_true(text: str) -> None:
    assert parse_go_bool(text) is True
    assert parse_events_request({"deletion_events": text}, "/").event_types == {"containerDeletion"}


@pytest.mark.parametrize("text", ["0", "f", "F", "FALSE", "false", "False"])
def test_go_parse_bool_false(text: str) -> None:
    assert parse_go_bool(text) is False


@pytest.mark.parametrize("text", ["yes", "on", "tRuE", "", " true"])
def test_invalid_booleans_are_ignored(text: str) -> None:
    assert parse_go_bool(text) is None
    req = parse_events_request({"creation_events": text, "subcontainers": text, "stream": text}, "/x")
    assert req.event_types == frozenset() and not req.include_subcontainers and not req.stream


def test_all_events_selects_every_type_whatever_the_others_say() -> None:
    req = parse_events_request({"all_events": "true", "oom_events": "false"}, "/")
    assert req.event_types == frozenset(ALL_EVENT_TYPES)


def test_each_type_flag() -> None:
    q = {"oom_events": "1", "oom_kill_events": "1", "creation_events": "1", "deletion_events": "0"}
    assert parse_events_request(q, "/").event_types == {"oom", "oomKill", "containerCreation"}


def test_times_are_rfc3339_and_inclusive_bounds() -> None:
    req = parse_events_request(
        {"start_time": "2026-07-20T21:25:01Z", "end_time": "2026-07-20T23:25:01.5+02:00", "oom_events": "true"}, "/"
    )
    assert req.start_ns == 1_784_582_701_000_000_000
    assert req.end_ns == 1_784_582_701_500_000_000
    assert req.matches("oom", "/", req.start_ns) and req.matches("oom", "/", req.end_ns)
    assert not req.matches("oom", "/", req.end_ns + 1)


@pytest.mark.parametrize("param", ["start_time", "end_time"])
@pytest.mark.parametrize("value", ["1700000000", "yesterday", "2026-07-20", "2026-07-20T21:25:01"])
def test_unparsable_time_names_the_parameter(param: str, value: str) -> None:
    with pytest.raises(BadRequest) as ei:
        parse_events_request({param: value}, "/")
    assert ei.value.param == param
    assert param in str(ei.value)


@pytest.mark.parametrize("param", ["start_time", "end_time"])
def test_time_with_stream_is_refused(param: str) -> None:
    with pytest.raises(BadRequest) as ei:
        parse_events_request({"stream": "true", param: "2026-07-20T21:25:01Z"}, "/")
    assert ei.value.param == param
    assert "stream" in str(ei.value)


@pytest.mark.parametrize("value", ["ten", "1.5", "0x10", " 5", "99999999999999999999"])
def test_bad_max_events(value: str) -> None:
    with pytest.raises(BadRequest) as ei:
        parse_events_request({"max_events": value}, "/")
    assert ei.value.param == "max_events"


@pytest.mark.parametrize(("value", "want"), [("-1", -1), ("+7", 7), ("0", 0), ("", 10)])
def test_max_events_values(value: str, want: int) -> None:
    assert parse_events_request({"max_events": value}, "/").max_events == want


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("", "/"),
        ("/", "/"),
        ("docker/abc", "/docker/abc"),
        ("/docker/abc/", "/docker/abc"),
        ("//a//b/./c/../d", "/a/b/d"),
    ],
)
def test_container_name_is_cleaned_like_go_path_join(raw: str, clean: str) -> None:
    assert clean_container_name(raw) == clean
    assert parse_events_request({}, raw).container_name == clean


def test_subcontainer_matching() -> None:
    req = parse_events_request({"subcontainers": "true", "all_events": "1"}, "/a")
    assert req.matches_container("/a") and req.matches_container("/a/b")
    assert not req.matches_container("/ab") and not req.matches_container("/")
    exact = parse_events_request({"all_events": "1"}, "/a")
    assert exact.matches_container("/a") and not exact.matches_container("/a/b")
    root = parse_events_request({"subcontainers": "true"}, "/")
    assert root.matches_container("/anything/at/all") and root.matches_container("/")
    assert not parse_events_request({}, "/").matches_container("/a")
