"""Go ``time.ParseDuration`` syntax (``10s``, ``1m30s``, ``1.5h``, ``300ms``) as int nanoseconds.

cAdvisor's duration flags and the ``max_age`` query parameter use this syntax; so do we.
"""

from __future__ import annotations

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def parse_go_duration(text: str) -> int:
    """Return the duration in nanoseconds; raise ``ValueError`` naming the text when malformed."""
    s = text.strip()
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    sign = 1
    if s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    total = 0.0
    i = 0
    n = len(s)
    if n == 0:
        raise ValueError(f"invalid duration {text!r}")
    while i < n:
        j = i
        while j < n and (s[j].isdigit() or s[j] == "."):
            j += 1
        if j == i:
            raise ValueError(f"invalid duration {text!r}")
        number = s[i:j]
        k = j
        while k < n and not (s[k].isdigit() or s[k] == "."):
            k += 1
        unit = s[j:k]
        if unit not in _UNITS:
            raise ValueError(
                f"invalid duration {text!r}: unknown unit {unit!r}"
                if unit
                else f"invalid duration {text!r}: missing unit"
            )
        try:
            total += float(number) * _UNITS[unit]
        except ValueError:
            raise ValueError(f"invalid duration {text!r}") from None
        i = k
    return sign * round(total)


def format_go_duration(ns: int) -> str:
    """Render nanoseconds the way Go's ``Duration.String`` does for whole units (``1m0s``, ``2m0s``, ``500ms``)."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                v = ns / size
                out = f"{v:g}{unit}"
                return "-" + out if neg else out
    h, rem = divmod(ns, 3_600_000_000_000)
    m, rem = divmod(rem, 60_000_000_000)
    s = rem / 1e9
    out = (f"{h}h" if h else "") + (f"{m}m" if h or m else "") + f"{s:g}s"
    return "-" + out if neg else out
