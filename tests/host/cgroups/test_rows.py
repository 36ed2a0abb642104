"""The named rows of every family (host/cgroups/cpu.py, memory.py, pressure.py, blkio.py, pids.py,
hugetlb.py, network.py) are what every reader of those families reads: the one-call reads of the C
reader (``_cgread.c``) and of its pure-Python twin, and the collector's samples, give on the fixture
hosts' files exactly the values the rows name, read row by row from the file and key each row gives."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import pytest

from pycadvisor.host.cgroups import blkio, cpu, hugetlb, memory, network, pids, pressure
from pycadvisor.host.cgroups import collector as engine
from pycadvisor.host.cgroups.collector import CgroupCollector, CollectOptions
from pycadvisor.host.cgroups.detect import detect_cgroup_mounts
from pycadvisor.host.cgroups.fdread import FamilyReader, FdReader, family_reader
from pycadvisor.host.cgroups.files import FdBudget, FileSet
from pycadvisor.host.cgroups.rows import ABSENT, DERIVED, Row, Table, parse_keyed
from pycadvisor.host.paths import HostPaths
from pycadvisor.model.container import ContainerStats, DiskIoStats, HugetlbStats
from pycadvisor.model.sample import CPU_HEAD, CPU_SLOTS, IFACE_SLOTS, MEMORY_SIZE, MEMORY_SLOTS, PSI_SLOTS
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
                         (cpu.V1_CPU, CPU_SLOTS), (cpu.V2_CPU, CPU_SLOTS),
                         *((t, PSI_SLOTS) for t in pressure.PSI_TABLES.values()),
                         (hugetlb.V1_HUGETLB, hugetlb.HUGETLB_SLOTS), (hugetlb.V2_HUGETLB, hugetlb.HUGETLB_SLOTS),
                         (pids.PIDS, pids.PIDS_SLOTS), (network.NET_DEV, IFACE_SLOTS)):  # fmt: skip
        assert tuple(r.name for r in table.rows) == slots
        assert all(r.source for r in table.rows), "every row names its source"
    # The IO family's rows name a DiskIoStats member and an op: the members the model has.
    for table in (blkio.V2_IO, *blkio.V1_BLKIO):
        assert all(r.source for r in table.rows)
        assert {r.name.split(".")[0] for r in table.rows} <= set(DiskIoStats.__dataclass_fields__)
    assert set(hugetlb.HUGETLB_SLOTS) == set(HugetlbStats.__dataclass_fields__)
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


# ---------------------------------------------------------------- pressure, IO, pids, hugetlb, network

_D, _Q = struct.Struct("<d"), struct.Struct("<q")


def psi_by_rows(table: Table, data: bytes) -> list[int]:
    """Each PSI row's value: the last line of its kind, its key's value there (averages as bits)."""
    out: list[int] = []
    for r in table.rows:
        kind, key = r.key.split()
        lines = [ln.split() for ln in data.decode().splitlines() if ln.split()[:1] == [kind]]
        fields = dict(f.split("=", 1) for f in lines[-1][1:]) if lines else {}
        v = fields.get(key)
        out.append(0 if v is None else int(v) if key == "total" else _Q.unpack(_D.pack(float(v)))[0])
    return out


def test_pressure_is_what_the_rows_name(reader: FdReader) -> None:
    found = sorted(p for p in FIXTURE_HOSTS.rglob("*.pressure") if p.is_file())
    assert len(found) >= 10
    for path in found:
        table = pressure.PSI_TABLES[path.name.split(".")[0]]
        assert table.files == (path.name,)
        want = psi_by_rows(table, path.read_bytes())
        with ExitStack() as stack:
            (fd,) = held([path], stack)
            assert list(reader.read_psi(fd)) == want, path
        assert list(pressure.psi_values(path.read_bytes())) == want, path
    assert any(psi_by_rows(pressure.PSI_TABLES["memory"], p.read_bytes())[0] for p in found)
    # A cpu.pressure without its full line (before Linux 5.13): full reads 0.
    assert pressure.psi_values(b"some avg10=1.50 avg60=0.00 avg300=0.00 total=7\n")[4:] == (0, 0, 0, 0)


def collect(host: str, cgroup: Path, metric_sets: set[str]) -> ContainerStats:
    """One sample of ``cgroup`` (a directory of the fixture host) by the collector, file by file."""
    paths = HostPaths.under(str(FIXTURE_HOSTS / host))
    mounts = detect_cgroup_mounts(paths)
    root = FIXTURE_HOSTS / host / "sys" / "fs" / "cgroup"
    rel = cgroup.relative_to(root)
    name = "/" + str(rel if mounts.is_v2 else rel.relative_to(rel.parts[0]))
    opts = CollectOptions(metric_sets=frozenset(metric_sets), paths=paths)
    c = CgroupCollector(name, engine.cgroup_dirs(mounts, name, paths.in_rootfs), is_v2=mounts.is_v2,
                        files=FileSet(FdBudget(64)), opts=opts)  # fmt: skip
    try:
        st, errors = c.collect(now_ns=1, pid=None)
    finally:
        c.close()
    assert not errors, errors
    return st


def io_by_sample(st: ContainerStats) -> dict[tuple[str, int, int, str], int]:
    assert st.diskio is not None
    return {
        (member, d.major, d.minor, op): v
        for member in {r.name.split(".")[0] for t in (blkio.V2_IO, *blkio.V1_BLKIO) for r in t.rows}
        for d in getattr(st.diskio, member)
        for op, v in d.stats.items()
    }


def test_v2_io_is_what_the_rows_name() -> None:
    for host in ("cgroup2-systemd", "cgroup2-containerd"):
        for d in cgroup_dirs(host, "io.stat"):
            want: dict[tuple[str, int, int, str], int] = {}
            for line in (d / "io.stat").read_text().splitlines():
                dev, *pairs = line.split()
                maj, mnr = map(int, dev.split(":"))
                kv = dict(p.split("=", 1) for p in pairs)
                for r in blkio.V2_IO.rows:
                    if r.key in kv:
                        member, op = r.name.split(".")
                        want[(member, maj, mnr, op)] = int(kv[r.key])
            assert io_by_sample(collect(host, d, {"diskIO"})) == want, d


def test_v1_blkio_is_what_the_rows_name() -> None:
    dirs = cgroup_dirs("cgroup1-docker", "blkio.throttle.io_service_bytes")
    assert len(dirs) >= 2
    for d in dirs:
        want: dict[tuple[str, int, int, str], int] = {}
        for table in blkio.V1_BLKIO:  # the first group whose bytes file has device lines
            first = d / table.files[0]
            if not first.exists() or not any(":" in ln for ln in first.read_text().splitlines()):
                continue
            for r in table.rows:
                member, op = r.name.split(".")
                for line in (d / r.file).read_text().splitlines():
                    parts = line.split()
                    if len(parts) == 3 and parts[1] == r.key:
                        maj, mnr = map(int, parts[0].split(":"))
                        want[(member, maj, mnr, op)] = int(parts[2])
            break
        assert io_by_sample(collect("cgroup1-docker", d, {"diskIO"})) == want, d
    assert any(io_by_sample(collect("cgroup1-docker", d, {"diskIO"})) for d in dirs)


def test_pids_are_what_the_rows_name() -> None:
    seen = 0
    for host, ctrl in (("cgroup1-docker", "pids"), ("cgroup2-containerd", ""), ("cgroup2-systemd", "")):
        for d in cgroup_dirs(host, "cgroup.procs"):
            if ctrl and ctrl not in d.relative_to(FIXTURE_HOSTS / host).parts[3:4]:
                continue
            want = {}
            for r in pids.PIDS.rows:
                f = d / r.file
                raw = f.read_text().strip() if f.exists() else None
                want[r.name] = None if raw is None else 0 if raw == "max" else int(raw)
            procs = len((d / "cgroup.procs").read_text().split())
            if want["threads_current"] is None:
                want["threads_current"] = procs
            want["threads_max"] = want["threads_max"] or 0
            st = collect(host, d, {"process"})
            assert st.processes is not None
            assert {n: getattr(st.processes, n) for n in pids.PIDS_SLOTS} == want, d
            seen += (d / "pids.max").exists()
    assert seen >= 3
    assert pids.pids_values(None, None, 4) == (4, 0) and pids.pids_values(b"3\n", b"max\n", 4) == (3, 0)


def test_hugetlb_is_what_the_rows_name() -> None:
    seen = 0
    for host, table in (("cgroup2-containerd", hugetlb.V2_HUGETLB), ("cgroup2-systemd", hugetlb.V2_HUGETLB),
                        ("cgroup1-docker", hugetlb.V1_HUGETLB)):  # fmt: skip
        for d in sorted({p.parent for p in (FIXTURE_HOSTS / host).rglob("hugetlb.*")}):
            sizes = sorted({p.name.split(".")[1] for p in d.glob("hugetlb.*.*")})
            want = {}
            for size in sizes:
                values = {}
                for r in table.rows:
                    if r.file == ABSENT:
                        continue
                    f = d / r.file.format(size=size)
                    rsvd = d / hugetlb.RESERVED.get(r.file, r.file).format(size=size)
                    raw = (rsvd if rsvd.exists() else f).read_bytes() if f.exists() or rsvd.exists() else b""
                    values[r.name] = (parse_keyed(raw).get(r.key.encode(), 0) if r.key else int(raw)) if raw else 0
                want[size] = HugetlbStats(**values)
            st = collect(host, d, {"hugetlb"})
            assert st.hugetlb == want, d
            seen += any(v.usage for v in want.values())
    assert seen >= 2


def test_network_is_what_the_rows_name() -> None:
    for name in ("dev", "dev_host4"):
        data = (FIXTURE_HOSTS.parent / "procfs" / "net" / name).read_text()
        head = data.splitlines()[1].split("|")  # " face ", the receive columns, the transmit columns
        columns = [f"Receive {c}" for c in head[1].split()] + [f"Transmit {c}" for c in head[2].split()]
        want = []
        for line in data.splitlines()[2:]:
            iface, _, rest = line.rpartition(":")
            if iface.strip().lower().startswith(network.IGNORED_INTERFACE_PREFIXES):
                continue
            fields = rest.split()
            want.append((iface.strip(), tuple(int(fields[columns.index(r.key)]) for r in network.NET_DEV.rows)))
        assert network.interface_values(data.encode()) == want, name
        assert want
