"""Held descriptors (files.py): a cgroup removed under them, missing files, and the descriptor budget,
with either reader."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from pycadvisor.host.cgroups.fdread import FdReader
from pycadvisor.host.cgroups.files import ContainerGone, FdBudget, FileSet
from support.cgroups import TestCgroup


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
