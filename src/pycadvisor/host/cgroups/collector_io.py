"""The block IO family of a container's samples: cgroup v2 ``io.stat`` (and ``io.pressure``), cgroup v1
``blkio.*`` (:mod:`pycadvisor.host.cgroups.blkio` parses both), read through the collector's held files.

Sources: Documentation/admin-guide/cgroup-v2.rst ("IO Interface Files", block/blk-cgroup.c
``blkcg_print_stat``), Documentation/admin-guide/cgroup-v1/blkio-controller.rst; the group order is
runc's (libcontainer/cgroups/fs/blkio.go).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

from pycadvisor.host.cgroups.blkio import V1_BLKIO, Device, parse_blkio_v1, parse_io_stat
from pycadvisor.model.sample import Token

#: v1: each group's (bytes file, ops file), in runc's order (blkio.py V1_BLKIO names their rows).
BLKIO_GROUPS = tuple(t.files for t in V1_BLKIO)
BLKIO_RECHECK = 10
IO_EMPTY: Token = ("io", (), False)
# The values of io.stat ("8:0 rbytes=4096 ...") and of v1 blkio files ("8:0 Read 4096", "Total 4096"):
# split on them, a file's integers sit at the odd positions (DiskIoFamily._planned).
# (No look-behind for the separator: with it, a split costs twice as much.)
_IO_NUMBER = re.compile(rb"=([-+]?[0-9]+)(?=\s|\Z)")
_BLKIO_NUMBER = re.compile(rb" ([-+]?[0-9]+)(?=\n|\Z)")
_IoParse = Callable[[bytes], dict[str, dict[Device, dict[str, int]]]]
#: A file's plan: (its text without the numbers, the members, each value's index among the numbers).
_Plan = tuple[bytes, tuple[tuple[object, ...], ...], tuple[int, ...]]


def _blkio_bytes(data: bytes) -> dict[str, dict[Device, dict[str, int]]]:
    return {"io_service_bytes": parse_blkio_v1(data)}


def _blkio_ops(data: bytes) -> dict[str, dict[Device, dict[str, int]]]:
    return {"io_serviced": parse_blkio_v1(data)}


class DiskIoFamily:
    """One container's block IO family; ``read(ctrl, file)`` and ``psi(file)`` are its collector's
    reads of the container's held files (``None``: not there)."""

    __slots__ = ("_blkio", "_blkio_idle", "_device_name", "_plans", "_pressure", "_psi", "_read", "_v2")

    def __init__(
        self,
        *,
        v2: bool,
        read: Callable[[str, str], bytes | None],
        psi: Callable[[str], tuple[int, ...] | None],
        device_name: Callable[[int, int], str],
        blkio: bool,
        pressure: bool,
    ) -> None:
        self._v2, self._read, self._psi, self._device_name = v2, read, psi, device_name
        self._blkio = blkio  # v1: the container has a blkio directory
        self._pressure = pressure
        self._blkio_idle = 0  # samples left before empty blkio groups are read again
        # Per block IO file: the plan of the last shape seen (see _planned).
        self._plans: dict[str, _Plan] = {}

    def forget_plans(self) -> None:
        """Work the members out again (device names are looked up anew: the disks may have changed)."""
        self._plans.clear()

    def _io_member(self, member: str, devs: dict[Device, dict[str, int]], vals: list[int]) -> tuple[object, ...]:
        name_of = self._device_name
        out = []
        for (maj, mnr), ops in sorted(devs.items()):
            out.append((name_of(maj, mnr), maj, mnr, tuple(ops)))
            vals += ops.values()
        return (member, tuple(out))

    def _planned(
        self, slot: str, raw: bytes, number: re.Pattern[bytes], parse: _IoParse, vals: list[int]
    ) -> tuple[tuple[object, ...], ...]:
        """``parse(raw)``'s members (:meth:`_io_member`), their values appended to ``vals``.

        A block IO file keeps its shape from one sample to the next (the same devices and keys, only
        the numbers move; a root cgroup lists ~100 lines): the members and each value's index among
        the integers ``number`` finds are worked out when the shape changes, and a sample is then one
        regex split and the ints it keeps. ``parse`` is the reference: the plan is the same parse over
        the file with its n-th integer replaced by -n-1, kept only when it gives the reference's values.
        """
        parts = number.split(raw)
        nums = parts[1::2]
        skel = b"\0".join(parts[0::2])
        plan = self._plans.get(slot)
        if plan is not None and plan[0] == skel:
            vals += [int(nums[i]) for i in plan[2]]
            return plan[1]
        ref: list[int] = []
        members = tuple(self._io_member(m, devs, ref) for m, devs in parse(raw).items())
        count = itertools.count(1)
        # Each match keeps its separator (" " or "="), its integer becomes -1, -2, ... in file order.
        marked = number.sub(lambda m: m[0][: m.start(1) - m.start()] + b"-%d" % next(count), raw)
        pos = [-p - 1 for devs in parse(marked).values() for _, ops in sorted(devs.items()) for p in ops.values()]
        if len(pos) == len(ref) and all(
            0 <= i < len(nums) and int(nums[i]) == v for i, v in zip(pos, ref, strict=True)
        ):
            self._plans[slot] = (skel, members, tuple(pos))
        else:  # content no kernel writes: parsed in full every sample
            self._plans.pop(slot, None)
        vals += ref
        return members

    def sample(self, tokens: list[Token], vals: list[int]) -> None:
        """Append the family's token and values (nothing when the container has no IO files)."""
        if self._v2:
            raw = self._read("unified", "io.stat")
            if raw is None:
                return
            members = self._planned("io.stat", raw, _IO_NUMBER, parse_io_stat, vals)
            psi = self._psi("io.pressure") if self._pressure else None
            if psi is not None:
                vals += psi
            tokens.append(("io", members, psi is not None))
            return
        if not self._blkio:
            return
        # runc's order (libcontainer/cgroups/fs/blkio.go, blkio.py V1_BLKIO): the first group whose first
        # file has device lines wins.
        # Most cgroups show only "Total 0" in every group (blk-throttle counts only under a rule, BFQ
        # only with that scheduler): then the groups are looked at again every BLKIO_RECHECK-th sample
        # instead of three empty reads per sample; the counters are cumulative, so nothing is lost.
        if self._blkio_idle > 0:
            self._blkio_idle -= 1
            tokens.append(IO_EMPTY)
            return
        for bytes_file, ops_file in BLKIO_GROUPS:
            raw = self._read("blkio", bytes_file)
            if raw is None:
                continue
            n = len(vals)
            served = list(self._planned(bytes_file, raw, _BLKIO_NUMBER, _blkio_bytes, vals))
            if not served[0][1]:  # no device lines
                del vals[n:]
                continue
            ops = self._read("blkio", ops_file)
            if ops is not None:
                served += self._planned(ops_file, ops, _BLKIO_NUMBER, _blkio_ops, vals)
            tokens.append(("io", tuple(served), False))
            return
        self._blkio_idle = BLKIO_RECHECK - 1
        tokens.append(IO_EMPTY)
