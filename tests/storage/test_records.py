"""Record shapes of every driver, from a sample with every member set (pure encoders, no backend)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from pycadvisor.model import codec
from pycadvisor.model.container import ContainerReference, ContainerSpec, ContainerStats, CpuStats, CpuUsage
from pycadvisor.storage.base import Sample, container_name
from pycadvisor.storage.documents import detail_document, kafka_document
from pycadvisor.storage.elasticsearch import ElasticsearchDriver, document_id, sniffed_urls, uses_mapping_types
from pycadvisor.storage.influxdb import go_float, sample_lines
from pycadvisor.storage.series import stats_series
from pycadvisor.storage.statsd import MAX_DATAGRAM, gauge_lines, pack
from pycadvisor.storage.stdout import format_line, sanitize_label_name
from storage._helpers import IMAGE, LABELS, TS0, full_sample

ADDED = 1_760_000_001_000_000_000


def sample() -> Sample:
    ref, spec, stats = full_sample()
    return Sample(ref, spec, stats, ADDED)


# cAdvisor HEAD stdout.go keys for the sample (values from full_sample()).
EXPECTED_SERIES = {
    "timestamp": ADDED,
    "cpu_usage_total": 900,
    "cpu_cumulative_usage": 900,
    "cpu_usage_system": 300,
    "cpu_usage_user": 600,
    "cpu_usage_per_cpu.0": 500,
    "cpu_usage_per_cpu.1": 400,
    "load_average": 3,
    "rx_bytes": 906,
    "rx_errors": 1,
    "tx_bytes": 126,
    "tx_errors": 2,
    "referenced_memory": 12345,
    "/dev/vda1.fs_limit": 10_000,
    "/dev/vda1.fs_usage": 4_000,
    "/dev/vdb.fs_limit": 5_000,
    "/dev/vdb.fs_usage": 1_000,
    "fs_summary.fs_limit": 15_000,
    "fs_summary.fs_usage": 5_000,
    "memory_usage": 4096,
    "memory_max_usage": 8192,
    "memory_cache": 1024,
    "memory_rss": 2048,
    "memory_swap": 16,
    "memory_mapped_file": 32,
    "memory_working_set": 3072,
    "memory_total_active_file": 256,
    "memory_total_inactive_file": 128,
    "memory_failcnt": 2,
    "memory_failure.container.pgfault": 11,
    "memory_failure.container.pgmajfault": 1,
    "memory_failure.hierarchical.pgfault": 22,
    "memory_failure.hierarchical.pgmajfault": 2,
    "hugetlb_usage.2MB": 4,
    "hugetlb_max_usage.2MB": 8,
    "hugetlb_failcnt.2MB": 1,
    "perf_stat.cycles.1": 4589,
    "resctrl_memory_bandwidth_total.0": 11,
    "resctrl_memory_bandwidth_local.0": 7,
    "resctrl_llc_occupancy.0": 3,
}


def parse_stdout(line: str) -> tuple[list[str], dict[str, str]]:
    """Head fields (``cName``, ``host``, ours) and the ``key=value`` series of one stdout line."""
    fields = line.split(" ")
    return fields, dict(f.split("=", 1) for f in fields)


# ---------------------------------------------------------------- stdout / statsd


def test_container_name_prefers_the_first_alias() -> None:
    assert container_name(ContainerReference(name="/docker/abc", aliases=["web", "abc"])) == "web"
    assert container_name(ContainerReference(name="/system.slice/x.service")) == "/system.slice/x.service"


def test_stdout_line_has_cadvisors_keys_and_values() -> None:
    s = sample()
    line = format_line("web-1", "localhost:8086", stats_series(s.stats, timestamp_ns=ADDED, load_key="load_average"))
    fields, kv = parse_stdout(line)
    assert fields[:2] == ["cName=web-1", "host=localhost:8086"]
    series = {k: int(v) for k, v in kv.items() if k not in ("cName", "host")}
    assert series == EXPECTED_SERIES


def test_stdout_line_carries_image_and_labels_after_host() -> None:
    line = format_line("web-1", "h", {"memory_usage": 1}, image=IMAGE, labels=LABELS)
    assert line == (
        f'cName=web-1 host=h image={IMAGE} container_label_com_example_team="storage tests" '
        "container_label_tier=backend memory_usage=1"
    )
    assert sanitize_label_name("io.kubernetes.pod-name/x") == "io_kubernetes_pod_name_x"


def test_series_leave_out_members_not_collected() -> None:
    # cAdvisor's TestAddStatsNilOptionalFields: cpu present, network and memory absent.
    stats = ContainerStats(timestamp=TS0, cpu=CpuStats(usage=CpuUsage(total=1000, user=600, system=400)))
    series = stats_series(stats, timestamp_ns=None, load_key="load_average")
    assert series == {
        "cpu_usage_total": 1000,
        "cpu_cumulative_usage": 1000,
        "cpu_usage_system": 400,
        "cpu_usage_user": 600,
        "load_average": 0,
        "referenced_memory": 0,
    }


def test_statsd_gauges_use_db_prefix_container_name_and_no_timestamp() -> None:
    s = sample()
    lines = gauge_lines("cadvisor", "web-1", stats_series(s.stats, timestamp_ns=None, load_key="cpu_load_average"))
    got = {}
    for line in lines:
        name, _, rest = line.partition(":")
        value, kind = rest.split("|")
        assert kind == "g"
        assert name.startswith("cadvisor.web-1.")
        got[name.removeprefix("cadvisor.web-1.")] = int(value)
    want = {k: v for k, v in EXPECTED_SERIES.items() if k != "timestamp"}
    want["cpu_load_average"] = want.pop("load_average")
    assert got == want


def test_statsd_datagrams_hold_whole_lines_within_the_size_limit() -> None:
    per_sample = [[f"cadvisor.c{i}.metric_{j:03d}:{i * j}|g" for j in range(60)] for i in range(5)]
    datagrams = pack(per_sample)
    assert all(len(d) <= MAX_DATAGRAM for _, d in datagrams)
    lines = [line.decode() for _, d in datagrams for line in d.split(b"\n")]
    assert lines == [line for sample_lines in per_sample for line in sample_lines]
    # The index names the sample of each datagram's first line: resuming there resends nothing lost.
    for first, d in datagrams:
        assert d.split(b"\n")[0].decode().startswith(f"cadvisor.c{first}.")


# ---------------------------------------------------------------- influxdb


def points(lines: list[str]) -> list[tuple[str, dict[str, str], str, str]]:
    """(measurement, tags, field, time) of line-protocol lines without escaped characters."""
    out = []
    for line in lines:
        head, field, ts = line.rsplit(" ", 2)
        name, *tags = head.split(",")
        out.append((name, dict(t.split("=", 1) for t in tags), field, ts))
    return out


def test_influxdb_points_measurements_tags_and_values() -> None:
    lines = sample_lines(sample(), "host1", include_labels=False)
    pts = points(lines)
    # As cAdvisor's influxdb_test counts them: cpu 3 + load 1 + network 4 + referenced_memory 1, memory 10 + 4
    # failures (HEAD's two *_active/inactive_file included), hugetlb 3 per page size, perf 1 per stat, resctrl
    # 2 per bandwidth node + 1 per cache node, + 1 per CPU; plus 2 per filesystem.
    assert len(pts) == 9 + 14 + 3 + 1 + 3 + 2 + 2 * 2
    assert all(ts == str(TS0) for *_, ts in pts)
    assert all(tags["machine"] == "host1" and tags["container_name"] == "web-1" for _, tags, _, _ in pts)
    by_name: dict[str, list[tuple[dict[str, str], str]]] = {}
    for name, tags, field, _ in pts:
        extra = {k: v for k, v in tags.items() if k not in ("machine", "container_name")}
        by_name.setdefault(name, []).append((extra, field))
    assert by_name["cpu_usage_total"] == [({}, "value=900i")]
    assert by_name["cpu_usage_per_cpu"] == [({"instance": "0"}, "value=500i"), ({"instance": "1"}, "value=400i")]
    assert by_name["load_average"] == [({}, "value=3i")]
    assert by_name["memory_total_inactive_file"] == [({}, "value=128i")]
    assert sorted(by_name["memory_failure"], key=str) == sorted(
        [
            ({"failure_type": "pgfault", "scope": "container"}, "value=11i"),
            ({"failure_type": "pgmajfault", "scope": "container"}, "value=1i"),
            ({"failure_type": "pgfault", "scope": "hierarchical"}, "value=22i"),
            ({"failure_type": "pgmajfault", "scope": "hierarchical"}, "value=2i"),
        ],
        key=str,
    )
    assert by_name["hugetlb_failcnt"] == [({"page_size": "2MB"}, "value=1i")]
    assert by_name["perf_stat"] == [({"cpu": "1", "name": "cycles", "scaling_ratio": "1.5"}, "value=4589i")]
    assert by_name["resctrl_llc_occupancy"] == [({"node_id": "0"}, "value=3i")]
    assert by_name["fs_usage"] == [
        ({"device": "/dev/vda1", "type": "usage"}, "value=4000i"),
        ({"device": "/dev/vdb", "type": "usage"}, "value=1000i"),
    ]
    assert by_name["fs_limit"][1] == ({"device": "/dev/vdb", "type": "limit"}, "value=5000i")


def test_influxdb_labels_become_escaped_tags_but_never_replace_cadvisors() -> None:
    ref, spec, stats = full_sample()
    spec = dataclasses.replace(spec, labels={**LABELS, "machine": "spoof", "scope": "x"})
    lines = sample_lines(Sample(ref, spec, stats, ADDED), "host1", include_labels=True)
    failure = next(line for line in lines if line.startswith("memory_failure,"))
    assert failure == (
        r"memory_failure,com.example.team=storage\ tests,container_name=web-1,failure_type=pgfault,"
        f"image={IMAGE},machine=host1,scope=container,tier=backend value=11i {TS0}"
    )


def test_influxdb_wraps_uint64_and_leaves_out_empty_tags() -> None:
    stats = ContainerStats(timestamp=TS0, cpu=CpuStats(usage=CpuUsage(total=2**64 - 1)), filesystem=[])
    lines = sample_lines(Sample(ContainerReference(name="/x"), ContainerSpec(), stats, 0), "", include_labels=True)
    assert lines[0] == f"cpu_usage_total,container_name=/x value=-1i {TS0}"


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.5, "1.5"), (1.0, "1"), (0.0, "0"), (123456.0, "123456"), (1e6, "1e+06"), (1234567.0, "1.234567e+06"),
     (0.0001, "0.0001"), (0.00001, "1e-05"), (-2.5e-7, "-2.5e-07"), (float("inf"), "+Inf")],
)  # fmt: skip
def test_go_float_matches_fmt_v(value: float, text: str) -> None:
    assert go_float(value) == text


# ---------------------------------------------------------------- JSON documents


def test_elasticsearch_and_redis_document_shape() -> None:
    s = sample()
    doc = detail_document(s, "host1", include_labels=True)
    parsed = json.loads(doc)
    assert list(parsed) == [
        "timestamp",
        "machine_name",
        "container_Name",
        "container_labels",
        "container_image",
        "container_stats",
    ]
    assert parsed["timestamp"] == TS0 // 1000  # µs of the sample time
    assert parsed["machine_name"] == "host1"
    assert parsed["container_Name"] == "web-1"
    assert parsed["container_labels"] == LABELS
    assert parsed["container_image"] == IMAGE
    assert doc.endswith(b'"container_stats":' + codec.dumps(s.stats) + b"}")  # Go-JSON of the v1 stats
    plain = json.loads(detail_document(s, "", include_labels=False))
    assert list(plain) == ["timestamp", "container_Name", "container_stats"]  # omitempty machine_name


def test_elasticsearch_document_dedots_label_names() -> None:
    doc = json.loads(detail_document(sample(), "h", include_labels=True, dedot=True))
    assert doc["container_labels"] == {"com_example_team": "storage tests", "tier": "backend"}


def test_kafka_document_shape() -> None:
    s = sample()
    parsed = json.loads(kafka_document(s, "host1", include_labels=True))
    assert list(parsed) == [
        "timestamp",
        "machine_name",
        "container_Name",
        "container_Id",
        "container_labels",
        "container_envs",
        "container_image",
        "container_stats",
    ]
    assert parsed["timestamp"] == codec.format_time(ADDED) == "2025-10-09T08:53:21Z"
    assert parsed["container_Id"] == "f" * 64
    assert parsed["container_envs"] == {"test_var": "FOO"}
    assert parsed["container_stats"]["timestamp"] == "2025-10-09T08:53:20.123456789Z"
    plain = json.loads(kafka_document(s, "host1", include_labels=False))
    assert "container_labels" not in plain and "container_image" not in plain and "container_envs" not in plain


# ---------------------------------------------------------------- elasticsearch helpers


def test_document_ids_are_stable_and_bounded() -> None:
    assert document_id("h", "web-1", TS0) == f"h:web-1:{TS0}"
    long_id = document_id("h", "x" * 600, TS0)
    assert len(long_id) == 40 and long_id == document_id("h", "x" * 600, TS0)


def test_mapping_types_only_before_elasticsearch_7() -> None:
    assert uses_mapping_types({"version": {"number": "6.8.23"}})
    assert not uses_mapping_types({"version": {"number": "7.17.0"}})
    assert not uses_mapping_types({"version": {"number": "8.15.3"}})
    assert not uses_mapping_types({"version": {"number": "1.3.0", "distribution": "opensearch"}})


def test_sniffed_urls_from_nodes_http() -> None:
    nodes = {
        "nodes": {
            "a": {"http": {"publish_address": "10.0.0.1:9200"}},
            "b": {"http": {"publish_address": "n2/10.0.0.2:9201"}},
        }
    }
    assert sniffed_urls(nodes, "https") == ["https://10.0.0.1:9200", "https://10.0.0.2:9201"]


def test_bulk_outcome_retries_overload_and_refuses_bad_documents() -> None:
    result = {
        "errors": True,
        "items": [
            {"index": {"status": 201}},
            {"index": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}},
            {"index": {"status": 400, "error": {"type": "mapper_parsing_exception"}}},
            {"index": {"status": 503}},
        ],
    }
    retry, rejected, detail = ElasticsearchDriver._bulk_outcome(result)
    assert (retry, rejected) == ([1, 3], 1)
    assert detail.startswith("429")
