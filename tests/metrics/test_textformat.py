"""Go's float formatting, escaping and label-name sanitizing, as Prometheus clients see them."""

from __future__ import annotations

import math
import random

import pytest

from pycadvisor.metrics.textformat import (
    escape_help,
    escape_label_value,
    format_value,
    render_labels,
    sanitize_label_name,
)

# Values and their text as Go's strconv.FormatFloat(v, 'g', -1, 64) prints them, taken from cAdvisor's
# golden exposition files (lib/metrics/testdata/prometheus_*metrics).
GO_RENDERINGS = [
    (1024, "1024"),
    (262144, "262144"),
    (8388608, "8.388608e+06"),
    (2097152, "2.097152e+06"),
    (1395066363, "1.395066363e+09"),
    (7e-09, "7e-09"),
    (4.3e-08, "4.3e-08"),
    (11038621, "1.1038621e+07"),
    (211580512, "2.11580512e+08"),
    (0.66666666666, "0.66666666666"),
    (2168421613568, "2.168421613568e+12"),
    (412316860416, "4.12316860416e+11"),
    (33604804608, "3.3604804608e+10"),
    (0.0001, "0.0001"),
    (0.053643567, "0.053643567"),
    (479.424566378, "479.424566378"),
    (1.724314, "1.724314"),
    (-1, "-1"),
    (0, "0"),
    (1.5, "1.5"),
    (100000, "100000"),
    (999999, "999999"),
    (1000000, "1e+06"),
    (1e-05, "1e-05"),
    (1e21, "1e+21"),
    (18446744073709551615, "1.8446744073709552e+19"),
    (-62135596800, "-6.21355968e+10"),
    (float("inf"), "+Inf"),
    (float("-inf"), "-Inf"),
    (float("nan"), "NaN"),
]


@pytest.mark.parametrize(("value", "text"), GO_RENDERINGS)
def test_values_print_as_go_prints_them(value: float, text: str) -> None:
    assert format_value(value) == text
    if isinstance(value, int) and abs(value) < 2**53:
        assert format_value(float(value)) == text


def test_random_values_round_trip_and_switch_to_exponent_where_go_does() -> None:
    rng = random.Random(7)
    for _ in range(20000):
        v = rng.choice([rng.uniform(-1, 1), rng.expovariate(1e-3)]) * 10 ** rng.randint(-12, 22)
        if v == 0:
            continue
        text = format_value(v)
        assert float(text) == v, (v, text)
        exp = math.floor(math.log10(abs(float(repr(v)))))
        # Go: exponent form when the decimal exponent is < -4 or >= 6 (shortest representation).
        assert ("e" in text) == (exp < -4 or exp >= 6), (v, text)
        if "e" in text:
            mant, _, e = text.partition("e")
            assert e[0] in "+-" and len(e) >= 3  # at least two exponent digits: e+06, e-09
            assert not mant.endswith("0") or "." not in mant


def test_label_values_and_help_are_escaped() -> None:
    assert escape_label_value('a "b" \\ c\nd') == 'a \\"b\\" \\\\ c\\nd'
    assert escape_label_value("plain/value:1") == "plain/value:1"
    assert escape_help('say "hi"\\\n') == 'say "hi"\\\\\\n'  # quotes stay in HELP
    assert render_labels((("a", 'x"y'), ("b", ""))) == '{a="x\\"y",b=""}'
    assert render_labels(()) == ""


@pytest.mark.parametrize(
    ("raw", "sanitized"),
    [
        ("container_label_com.docker.compose.service", "container_label_com_docker_compose_service"),
        ("container_label_io.kubernetes.pod/name", "container_label_io_kubernetes_pod_name"),
        ("container_env_MY-VAR", "container_env_MY_VAR"),
        ("container_label_ünïcode", "container_label__n_code"),
        ("app_path", "app_path"),
    ],
)
def test_label_names_are_sanitized_like_cadvisor(raw: str, sanitized: str) -> None:
    assert sanitize_label_name(raw) == sanitized
