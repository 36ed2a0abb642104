"""Where ``/metrics`` series are written: a growing buffer that takes a whole family per call.

:class:`PyWriter` is the reference; ``pycadvisor.metrics._expfmt.Writer`` (C, built with the package where a
compiler is there) writes the same bytes into one byte buffer with no Python object per series, which is what
makes a scrape cheap (``bench/render_ab.py``). The renderer (:mod:`pycadvisor.metrics.render`) works with
either; ``tests/metrics/test_expfmt.py`` checks that both give the same bodies.

A family's series are written in the order Go's registry sorts them (``prometheus/client_golang``
``internal.NormalizeMetricFamilies``: by label values, labels sorted by name), and the renderer writes the
families in name order, so what was written is the body (:meth:`finish`). Positions (:meth:`tell`) are opaque:
they are only handed back to :meth:`truncate`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any, Protocol

from pycadvisor.metrics.spec import items_reader, path_reader, samples_reader
from pycadvisor.metrics.textformat import escape_label_value, format_value

_first = itemgetter(0)

# A declared reader (MetricSpec.path, MetricSpec.scale): the attributes to walk and the divisor, or None.
ValuePath = tuple[tuple[str, ...], float | None]
# Declared samples (MetricSpec.samples, MetricSpec.scale): (extra label values, attributes) pairs and the divisor.
SamplePaths = tuple[tuple[tuple[tuple[str, ...], tuple[str, ...]], ...], float | None]
# Declared items (MetricSpec.each, each_labels, path, scale): a sample per item of a list.
ItemPaths = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], float | None]


class Writer(Protocol):
    """The exposition's output buffer (C or Python)."""

    def tell(self) -> int: ...
    def reset(self) -> None: ...
    def truncate(self, pos: int, /) -> None: ...
    def finish(self) -> bytes: ...
    def write(self, text: str, /) -> None: ...

    def family(
        self, name: str, read: Callable[[Any], Any] | ValuePath | None, objs: Sequence[Any],
        labels: Sequence[str], tails: Sequence[str], /,
    ) -> int: ...  # fmt: skip

    def multi(
        self, name: str, read: Callable[[Any], Any] | SamplePaths | ItemPaths, objs: Sequence[Any],
        segs: Sequence[tuple[str, ...]], tails: Sequence[str], ranks: Sequence[tuple[int, ...]] | None,
        escape: bool, sort: Callable[[Any], Any], /,
    ) -> int: ...  # fmt: skip


WriterFactory = Callable[[int], Writer]  # capacity hint in bytes -> a new writer


def sort_samples(samples: Sequence[tuple[tuple[str, ...], Any]]) -> list[tuple[tuple[str, ...], Any]]:
    """A row's samples by their extra label values (stable: the first of equal ones stays first)."""
    return sorted(samples, key=_first)


class PyWriter:
    """The pure-Python writer: pieces of text in a list, joined and encoded once by :meth:`assemble`."""

    __slots__ = ("_pieces",)

    def __init__(self, capacity: int = 0) -> None:
        self._pieces: list[str] = []

    def tell(self) -> int:
        return len(self._pieces)

    def reset(self) -> None:
        """Start a new body."""
        self._pieces = []

    def truncate(self, pos: int, /) -> None:
        """Drop what was written after ``pos`` (a family that turned out to have no series)."""
        del self._pieces[pos:]

    def finish(self) -> bytes:
        """The body written since :meth:`reset`, encoded once (the pieces are not kept until the next one)."""
        body = "".join(self._pieces).encode()
        self._pieces = []
        return body

    def write(self, text: str, /) -> None:
        self._pieces.append(text)

    def family(
        self, name: str, read: Callable[[Any], Any] | ValuePath | None, objs: Sequence[Any],
        labels: Sequence[str], tails: Sequence[str], /,
    ) -> int:  # fmt: skip
        """Per object whose value ``read(obj)`` (the object itself without ``read``) is not None:
        ``name labels[i] value tails[i]``; returns the number of series. ``read`` may be a declared path
        ``(attributes, scale)``: the value is then ``path_reader(attributes, scale)(obj)``."""
        if isinstance(read, tuple):
            read = path_reader(*read)
        pieces = self._pieces
        fmt = format_value
        n = 0
        for i, obj in enumerate(objs):
            v = obj if read is None else read(obj)
            if v is not None:
                pieces += (name, labels[i], " ", fmt(v), tails[i])
                n += 1
        return n

    def multi(
        self, name: str, read: Callable[[Any], Any] | SamplePaths | ItemPaths, objs: Sequence[Any],
        segs: Sequence[tuple[str, ...]], tails: Sequence[str], ranks: Sequence[tuple[int, ...]] | None,
        escape: bool, sort: Callable[[Any], Any], /,
    ) -> int:  # fmt: skip
        """The series of a family with extra labels; returns their number.

        ``read(objs[i])`` gives row ``i``'s samples ``((extra values...), value)``; a series is the row's
        template ``segs[i]`` with the (escaped) extra values slotted in. Without ``ranks`` the rows' series
        come row after row, each row's sorted by extra values. With ``ranks`` (per row, the dense ranks of its
        base values before each leading extra label) series are ordered by ``(rank0, ev0, rank1, ev1, ...)``
        and then as generated: the series are grouped by that key and only the distinct keys are sorted.
        ``read`` may be declared samples ``(((extra values...), attributes)..., scale)``: the samples are then
        ``samples_reader(pairs, scale)(obj)``; or declared items ``(each, each_labels, path, scale)``:
        ``items_reader(each, each_labels, path, scale)(obj)``."""
        if isinstance(read, tuple):
            read = samples_reader(*read) if len(read) == 2 else items_reader(*read)
        fmt = format_value
        n = 0
        groups: dict[tuple[Any, ...], list[str]] = {}
        lead = len(ranks[0]) if ranks else 0
        pieces = self._pieces
        for i, obj in enumerate(objs):
            samples = read(obj)
            if not samples:
                continue
            t, ts = segs[i], tails[i]
            if len(samples) > 1:
                samples = sort(samples)
            rk = ranks[i] if ranks is not None else ()
            prev: tuple[str, ...] | None = None
            for ev, v in samples:
                if ev == prev:  # the same series twice: the first wins, as the Go registry keeps one
                    continue
                prev = ev
                if lead:
                    if lead == 1:
                        key: tuple[Any, ...] = (rk[0], ev[0])
                    else:
                        key = tuple([x for pair in zip(rk, ev[:lead], strict=True) for x in pair])
                    group = groups.get(key)
                    if group is None:
                        group = groups[key] = []
                    out = group
                else:
                    out = pieces
                if escape:
                    ev = tuple([escape_label_value(x) for x in ev])
                out += (name, t[0])
                for value, seg in zip(ev, t[1:], strict=True):
                    out += (value, seg)
                out += (" ", fmt(v), ts)
                n += 1
        for key in sorted(groups):
            pieces += groups[key]
        return n


def native_writer() -> WriterFactory | None:
    """The C writer's class, or ``None`` when the package was installed without it."""
    try:  # lazy: the extension is built only where a compiler was there; its absence is not an error
        from pycadvisor.metrics._expfmt import Writer as NativeWriter
    except ImportError:
        return None
    return NativeWriter


def default_writer() -> WriterFactory:
    """The C writer where it was built, else the Python one."""
    return native_writer() or PyWriter
