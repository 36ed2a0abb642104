"""The named rows of the CPU and memory families (host/cgroups/cpu.py, memory.py) are what every
reader of those families reads: the one-call reads of the C reader (``_cgread.c``) and of its
pure-Python twin give, on the fixture hosts' files, exactly the values the rows name, read row by row
from the file and key each row gives."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import pytest

from pycadvisor.host.cgroups import cpu, memory
from pycadvisor.host.cgroups.cpu import parse_keyed
from pycadvisor.host.cgroups.fdread import FamilyReader, FdReader, family_reader
from pycadvisor.host.cgroups.rows import ABSENT, DERIVED, Row, Table
from pycadvisor.model.sample import CPU_HEAD, CPU_SLOTS, MEMORY_SIZE, MEMORY_SLOTS
from support.hosts import FIXTURE_HOSTS

TICK_NS = 10_000_000  # USER_HZ 100


@pytest.fixture
def family(reader: FdReader) -> FamilyReader:
    """The one-call family reads of each reader in turn (conftest.py ``reader``)."""
    fam = family_reader(reader)
    assert fam is not None
    return fam


def by_rows(rows: Sequence[Row], files: dict[str, Path], *, total_prefix: bool = False) -> dict[str, int]:
    """Each row's value read as the row says, absent values 0; derived ones left out."""
    out: dict[str, int] = {}
    for r in rows:
        if r.file in (ABSENT, DERIVED):
            out[r.name] = 0
            continue
        path = files[r.file]
        raw = path.read_bytes() if path.exists() else b""
        if r.key:
            v = parse_keyed(raw).get((("total_" if total_prefix and r.hierarchical else "") + r.key).encode())
        else:
            v = int(raw) if raw.strip() else None
        scale = TICK_NS if r.scale == cpu.TICKS else r.scale
        out[r.name] = 0 if v is None else v * scale
    return out


def held(paths: Sequence[Path], stack: ExitStack, *, optional: int = 0) -> Iterator[int]:
    for i, p in enumerate(paths):
        if i >= len(paths) - optional and not p.exists():
            yield -1
            continue
        fd = os.open(p, os.O_RDONLY)
        stack.callback(os.close, fd)
        yield fd


def cgroup_dirs(host: str, has: str) -> list[Path]:
    found = sorted(p.parent for p in (FIXTURE_HOSTS / host).rglob(has))
    assert found, (host, has)
    return found


def test_rows_are_the_families_slots_in_order() -> None:
    for table, slots in ((memory.V1_MEMORY, MEMORY_SLOTS), (memory.V2_MEMORY, MEMORY_SLOTS),
                         (cpu.V1_CPU, CPU_SLOTS), (cpu.V2_CPU, CPU_SLOTS)):  # fmt: skip
        assert tuple(r.name for r in table.rows) == slots
        assert all(r.source for r in table.rows), "every row names its source"
    with pytest.raises(ValueError, match="slots"):
        Table(memory.V1_ROWS[::-1], memory.V1_MEMORY.files, MEMORY_SLOTS)
    with pytest.raises(ValueError, match="does not list"):
        Table(memory.V1_ROWS, memory.V1_MEMORY.files[:1], MEMORY_SLOTS)


@pytest.mark.parametrize("hierarchy", [True, False])
def test_v1_memory_is_what_the_rows_name(family: FamilyReader, hierarchy: bool) -> None:
    table = memory.V1_MEMORY
    for d in cgroup_dirs("cgroup1-docker", "memory.usage_in_bytes"):
        files = {f: d / f for f in table.files}
        want = by_rows(table.rows, files, total_prefix=hierarchy)
        stat = parse_keyed(files["memory.stat"].read_bytes())
        inactive = stat.get(b"total_inactive_file" if hierarchy else b"inactive_file")
        want["working_set"] = memory.working_set(want["usage"], inactive)
        keys = (table.total_keys if hierarchy else table.keys)["memory.stat"]
        vals: list[int] = []
        with ExitStack() as stack:
            fds = list(held([files[f] for f in table.files], stack))
            family.v1_memory(fds[0], fds[1], fds[2], fds[3], fds[4], keys, vals)
        assert vals == list(want.values()), d
        assert len(vals) == MEMORY_SIZE and want["usage"] > 0 and want["cache"] > 0, d


def test_v2_memory_is_what_the_rows_name(family: FamilyReader) -> None:
    table = memory.V2_MEMORY
    for host in ("cgroup2-systemd", "cgroup2-containerd"):
        # A hierarchy's root has no memory.current: the collector reads it file by file (below).
        for d in cgroup_dirs(host, "memory.current"):
            files = {f: d / f for f in table.files}
            vals: list[int] = []
            with ExitStack() as stack:
                fds = list(held([files[f] for f in table.files], stack, optional=memory.V2_OPTIONAL_FILES))
                family.v2_memory(fds[0], fds[1], fds[2], fds[3], fds[4], table.keys["memory.stat"], vals)
            want = by_rows(table.rows, files)
            inactive = parse_keyed(files["memory.stat"].read_bytes()).get(b"inactive_file")
            want["working_set"] = memory.working_set(want["usage"], inactive)
            assert vals == list(want.values()), d
            assert want["usage"] > 0, d


def test_v2_memory_root_usage_is_anon_plus_file() -> None:
    read: list[int | None] = [None] * memory.V2_MEMORY.size
    pos = memory.V2_MEMORY.position
    read[pos["cache"] - 1], read[pos["rss"] - 1], read[pos["total_inactive_file"] - 1] = 300, 200, 100
    got = dict(zip(MEMORY_SLOTS, memory.v2_memory_values(read), strict=True))
    assert (got["usage"], got["working_set"], got["cache"], got["rss"]) == (500, 400, 300, 200)


def test_v1_cpu_is_what_the_rows_name(family: FamilyReader) -> None:
    table = cpu.V1_CPU
    for acct in cgroup_dirs("cgroup1-docker", "cpuacct.usage_percpu"):
        cfs_dir = Path(str(acct).replace("/cpuacct/", "/cpu/").replace("/cpuacct", "/cpu"))
        files = {"cpuacct.stat": acct / "cpuacct.stat", "cpu.stat": cfs_dir / "cpu.stat"}
        percpu = [int(x) for x in (acct / "cpuacct.usage_percpu").read_bytes().split()]
        want = by_rows(table.rows, files)
        want["total"] = sum(percpu)
        assert want["total"] == int((acct / "cpuacct.usage").read_bytes())  # the row's source says so
        vals: list[int] = []
        with ExitStack() as stack:
            fds = list(held([acct / "cpuacct.usage_percpu", files["cpuacct.stat"], files["cpu.stat"]], stack))
            assert family.v1_cpu(fds[0], fds[1], fds[2], TICK_NS, vals) == len(percpu)
        w = list(want.values())
        assert vals == [*w[:CPU_HEAD], *percpu, *w[CPU_HEAD:]], acct
        assert want["user"] > 0, acct
