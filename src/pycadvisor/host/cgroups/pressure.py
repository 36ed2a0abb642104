"""Pressure stall information: the PSI family's slots (``cpu.pressure``, ``memory.pressure``,
``io.pressure``), its pure parser and its one derived value, an average's bits.

Format (Documentation/accounting/psi.rst, kernel/sched/psi.c ``psi_show``): a ``some`` and a ``full``
line, ``some avg10=0.00 avg60=0.00 avg300=0.00 total=0`` (cpu ``full`` since Linux 5.13). The same
files on cgroup v2 and, on hybrid hosts, in the unified tree beside the v1 hierarchies.
"""

from __future__ import annotations

import struct

from pycadvisor.host.cgroups.rows import Row, Table
from pycadvisor.model.container import PSIStats
from pycadvisor.model.sample import PSI_SLOTS, psi_from_ints

_PSI_SHOW = "kernel/sched/psi.c psi_show"
_BITS = "; stored as the int64 bits of its double (model/sample.py psi_ints)"
RESOURCES = ("cpu", "memory", "io")


def psi_rows(resource: str) -> tuple[Row, ...]:
    """The PSI slots of ``<resource>.pressure``: each keyed ``<line> <field>`` (``some avg10``)."""
    f = f"{resource}.pressure"
    full = f"{_PSI_SHOW} (Linux 5.13 for cpu; absent before: 0)" if resource == "cpu" else _PSI_SHOW
    return (
        Row("some_total", f, "some total", _PSI_SHOW + ": µs stalled, cumulative"),
        Row("some_avg10", f, "some avg10", _PSI_SHOW + _BITS),
        Row("some_avg60", f, "some avg60", _PSI_SHOW + _BITS),
        Row("some_avg300", f, "some avg300", _PSI_SHOW + _BITS),
        Row("full_total", f, "full total", full),
        Row("full_avg10", f, "full avg10", full + _BITS),
        Row("full_avg60", f, "full avg60", full + _BITS),
        Row("full_avg300", f, "full avg300", full + _BITS),
    )


#: Per resource, its file's table (read as a whole by FdReader.read_psi).
PSI_TABLES = {r: Table(psi_rows(r), (f"{r}.pressure",), PSI_SLOTS) for r in RESOURCES}

# Every resource's rows have the same keys in the same places: one slot index per key.
_SLOT = {r.key.encode(): i for i, r in enumerate(PSI_TABLES["cpu"].rows)}
_LINE_SLOTS = {b"some": range(0, 4), b"full": range(4, 8)}
_D = struct.Struct("<d")
_Q = struct.Struct("<q")


def average_bits(value: bytes) -> int:
    """A PSI average as the int64 bits of the double ``float()`` gives (lossless in an int64 array)."""
    return int(_Q.unpack(_D.pack(float(value)))[0])


def psi_values(data: bytes) -> tuple[int, ...]:
    """The PSI slots (``PSI_SLOTS``) of a pressure file, as its rows name them; a missing line or key
    gives 0 (0.0), a later line of the same kind replaces an earlier one entirely, other keys are
    skipped. What the C reader's ``read_psi`` gives."""
    out = [0] * len(PSI_SLOTS)
    for line in data.splitlines():
        parts = line.split()
        if not parts or parts[0] not in _LINE_SLOTS:
            continue
        kind = parts[0]
        for i in _LINE_SLOTS[kind]:
            out[i] = 0
        for p in parts[1:]:
            k, _, v = p.partition(b"=")
            slot = _SLOT.get(kind + b" " + k)
            if slot is not None:
                out[slot] = int(v) if k == b"total" else average_bits(v)
    return tuple(out)


def parse_pressure(data: bytes) -> PSIStats:
    """Return the ``some`` and ``full`` stall figures of a PSI file."""
    return psi_from_ints(psi_values(data))
