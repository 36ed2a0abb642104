"""The exposition passes ``promtool check metrics`` (Debian's ``prometheus`` package) with no errors.

promtool also lints names. Its only findings may be names cAdvisor chose and that pycadvisor must
keep (camelCase labels of cadvisor_version_info, ``*_total`` gauges, counters without ``_total``);
any other finding fails the test. promtool exits 1 on a parse error and 3 on lint findings only.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

from pycadvisor.metrics.options import ExpositionOptions
from pycadvisor.metrics.render import ExpositionRenderer
from pycadvisor.metrics.sets import ALL_METRIC_SETS, MetricSets
from support.ci import cannot_run

# (family, promtool finding) pairs inherited from cAdvisor's names.
INHERITED = {
    ("cadvisor_version_info", "label names should be written in 'snake_case' not 'camelCase'"),
    ("container_cpu_load_d_average_10s", "metric names should not contain abbreviated units"),
    ("container_fs_inodes_total", 'non-counter metrics should not have "_total" suffix'),
    ("container_hugetlb_failcnt", 'counter metrics should have "_total" suffix'),
    ("container_memory_failcnt", 'counter metrics should have "_total" suffix'),
    ("container_network_advance_tcp_stats_total", 'non-counter metrics should not have "_total" suffix'),
    ("container_network_tcp6_usage_total", 'non-counter metrics should not have "_total" suffix'),
    ("container_network_tcp_usage_total", 'non-counter metrics should not have "_total" suffix'),
    ("container_network_udp6_usage_total", 'non-counter metrics should not have "_total" suffix'),
    ("container_network_udp_usage_total", 'non-counter metrics should not have "_total" suffix'),
    ("machine_dimm_count", 'non-histogram and non-summary metrics should not have "_count" suffix'),
    ("machine_node_hugepages_count", 'non-histogram and non-summary metrics should not have "_count" suffix'),
    ("machine_thread_siblings_count", 'non-histogram and non-summary metrics should not have "_count" suffix'),
    # The fixture's custom application metric is named by the application, exported as a gauge (cAdvisor).
    ("nginx_requests_total", 'non-counter metrics should not have "_total" suffix'),
}


def promtool_check(body: bytes) -> tuple[int, set[tuple[str, str]], str]:
    exe = shutil.which("promtool")
    if exe is None:
        cannot_run("promtool not installed (apt-get install --no-install-recommends prometheus)")
    p = subprocess.run([exe, "check", "metrics"], input=body, capture_output=True, timeout=60, check=False)
    out = (p.stdout + p.stderr).decode()
    findings = set()
    for line in out.splitlines():
        name, _, finding = line.partition(" ")
        if name:
            findings.add((name, finding))
    return p.returncode, findings, out


def test_full_exposition_has_no_promtool_errors(render: Callable[..., str]) -> None:
    text = render(options=ExpositionOptions(metric_sets=MetricSets.of(ALL_METRIC_SETS)))
    rc, findings, out = promtool_check(text.encode())
    assert rc in (0, 3), out
    assert findings <= INHERITED, out


def test_default_exposition_with_runtime_families_has_no_promtool_errors() -> None:
    from metrics.expo_fixtures import fixture_machine, fixture_snapshots, fixture_version

    body = ExpositionRenderer(ExpositionOptions()).render(
        fixture_snapshots(), machine=fixture_machine(), version=fixture_version()
    )
    rc, findings, out = promtool_check(body)
    assert rc in (0, 3), out
    assert findings <= INHERITED, out


def test_promtool_does_catch_a_broken_exposition() -> None:
    rc, _, _ = promtool_check(b'# TYPE x counter\nx{a="1" 2\n')
    assert rc == 1
