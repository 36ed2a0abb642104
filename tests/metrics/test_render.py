"""What a scraper sees: families, samples, values, timestamps, gating and failure reporting."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from metrics.expo_fixtures import (
    CONTAINERD_ID,
    DOCKER_ID,
    SAMPLE_TIME,
    SCRAPE_TIME,
    OwnProcess,
    docker_snapshot,
    fixture_snapshots,
    parse_series,
    root_snapshot,
    slice_snapshot,
)
from pycadvisor.metrics.catalog import all_container_metrics
from pycadvisor.metrics.options import ExpositionOptions
from pycadvisor.metrics.render import ExpositionRenderer
from pycadvisor.metrics.sets import ALL_METRIC_SETS, MetricSets
from pycadvisor.model.container import FsStats

DOCKER_NAME = f"/system.slice/docker-{DOCKER_ID}.scope"
CONTAINERD_NAME = f"/kubepods/besteffort/pod1234/{CONTAINERD_ID}"
ALL = MetricSets.of(ALL_METRIC_SETS)


def _by_id(text: str, family: str) -> dict[str, list[tuple[dict[str, str], float, int | None]]]:
    out: dict[str, list[tuple[dict[str, str], float, int | None]]] = {}
    for row in parse_series(text).get(family, []):
        out.setdefault(row[0]["id"], []).append(row)
    return out


def _families(text: str) -> list[str]:
    return [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]


def test_families_are_sorted_each_with_help_and_type_and_never_empty(render: Callable[..., str]) -> None:
    text = render(metric_sets=ALL)
    fams = _families(text)
    assert fams == sorted(fams)
    assert len(fams) == len(set(fams))
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert lines[i + 1].startswith(f"# TYPE {name} ")
            assert lines[i + 2].startswith(name)  # at least one sample follows
    assert text.endswith("\n")


def test_help_and_type_are_cadvisors(render: Callable[..., str]) -> None:
    text = render(metric_sets=ALL)
    for needle in (
        "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.\n"
        "# TYPE container_cpu_usage_seconds_total counter\n",
        "# HELP container_memory_working_set_bytes Current working set in bytes.\n"
        "# TYPE container_memory_working_set_bytes gauge\n",
        "# HELP container_spec_memory_limit_bytes Memory limit for the container.\n",
        "# HELP machine_node_hugepages_count Numer of hugepages assigned to NUMA node.\n",
        "# HELP cadvisor_version_info A metric with a constant '1' value labeled by kernel version, OS version, "
        "docker version, cadvisor version & cadvisor revision.\n",
        "# HELP container_scrape_error 1 if there was an error while getting container metrics, 0 otherwise\n",
        "# HELP machine_scrape_error 1 if there was an error while getting machine metrics, 0 otherwise.\n",
    ):
        assert needle in text


def test_series_are_sorted_by_label_values(render: Callable[..., str]) -> None:
    text = render(metric_sets=ALL)
    for fam, rows in parse_series(text).items():
        keys = [tuple(v for _, v in sorted(labels.items())) for labels, _, _ in rows]
        assert keys == sorted(keys), fam
        assert len(keys) == len(set(keys)), fam


def test_v1_per_cpu_usage_and_v2_total_only(render: Callable[..., str]) -> None:
    usage = _by_id(render(), "container_cpu_usage_seconds_total")
    assert {r[0]["cpu"]: r[1] for r in usage["/"]} == {"cpu00": 2.0, "cpu01": 3.0}
    assert {r[0]["cpu"]: r[1] for r in usage["/system.slice"]} == {"cpu01": 9.0}  # zero cpu00 skipped
    assert {r[0]["cpu"]: r[1] for r in usage[DOCKER_NAME]} == {"total": 0.081234}
    assert CONTAINERD_NAME not in usage  # no sample yet
    without_percpu = _by_id(render(metric_sets=MetricSets.of(["cpu"])), "container_cpu_usage_seconds_total")
    assert {r[0]["cpu"]: r[1] for r in without_percpu["/"]} == {"total": 5.0}


def test_container_without_a_sample_gets_only_spec_families(render: Callable[..., str]) -> None:
    series = parse_series(render(metric_sets=ALL))
    fams_with = {f for f, rows in series.items() if any(r[0].get("id") == CONTAINERD_NAME for r in rows)}
    assert fams_with == {
        "container_creation_time_seconds",
        "container_start_time_seconds",
        "container_spec_cpu_period",
        "container_spec_cpu_shares",
        "container_spec_memory_limit_bytes",
        "container_spec_memory_reservation_limit_bytes",
        "container_spec_memory_swap_limit_bytes",
    }


def test_samples_carry_the_sample_time_in_ms_and_spec_families_none(render: Callable[..., str]) -> None:
    text = render()
    (row,) = _by_id(text, "container_memory_usage_bytes")["/"]
    assert row[2] == SAMPLE_TIME // 1_000_000  # truncated, not rounded
    (row,) = _by_id(text, "container_memory_usage_bytes")[DOCKER_NAME]
    assert row[2] == SAMPLE_TIME // 1_000_000 + 250
    for fam in ("container_spec_cpu_shares", "container_start_time_seconds", "container_creation_time_seconds"):
        assert all(ts is None for _, _, ts in parse_series(text)[fam])
    (seen,) = _by_id(text, "container_last_seen")["/"]
    assert seen[1] == SCRAPE_TIME // 1_000_000_000 and seen[2] == SCRAPE_TIME // 1_000_000
    machine = parse_series(text)["machine_memory_bytes"]
    assert machine == [
        ({"boot_id": "boot-id-test", "machine_id": "machine-id-test", "system_uuid": "system-uuid-test"},
         25_769_803_776.0, 1_395_066_363_000),
    ]  # fmt: skip


def test_spec_values(render: Callable[..., str]) -> None:
    text = render()
    start = _by_id(text, "container_start_time_seconds")
    assert start[DOCKER_NAME][0][1] == 1_395_066_001  # runtime start time
    assert start["/"][0][1] == 1_395_000_000  # falls back to creation time
    assert _by_id(text, "container_creation_time_seconds")[DOCKER_NAME][0][1] == 1_395_066_000
    quota = _by_id(text, "container_spec_cpu_quota")
    assert list(quota) == [DOCKER_NAME] and quota[DOCKER_NAME][0][1] == 50_000
    limits = _by_id(text, "container_spec_memory_limit_bytes")
    assert limits[DOCKER_NAME][0][1] == 536_870_912
    assert limits["/system.slice"][0][1] == 0  # "max" (2^64-1) is exported as 0
    swap = _by_id(text, "container_spec_memory_swap_limit_bytes")
    assert swap["/"][0][1] == 0  # v1 unlimited 9223372036854771712 > 2^62


def test_cfs_families_only_for_containers_with_a_quota(render: Callable[..., str]) -> None:
    text = render()
    for fam in ("container_cpu_cfs_periods_total", "container_cpu_cfs_throttled_seconds_total"):
        assert list(_by_id(text, fam)) == [DOCKER_NAME]
    assert _by_id(text, "container_cpu_cfs_throttled_seconds_total")[DOCKER_NAME][0][1] == 0.012


def test_health_oom_and_pressure(render: Callable[..., str]) -> None:
    text = render()
    health = {cid: rows[0][1] for cid, rows in _by_id(text, "container_health_state").items()}
    assert health == {"/": -1, "/system.slice": 0, DOCKER_NAME: 1}
    oom = {cid: rows[0][1] for cid, rows in _by_id(text, "container_oom_events_total").items()}
    assert oom == {"/": 0, "/system.slice": 0, DOCKER_NAME: 2}
    io = {cid: rows[0][1] for cid, rows in _by_id(text, "container_pressure_io_waiting_seconds_total").items()}
    assert io == {"/": 0, DOCKER_NAME: 0.0022}  # the slice has no diskio member: no series


def test_diskio_per_device_and_per_filesystem(render: Callable[..., str]) -> None:
    text = render()
    reads = {(r[0]["id"], r[0]["device"]): r[1] for r in parse_series(text)["container_fs_reads_total"]}
    assert reads == {("/", "/dev/vda"): 202, ("/", "/dev/vda1"): 24, (DOCKER_NAME, "/dev/vda"): 1,
                     (DOCKER_NAME, "/dev/vda1"): 0}  # fmt: skip
    # ms / 1e9 for the filesystem branch: cAdvisor's unit bug, kept.
    read_s = {(r[0]["id"], r[0]["device"]): r[1] for r in parse_series(text)["container_fs_read_seconds_total"]}
    assert read_s[("/", "/dev/vda1")] == 27 / 1e9
    blkio = parse_series(text)["container_blkio_device_usage_total"]
    root_ops = {r[0]["operation"]: r[1] for r in blkio if r[0]["id"] == "/"}
    assert root_ops == {"Async": 100, "Discard": 101, "Read": 102, "Sync": 103, "Total": 104, "Write": 105}
    assert {(r[0]["major"], r[0]["minor"]) for r in blkio} == {("252", "0")}
    cost = _by_id(text, "container_fs_io_cost_usage_seconds_total")
    assert cost[DOCKER_NAME][0][1] == 1.5 and "/" not in cost


def test_default_sets_leave_out_cadvisors_default_disabled_families(render: Callable[..., str]) -> None:
    fams = set(_families(render()))
    for off in (
        "container_network_tcp_usage_total",
        "container_network_udp_usage_total",
        "container_network_advance_tcp_stats_total",
        "container_cpu_schedstat_run_seconds_total",
        "container_processes",
        "container_hugetlb_usage_bytes",
        "container_referenced_bytes",
        "container_memory_bandwidth_bytes",
        "container_memory_migrate",
        "container_memory_numa_pages",
        "machine_cpu_cache_capacity_bytes",
        "machine_node_distance",
    ):
        assert off not in fams
    for on in (
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "container_network_receive_bytes_total",
        "container_fs_usage_bytes",
        "container_fs_reads_total",
        "container_tasks_state",
        "container_perf_events_total",
        "container_oom_events_total",
        "container_pressure_cpu_waiting_seconds_total",
        "nginx_requests_total",
        "machine_cpu_cores",
        "cadvisor_version_info",
    ):
        assert on in fams


def test_enable_metrics_gates_families(render: Callable[..., str]) -> None:
    fams = set(_families(render(metric_sets=MetricSets.from_flags("memory"))))
    container_fams = {f for f in fams if f.startswith("container_")}
    assert "container_memory_usage_bytes" in container_fams
    assert not {f for f in container_fams if f.startswith(("container_cpu", "container_fs", "container_network"))}
    assert {"container_last_seen", "container_health_state", "container_start_time_seconds"} <= container_fams
    assert "nginx_requests_total" not in fams  # app set off


def test_every_registered_family_can_appear(render: Callable[..., str]) -> None:
    fams = set(_families(render(metric_sets=ALL)))
    missing = {s.name for s in all_container_metrics()} - fams
    assert missing == set()


def test_custom_metrics_become_gauges_with_app_labels_and_float_values(render: Callable[..., str]) -> None:
    rows = parse_series(render())["nginx_requests_total"]
    assert {(r[0]["app_path"], r[0]["app_code"], r[1], r[2]) for r in rows} == {
        ("/", "200", 1.5, None),
        ("/login", "500", 2.0, None),
    }
    assert all(r[0]["name"] == "web-1" for r in rows)


def test_cadvisor_custom_metrics_lines_and_an_int_metric(render: Callable[..., str]) -> None:
    """cAdvisor's own fake custom metrics render as in its golden file; a generic collector's "int" metric shows its
    int value (cAdvisor exports its float value, always 0)."""
    text = render()
    assert "# HELP container_custom_app_metric_1 Custom application metric.\n" in text
    assert "# TYPE container_custom_app_metric_1 gauge\n" in text
    series = parse_series(text)
    rows = series["container_custom_app_metric_1"]
    assert {(r[0]["app_test_label"], r[0]["app_test_label_2"], r[1]) for r in rows} == {
        ("1_1", "2_1", 1.1),
        ("1_2", "2_2", 1.2),
    }
    assert [(r[0]["app_test_label"], r[1]) for r in series["container_custom_app_metric_3"]] == [("test_value", 3.0)]
    assert [r[1] for r in series["nginx_active_connections"]] == [7.0]


def test_scrape_errors_are_reported_and_the_rest_still_served(render: Callable[..., str]) -> None:
    r = ExpositionRenderer(ExpositionOptions(runtime_metrics=False))
    text = r.render(None, machine=None, version=None, now_ns=SCRAPE_TIME).decode()
    series = parse_series(text)
    assert series["container_scrape_error"] == [({}, 1.0, None)]
    assert series["machine_scrape_error"] == [({}, 1.0, None)]
    assert not any(f.startswith(("container_cpu", "machine_cpu", "cadvisor_")) for f in series)
    ok = parse_series(render())
    assert ok["container_scrape_error"] == [({}, 0.0, None)]
    assert ok["machine_scrape_error"] == [({}, 0.0, None)]


def test_version_info(render: Callable[..., str]) -> None:
    ((labels, value, ts),) = parse_series(render())["cadvisor_version_info"]
    assert value == 1 and ts is None
    assert labels == {
        "kernelVersion": "6.18.0-test",
        "osVersion": "Debian GNU/Linux 12 (bookworm)",
        "dockerVersion": "",
        "cadvisorVersion": "0.1.0",
        "cadvisorRevision": "",
    }


def test_family_allowlist(render: Callable[..., str]) -> None:
    text = render(family_allowlist=("container_cpu_*", "machine_memory_bytes"))
    fams = set(_families(text))
    assert {f for f in fams if f.startswith("container_cpu")} >= {"container_cpu_usage_seconds_total"}
    assert fams - {f for f in fams if f.startswith("container_cpu_")} == {
        "machine_memory_bytes",
        "container_scrape_error",
        "machine_scrape_error",
        "pycadvisor_exposition_series",
    }


def test_self_metric_counts_every_series(render: Callable[..., str]) -> None:
    text = render(metric_sets=ALL)
    samples = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    ((_, value, _),) = parse_series(text)["pycadvisor_exposition_series"]
    assert value == len(samples)
    assert "pycadvisor_exposition_series" not in render(self_metrics=False)


def test_duplicate_series_are_dropped(render: Callable[..., str]) -> None:
    snap = root_snapshot()
    assert snap.stats is not None
    fs = snap.stats.filesystem or []
    stats = dataclasses.replace(snap.stats, filesystem=[*fs, FsStats(device=fs[0].device, usage=1)])
    text = render(snapshots=[dataclasses.replace(snap, stats=stats)])
    usage = _by_id(text, "container_fs_usage_bytes")["/"]
    assert len(usage) == 1 and usage[0][1] == 20_000_000_000  # the first one collected wins


def test_runtime_families_of_the_python_client() -> None:
    r = ExpositionRenderer(ExpositionOptions(), own_process=OwnProcess())
    text = r.render(fixture_snapshots(), machine=None, version=None).decode()
    series = parse_series(text)
    for fam in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "python_info"):
        assert fam in series
    assert series["process_resident_memory_bytes"][0][1] > 1_000_000
    fams = _families(text)
    assert fams == sorted(fams)


def test_extra_families_from_other_components_are_sorted_in() -> None:
    from prometheus_client.core import CounterMetricFamily

    class Storage:
        def collect(self) -> list[CounterMetricFamily]:
            fam = CounterMetricFamily("pycadvisor_storage_written", "Samples written.", labels=["driver"])
            fam.add_metric(["redis"], 42)
            return [fam]

    r = ExpositionRenderer(ExpositionOptions(runtime_metrics=False), extra=[Storage()])
    text = r.render([slice_snapshot()], machine=None, version=None).decode()
    assert 'pycadvisor_storage_written_total{driver="redis"} 42\n' in text
    assert "# TYPE pycadvisor_storage_written_total counter\n" in text
    assert _families(text) == sorted(_families(text))


def test_docker_label_values_with_quotes_survive_a_round_trip(render: Callable[..., str]) -> None:
    text = render(snapshots=[docker_snapshot()])
    assert 'container_label_maintainer="Jane \\"JD\\" Doe \\\\ ops"' in text
