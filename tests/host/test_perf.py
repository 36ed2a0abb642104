"""The perf events configuration (cAdvisor's perf/config.go format, its own test files) and the group read
(perf/collector_libpfm.go getPerfValues): pure, no counters opened."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from pycadvisor.host.paths import HostPaths
from pycadvisor.host.perf.collector import PerfManager
from pycadvisor.host.perf.config import PerfConfigError, load_config, parse_config
from pycadvisor.host.perf.events import TYPE_HARDWARE, TYPE_HW_CACHE, TYPE_SOFTWARE, lookup
from pycadvisor.host.perf.syscall import parse_group_read
from pycadvisor.model.codec import dumps
from pycadvisor.model.container import PerfStat
from pycadvisor.model.sample import SampleCodec, Token, to_array

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "perf"


def test_cadvisors_own_config_files_parse_into_groups_with_raw_events() -> None:
    cfg = load_config(str(FIXTURES / "cadvisor-perf.json"))
    first, second = cfg.core
    assert first.array and [e.name for e in first.events] == ["instructions", "instructions_retired"]
    assert (first.events[0].type, first.events[0].config) == (TYPE_HARDWARE, (1, 0, 0))
    assert (first.events[1].type, first.events[1].config) == (4, (0x5300C0, 0, 0))  # custom_events: raw
    assert not second.array and second.events[0].name == "cycles"
    assert [e.name for g in cfg.uncore for e in g.events] == [
        "cas_count_write", "uncore_imc_0/UNC_M_CAS_COUNT:RD", "uncore_ubox/UNC_U_EVENT_MSG",
    ]  # fmt: skip
    assert cfg.uncore[1].events[0].pmu_prefix == "uncore_imc_0"
    soft = load_config(str(FIXTURES / "cadvisor-perf-non-hardware.json"))
    assert [(e.name, e.type, e.config[0]) for g in soft.core for e in g.events] == [
        ("context-switches", TYPE_SOFTWARE, 3), ("cpu-migrations-custom", TYPE_SOFTWARE, 4),
    ]  # fmt: skip


def test_generic_names_as_perf_and_libpfm_spell_them() -> None:
    assert lookup("task-clock") == (TYPE_SOFTWARE, 1)
    assert lookup("perf::CONTEXT-SWITCHES") == (TYPE_SOFTWARE, 3)
    assert lookup("cs") == lookup("context-switches")
    assert lookup("LLC-load-misses") == (TYPE_HW_CACHE, 2 | 0 << 8 | 1 << 16)
    assert lookup("instructions_retired") is None


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ('{"core": {"events": ["task-clock", ["cs", "instructions_retired"]]}}', "core.events[1][1]",
         'unknown event "instructions_retired"'),
        ('{"core": {"events": ["x"], "custom_events": [{"type": 4, "config": ["0xZZ"], "name": "x"}]}}',
         "core.custom_events[0].config[0]", "not an unsigned integer"),
        ('{"core": {"events": ["x"], "custom_events": [{"type": 4, "config": [], "name": "x"}]}}',
         "core.custom_events[0].config", "1 to 3"),
        ('{"core": {"events": ["x"], "custom_events": [{"type": -1, "config": ["1"], "name": "x"}]}}',
         "core.custom_events[0].type", "uint32"),
        ('{"core": {"events": [7]}}', "core.events[0]", "event name"),
        ('{"core": {"events": []}}', "", "there are no events"),
        ('{"core": ', "", "not valid JSON"),
    ],
)  # fmt: skip
def test_a_bad_configuration_names_the_file_and_the_field(text: str, field: str, words: str) -> None:
    with pytest.raises(PerfConfigError) as e:
        parse_config(text, "/etc/perf.json")
    assert e.value.field == field
    assert str(e.value).startswith("/etc/perf.json: ") and words in str(e.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PerfConfigError, match=r"nope\.json: cannot read"):
        load_config(str(tmp_path / "nope.json"))


def _group(enabled: int, running: int, *values: int) -> bytes:
    return struct.pack(f"<3Q{2 * len(values)}Q", len(values), enabled, running, *(x for v in values for x in (v, 9)))


def test_group_values_are_scaled_by_enabled_over_running_time() -> None:
    # Multiplexed a third of the time: the counts are extrapolated to the whole enabled time.
    assert parse_group_read(_group(300, 100, 10, 33), ("a", "b")) == [("a", 30, 1 / 3), ("b", 99, 1 / 3)]
    # Never scheduled on that CPU (both times 0): ratio 1, counts as read.
    assert parse_group_read(_group(0, 0, 0, 0), ("a", "b")) == [("a", 0, 1.0), ("b", 0, 1.0)]
    with pytest.raises(ValueError, match="expected 72 for 3 events"):
        parse_group_read(_group(1, 1, 5, 6), ("a", "b", "c"))


def _uncore_manager(tmp_path: Path, uncore: object) -> PerfManager:
    config = tmp_path / "perf.json"
    config.write_text(json.dumps({"uncore": uncore}))
    return PerfManager(load_config(str(config)), HostPaths.under(str(FIXTURES)), cpus=[0, 28])


def test_uncore_events_count_on_every_pmu_their_prefix_names_encoded_from_sysfs(tmp_path: Path) -> None:
    m = _uncore_manager(
        tmp_path,
        {
            "events": [["uncore_imc/cas_count_read", "uncore_imc/cas_count_write"], "cas_raw"],
            "custom_events": [{"type": 24, "config": ["0x1234"], "name": "cas_raw"}],
        },
    )
    groups = m.uncore_groups()
    # One counting group per PMU the prefix matches, events encoded from events/ through format/.
    assert [[(u.pmu.name, u.name, u.config[0]) for u in g] for g in groups] == [
        [("uncore_imc_0", "uncore_imc/cas_count_read", 0x0304), ("uncore_imc_0", "uncore_imc/cas_count_write", 0x0C04)],
        [("uncore_imc_1", "uncore_imc/cas_count_read", 0x0304), ("uncore_imc_1", "uncore_imc/cas_count_write", 0x0C04)],
        [("uncore_cha_0", "cas_raw", 0x1234)],  # a raw event with a type: that PMU's
    ]  # fmt: skip
    assert groups[0][0].pmu.cpus == (0, 28) and m.sockets == {0: 0, 28: 1}


@pytest.mark.parametrize(
    ("uncore", "field", "words"),
    [
        ({"events": ["uncore_upi/txl_flits"]}, "uncore.events[0]", "has no PMU to count with"),
        ({"events": ["uncore_imc_0/UNC_M_CAS_COUNT:RD"]}, "uncore.events[0]", 'has no event "UNC_M_CAS_COUNT:RD"'),
        ({"events": ["x"], "custom_events": [{"type": 99, "config": ["1"], "name": "x"}]}, "uncore.events[0]",
         "no PMU with event type 0x63"),
        ({"events": [["uncore_imc_0/clockticks", "uncore_cha/clockticks"]]}, "uncore.events[0][0]", "same PMUs"),
    ],
)  # fmt: skip
def test_an_uncore_event_without_a_pmu_or_an_encoding_is_named(
    tmp_path: Path, uncore: object, field: str, words: str
) -> None:
    m = _uncore_manager(tmp_path, uncore)
    with pytest.raises(PerfConfigError) as e:
        m.uncore_groups()
    assert e.value.field == field and words in str(e.value)


def test_perf_stats_go_through_a_sample_unchanged_in_cadvisors_json_order() -> None:
    codec = SampleCodec()
    stats = [
        PerfStat(scaling_ratio=1.0, value=123, name="instructions", cpu=0),
        PerfStat(scaling_ratio=0.66666666666, value=321, name="instructions_retired", cpu=1),
    ]
    tokens: list[Token] = []
    vals = [1]
    codec.add_member("perf_stats", stats, tokens, vals)
    built = codec.build(codec.layout(tokens), to_array(vals))
    assert built.perf_stats == stats
    assert json.loads(dumps(built))["perf_stats"] == [
        {"scaling_ratio": 1, "value": 123, "name": "instructions", "cpu": 0},
        {"scaling_ratio": 0.66666666666, "value": 321, "name": "instructions_retired", "cpu": 1},
    ]
    assert list(json.loads(dumps(built))["perf_stats"][0]) == ["scaling_ratio", "value", "name", "cpu"]
