"""Podman containers through pycadvisor's API: the real daemon (``-podman=unix://<sock>``), a real Podman service.

These need the Podman factory listed in ``container/registry.py``.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from support import services as svc
from support.families import every_family, has_core_families
from support.procs import wait_until
from support.runtimes import podman_with_busybox
from support.services import get_json_if_ok
from support.sockets import HungSocket

pytestmark = [pytest.mark.root, pytest.mark.service]

FAST = ("-housekeeping_interval=200ms", "-allow_dynamic_housekeeping=false", "-global_housekeeping_interval=2s")


class Pod:
    def __init__(self, srv: svc.PodmanService, image: str) -> None:
        self.srv = srv
        self.image = image

    def run(self, name: str, *opts: str, cmd: tuple[str, ...] = ("sleep", "600")) -> str:
        out = self.srv.podman("run", "-d", "--network", "none", "--name", name, *opts, self.image, *cmd)
        return out.stdout.strip().splitlines()[-1]

    def flags(self, *extra: str) -> tuple[str, ...]:
        return (*FAST, f"-podman=unix://{self.srv.socket}", "-env_metadata_whitelist=TEST_VAR", *extra)


@pytest.fixture(scope="module")
def pod(busybox_image: svc.BusyboxImage) -> Iterator[Pod]:
    with podman_with_busybox(busybox_image) as (srv, image):
        yield Pod(srv, image)


def wait_spec(d: Any, alias: str) -> tuple[str, dict[str, Any]]:
    """(cgroup name, v2 spec) once ``/api/v2.0/spec/<alias>?type=podman`` knows the container."""
    got = wait_until(
        lambda: get_json_if_ok(d, f"/api/v2.0/spec/{alias}?type=podman"),
        timeout=20,
        what=f"{alias} in /api/v2.0/spec?type=podman",
        proc=d.process,
    )
    ((name, spec),) = got.items()
    return name, spec


def test_container_found_by_name_and_id_with_labels_image_envs_and_stats(
    pod: Pod, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    cid = pod.run("pcapi-web", "--label", "team=obs", "-e", "TEST_VAR=FOO", "-e", "OTHER=x", "-m", "64m")
    d = pycadvisor_daemon_factory(*pod.flags())
    name, spec = wait_spec(d, "pcapi-web")
    assert name == f"/libpod_parent/libpod-{cid}"
    assert spec["namespace"] == "podman"
    assert spec["aliases"] == ["pcapi-web", cid]
    assert spec["labels"] == {"team": "obs"}
    assert spec["envs"] == {"test_var": "FOO"}
    assert spec["image"] == pod.image
    assert spec["memory"]["limit"] == 64 << 20
    # By id and by unique id prefix too.
    assert list(get_json_if_ok(d, f"/api/v2.0/spec/{cid}?type=podman")) == [name]
    assert list(get_json_if_ok(d, f"/api/v2.0/spec/{cid[:12]}?type=podman")) == [name]

    def two_samples() -> list[dict[str, Any]] | None:
        stats = get_json_if_ok(d, "/api/v2.0/stats/pcapi-web?type=podman&count=2")
        return stats[name] if stats and len(stats.get(name, [])) == 2 else None

    samples = wait_until(two_samples, timeout=10, what="two samples", proc=d.process)
    assert samples[-1]["memory"]["usage"] > 0
    assert samples[-1]["cpu"]["usage"]["total"] > 0

    # Every podman container, and only those, with type=podman&recursive=true at "/".
    everything = get_json_if_ok(d, "/api/v2.0/spec/?type=podman&recursive=true")
    assert name in everything and all(s["namespace"] == "podman" for s in everything.values())

    status, body = d.get("/metrics?type=podman")
    assert status == 200
    text = body.decode()
    line = next(x for x in text.splitlines() if x.startswith("container_memory_usage_bytes{"))
    assert f'id="{name}"' in line and 'name="pcapi-web"' in line and f'image="{pod.image}"' in line
    assert 'container_label_team="obs"' in line

    status, body = d.get("/podman/pcapi-web")
    assert status == 200 and b"<html" in body.lower()
    pod.srv.podman("rm", "-f", "-t", "0", cid)


def test_removal_and_exit_code_reach_the_deletion_event(
    pod: Pod, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    d = pycadvisor_daemon_factory(*pod.flags())
    # It exits (3) when told to, once named: a loaded host may take longer than any fixed lifetime to name it.
    cid = pod.run("pcapi-exit", cmd=("sh", "-c", "until [ -e /tmp/exit ]; do sleep 0.1; done; exit 3"))
    name, _ = wait_spec(d, "pcapi-exit")
    pod.srv.podman("exec", cid, "touch", "/tmp/exit")
    path = f"/api/v1.3/events{name}?deletion_events=true"

    def deletions() -> list[dict[str, Any]] | None:
        events = get_json_if_ok(d, path)
        return events or None

    events = wait_until(deletions, timeout=20, what="a deletion event", proc=d.process)
    assert [e["event_data"]["container_deletion"]["exit_code"] for e in events] == [3]
    assert get_json_if_ok(d, "/api/v2.0/spec/pcapi-exit?type=podman") is None
    pod.srv.podman("rm", "-f", cid, check=False)


def test_names_come_back_when_the_service_returns(
    pod: Pod, pycadvisor_daemon_factory: Callable[..., Any], tmp_path: Any
) -> None:
    """The socket is absent at start: raw names, stats flowing; once it answers, names are attached."""
    cid = pod.run("pcapi-late")
    sock = tmp_path / "podman.sock"
    d = pycadvisor_daemon_factory(*FAST, f"-podman=unix://{sock}")
    name = f"/libpod_parent/libpod-{cid}"

    def raw_with_samples() -> dict[str, Any] | None:
        stats = get_json_if_ok(d, f"/api/v2.0/stats{name}?count=2")
        return stats if stats and len(stats.get(name, [])) == 2 else None

    wait_until(raw_with_samples, timeout=15, what="raw stats of the container", proc=d.process)
    assert get_json_if_ok(d, "/api/v2.0/spec/pcapi-late?type=podman") is None
    sock.symlink_to(pod.srv.socket)
    found, spec = wait_spec(d, "pcapi-late")
    assert found == name and spec["aliases"] == ["pcapi-late", cid]
    pod.srv.podman("rm", "-f", "-t", "0", cid)


def test_containers_started_after_the_daemon_get_every_stat(
    pod: Pod, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    """Started while pycadvisor watches (its cgroup made one hierarchy after another): CPU, memory, IO."""
    d = pycadvisor_daemon_factory(*pod.flags())
    names = [f"pcapi-late{i}" for i in range(2)]
    ids = [pod.run(n, cmd=("sh", "-c", "while :; do :; done")) for n in names]
    try:
        for n in names:
            wait_until(
                functools.partial(every_family, d, n, "podman"), timeout=20, what=f"every family of {n}", proc=d.process
            )
            cgroup, _ = wait_spec(d, n)
            wait_until(
                functools.partial(has_core_families, d, cgroup),
                timeout=10,
                what=f"/metrics of {n}",
            )
    finally:
        for cid in ids:
            pod.srv.podman("rm", "-f", "-t", "0", cid, check=False)


def test_a_service_slow_at_start_names_its_containers_once_it_answers(
    pod: Pod, pycadvisor_daemon_factory: Callable[..., Any], tmp_path: Any
) -> None:
    """Podman's socket accepts but does not answer while pycadvisor starts (a wedged or still-starting
    service): the container is monitored raw, and named as soon as the service answers, without
    waiting for the next global housekeeping (an hour here); the log says what failed and after how
    long (issue 13)."""
    cid = pod.run("pcapi-slow")
    name = f"/libpod_parent/libpod-{cid}"
    sock = str(tmp_path / "podman.sock")
    hung = HungSocket(sock)
    try:
        d = pycadvisor_daemon_factory(
            *FAST, f"-podman=unix://{sock}", "-global_housekeeping_interval=1h", "-runtime_timeout=1s"
        )
        wait_until(
            lambda: len((get_json_if_ok(d, f"/api/v2.0/stats{name}?count=2") or {}).get(name, [])) == 2,
            timeout=15,
            what="raw stats of the container",
            proc=d.process,
        )
        wait_until(lambda: "did not answer" in d.log(), timeout=10, what="the failure in the log", proc=d.process)
        assert get_json_if_ok(d, "/api/v2.0/spec/pcapi-slow?type=podman") is None
    finally:
        hung.close()  # the service answers from now on
    os.symlink(pod.srv.socket, sock)
    found, spec = wait_spec(d, "pcapi-slow")
    assert found == name and spec["aliases"] == ["pcapi-slow", cid]
    line = next(x for x in d.log().splitlines() if "did not answer" in x)
    assert re.search(r"after \d+\.\d+ s \(.+\)", line), line  # what failed, and after how long
    pod.srv.podman("rm", "-f", "-t", "0", cid)
