"""Named rows: where each value of a flat sample family is read from, per cgroup version.

A family's values sit in the sample at fixed positions (:mod:`pycadvisor.model.sample` names them,
its ``*_SLOTS``, or the family module). A family module (:mod:`.cpu`, :mod:`.memory`, :mod:`.pressure`,
:mod:`.blkio`, :mod:`.pids`, :mod:`.hugetlb`, :mod:`.network`) gives, for each cgroup version, one
:class:`Row` per slot: the kernel file and key it is read from and the kernel source that writes it.
(Per-device, per-page-size and per-interface families repeat their rows for each device, size or interface.)
A :class:`Table` compiles those rows once: the keys to ask each file for, and where each slot's value
sits among the values read. The collector's general path, the pure-Python one-call reads
(:mod:`.fdread`) and the layout all follow the table; the C reader (``_cgread.c``) is checked
against it by tests/host/cgroups/test_rows.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

#: ``Row.file`` of a value computed from others (the working set, ...).
DERIVED = "(derived)"
#: ``Row.file`` of a value this cgroup version does not have: the slot holds 0.
ABSENT = ""


@dataclass(frozen=True, slots=True)
class Row:
    """One slot of a family on one cgroup version."""

    name: str  # the slot, as model.sample names it
    file: str  # the cgroup file it is read from, DERIVED or ABSENT
    # Its key in the file: a flat-keyed file's ("key value" lines), io.stat's "key=", a PSI line's "some avg10",
    # a v1 blkio op, a net/dev column; "" for a single-value file.
    key: str = ""
    source: str = ""  # the kernel (or cAdvisor, runc) source that writes or computes it
    scale: int = 1  # the file's unit to the slot's (µs to ns: 1000); 0: the reader's clock tick in ns
    hierarchical: bool = False  # cgroup v1 memory.stat: "total_" + key under use_hierarchy


class Table:
    """A version's rows compiled once (never per sample).

    The values read are laid out as ``files`` lists them (the one-call readers' descriptor order): a
    single-value file gives one value, a keyed file one per key of its rows, in row order. ``pick``
    turns ``(0, *values_read, *derived)`` into the slots' values in the family's order (``in_order``:
    the values read are those already).
    """

    __slots__ = ("files", "in_order", "keys", "pick", "position", "rows", "scales", "total_keys")

    def __init__(self, rows: Sequence[Row], files: Sequence[str], slots: Sequence[str]) -> None:
        names = tuple(r.name for r in rows)
        if names != tuple(slots):
            raise ValueError(f"rows {names} are not the family's slots {tuple(slots)}")
        self.rows = tuple(rows)
        self.files = tuple(files)
        unknown = {r.file for r in rows} - {*files, DERIVED, ABSENT}
        if unknown:
            raise ValueError(f"rows read files the table does not list: {sorted(unknown)}")
        self.keys: dict[str, tuple[bytes, ...]] = {}
        self.total_keys: dict[str, tuple[bytes, ...]] = {}
        self.position: dict[str, int] = {}  # slot name -> index in (0, *values_read, *derived)
        pos = 1
        for f in files:
            keyed = [r for r in rows if r.file == f and r.key]
            if keyed:
                self.keys[f] = tuple(r.key.encode() for r in keyed)
                self.total_keys[f] = tuple((("total_" if r.hierarchical else "") + r.key).encode() for r in keyed)
                for r in keyed:
                    self.position[r.name] = pos
                    pos += 1
            else:
                for r in rows:
                    if r.file == f:
                        self.position[r.name] = pos
                pos += 1
        for r in rows:
            if r.file == DERIVED:
                self.position[r.name] = pos
                pos += 1
            elif r.file == ABSENT:
                self.position[r.name] = 0
        self.pick = itemgetter(*(self.position[n] for n in names))
        #: True when the values read are already the slots' (every row read, in order): no pick needed.
        self.in_order = [self.position[n] for n in names] == list(range(1, len(names) + 1))
        self.scales = tuple(r.scale for r in rows)

    @property
    def size(self) -> int:
        """How many values are read (the keyed files' keys counted one by one)."""
        return sum(len(self.keys.get(f, ((),))) for f in self.files)

    def __repr__(self) -> str:
        return f"Table({[r.name for r in self.rows]})"


def parse_keyed(data: bytes) -> dict[bytes, int]:
    """The kernel's flat-keyed files (cpu.stat, memory.stat, memory.events, v1 memory.oom_control,
    hugetlb events): ``key value`` lines as ints. A line that is not a key and one integer is skipped,
    so a partial or odd line never loses the others (Documentation/admin-guide/cgroup-v2.rst
    "Interface Files": "Flat keyed")."""
    out: dict[bytes, int] = {}
    for line in data.split(b"\n"):
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out
