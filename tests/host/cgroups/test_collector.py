"""The collector gives the same samples whichever way it reads: the native reader's one-call family
reads, their pure-Python twin, or file by file (its general path, the reference), also when a file
turns corrupt, empty or missing under the one-call reads, and through the whole manager on the
fixture hosts."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from pycadvisor.clock import FakeClock
from pycadvisor.host.cgroups.collector import CgroupCollector, CollectOptions, cgroup_dirs
from pycadvisor.host.cgroups.detect import detect_cgroup_mounts
from pycadvisor.host.cgroups.fdread import FdReader, PyFdReader
from pycadvisor.host.cgroups.files import FdBudget, FileSet
from pycadvisor.host.paths import HostPaths
from pycadvisor.manager.manager import Manager, ManagerOptions
from pycadvisor.model.container import ContainerStats
from support.hosts import FIXTURE_HOSTS as HOSTS
from support.readers import CountingReader, GeneralPathReader, require_native


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
    shutil.copytree(HOSTS / "cgroup1-docker", tmp_path / "host", symlinks=True)
    paths = HostPaths.under(str(tmp_path / "host"))
    mounts = detect_cgroup_mounts(paths)
    cid = "5c2ea0b2e1d54f7b8a3f4a1c9d6e0b7f2a8c3d4e5f60718293a4b5c6d7e8f901"
    name = f"/docker/{cid}"
    opts = CollectOptions(metric_sets=frozenset({"cpu", "memory", "percpu"}), paths=paths)

    def collector(reader: FdReader) -> CgroupCollector:
        dirs = cgroup_dirs(mounts, name, paths.in_rootfs)
        return CgroupCollector(name, dirs, is_v2=False, files=FileSet(FdBudget(64), reader), opts=opts)

    fast_native, fast_python = CountingReader(require_native()), CountingReader(PyFdReader())
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
    shutil.copytree(HOSTS / "cgroup2-systemd", tmp_path / "host", symlinks=True)
    paths = HostPaths.under(str(tmp_path / "host"))
    mounts = detect_cgroup_mounts(paths)
    name = "/system.slice/docker-8a1f3c5e7b9d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f13.scope"
    opts = CollectOptions(metric_sets=frozenset({"cpu", "memory", "pressure"}), paths=paths)

    def collector(reader: FdReader) -> CgroupCollector:
        dirs = cgroup_dirs(mounts, name, paths.in_rootfs)
        return CgroupCollector(name, dirs, is_v2=True, files=FileSet(FdBudget(64), reader), opts=opts)

    def collectors() -> tuple[list[CountingReader], list[CgroupCollector]]:
        fast = [CountingReader(require_native()), CountingReader(PyFdReader())]
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
    native = _all_samples(scenario, require_native())
    assert _all_samples(scenario, PyFdReader()) == native
    assert _all_samples(scenario, GeneralPathReader()) == native
    assert len(native) >= 3 and max(len(v[-1]) for v in native.values()) > 20
