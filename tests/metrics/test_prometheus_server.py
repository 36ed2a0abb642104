"""A real Prometheus scrapes real pycadvisor daemons.

1. One daemon on 127.0.0.1, a CPU-burner cgroup: PromQL ``rate()`` of its
   ``container_cpu_usage_seconds_total`` agrees with the kernel's own CPU accounting of the cgroup
   (one busy core on an idle machine).
2. A fleet: three daemons, each in its own network namespace joined by a veth pair to a namespace
   holding Prometheus (addresses 10.251.<k>.0/30 exist only inside those namespaces); Prometheus sees
   all three instances (``count by (instance) (container_last_seen)``).

Both need root, cgroups and the ``prometheus`` binary (Debian package ``prometheus``); under
``CI=true`` a missing piece is a failure, elsewhere a skip.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support import services as svc
from support.cgroups import TestCgroup
from support.ci import cannot_run, is_root, require
from support.procs import ManagedProcess, cpu_burner, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(REPO_ROOT / ".venv" / "bin" / "python") if (REPO_ROOT / ".venv").exists() else sys.executable


def _cgroup_cpu_ns(cg: TestCgroup) -> int:
    """The cgroup's CPU time in ns as the kernel accounts it (cpuacct.usage, or cpu.stat usage_usec)."""
    if cg.version == 1:
        return int(cg.get("cpuacct.usage"))
    for line in cg.get("cpu.stat").splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return int(value) * 1000
    raise AssertionError("no usage_usec in cpu.stat")


@pytest.mark.root
@pytest.mark.service
def test_prometheus_rate_of_a_cpu_burner_matches_the_kernel(
    test_cgroup: TestCgroup,
    pycadvisor_daemon_factory: Callable[..., Any],
    prometheus_factory: Callable[..., svc.PrometheusServer],
) -> None:
    cpu_burner(test_cgroup)
    daemon = pycadvisor_daemon_factory("-housekeeping_interval=1s")
    prom = prometheus_factory([f"127.0.0.1:{daemon.port}"], "1s")
    query = f'sum(rate(container_cpu_usage_seconds_total{{id="{test_cgroup.name}"}}[10s]))'
    prom.query(query, timeout=20)  # Prometheus has two samples of the burner in the window
    # The kernel's own rate over the last 10 s, then Prometheus's over the same 10 s: samples come every
    # 1-2 s (cAdvisor's jitter), so a shorter window holds too few of them when the host is loaded and
    # the burner's share of a core varies.
    k0, t0 = _cgroup_cpu_ns(test_cgroup), time.monotonic()
    time.sleep(10)
    k1, t1 = _cgroup_cpu_ns(test_cgroup), time.monotonic()
    kernel_cores = (k1 - k0) / (t1 - t0) / 1e9
    (result,) = prom.query_once(query)
    prom_cores = float(result["value"][1])
    assert kernel_cores > 0.2, f"the burner got only {kernel_cores:.2f} cores"
    assert abs(prom_cores - kernel_cores) <= 0.35 * kernel_cores + 0.05, (prom_cores, kernel_cores)
    # One busy core, less what other load on this machine took from it.
    assert 0.2 < prom_cores < 1.3
    (seen,) = prom.query_once(f'container_last_seen{{id="{test_cgroup.name}"}}')
    assert seen["metric"]["job"] == "pycadvisor"


# ---------------------------------------------------------------- the fleet in network namespaces


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


def _ns_http_get(ns: str, url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    """GET ``url`` from inside network namespace ``ns`` (the host cannot route to those addresses)."""
    code = (
        "import sys, urllib.request\n"
        "try:\n"
        f"    r = urllib.request.urlopen(sys.argv[1], timeout={timeout})\n"
        "    sys.stdout.buffer.write(b'%d\\n' % r.status + r.read())\n"
        "except Exception as e:\n"
        "    sys.stdout.buffer.write(b'0\\n' + str(e).encode())\n"
    )
    p = subprocess.run(
        ["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-c", code, url],
        capture_output=True,
        timeout=timeout + 10,
        check=False,
    )
    status, _, body = p.stdout.partition(b"\n")
    return int(status or b"0"), body


class Fleet:
    """Namespaces, veth pairs and processes of the fleet test; everything is removed on close."""

    def __init__(self, workdir: Path, n: int) -> None:
        self.workdir = workdir
        sfx = uuid.uuid4().hex[:6]
        self.prom_ns = f"pcxm-prom-{sfx}"
        self.daemon_ns = [f"pcxm-d{k}-{sfx}" for k in range(1, n + 1)]
        self.targets = [f"10.251.{k}.2:8080" for k in range(1, n + 1)]
        self.sfx = sfx
        self.namespaces: list[str] = []
        self.procs: list[ManagedProcess] = []

    def build(self) -> None:
        for ns in (self.prom_ns, *self.daemon_ns):
            _run("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        for k, ns in enumerate(self.daemon_ns, start=1):
            outer, inner = f"pxp{k}{self.sfx}", f"pxd{k}{self.sfx}"  # <= 15 chars (IFNAMSIZ)
            _run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            _run("ip", "link", "set", outer, "netns", self.prom_ns)
            _run("ip", "link", "set", inner, "netns", ns)
            _run("ip", "-n", self.prom_ns, "addr", "add", f"10.251.{k}.1/30", "dev", outer)
            _run("ip", "-n", ns, "addr", "add", f"10.251.{k}.2/30", "dev", inner)
            _run("ip", "-n", self.prom_ns, "link", "set", outer, "up")
            _run("ip", "-n", ns, "link", "set", inner, "up")

    def healthy(self, target: str) -> bool:
        """Whether the pycadvisor at ``target`` answers /healthz (asked from the Prometheus namespace)."""
        return _ns_http_get(self.prom_ns, f"http://{target}/healthz") == (200, b"ok")

    def start_daemons(self) -> None:
        for k, ns in enumerate(self.daemon_ns, start=1):
            argv = [
                "nsenter", f"--net=/run/netns/{ns}", PYTHON, "-m", "pycadvisor",
                f"-listen_ip=10.251.{k}.2", "-port=8080", "-docker_only=true", "-housekeeping_interval=1s",
            ]  # fmt: skip
            self.procs.append(
                ManagedProcess(
                    argv, what=f"pycadvisor in {ns}", log_path=str(self.workdir / f"d{k}.log"), cwd=str(REPO_ROOT)
                )
            )
        for proc, target in zip(self.procs, self.targets, strict=True):
            wait_until(
                functools.partial(self.healthy, target),
                timeout=30,
                interval=0.5,
                what=f"pycadvisor /healthz at {target} (from {self.prom_ns})",
                proc=proc,
            )

    def start_prometheus(self, exe: str) -> ManagedProcess:
        conf = self.workdir / "prometheus.yml"
        conf.write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
                    "scrape_configs": [{"job_name": "fleet", "static_configs": [{"targets": self.targets}]}],
                }
            )
        )
        argv = [
            "nsenter", f"--net=/run/netns/{self.prom_ns}", exe, f"--config.file={conf}",
            f"--storage.tsdb.path={self.workdir / 'data'}", "--web.listen-address=127.0.0.1:9090", "--log.level=warn",
        ]  # fmt: skip
        prom = ManagedProcess(argv, what=f"prometheus in {self.prom_ns}", log_path=str(self.workdir / "prom.log"))
        self.procs.append(prom)
        wait_until(
            lambda: _ns_http_get(self.prom_ns, "http://127.0.0.1:9090/-/ready")[0] == 200,
            timeout=30,
            interval=0.5,
            what="prometheus /-/ready",
            proc=prom,
        )
        return prom

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = "http://127.0.0.1:9090/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        status, body = _ns_http_get(self.prom_ns, url)
        if status != 200:
            return []
        result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
        return result

    def close(self) -> None:
        errors = []
        for p in reversed(self.procs):
            code = p.stop(timeout=15)
            if "pycadvisor" in p.what and code != 0:
                errors.append(f"{p.what} exited with {code}\n{p.log_tail()}")
        for ns in self.namespaces:  # deleting a namespace deletes its end of each veth pair
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30, check=False)
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    require(is_root(), "network namespaces need root")
    for tool in ("ip", "nsenter"):
        require(shutil.which(tool), f"{tool} not installed")
    f = Fleet(tmp_path, 3)
    try:
        f.build()
        yield f
    finally:
        f.close()


@pytest.mark.root
@pytest.mark.service
def test_prometheus_sees_a_fleet_of_three_daemons_in_network_namespaces(fleet: Fleet) -> None:
    try:
        exe = svc.binary("prometheus")
    except svc.ServiceUnavailable as e:
        cannot_run(str(e))
    fleet.start_daemons()
    prom = fleet.start_prometheus(exe)
    result = wait_until(
        lambda: r if len(r := fleet.query("count by (instance) (container_last_seen)")) == 3 else None,
        timeout=40,
        interval=0.5,
        what="container_last_seen from three instances",
        proc=prom,
    )
    assert {r["metric"]["instance"] for r in result} == set(fleet.targets)
    assert all(int(r["value"][1]) >= 1 for r in result)  # at least the root container of each host
    up = fleet.query("up")
    assert {r["metric"]["instance"]: r["value"][1] for r in up} == {t: "1" for t in fleet.targets}
    assert os.path.exists(f"/run/netns/{fleet.prom_ns}")
