"""pycadvisor on a real cgroup v2 only host (scripts/test-v2's guest), against the kernel's own files.

One daemon watches cgroups made while it runs, the way they are made on v2: a directory first, its
controllers enabled afterwards in the parent's ``cgroup.subtree_control`` (the v2 form of runc making a
container's hierarchies one by one). Then a CPU burner, held memory, writes through ``io.max`` and a pids
limit load it, and what the daemon serves is compared with ``cpu.stat``, ``memory.current``,
``memory.stat``, ``io.stat`` and the pressure files; what differs from v1 is asserted (``io.stat``'s
``Read``/``Write`` only, no per-CPU usage, ``working_set`` from ``inactive_file``, the pressure families),
as cAdvisor's ``container/libcontainer/handler.go`` and ``metrics/prometheus.go`` give them on v2.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

import pytest

from support.cgroups import TestCgroup
from support.families import metric_families_of
from support.procs import block_device_of, cpu_burner, disk_writer, memory_holder, wait_until
from support.services import http_request
from v2.cadvisor_families import ENABLE_METRICS, pycadvisor_expected

pytestmark = pytest.mark.root

FAST = ("-housekeeping_interval=200ms", "-allow_dynamic_housekeeping=false", "-global_housekeeping_interval=1h")
CONTROLLERS = "+cpu +memory +io +pids"


def _stats(d: Any, name: str, n: int = 1) -> list[dict[str, Any]]:
    status, body = http_request("POST", d.url + "/api/v1.3/containers" + name, {"num_stats": n})
    assert status == 200, f"{name} -> {status}: {body[:300]!r}"
    return list(json.loads(body).get("stats", []))


def _spec(d: Any, name: str) -> dict[str, Any] | None:
    status, body = d.get("/api/v2.0/spec" + name)
    if status != 200:
        return None
    spec: dict[str, Any] = json.loads(body)[name]
    return spec


def _kv(path: str) -> dict[str, int]:
    with open(path) as f:
        return {k: int(v) for k, v in (line.split() for line in f if line.strip())}


def _pressure_total(path: str, kind: str) -> int:
    with open(path) as f:
        line = next(line for line in f if line.startswith(kind + " "))
    return int(line.rsplit("total=", 1)[1])


def test_a_cgroup_whose_controllers_come_later_is_measured_as_the_kernel_counts(
    pycadvisor_daemon_factory: Callable[..., Any], test_cgroup: TestCgroup
) -> None:
    # The parent exists with no controller for its children (and a pids limit of its own); the
    # container's directory is made under it while the daemon runs, and gets its controllers afterwards.
    parent = test_cgroup.child("pod")
    parent.set("pids.max", 64)
    d = pycadvisor_daemon_factory(*FAST, f"-enable_metrics={ENABLE_METRICS}")
    work = parent.child("work", create=False)
    os.mkdir(work.path())
    spec = wait_until(lambda: _spec(d, work.name), timeout=10, what=f"{work.name} found while the daemon runs")
    assert not spec["has_memory"] and not spec["has_cpu"], spec  # no controller files yet
    parent.set("cgroup.subtree_control", CONTROLLERS)
    wait_until(
        lambda: (s := _spec(d, work.name)) and s["has_cpu"] and s["has_memory"] and s["has_diskio"],
        timeout=10,
        what=f"cpu, memory and io of {work.name} once its controllers are enabled",
    )

    # CPU: the daemon's last sample after the burner stopped is the kernel's cpu.stat.
    burner = cpu_burner(work)
    wait_until(
        lambda: _stats(d, work.name)[-1]["cpu"]["usage"]["total"] > 300_000_000,
        timeout=20,
        what="0.3 s of CPU",
    )
    burner.stop()
    kernel = _kv(work.path("cpu") + "/cpu.stat")

    def settled() -> dict[str, Any] | None:
        usage: dict[str, Any] = _stats(d, work.name)[-1]["cpu"]["usage"]
        return usage if abs(usage["total"] - kernel["usage_usec"] * 1000) <= 0.1 * kernel["usage_usec"] * 1000 else None

    usage = wait_until(settled, timeout=10, what="a sample within 10 % of cpu.stat usage_usec")
    assert "per_cpu_usage" not in usage  # v2 has no per-CPU usage
    assert usage["user"] + usage["system"] == pytest.approx(usage["total"], rel=0.1)

    # Memory: a holder's 48 MiB, working_set = memory.current - inactive_file (memory.stat).
    holder = memory_holder(work, 48)
    with open(work.path() + "/memory.current") as f:
        current = int(f.read())
    # The latest sample may predate the holder's "ready": usage also counts the interpreter's own pages, so
    # it passes 48 MiB while the holder is still touching its buffer (a sample with usage >= 48 MiB and anon
    # 45.8 MiB was seen), and memory.stat's anon may trail memory.current by a flush of the per-CPU memcg
    # counters (mm/memcontrol.c). Wait for both in one sample.
    mem = wait_until(
        lambda: (m := _stats(d, work.name)[-1]["memory"])["usage"] >= 48 << 20 and m["rss"] >= 48 << 20 and m,
        timeout=10,
        what="48 MiB held, in memory.current and in memory.stat's anon",
    )
    assert mem["usage"] == pytest.approx(current, rel=0.1)
    assert mem["working_set"] == max(0, mem["usage"] - mem["total_inactive_file"])
    assert set(mem["events"]) == {"high", "max"}
    holder.stop()

    # IO through an io.max limit on the scratch disk: io.stat's bytes, Read and Write only.
    scratch = os.environ.get("PYCAD_V2_SCRATCH")
    assert scratch, "the guest has no scratch disk"
    major, minor = block_device_of(scratch)
    work.set("io.max", f"{major}:{minor} wbps={64 << 20}")
    disk_writer(work, 16, os.path.join(scratch, "w.bin"), hold=False)
    io_stat = {}
    with open(work.path() + "/io.stat") as f:
        for line in f:
            dev, *kv = line.split()
            io_stat[dev] = dict(x.split("=") for x in kv)

    wbytes = int(io_stat[f"{major}:{minor}"]["wbytes"])
    assert wbytes >= 16 << 20

    def written() -> dict[str, Any] | None:
        entries = _stats(d, work.name)[-1].get("diskio", {}).get("io_service_bytes", [])
        entry = next((e for e in entries if (e["major"], e["minor"]) == (major, minor)), None)
        return entry if entry is not None and entry["stats"]["Write"] >= wbytes else None

    entry = wait_until(written, timeout=10, what=f"io_service_bytes of {major}:{minor} up to io.stat's wbytes")
    assert set(entry["stats"]) == {"Read", "Write"}
    assert entry["stats"]["Write"] == wbytes

    # Pids: the v1 spec's limit is pids.max (the v2 spec has none, as cAdvisor's), and the container
    # whose parent enabled "pids" has processes.
    status, body = d.get("/api/v1.3/containers" + parent.name)
    assert status == 200 and json.loads(body)["spec"]["processes"] == {"limit": 64}
    status, body = d.get("/api/v1.3/containers" + work.name)
    assert status == 200 and json.loads(body)["spec"]["has_processes"] is True

    # Pressure: a burner held to 5 % of a CPU stalls, and the daemon's cpu.psi follows cpu.pressure.
    work.set("cpu.max", "5000 100000")
    burner = cpu_burner(work)
    wait_until(
        lambda: _pressure_total(work.path() + "/cpu.pressure", "some") > 200_000, timeout=20, what="0.2 s stalled"
    )
    burner.stop()
    kernel_some = _pressure_total(work.path() + "/cpu.pressure", "some")
    psi = wait_until(
        lambda: (p := _stats(d, work.name)[-1]["cpu"]["psi"])["some"]["total"] >= kernel_some and p,
        timeout=10,
        what="cpu.psi some total up to cpu.pressure's",
    )
    assert psi["some"]["total"] == pytest.approx(kernel_some, rel=0.1)
    assert _stats(d, work.name)[-1]["cpu"]["cfs"]["throttled_periods"] > 0

    # The families of /metrics on v2: exactly those cAdvisor emits for a raw cgroup there
    # (cadvisor_families.py: pressure, memory events, io.stat's bytes and ios; no NUMA pages, no
    # sector/merged/time io families), and CPU usage as cpu="total" alone (no per-CPU usage on v2).
    # The CFS families follow the quota of the spec served: cpu.max was written long after the cgroup was
    # made, which the spec shows from the next global housekeeping (cAdvisor: within 5 s of a read).
    status, body = d.get("/metrics")
    assert status == 200
    text = body.decode()
    ident = re.escape(work.name)
    served = _spec(d, work.name)
    assert served is not None
    present, absent = pycadvisor_expected("raw", quota=served["cpu"].get("quota", 0) != 0)
    families = {f for f in metric_families_of(d, work.name) if f.startswith("container_")}
    assert families & absent == set(), "families cAdvisor cannot emit on v2"
    assert families == present, (sorted(present - families), sorted(families - present))
    cpu_labels = set(
        re.findall(rf'^container_cpu_usage_seconds_total{{[^}}]*cpu="([^"]*)"[^}}]*id="{ident}"', text, re.M)
    )
    assert cpu_labels == {"total"}

    # Removal: the daemon forgets the cgroup.
    work_path = work.path()
    os.rmdir(work_path)
    wait_until(lambda: d.get("/api/v2.0/spec" + work.name)[0] == 404, timeout=10, what=f"{work.name} removed")
