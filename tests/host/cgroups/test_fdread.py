"""The native reader and its pure-Python twin read held descriptors to the same results.

The collector works with either (``pycadvisor.host.cgroups.fdread``); these tests hold them to the same
answers on the fixture hosts' real-format files and on edge cases (test_collector.py: the same samples
through the collector and the whole manager; test_rows.py: the one-call family reads).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycadvisor.host.cgroups.fdread import FdReader
from pycadvisor.host.cgroups.pressure import parse_pressure
from pycadvisor.host.cgroups.rows import parse_keyed
from pycadvisor.model.sample import psi_ints
from support.hosts import FIXTURE_HOSTS
from support.readers import require_native

KEYED = {"memory.stat", "cpu.stat", "cpuacct.stat", "memory.events", "memory.events.local"}
SINGLE = {
    "memory.usage_in_bytes", "memory.max_usage_in_bytes", "memory.failcnt", "memory.kmem.usage_in_bytes",
    "cpuacct.usage", "memory.current", "memory.peak", "memory.swap.current", "pids.current",
}  # fmt: skip


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
    found = sorted(p for p in FIXTURE_HOSTS.rglob("*") if p.name in names and p.is_file())
    assert len(found) >= 10, found  # the fixture hosts have these files in every cgroup
    return found


def test_native_is_built_where_the_suite_installs_it() -> None:
    require_native()


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
