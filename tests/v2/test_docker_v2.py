"""A Docker container on a real cgroup v2 only host (scripts/test-v2's guest), in the order a host gives them:
pycadvisor first, then a private dockerd (cgroupfs driver, the only one without systemd), then a container.

The container is found by name and aliases with its labels, allow-listed env and image; its spec is what
cAdvisor reports on v2 (``cpu.weight`` mapped back to shares by lib/container/common/helpers.go
convertCPUWeightToCPULimit, ``cpu.max``'s quota and period, ``memory.max``); its CPU and memory move; its
``/metrics`` series carry the ``name``, ``image`` and ``container_label_*`` labels and exactly the families
cAdvisor emits for such a container on v2 (``cadvisor_families.py``); its deletion is seen with the exit
code. The engine's data root is on the guest's scratch disk, so the writable layer has a real block device.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from support.docker_engine import IMAGE, Container, DockerEngine, require_engine
from support.families import every_family, metric_families_of
from support.procs import wait_until
from support.services import http_request
from v2.cadvisor_families import ENABLE_METRICS, pycadvisor_expected

pytestmark = [pytest.mark.root, pytest.mark.service]

FAST = ("-housekeeping_interval=500ms", "-allow_dynamic_housekeeping=false", "-global_housekeeping_interval=1h")
# Writes that reach the disk (sync: v2 charges writeback to the writer's cgroup), then a busy loop that
# leaves with status 3 on docker stop's SIGTERM.
COMMAND = "dd if=/dev/zero of=/w bs=64k count=32 && sync && trap 'exit 3' TERM && while :; do :; done"
OPTS: tuple[str, ...] = ("--cpu-shares", "2048", "--cpus", "0.5", "-m", "256m", "--label", "bar=baz")
OPTS += ("-e", "TEST_VAR=FOO", "-e", "OTHER=x")


def cpu_weight_to_shares(weight: int) -> int:
    """cAdvisor's lib/container/common/helpers.go convertCPUWeightToCPULimit: [1, 10000] -> [2, 262144]."""
    return 2 + ((weight - 1) * 262142) // 9999


@pytest.fixture
def late_engine() -> Iterator[DockerEngine]:
    """An engine not started yet, its data root on the scratch disk (a block device: disk counters)."""
    require_engine()
    scratch = os.environ.get("PYCAD_V2_SCRATCH")
    assert scratch, "the guest has no scratch disk"
    eng = DockerEngine(data_root=os.path.join(scratch, f"docker-{secrets.token_hex(3)}"))
    try:
        yield eng
    finally:
        eng.cleanup()


def _info(d: Any, c: Container) -> dict[str, Any]:
    status, body = http_request("POST", f"{d.url}/api/v1.3/docker/{c.name}", {"num_stats": 1})
    assert status == 200, f"{c.name} -> {status}: {body[:300]!r}"
    ((name, info),) = json.loads(body).items()
    assert name == c.cgroup
    return dict(info)


def _cpu_total(d: Any, c: Container) -> int:
    return int(_info(d, c)["stats"][-1]["cpu"]["usage"]["total"])


def test_a_container_started_after_the_daemon_and_its_engine(
    late_engine: DockerEngine, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    eng = late_engine
    d = pycadvisor_daemon_factory(
        *FAST, f"-docker={eng.endpoint}", "-env_metadata_whitelist=TEST_VAR", f"-enable_metrics={ENABLE_METRICS}"
    )
    eng.start()
    c = eng.run_busybox("sh", "-c", COMMAND, opts=OPTS)
    wait_until(
        lambda: every_family(d, c.name, "docker"), timeout=30, what=f"cpu, memory and io of {c.name}", proc=d.process
    )

    # Name, aliases, labels, env allow-list, image.
    info = _info(d, c)
    assert info["aliases"] == [c.name, c.id] and info["namespace"] == "docker"
    spec = info["spec"]
    assert spec["labels"] == {"bar": "baz"}
    assert spec["envs"] == {"test_var": "FOO"}
    assert spec["image"] == IMAGE
    assert spec["has_cpu"] and spec["has_memory"] and spec["has_diskio"] and spec["has_network"]

    # The spec as cAdvisor gives it on v2: runc wrote --cpu-shares 2048 as a cpu.weight (79 with runc's
    # linear map up to 1.3, 174 with opencontainers/cgroups' quadratic one since v0.0.6), read back as
    # shares by cAdvisor's formula: 2046 or 4537, never 2048.
    with open(f"/sys/fs/cgroup/docker/{c.id}/cpu.weight") as f:
        weight = int(f.read())
    assert (weight, spec["cpu"]["limit"]) in {(79, 2046), (174, 4537)}
    assert spec["cpu"]["limit"] == cpu_weight_to_shares(weight)
    assert (spec["cpu"]["quota"], spec["cpu"]["period"]) == (50000, 100000)  # --cpus 0.5: cpu.max
    assert spec["memory"]["limit"] == 256 << 20

    # CPU of the busy loop moves; memory is held.
    t0 = _cpu_total(d, c)
    wait_until(lambda: _cpu_total(d, c) > t0 + 50_000_000, timeout=20, what="50 ms more CPU", proc=d.process)
    mem = _info(d, c)["stats"][-1]["memory"]
    assert 0 < mem["working_set"] <= mem["usage"]

    # /metrics: the container's labels, cpu="total" only (v2 has no per-CPU usage), and exactly the families
    # cAdvisor emits for a Docker container on v2 (and pycadvisor's additions, BEYOND_CADVISOR).
    status, body = d.get("/metrics")
    assert status == 200
    lines = [line for line in body.decode().splitlines() if line.startswith("container_cpu_usage_seconds_total{")]
    mine = [line for line in lines if f'id="{c.cgroup}"' in line]
    assert len(mine) == 1, mine
    for label in (f'name="{c.name}"', f'image="{IMAGE}"', 'container_label_bar="baz"', 'container_env_test_var="FOO"'):
        assert label in mine[0], (label, mine[0])
    assert re.search(r'[{,]cpu="total"[,}]', mine[0])
    present, absent = pycadvisor_expected("docker")

    def every_present() -> set[str] | None:
        fams = metric_families_of(d, c.cgroup)
        return fams if fams >= present else None

    got = wait_until(every_present, timeout=10, what="every family cAdvisor emits for a Docker container on v2")
    assert got & absent == set(), "families cAdvisor cannot emit on v2"
    assert {f for f in got if f.startswith("container_")} == present

    # Deletion: docker stop (SIGTERM, the loop exits 3), docker rm; the event carries the exit code.
    eng.docker("stop", "-t", "30", c.id, timeout=60)
    assert eng.inspect(c)["State"]["ExitCode"] == 3
    eng.rm(c)
    wait_until(lambda: d.get(f"/api/v1.3/containers{c.cgroup}")[0] == 404, timeout=10, what="the container removed")
    status, body = d.get(f"/api/v1.3/events{c.cgroup}?deletion_events=true")
    assert status == 200, body[:300]
    codes = [e["event_data"]["container_deletion"]["exit_code"] for e in json.loads(body)]
    assert codes == [3]
