"""The Go-JSON encoder: field order, omitempty, time format, escaping."""

from __future__ import annotations

import orjson
import pytest

from pycadvisor.model.codec import dumps, format_time, parse_time
from pycadvisor.model.container import (
    ContainerInfo,
    ContainerSpec,
    ContainerStats,
    CpuStats,
    MemorySpec,
    NetworkStats,
)


def test_time_format_trims_zeros_like_go() -> None:
    assert format_time(0) == "0001-01-01T00:00:00Z"
    assert format_time(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert format_time(1_700_000_000_500_000_000) == "2023-11-14T22:13:20.5Z"
    assert format_time(1_700_000_000_123456789) == "2023-11-14T22:13:20.123456789Z"


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2023-11-14T22:13:20Z", 1_700_000_000_000_000_000),
        ("2023-11-14T22:13:20.5Z", 1_700_000_000_500_000_000),
        ("2023-11-14T23:13:20.000000001+01:00", 1_700_000_000_000_000_001),
    ],
)
def test_parse_time(text: str, ns: int) -> None:
    assert parse_time(text) == ns


@pytest.mark.parametrize("bad", ["", "yesterday", "2023-11-14", "2023-11-14T22:13:20"])
def test_parse_time_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_time(bad)


def test_container_info_shape() -> None:
    info = ContainerInfo(
        name="/a<b>&c",
        spec=ContainerSpec(has_memory=True, memory=MemorySpec(limit=1024)),
        stats=[ContainerStats(timestamp=1_700_000_000_000_000_000, cpu=CpuStats(), network=NetworkStats())],
    )
    raw = dumps(info)
    assert b"\\u003c" in raw and b"\\u0026" in raw and b"<" not in raw
    doc = orjson.loads(raw)
    assert list(doc) == ["name", "spec", "stats"]  # id, aliases, namespace, subcontainers omitted when empty
    assert doc["spec"]["memory"] == {"limit": 1024}
    assert doc["spec"]["creation_time"] == "0001-01-01T00:00:00Z"
    stat = doc["stats"][0]
    assert list(stat)[:3] == ["timestamp", "cpu", "network"]
    assert "memory" not in stat  # not collected -> omitted, never a fake zero
    assert list(stat["network"]["tcp"]) == [
        "Established", "SynSent", "SynRecv", "FinWait1", "FinWait2", "TimeWait",
        "Close", "CloseWait", "LastAck", "Listen", "Closing",
    ]  # fmt: skip
    assert stat["cpu"]["psi"]["some"]["avg10"] == 0 and b'"avg10":0,' in raw  # Go prints 0, not 0.0
    assert stat["task_stats"] == {
        "nr_sleeping": 0, "nr_running": 0, "nr_stopped": 0, "nr_uninterruptible": 0, "nr_io_wait": 0,
    }  # fmt: skip
    assert stat["resctrl"] == {} and stat["health"] == {"status": ""}


def test_map_keys_sorted_as_strings() -> None:
    from pycadvisor.model.container import MemoryNumaStats

    raw = dumps(MemoryNumaStats(file={10: 1, 2: 5}))
    assert raw == b'{"file":{"10":1,"2":5}}'
