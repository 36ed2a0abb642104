"""Prometheus text exposition format 0.0.4, written as Go's ``expfmt`` writes it.

Rules followed (``prometheus/common/expfmt/text_create.go``):

- sample values use ``strconv.FormatFloat(v, 'g', -1, 64)``: shortest round-trip digits, exponent
  form when the decimal exponent is < -4 or >= 6 (``1024``, ``8.388608e+06``, ``7e-09``), and
  ``+Inf``/``-Inf``/``NaN``;
- HELP text escapes ``\\`` and newline; label values escape ``\\``, ``"`` and newline;
- timestamps are integer milliseconds since the epoch.

Label names are sanitized as cAdvisor's ``sanitizeLabelName`` does (``lib/metrics/prometheus.go``):
every character outside ``[a-zA-Z0-9_]`` becomes ``_``.
"""

from __future__ import annotations

import math

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LABEL_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_METRIC_NAME_OK = _LABEL_NAME_OK | {":"}
_DIGITS = frozenset("0123456789")
_EXACT = 2**53


def format_value(v: float | int) -> str:
    """Render a sample value exactly as Go's ``strconv.FormatFloat(float64(v), 'g', -1, 64)``."""
    if type(v) is int:
        if -1_000_000 < v < 1_000_000:
            return str(v)  # exact, and Go would not switch to exponent form below 1e6
        if -_EXACT < v < _EXACT:
            # Every integer below 2^53 is a float64 whose neighbours are <= 1 apart, so its shortest
            # round-trip digits are its own digits without trailing zeros: no float formatting needed.
            s = str(-v) if v < 0 else str(v)
            d = s.rstrip("0")
            mant = d[0] + "." + d[1:] if len(d) > 1 else d
            return f"-{mant}e+{len(s) - 1:02d}" if v < 0 else f"{mant}e+{len(s) - 1:02d}"
        v = float(v)
    elif type(v) is bool:
        return "1" if v else "0"
    elif -1e6 < v < 1e6:
        # Below 1e6 Python's repr and Go agree (positional, or exponent form below 1e-4), but for the ".0"
        # Python adds to a whole float ("-0.0" gives Go's "-0"); NaN fails the comparison.
        r = repr(v)
        return r[:-2] if r.endswith(".0") else r
    if v != v:
        return "NaN"
    if v == math.inf:
        return "+Inf"
    if v == -math.inf:
        return "-Inf"
    r = repr(v)  # shortest round-trip digits, like Go's -1 precision
    if "e" in r:
        # Python and Go agree on exponent form for exp < -4 and exp >= 16 ("7e-09", "1e+16").
        return r
    if r.endswith(".0"):
        r = r[:-2]
        if r == "-0":
            return "-0"
    # Python prints positional digits up to exp 15; Go switches to exponent form at exp >= 6.
    neg = r.startswith("-")
    body = r[1:] if neg else r
    intpart, _, frac = body.partition(".")
    if len(intpart) < 7:  # |v| < 1e6, or a fraction "0.000123"
        return r
    exp = len(intpart) - 1
    digits = (intpart + frac).rstrip("0")
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{'-' if neg else ''}{mant}e+{exp:02d}"


def escape_label_value(v: str) -> str:
    """Escape a label value: backslash, double quote and newline."""
    if "\\" in v or '"' in v or "\n" in v:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return v


def escape_help(v: str) -> str:
    """Escape HELP text: backslash and newline."""
    if "\\" in v or "\n" in v:
        return v.replace("\\", "\\\\").replace("\n", "\\n")
    return v


def sanitize_label_name(name: str) -> str:
    """cAdvisor's ``sanitizeLabelName``: replace every char outside ``[a-zA-Z0-9_]`` with ``_``."""
    ok = _LABEL_NAME_OK
    for ch in name:
        if ch not in ok:
            return "".join(c if c in ok else "_" for c in name)
    return name


def is_valid_metric_name(name: str) -> bool:
    """``[a-zA-Z_:][a-zA-Z0-9_:]*`` without a regex."""
    return bool(name) and name[0] not in _DIGITS and all(c in _METRIC_NAME_OK for c in name)


def is_valid_label_name(name: str) -> bool:
    """``[a-zA-Z_][a-zA-Z0-9_]*``, not starting with the reserved ``__``."""
    return (
        bool(name) and name[0] not in _DIGITS and not name.startswith("__") and all(c in _LABEL_NAME_OK for c in name)
    )


def family_header(name: str, help_text: str, mtype: str) -> str:
    """The ``# HELP`` and ``# TYPE`` lines of one family."""
    return f"# HELP {name} {escape_help(help_text)}\n# TYPE {name} {mtype}\n"


def render_labels(pairs: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> str:
    """``{a="x",b="y"}`` for pairs already sorted by name; ``""`` when there are none (Go prints no braces)."""
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{escape_label_value(v)}"' for k, v in pairs) + "}"
