"""The native reader and its pure-Python twin read held descriptors to the same results.

The collector works with either (``pycadvisor.host.cgroups.fdread``); these tests hold them to the same
answers on the fixture hosts' real-format files, on edge cases, on a cgroup removed under a held
descriptor, and through the whole manager.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycadvisor.clock import FakeClock
from pycadvisor.host.cgroups.collector import CgroupCollector, CollectOptions, cgroup_dirs
from pycadvisor.host.cgroups.cpu import parse_keyed
from pycadvisor.host.cgroups.fdread import FdReader, PyFdReader, native_reader
from pycadvisor.host.cgroups.files import ContainerGone, FdBudget, FileSet
from pycadvisor.host.cgroups.pressure import parse_pressure
from pycadvisor.host.paths import HostPaths
from pycadvisor.manager.manager import Manager, ManagerOptions
from pycadvisor.model.container import ContainerStats
from pycadvisor.model.sample import psi_ints
from support.cgroups import TestCgroup
from support.ci import require
from support.readers import CountingReader, GeneralPathReader

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
KEYED = {"memory.stat", "cpu.stat", "cpuacct.stat", "memory.events", "memory.events.local"}
SINGLE = {
    "memory.usage_in_bytes", "memory.max_usage_in_bytes", "memory.failcnt", "memory.kmem.usage_in_bytes",
    "cpuacct.usage", "memory.current", "memory.peak", "memory.swap.current", "pids.current",
}  # fmt: skip


def _native() -> FdReader:
    r = native_reader()
    # scripts/test installs the package with its C extension; a laptop without a compiler skips.
    require(r is not None, "pycadvisor.host.cgroups._cgread was not built (no C compiler or Python headers)")
    assert r is not None
    return r


@pytest.fixture(params=["native", "python"])
def reader(request: pytest.FixtureRequest) -> FdReader:
    return _native() if request.param == "native" else PyFdReader()


def _fd_of(path: Path | str) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def _with_content(tmp_path: Path, content: bytes) -> Iterator[int]:
    p = tmp_path / "f"
    p.write_bytes(content)
    yield from _fd_of(p)


def _fixture_files(names: set[str]) -> list[Path]:
    found = sorted(p for p in HOSTS.rglob("*") if p.name in names and p.is_file())
    assert len(found) >= 10, found  # the fixture hosts have these files in every cgroup
    return found


def test_native_is_built_where_the_suite_installs_it() -> None:
    _native()


def test_keyed_files_of_the_fixture_hosts_read_as_the_parser_reads_them(reader: FdReader) -> None:
    for path in _fixture_files(KEYED):
        expected = parse_keyed(path.read_bytes())
        keys = (*expected, b"no_such_key")
        for fd in _fd_of(path):
            got = reader.read_keyed(fd, keys)
            assert got == (*expected.values(), None), path
            # Asked for a few, in another order, only those come back.
            few = tuple(reversed(list(expected)[:3]))
            assert reader.read_keyed(fd, few) == tuple(expected[k] for k in few), path


def test_single_value_files_of_the_fixture_hosts(reader: FdReader) -> None:
    for path in _fixture_files(SINGLE):
        text = path.read_bytes().strip()
        for fd in _fd_of(path):
            assert reader.read_int(fd) == (int(text) if text else None), path
            assert reader.read_bytes(fd) == path.read_bytes()


def test_percpu(reader: FdReader, tmp_path: Path) -> None:
    for fd in _with_content(tmp_path, b"1200000000 1305000000 0 18446744073709551615 \n"):
        assert reader.read_ints(fd) == [1200000000, 1305000000, 0, 2**64 - 1]
    for fd in _with_content(tmp_path, b""):
        assert reader.read_ints(fd) == []


@pytest.mark.parametrize(
    ("content", "value"),
    [
        (b"42\n", 42),
        (b"  42 \n", 42),
        (b"", None),
        (b"\n", None),
        (b"-1\n", -1),
        (b"9223372036854771712\n", 9223372036854771712),  # v1 "unlimited"
        (b"18446744073709551615\n", 2**64 - 1),
        (b"0\n", 0),
    ],
)
def test_read_int(reader: FdReader, tmp_path: Path, content: bytes, value: int | None) -> None:
    for fd in _with_content(tmp_path, content):
        assert reader.read_int(fd) == value


@pytest.mark.parametrize("content", [b"max\n", b"12ab\n", b"1 2\n", b"-\n", b"0x10\n"])
def test_read_int_rejects_what_is_not_one_integer(reader: FdReader, tmp_path: Path, content: bytes) -> None:
    for fd in _with_content(tmp_path, content):
        with pytest.raises(ValueError):
            reader.read_int(fd)


def test_keyed_edge_cases(reader: FdReader, tmp_path: Path) -> None:
    # A repeated key keeps its last value; lines of other shapes (PSI-like) are not looked at.
    content = b"a 1\nb 2\nsome avg10=0.00 total=5\na 3\n"
    for fd in _with_content(tmp_path, content):
        assert reader.read_keyed(fd, (b"a", b"b", b"some_other")) == (3, 2, None)
    # No trailing newline.
    for fd in _with_content(tmp_path, b"x 7\ny 8"):
        assert reader.read_keyed(fd, (b"y", b"x")) == (8, 7)
    # A key that is a prefix of another is not confused with it.
    for fd in _with_content(tmp_path, b"total_rss 5\nrss 4\n"):
        assert reader.read_keyed(fd, (b"rss", b"total_rs")) == (4, None)
    # Garbage in a value nobody asked for is not an error; in one that was asked for it is.
    for fd in _with_content(tmp_path, b"good 1\nbad x\n"):
        assert reader.read_keyed(fd, (b"good",)) == (1,)
        with pytest.raises(ValueError):
            reader.read_keyed(fd, (b"bad",))
    for fd in _with_content(tmp_path, b"novalue\nk 1\n"):
        with pytest.raises(ValueError):
            reader.read_keyed(fd, (b"novalue",))


def test_pressure_files_of_the_fixture_hosts_read_as_the_parser_reads_them(reader: FdReader) -> None:
    for path in _fixture_files({"cpu.pressure", "memory.pressure", "io.pressure"}):
        for fd in _fd_of(path):
            assert reader.read_psi(fd) == psi_ints(parse_pressure(path.read_bytes())), path


@pytest.mark.parametrize(
    "content",
    [
        b"some avg10=1.25 avg60=0.50 avg300=0.03 total=123456789\nfull avg10=0.10 avg60=0.00 avg300=0.00 total=42\n",
        b"some avg10=99.99 avg60=12.34 avg300=0.01 total=18446744073709551615\n",  # no full line (cpu before 5.13)
        b"",
        b"full avg10=3.00 avg60=0.00 avg300=0.00 total=1\nsome avg10=0.00 avg60=0.00 avg300=0.00 total=2",  # order
        b"some avg10=1.00 total=1\nsome avg60=2.00 total=2\n",  # a later line replaces an earlier one entirely
        b"some avg10=0.00 avg60=0.00 avg300=0.00 total=5 newkey=x\nweird line\n",  # unknown keys and lines
        b"some avg10=0.00 avg60=0.00 avg300=0.00 total=5\r\nfull avg10=1.00 avg60=0.00 avg300=0.00 total=6\r\n",
    ],
)
def test_read_psi(reader: FdReader, tmp_path: Path, content: bytes) -> None:
    for fd in _with_content(tmp_path, content):
        assert reader.read_psi(fd) == psi_ints(parse_pressure(content))


@pytest.mark.parametrize(
    "content", [b"some avg10=x avg60=0.00 avg300=0.00 total=5\n", b"full total=12ab\n", b"some avg10= total=1\n"]
)
def test_read_psi_rejects_bad_values(reader: FdReader, tmp_path: Path, content: bytes) -> None:
    with pytest.raises(ValueError):
        parse_pressure(content)  # the reference parser
    for fd in _with_content(tmp_path, content):
        with pytest.raises(ValueError):
            reader.read_psi(fd)


def test_files_larger_than_the_first_read(reader: FdReader, tmp_path: Path) -> None:
    lines = [f"key_{i} {i * 1000}\n".encode() for i in range(5000)]  # ~70 KiB, several reads
    content = b"".join(lines)
    for fd in _with_content(tmp_path, content):
        assert reader.read_bytes(fd) == content
        assert reader.read_keyed(fd, (b"key_0", b"key_4999", b"key_2500")) == (0, 4999000, 2500000)
    for fd in _with_content(tmp_path, b" ".join(str(i).encode() for i in range(20000))):
        assert reader.read_ints(fd) == list(range(20000))


def test_readers_raise_oserror_on_a_bad_descriptor(reader: FdReader, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"1\n")
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    os.close(fd)
    with pytest.raises(OSError) as e:
        reader.read_int(fd)
    assert e.value.errno == errno.EBADF


def test_removed_cgroup_under_a_held_descriptor(reader: FdReader, test_cgroup: TestCgroup) -> None:
    """A real cgroup removed while its files are held: ENODEV from the reader, ContainerGone from the set."""
    d = test_cgroup.path("memory") if test_cgroup.version == 1 else test_cgroup.path()
    usage = os.path.join(d, "memory.usage_in_bytes" if test_cgroup.version == 1 else "memory.current")
    stat = os.path.join(d, "memory.stat")
    files = FileSet(FdBudget(16), reader)
    assert isinstance(files.read_int(usage), int)
    got = files.read_keyed(stat, (b"cache" if test_cgroup.version == 1 else b"file", b"no_such_key"))
    assert got is not None and isinstance(got[0], int) and got[1] is None
    assert len(files) == 2
    fd = os.open(stat, os.O_RDONLY | os.O_CLOEXEC)
    try:
        test_cgroup.close()
        assert not os.path.exists(d)
        with pytest.raises(OSError) as e:
            reader.read_keyed(fd, (b"cache",))
        assert e.value.errno == errno.ENODEV
    finally:
        os.close(fd)
    with pytest.raises(ContainerGone):
        files.read_int(usage)
    with pytest.raises(ContainerGone):
        files.read_keyed(stat, (b"cache",))
    files.close()


def test_missing_files_and_the_descriptor_budget(reader: FdReader, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"1\n")
    (tmp_path / "b").write_bytes(b"k 2\n")
    budget = FdBudget(1)
    files = FileSet(budget, reader)
    assert files.read_int(str(tmp_path / "nope")) is None
    assert files.read_keyed(str(tmp_path / "nope2"), (b"k",)) is None
    assert files.read_int(str(tmp_path / "a")) == 1
    # Past the budget the file is opened for each read and still read right.
    assert files.read_keyed(str(tmp_path / "b"), (b"k",)) == (2,)
    (tmp_path / "b").write_bytes(b"k 3\n")
    assert files.read_keyed(str(tmp_path / "b"), (b"k",)) == (3,)
    assert budget.used == 1 and len(files) == 1
    (tmp_path / "nope").write_bytes(b"5\n")
    assert files.read_int(str(tmp_path / "nope")) is None  # known missing until forget_missing
    files.forget_missing()
    assert files.read_int(str(tmp_path / "nope")) == 5
    files.close()
    assert budget.used == 0


def _same_sample(*collectors: CgroupCollector) -> tuple[ContainerStats, list[tuple[str, Exception]]]:
    """One sample from each collector: the same stats and the same failed families."""
    a, errs_a = collectors[0].collect(now_ns=1, pid=None)
    for c in collectors[1:]:
        b, errs_b = c.collect(now_ns=1, pid=None)
        assert a == b
        assert [(f, type(e)) for f, e in errs_a] == [(f, type(e)) for f, e in errs_b]
    return a, errs_a


def test_fast_families_fall_back_to_the_general_path(tmp_path: Path) -> None:
    """Once the one-call reads (native, and their Python twin) are in use, a corrupt, emptied or removed
    file still gives exactly what the general path gives: the family's error, the other value source,
    or None."""
    import shutil

    from pycadvisor.host.cgroups.detect import detect_cgroup_mounts

    shutil.copytree(HOSTS / "cgroup1-docker", tmp_path / "host", symlinks=True)
    paths = HostPaths.under(str(tmp_path / "host"))
    mounts = detect_cgroup_mounts(paths)
    cid = "5c2ea0b2e1d54f7b8a3f4a1c9d6e0b7f2a8c3d4e5f60718293a4b5c6d7e8f901"
    name = f"/docker/{cid}"
    opts = CollectOptions(metric_sets=frozenset({"cpu", "memory", "percpu"}), paths=paths)

    def collector(reader: FdReader) -> CgroupCollector:
        dirs = cgroup_dirs(mounts, name, paths.in_rootfs)
        return CgroupCollector(name, dirs, is_v2=False, files=FileSet(FdBudget(64), reader), opts=opts)

    fast_native, fast_python = CountingReader(_native()), CountingReader(PyFdReader())
    native, python, general = collector(fast_native), collector(fast_python), collector(GeneralPathReader())

    def both() -> tuple[ContainerStats, list[tuple[str, Exception]]]:
        return _same_sample(native, python, general)

    both()
    assert not fast_native.calls and not fast_python.calls  # the first sample opens the files
    both()  # the second is one call per family
    for r in (fast_native, fast_python):
        assert r.calls == {"v1_cpu": 1, "v1_memory": 1}
    mem_dir = tmp_path / "host" / "sys" / "fs" / "cgroup" / "memory" / "docker" / cid
    acct_dir = tmp_path / "host" / "sys" / "fs" / "cgroup" / "cpuacct" / "docker" / cid
    stat = (mem_dir / "memory.stat").read_bytes()
    (mem_dir / "memory.stat").write_bytes(stat.replace(b"total_rss ", b"total_rss x", 1))
    s, errs = both()
    assert [f for f, _ in errs] == ["memory"] and s.memory is None and s.cpu is not None
    (mem_dir / "memory.stat").write_bytes(stat.replace(b"total_inactive_file", b"other_key", 1))
    s, errs = both()
    assert not errs and s.memory is not None and s.memory.working_set == s.memory.usage
    (acct_dir / "cpuacct.usage_percpu").write_bytes(b"")  # no per-CPU figures: cpuacct.usage gives the total
    s, errs = both()
    assert not errs and s.cpu is not None and not s.cpu.usage.per_cpu_usage
    assert s.cpu.usage.total == int((acct_dir / "cpuacct.usage").read_bytes())
    (mem_dir / "memory.max_usage_in_bytes").write_bytes(b"")
    s, errs = both()
    assert not errs and s.memory is not None and s.memory.max_usage == 0
    for c in (native, python, general):
        c.close()


def test_v2_memory_family_falls_back_to_the_general_path(tmp_path: Path) -> None:
    """The v2 memory family's one call: the files a kernel may not have (memory.peak before 5.19,
    memory.swap.current without swap accounting, memory.events) read as 0 in both paths; a corrupt or
    emptied file gives what the general path gives."""
    import shutil

    from pycadvisor.host.cgroups.detect import detect_cgroup_mounts

    shutil.copytree(HOSTS / "cgroup2-systemd", tmp_path / "host", symlinks=True)
    paths = HostPaths.under(str(tmp_path / "host"))
    mounts = detect_cgroup_mounts(paths)
    name = "/system.slice/docker-8a1f3c5e7b9d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f13.scope"
    opts = CollectOptions(metric_sets=frozenset({"cpu", "memory", "pressure"}), paths=paths)

    def collector(reader: FdReader) -> CgroupCollector:
        dirs = cgroup_dirs(mounts, name, paths.in_rootfs)
        return CgroupCollector(name, dirs, is_v2=True, files=FileSet(FdBudget(64), reader), opts=opts)

    def collectors() -> tuple[list[CountingReader], list[CgroupCollector]]:
        fast = [CountingReader(_native()), CountingReader(PyFdReader())]
        return fast, [collector(fast[0]), collector(fast[1]), collector(GeneralPathReader())]

    fast, cs = collectors()

    def both() -> tuple[ContainerStats, list[tuple[str, Exception]]]:
        return _same_sample(*cs)

    first, _ = both()
    both()
    assert [r.calls["v2_memory"] for r in fast] == [1, 1]  # the second sample was the one-call read
    assert first.memory is not None and first.memory.usage > 0 and first.memory.max_usage > 0
    d = tmp_path / "host" / "sys" / "fs" / "cgroup" / name.lstrip("/")
    stat = (d / "memory.stat").read_bytes()
    (d / "memory.stat").write_bytes(stat.replace(b"\nanon ", b"\nanon x", 1) if b"\nanon " in stat else b"anon x\n")
    s, errs = both()
    assert [f for f, _ in errs] == ["memory"] and s.memory is None and s.cpu is not None
    (d / "memory.stat").write_bytes(stat.replace(b"inactive_file", b"other_key", 1))
    s, errs = both()
    assert not errs and s.memory is not None and s.memory.working_set == s.memory.usage
    (d / "memory.current").write_bytes(b"")  # as at a hierarchy's root: anon + file
    s, errs = both()
    assert not errs and s.memory is not None and s.memory.usage > 0
    for c in cs:
        c.close()

    # A kernel without the optional files: collectors that never saw them.
    (d / "memory.current").write_bytes(b"123456789\n")
    (d / "memory.stat").write_bytes(stat)
    for gone in ("memory.peak", "memory.swap.current", "memory.events"):
        (d / gone).unlink()
    fast, cs = collectors()
    both()  # the general path finds them missing
    s, errs = both()  # and the one call reads without them
    assert [r.calls["v2_memory"] for r in fast] == [1, 1]
    assert not errs and s.memory is not None and s.memory.usage == 123456789
    assert (s.memory.max_usage, s.memory.swap) == (0, 0)
    (d / "memory.peak").write_bytes(b"18446744073709551615\n")  # appears, beyond int64: the general path
    for c in cs:
        c.forget_missing()  # as at a global housekeeping: missing files looked for again
    both()
    s, errs = both()
    assert not errs and s.memory is not None and s.memory.max_usage == 2**63 - 1
    for c in cs:
        c.close()


def _all_samples(scenario: str | Path, reader: FdReader, *, rounds: int = 3) -> dict[str, list[list[int]]]:
    """Every container's values over ``rounds`` samples (the native reader's one-call family reads
    start with the second, once the first has opened the files)."""
    loop = asyncio.new_event_loop()
    # Not "disk": the root's filesystem figures are statvfs of this machine's mounts, which move between runs.
    sets = frozenset({"cpu", "memory", "diskIO", "network", "percpu", "pressure", "process", "hugetlb"})
    m = Manager(
        ManagerOptions(metric_sets=sets, global_housekeeping_interval_ns=0, update_machine_info_interval_ns=0),
        HostPaths.under(str(HOSTS / scenario)),
        clock=FakeClock(),
        reader=reader,
    )
    loop.run_until_complete(m.start())
    try:
        out: dict[str, list[list[int]]] = {}
        for name, st in m.containers.items():
            for _ in range(rounds):
                assert m.collect(st) is not None
                entry = st.history.latest_entry()
                assert entry is not None
                out.setdefault(name, []).append([*entry[1]])
        return out
    finally:
        loop.run_until_complete(m.stop())
        loop.close()


@pytest.mark.parametrize("scenario", ["cgroup1-docker", "cgroup2-systemd", "cgroup2-containerd"])
def test_manager_samples_are_the_same_with_either_reader(scenario: str) -> None:
    native = _all_samples(scenario, _native())
    assert _all_samples(scenario, PyFdReader()) == native
    assert _all_samples(scenario, GeneralPathReader()) == native
    assert len(native) >= 3 and max(len(v[-1]) for v in native.values()) > 20
