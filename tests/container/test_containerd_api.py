"""containerd containers through pycadvisor's API: the real daemon (``-containerd=<sock> -containerd-namespace=<ns>``).

These need the containerd factory listed in ``container/registry.py``.
"""

from __future__ import annotations

import functools
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support import services as svc
from support.families import every_family, has_core_families
from support.procs import wait_until
from support.runtimes import containerd_with_busybox
from support.services import get_json_if_ok

pytestmark = [pytest.mark.root, pytest.mark.service]

FAST = ("-housekeeping_interval=200ms", "-allow_dynamic_housekeeping=false", "-global_housekeeping_interval=2s")


class Ctd:
    def __init__(self, srv: svc.ContainerdServer, image: str) -> None:
        self.srv = srv
        self.image = image

    def run(self, *opts: str, cmd: tuple[str, ...] = ("sleep", "600")) -> tuple[str, str]:
        """(id, cgroup) of a container started in a kubepods-style cgroup of namespace ``default``."""
        cid = uuid.uuid4().hex * 2
        cgroup = f"/kubepods/burstable/pod{uuid.uuid4()}/{cid}"
        self.srv.ctr("run", "-d", "--cgroup", cgroup, *opts, self.image, cid, *cmd)
        return cid, cgroup

    def flags(self, *extra: str) -> tuple[str, ...]:
        return (
            *FAST,
            f"-containerd={self.srv.socket}",
            "-containerd-namespace=default",
            "-env_metadata_whitelist=TEST_VAR",
            *extra,
        )


@pytest.fixture(scope="module")
def ctd(busybox_image: svc.BusyboxImage) -> Iterator[Ctd]:
    with containerd_with_busybox(busybox_image) as (srv, image):
        yield Ctd(srv, image)


def wait_spec(d: Any, alias: str) -> tuple[str, dict[str, Any]]:
    got = wait_until(
        lambda: get_json_if_ok(d, f"/api/v2.0/spec/{alias}?type=containerd"),
        timeout=20,
        what=f"{alias} in /api/v2.0/spec?type=containerd",
        proc=d.process,
    )
    ((name, spec),) = got.items()
    return name, spec


def test_container_found_with_namespace_aliases_labels_image_envs_and_stats(
    ctd: Ctd, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    cid, cgroup = ctd.run(
        "--label",
        "io.kubernetes.container.name=web",
        "--label",
        "io.kubernetes.pod.name=web-0",
        "--env",
        "TEST_VAR=FOO",
        "--memory-limit",
        str(64 << 20),
    )
    d = pycadvisor_daemon_factory(*ctd.flags())
    name, spec = wait_spec(d, cid)
    assert name == cgroup
    assert spec["namespace"] == "containerd"
    assert spec["aliases"] == [cid, cgroup]
    assert spec["labels"]["io.kubernetes.container.name"] == "web"
    assert spec["labels"]["io.kubernetes.pod.name"] == "web-0"
    assert spec["envs"] == {"TEST_VAR": "FOO"}
    assert spec["image"] == ctd.image
    assert spec["memory"]["limit"] == 64 << 20

    def two_samples() -> list[dict[str, Any]] | None:
        stats = get_json_if_ok(d, f"/api/v2.0/stats/{cid}?type=containerd&count=2")
        return stats[name] if stats and len(stats.get(name, [])) == 2 else None

    samples = wait_until(two_samples, timeout=10, what="two samples", proc=d.process)
    assert samples[-1]["memory"]["usage"] > 0 and samples[-1]["cpu"]["usage"]["total"] > 0
    assert "network" not in samples[-1] or not samples[-1]["network"].get("interfaces")  # not a sandbox

    status, body = d.get("/metrics")
    assert status == 200
    line = next(
        x for x in body.decode().splitlines() if x.startswith("container_memory_usage_bytes{") and f'id="{name}"' in x
    )
    # cAdvisor's aliases [id, name] make the Prometheus "name" label the id.
    assert f'name="{cid}"' in line and f'image="{ctd.image}"' in line
    assert 'container_label_io_kubernetes_container_name="web"' in line
    ctd.srv.ctr("tasks", "kill", "-s", "SIGKILL", cid, check=False)


def test_exit_code_reaches_the_deletion_event(ctd: Ctd, pycadvisor_daemon_factory: Callable[..., Any]) -> None:
    d = pycadvisor_daemon_factory(*ctd.flags())
    # It exits (3) when told to, once named: a loaded host may take longer than any fixed lifetime to name it.
    cid, cgroup = ctd.run(cmd=("sh", "-c", "until [ -e /tmp/exit ]; do sleep 0.1; done; exit 3"))
    wait_spec(d, cid)
    ctd.srv.ctr("tasks", "exec", "--exec-id", "exit", cid, "touch", "/tmp/exit")
    # ctr leaves the exited task in place; deleting it removes the cgroup (after /tasks/exit was published).
    wait_until(
        lambda: ctd.srv.ctr("tasks", "delete", cid, check=False).returncode == 0,
        timeout=15,
        what="the task to exit and be deleted",
        proc=d.process,
    )
    path = f"/api/v1.3/events{cgroup}?deletion_events=true"
    events = wait_until(lambda: get_json_if_ok(d, path) or None, timeout=20, what="a deletion event", proc=d.process)
    assert [e["event_data"]["container_deletion"]["exit_code"] for e in events] == [3]
    assert get_json_if_ok(d, f"/api/v2.0/spec/{cid}?type=containerd") is None


def test_containers_started_after_the_daemon_get_every_stat(
    ctd: Ctd, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    """Started while pycadvisor watches (its cgroup made one hierarchy after another): CPU, memory, IO."""
    d = pycadvisor_daemon_factory(*ctd.flags())
    started = [ctd.run(cmd=("sh", "-c", "while :; do :; done")) for _ in range(2)]
    try:
        for cid, cgroup in started:
            wait_until(
                functools.partial(every_family, d, cid, "containerd"),
                timeout=20,
                what=f"every family of {cid}",
                proc=d.process,
            )
            wait_until(
                functools.partial(has_core_families, d, cgroup),
                timeout=10,
                what=f"/metrics of {cid}",
            )
    finally:
        for cid, _ in started:
            ctd.srv.ctr("tasks", "kill", "-s", "SIGKILL", cid, check=False)


def test_a_socket_that_appears_after_the_daemon_is_picked_up_and_only_then_loads_grpclib(
    ctd: Ctd, pycadvisor_daemon_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """Started before containerd's socket exists (containerd installed later, or started after the daemon):
    its containers are raw cgroups and grpclib stays unimported (-X importtime logs every import) until
    the socket appears; then they are named, as when the socket was there from the start."""
    sock = tmp_path / "containerd.sock"
    cid, cgroup = ctd.run()
    d = pycadvisor_daemon_factory(
        *FAST, f"-containerd={sock}", "-containerd-namespace=default", env={"PYTHONPROFILEIMPORTTIME": "1"}
    )
    wait_until(lambda: get_json_if_ok(d, f"/api/v2.0/spec{cgroup}"), timeout=20, what="the raw cgroup", proc=d.process)
    assert get_json_if_ok(d, f"/api/v2.0/spec/{cid}?type=containerd") is None
    log = Path(d.process.log_path)
    assert not re.search(r"\| +grpclib\b", log.read_text())
    os.symlink(ctd.srv.socket, sock)  # the socket appears at the flag's path
    name, spec = wait_spec(d, cid)
    assert name == cgroup and spec["aliases"] == [cid, cgroup]
    assert re.search(r"\| +grpclib\b", log.read_text())
    ctd.srv.ctr("tasks", "kill", "-s", "SIGKILL", cid, check=False)
