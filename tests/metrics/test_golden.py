"""Byte-stable exposition of the fixture containers against checked-in files.

Regenerate on purpose only: ``UPDATE_GOLDEN=1 .venv/bin/pytest tests/metrics/test_golden.py``, then
review the diff like code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pycadvisor.metrics.options import ExpositionOptions
from pycadvisor.metrics.sets import ALL_METRIC_SETS, MetricSets

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "golden"

CASES: dict[str, ExpositionOptions] = {
    # cAdvisor's defaults.
    "metrics_default.txt": ExpositionOptions(runtime_metrics=False),
    # Every metric set, as cAdvisor's own golden file is made.
    "metrics_all_sets.txt": ExpositionOptions(metric_sets=MetricSets.of(ALL_METRIC_SETS), runtime_metrics=False),
    # Only perf_event, so without percpu: per-event sums and minimum ratios with cpu="" (cAdvisor's own
    # lib/metrics/testdata/prometheus_metrics_perf_aggregated).
    "metrics_perf_aggregated.txt": ExpositionOptions(metric_sets=MetricSets.of(["perf_event"]), runtime_metrics=False),
    # The cAdvisor label flags and pycadvisor's size options together.
    "metrics_trimmed.txt": ExpositionOptions(
        store_container_labels=False,
        whitelisted_container_labels=("com.docker.compose.service", "io.kubernetes.pod.name"),
        env_metadata_whitelist=("TEST_VAR",),
        no_empty_label_padding=True,
        family_allowlist=("container_cpu_*", "container_memory_*", "container_spec_*", "machine_*"),
        runtime_metrics=False,
    ),
    # -kubelet_compatible: the kubelet's six labels on container series (metrics/kubelet.py).
    "metrics_kubelet.txt": ExpositionOptions(kubelet_labels=True, runtime_metrics=False),
}


@pytest.mark.parametrize("filename", sorted(CASES))
def test_exposition_matches_golden_file(filename: str, render: Callable[..., str]) -> None:
    text = render(options=CASES[filename])
    path = GOLDEN / filename
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    expected = path.read_text()
    if text != expected:
        a, b = expected.splitlines(), text.splitlines()
        first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        pytest.fail(
            f"{filename} differs at line {first + 1}:\n"
            f"  expected: {a[first] if first < len(a) else '<end>'}\n"
            f"  got:      {b[first] if first < len(b) else '<end>'}\n"
            "(UPDATE_GOLDEN=1 regenerates the file on purpose)",
            pytrace=False,
        )


def test_golden_renders_are_deterministic(render: Callable[..., str]) -> None:
    for opts in CASES.values():
        assert render(options=opts) == render(options=opts)
