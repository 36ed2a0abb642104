"""Compact storage of samples: a model object as (interned shape, flat array of int64).

A sample of a few dozen counters held as Python objects costs 1–7 KB (objects, dicts, boxed ints);
the same values in an ``array('q')`` cost 8 bytes each. The *shape* (classes, which members are
``None``, list lengths, dict keys, strings, bools) is identical from one sample of a container to
the next, so it is interned and shared. Encoding walks the dataclasses generically (no per-class
code that could silently drop a field, cf. cAdvisor ``lib/model/doc.go`` on ``Clone()``).
"""

from __future__ import annotations

import dataclasses
import struct
from array import array
from collections.abc import Iterator
from operator import attrgetter
from typing import Any

_INT, _FLOAT, _BIGINT = 1, 2, 3
_LIST, _DICT, _OBJ, _CONST, _OBJINTS, _DICTINTS = 4, 5, 6, 7, 8, 9
_I64_MAX = 2**63 - 1
_PACK_D = struct.Struct("<d")
_PACK_Q = struct.Struct("<q")


def _getter(names: tuple[str, ...]) -> Any:  # attrgetter: int fields give ints, the others anything
    if not names:
        return lambda _o: ()
    if len(names) == 1:
        return lambda o, n=names[0]: (getattr(o, n),)
    return attrgetter(*names)


class _Plan:
    """A dataclass's fields split into those declared ``int`` (stored straight into the array, no
    per-value tag in the shape) and the others (walked generically)."""

    __slots__ = ("cls", "getter", "int_getter", "int_names", "names", "other_getter", "other_names")

    def __init__(self, cls: type) -> None:
        self.cls = cls
        fields = dataclasses.fields(cls)
        self.names = tuple(f.name for f in fields)
        self.getter = _getter(self.names)
        self.int_names = tuple(f.name for f in fields if f.type in ("int", int))
        self.other_names = tuple(f.name for f in fields if f.type not in ("int", int))
        self.int_getter = _getter(self.int_names)
        self.other_getter = _getter(self.other_names)


class Compactor:
    """Encodes model objects to ``(shape, array)`` and back; shapes are interned per instance."""

    def __init__(self, constants: tuple[object, ...] = ()) -> None:
        self._plans: dict[type, _Plan] = {}
        self._shapes: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        # Objects shared (never mutated) by every sample, e.g. the zero-filled tcp/udp tables of a
        # container whose tcp set is off: stored by reference, not value by value.
        self._const_ids = {id(c): i for i, c in enumerate(constants)}
        self._consts = constants

    def _plan(self, cls: type) -> _Plan:
        p = self._plans.get(cls)
        if p is None:
            p = self._plans[cls] = _Plan(cls)
        return p

    def encode(self, obj: object) -> tuple[tuple[Any, ...], array[int]]:
        shape: list[Any] = []
        vals = array("q")
        self._enc(obj, shape, vals)
        key = tuple(shape)
        interned = self._shapes.get(key)
        if interned is None:
            interned = self._shapes[key] = key
        return interned, vals

    def _enc(self, v: Any, shape: list[Any], vals: array[int]) -> None:
        t = type(v)
        if t is int:
            if -_I64_MAX - 1 <= v <= _I64_MAX:
                shape.append(_INT)
                vals.append(v)
            else:  # uint64 above 2^63 (unlimited cgroup v2 "max" = 2^64-1): store the two's complement
                shape.append(_BIGINT)
                vals.append(v - (1 << 64))
        elif v is None or t is bool or t is str:
            shape.append(v)
        elif t is float:
            shape.append(_FLOAT)
            vals.append(_PACK_Q.unpack(_PACK_D.pack(v))[0])
        elif id(v) in self._const_ids:
            shape.append(_CONST)
            shape.append(self._const_ids[id(v)])
        elif t is list:
            shape.append(_LIST)
            shape.append(len(v))
            for x in v:
                self._enc(x, shape, vals)
        elif t is dict:
            n = len(vals)
            try:
                vals.extend(v.values())  # op -> counter maps: all ints, one C call
            except (OverflowError, TypeError):
                del vals[n:]
                shape.append(_DICT)
                shape.append(tuple(v))
                for x in v.values():
                    self._enc(x, shape, vals)
                return
            shape.append(_DICTINTS)
            shape.append(tuple(v))
        else:
            plan = self._plan(t)
            n = len(vals)
            try:
                # The int-declared fields go into the array in one C call; a value that does not fit
                # int64 (or is not an int) falls back to the per-value walk for this object.
                vals.extend(plan.int_getter(v))
            except (OverflowError, TypeError):
                del vals[n:]
                shape.append(_OBJ)
                shape.append(plan)
                for x in plan.getter(v):
                    self._enc(x, shape, vals)
                return
            shape.append(_OBJINTS)
            shape.append(plan)
            for x in plan.other_getter(v):
                self._enc(x, shape, vals)

    def decode(self, shape: tuple[Any, ...], vals: array[int]) -> object:
        return _decode(iter(shape), iter(vals), self._consts)

    def decode_from(self, shape: tuple[Any, ...], vals: Iterator[int]) -> object:
        """Decode one object whose values come next from ``vals`` (a sample holds several)."""
        return _decode(iter(shape), vals, self._consts)

    @property
    def constants(self) -> tuple[object, ...]:
        return self._consts

    @property
    def shape_count(self) -> int:
        return len(self._shapes)


def _decode(sh: Iterator[Any], vs: Iterator[int], consts: tuple[Any, ...]) -> Any:
    tag = next(sh)
    if tag is None or tag is True or tag is False or type(tag) is str:
        return tag
    if tag == _INT:
        return next(vs)
    if tag == _BIGINT:
        return next(vs) + (1 << 64)
    if tag == _FLOAT:
        return _PACK_D.unpack(_PACK_Q.pack(next(vs)))[0]
    if tag == _LIST:
        n = next(sh)
        return [_decode(sh, vs, consts) for _ in range(n)]
    if tag == _DICTINTS:
        return {k: next(vs) for k in next(sh)}
    if tag == _DICT:
        keys = next(sh)
        return {k: _decode(sh, vs, consts) for k in keys}
    if tag == _CONST:
        return consts[next(sh)]
    if tag == _OBJINTS:
        plan_: _Plan = next(sh)
        obj_: Any = object.__new__(plan_.cls)
        for name in plan_.int_names:
            object.__setattr__(obj_, name, next(vs))
        for name in plan_.other_names:
            object.__setattr__(obj_, name, _decode(sh, vs, consts))
        return obj_
    if tag == _OBJ:
        plan: _Plan = next(sh)
        obj: Any = object.__new__(plan.cls)
        for name in plan.names:
            object.__setattr__(obj, name, _decode(sh, vs, consts))
        return obj
    raise ValueError(f"corrupt compact shape tag {tag!r}")
