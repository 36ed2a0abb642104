"""Fixtures of the host readers' tests: the fixture host's procfs tree, and processes started for a test."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pycadvisor.host.paths import HostPaths
from support.hosts import PROCFS_FIXTURES
from support.procs import ManagedProcess


@pytest.fixture
def host(tmp_path: Path) -> HostPaths:
    """The fixture host, copied so that the empty fd directories git cannot hold exist."""
    root = tmp_path / "host"
    shutil.copytree(PROCFS_FIXTURES / "host", root, symlinks=True)
    for pid in (2, 3, 104):  # kernel threads and the zombie have no open files
        (root / "proc" / str(pid) / "fd").mkdir()
    return HostPaths.under(str(root))


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., ManagedProcess]]:
    """``spawn(argv, ready=False) -> ManagedProcess``; every process is stopped by PID after the test."""
    started: list[ManagedProcess] = []

    def start(argv: list[str], *, ready: bool = False) -> ManagedProcess:
        p = ManagedProcess(argv, what=argv[0], log_path=str(tmp_path / f"p{len(started)}.log"), stdout_pipe=ready)
        started.append(p)
        if ready:
            assert p.read_line(30) == "ready", p.log_tail()
        return p

    yield start
    for p in started:
        p.stop()
