"""--enable_metrics / --disable_metrics parsing, with cAdvisor's names, defaults and error text."""

from __future__ import annotations

import pytest

from pycadvisor.metrics.sets import (
    ALL_METRIC_SETS,
    DEFAULT_DISABLE_METRICS_FLAG,
    MetricSets,
    parse_metric_set,
)

DEFAULT_OFF = {
    "memory_numa", "tcp", "udp", "advtcp", "sched", "process", "hugetlb",
    "referenced_memory", "cpu_topology", "resctrl", "cpuset",
}  # fmt: skip


def test_the_full_list_is_cadvisors() -> None:
    assert set(ALL_METRIC_SETS) == {
        "cpu", "sched", "percpu", "memory", "memory_numa", "cpuLoad", "diskIO", "disk", "network",
        "tcp", "advtcp", "udp", "app", "process", "hugetlb", "perf_event", "referenced_memory",
        "cpu_topology", "resctrl", "cpuset", "oom_event", "pressure",
    }  # fmt: skip
    assert len(ALL_METRIC_SETS) == 22


def test_defaults_disable_cadvisors_default_disabled_sets() -> None:
    default = MetricSets.default()
    assert default.enabled == set(ALL_METRIC_SETS) - DEFAULT_OFF
    assert MetricSets.from_flags() == default
    assert set(DEFAULT_DISABLE_METRICS_FLAG.split(",")) == DEFAULT_OFF


def test_enable_metrics_replaces_the_whole_set() -> None:
    s = MetricSets.from_flags("cpu,memory,tcp", "cpu")
    assert s.enabled == {"cpu", "memory", "tcp"}
    assert s.has("tcp") and not s.has("network")


def test_disable_metrics_removes_from_all() -> None:
    s = MetricSets.from_flags("", "network,disk")
    assert s.enabled == set(ALL_METRIC_SETS) - {"network", "disk"}
    assert "tcp" in s  # an explicit disable list replaces the default one
    assert MetricSets.from_flags("", "").enabled == set(ALL_METRIC_SETS)


@pytest.mark.parametrize("bad", ["gpu", "cpu,gpu", "cpu,", "cpu, memory", "CPU"])
def test_unknown_names_fail_with_cadvisors_message(bad: str) -> None:
    name = next(n for n in bad.split(",") if n not in ALL_METRIC_SETS)
    with pytest.raises(ValueError) as e:
        parse_metric_set(bad)
    assert str(e.value) == f'unsupported metric "{name}" specified'
    with pytest.raises(ValueError, match="unsupported metric"):
        MetricSets.from_flags(bad)
    with pytest.raises(ValueError, match="unsupported metric"):
        MetricSets.from_flags("", bad)


def test_empty_value_is_the_empty_set() -> None:
    assert parse_metric_set("") == frozenset()
    assert MetricSets.of(["cpu", "percpu"]).flag_value() == "cpu,percpu"
