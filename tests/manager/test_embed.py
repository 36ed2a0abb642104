"""The manager embedded in a plain (non-asyncio) program."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycadvisor.errors import ContainerNotFound
from pycadvisor.host.paths import HostPaths
from pycadvisor.manager.embed import EmbeddedManager
from pycadvisor.manager.manager import ManagerOptions
from pycadvisor.model.container import ContainerInfo
from support.procs import wait_until

HOST = Path(__file__).resolve().parents[1] / "fixtures" / "hosts" / "cgroup2-systemd"


def test_embedded_manager_answers_from_another_thread() -> None:
    opts = ManagerOptions(housekeeping_interval_ns=50_000_000, initial_splay_factor=0.0, jitter_factor=0.0)
    with EmbeddedManager(opts, HostPaths.under(str(HOST))) as m:
        assert m.machine_info().num_cores == 4
        assert "/init.scope" in m.container_names()

        def sampled() -> ContainerInfo | None:
            info = m.container_info("/init.scope", num_stats=1)
            return info if info.stats else None

        info = wait_until(sampled, timeout=5, what="a first sample of /init.scope")
        assert info.stats and info.stats[0].cpu is not None and info.stats[0].cpu.usage.total == 12345678000
        with pytest.raises(ContainerNotFound):
            m.container_info("/nope")
