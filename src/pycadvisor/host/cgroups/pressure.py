"""Pressure stall information (``cpu.pressure``, ``memory.pressure``, ``io.pressure``).

Format (Documentation/accounting/psi.rst): ``some avg10=0.00 avg60=0.00 avg300=0.00 total=0`` and a ``full`` line
(cpu ``full`` since Linux 5.13).
"""

from __future__ import annotations

from pycadvisor.model.container import PSIData, PSIStats


def _line(parts: list[bytes]) -> PSIData:
    d = PSIData()
    for p in parts:
        k, _, v = p.partition(b"=")
        if k == b"total":
            d.total = int(v)
        elif k == b"avg10":
            d.avg10 = float(v)
        elif k == b"avg60":
            d.avg60 = float(v)
        elif k == b"avg300":
            d.avg300 = float(v)
    return d


def parse_pressure(data: bytes) -> PSIStats:
    """Return the ``some`` and ``full`` stall figures of a PSI file."""
    out = PSIStats()
    for line in data.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == b"some":
            out.some = _line(parts[1:])
        elif parts[0] == b"full":
            out.full = _line(parts[1:])
    return out
