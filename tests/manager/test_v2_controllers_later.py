"""cgroup v2: a cgroup whose controllers are enabled after its directory was made (the parent's
``cgroup.subtree_control`` written later, by a runtime or a user) is measured from then on.

Found by scripts/test-v2 on a real v2 kernel: the directory never changes, only its controller files
come, and the manager kept the spec and families it saw at discovery (``has_memory`` false, no memory)
until a global housekeeping, an hour later in that test. Here on a copy of the v2 fixture host.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from pycadvisor.clock import FakeClock
from pycadvisor.container.systemd import SystemdFactory
from pycadvisor.host.paths import HostPaths
from pycadvisor.manager.manager import Manager, ManagerOptions
from support.hosts import FIXTURE_HOSTS

NAME = "/init.scope"


def test_controllers_enabled_after_the_directory_are_read_at_the_next_sample(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE_HOSTS / "cgroup2-systemd", tmp_path / "host", symlinks=True)
    cg = tmp_path / "host" / "sys" / "fs" / "cgroup" / NAME.lstrip("/")
    stash = tmp_path / "stash"
    stash.mkdir()
    # The directory as the kernel makes it under a parent with no controller for its children.
    # (the kernel lists the parent's cgroup.subtree_control as the child's cgroup.controllers; the spec reads
    # the first, as cAdvisor's container/common/helpers.go, the collector the second)
    subtree = cg.parent / "cgroup.subtree_control"
    enabled, controllers = subtree.read_text(), (cg / "cgroup.controllers").read_text()
    subtree.write_text("\n")
    (cg / "cgroup.controllers").write_text("\n")
    for f in cg.iterdir():
        if f.name.split(".")[0] in ("memory", "io", "pids", "hugetlb", "cpuset") or f.name.startswith("cpu.max"):
            shutil.move(str(f), stash / f.name)
    loop = asyncio.new_event_loop()
    m = Manager(
        ManagerOptions(
            metric_sets=frozenset({"cpu", "memory", "diskIO"}),
            global_housekeeping_interval_ns=0,
            update_machine_info_interval_ns=0,
        ),
        HostPaths.under(str(tmp_path / "host")),
        clock=FakeClock(),
        factories=[SystemdFactory()],
    )
    loop.run_until_complete(m.start())
    try:
        st = m.get(NAME)
        for _ in range(20):  # well past the first samples, where missing controller directories are looked for
            assert m.collect(st) is not None
        assert not st.spec.has_memory
        latest = st.history.latest()
        assert latest is not None and latest.memory is None

        for f in stash.iterdir():  # the parent's cgroup.subtree_control gets "+memory +io +pids ..."
            shutil.move(str(f), cg / f.name)
        subtree.write_text(enabled)
        (cg / "cgroup.controllers").write_text(controllers)
        assert m.collect(st) is not None
        assert st.spec.has_memory and st.spec.has_diskio
        latest = st.history.latest()
        assert latest is not None and latest.memory is not None
        assert latest.memory.usage == int((cg / "memory.current").read_text())
    finally:
        loop.run_until_complete(m.stop())
        loop.close()
