"""Issue 17 #2: the container image (deploy/Dockerfile, built offline by deploy/image/build.sh), run with the
``docker run`` line of its ``LABEL RUN`` (cAdvisor's mounts: the host's / at /rootfs, /var/run, /sys,
/var/lib/docker, all read-only), monitors the host from inside its container: host containers running before it
and started after it are named and measured, and machine info is the host's, not the container's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from support.ci import cannot_run
from support.deploy import REPO, run_label
from support.docker_engine import DockerEngine, require_engine
from support.procs import wait_until

TAG = "pycadvisor:test"
# One GET from inside the engine's network namespace, where the containers' bridge is (the engine has no uplink).
_GET = "import sys, urllib.request as u; sys.stdout.write(u.urlopen(sys.argv[1], timeout=5).read().decode())"


@pytest.fixture(scope="module")
def engine() -> Iterator[DockerEngine]:
    """An engine of its own: overlay2, as the shared vfs one copies the image's whole root per layer."""
    require_engine()
    cache = os.environ.get("PYCAD_IMAGE_CACHE", "/var/cache/pycadvisor")
    if shutil.which("debootstrap") is None and not any(n.startswith("base-") for n in _listdir(cache)):
        cannot_run("debootstrap not installed and no cached base layer (apt-get install debootstrap)")
    with DockerEngine(storage_driver="overlay2") as e:
        yield e


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


@pytest.fixture(scope="module")
def image(engine: DockerEngine) -> str:
    """The image, built by the README's command against this engine."""
    env = dict(os.environ, DOCKER_HOST=engine.endpoint, DOCKER=engine.cli, DOCKER_CONFIG=f"{engine.dir}/cli")
    env["PYTHON"] = sys.executable
    r = subprocess.run([str(REPO / "deploy/image/build.sh"), TAG], env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-1] == TAG
    return TAG


def _get(engine: DockerEngine, url: str) -> str:
    return engine.in_netns(sys.executable, "-c", _GET, url, timeout=30)


def _json(engine: DockerEngine, url: str) -> Any:
    return json.loads(_get(engine, url))


def _host_meminfo_bytes() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


def test_image_run_as_labelled_monitors_the_hosts_containers(engine: DockerEngine, image: str) -> None:
    line = run_label()
    opts = []
    for opt in line.options():
        # This engine keeps its data and socket in its own directory, not at /var/lib/docker and /var/run.
        opts.append(opt.replace("/var/lib/docker/:", f"{engine.data_root}:", 1))
    before = engine.run_busybox()  # a host container already running when pycadvisor starts
    started = time.monotonic()
    # --health-interval: the image's HEALTHCHECK command, run every second instead of every 30 s.
    me = engine.run(*opts, "--health-interval=1s", image, f"-docker=unix:///rootfs{engine.socket}")
    base = f"http://{engine.ip_of(me)}:8080"
    wait_until(lambda: _get(engine, base + "/healthz") == "ok", timeout=60, what="/healthz of the image")
    print(f"image {image}: first /healthz {time.monotonic() - started:.1f} s after docker run")

    def health() -> bool:
        return engine.docker("inspect", "-f", "{{.State.Health.Status}}", me.id) == "healthy"

    wait_until(health, timeout=30, what="docker to call the image healthy")

    # A container started on the host after pycadvisor: named through the engine, measured from the host's cgroups.
    host = engine.run_busybox("sh", "-c", "dd if=/dev/zero of=/dev/null bs=1M count=2000; exec sleep 3600")

    def measured() -> dict[str, Any] | None:
        docs = _json(engine, f"{base}/api/v1.3/docker/{host.id}")
        (info,) = docs.values()
        last = info["stats"][-1] if info.get("stats") else None
        ok = last and last["cpu"]["usage"]["total"] > 0 and last["memory"]["usage"] > 0
        return info if ok else None

    info = wait_until(measured, timeout=60, what="the host container named and measured")
    (earlier,) = _json(engine, f"{base}/api/v1.3/docker/{before.id}").values()
    assert earlier["aliases"] == [before.name, before.id]
    assert info["name"] == f"/docker/{host.id}"
    assert info["aliases"] == [host.name, host.id]
    assert info["spec"]["image"] == "pycad-bb:1"

    metrics = _get(engine, base + "/metrics")
    assert any(
        ln.startswith("container_cpu_usage_seconds_total{") and f'name="{host.name}"' in ln
        for ln in metrics.splitlines()
    )
    # pycadvisor sees itself too, as one of the host's containers.
    assert f'name="{me.name}"' in metrics

    # Machine info is the host's (its /etc has no machine-id; its cgroup may cap its memory).
    machine = _json(engine, base + "/api/v1.3/machine")
    with open("/etc/machine-id") as f:
        assert machine["machine_id"] == f.read().strip()
    assert machine["num_cores"] == os.cpu_count()
    assert machine["memory_capacity"] == _host_meminfo_bytes()
    assert "/docker" in {c["name"] for c in _json(engine, base + "/api/v1.3/containers/")["subcontainers"]}
