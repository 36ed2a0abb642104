"""Containers found while the daemon runs, made as runtimes make them (issue 13, item 1).

runc makes a container's cgroup one v1 hierarchy after another, and inotify reports the first
directory at once: the daemon must not freeze the set of controllers it saw then. Here each cgroup
is made hierarchy by hierarchy, with the daemon sampling it between two directories, in several
orders; then work is moved in, and every family must be collected. A hierarchy's directory that
vanishes while the container lives is dropped the same way, without losing the container's samples.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

import pytest

from support.cgroups import TestCgroup
from support.procs import cpu_burner, memory_holder, wait_until
from support.services import http_request

pytestmark = pytest.mark.root

FAST = ("-housekeeping_interval=200ms", "-allow_dynamic_housekeeping=false", "-global_housekeeping_interval=1h")


def _json(d: Any, path: str) -> Any:
    status, body = d.get(path)
    assert status == 200, f"{path} -> {status}: {body[:300]!r}"
    return json.loads(body)


def _stats(d: Any, name: str, n: int = 1) -> list[dict[str, Any]]:
    status, body = http_request("POST", d.url + "/api/v1.3/containers" + name, {"num_stats": n})
    assert status == 200, f"{name} -> {status}: {body[:300]!r}"
    return list(json.loads(body).get("stats", []))


def _spec(d: Any, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = _json(d, "/api/v2.0/spec" + name)[name]
    return spec


def _sample_count(d: Any, name: str) -> int:
    return len(_stats(d, name, 1000))


def _orders(roots: list[str]) -> list[list[str]]:
    """Hierarchy orders a runtime may use: as mounted, reversed, memory first, blkio first."""
    out = [list(roots), list(reversed(roots))]
    for ctrl in ("memory", "blkio"):
        first = [r for r in roots if os.path.basename(r).split(",").count(ctrl)]
        out.append(first + [r for r in roots if r not in first])
    return out


def test_cgroups_made_hierarchy_by_hierarchy_get_every_family(
    pycadvisor_daemon_factory: Callable[..., Any], test_cgroup: TestCgroup
) -> None:
    if test_cgroup.version != 1:
        pytest.skip("one directory per container on cgroup v2: nothing is made one hierarchy at a time")
    d = pycadvisor_daemon_factory(*FAST)
    roots = test_cgroup.layout.unique_roots()
    staged: list[TestCgroup] = []
    for i, order in enumerate(_orders(roots)):
        cg = test_cgroup.child(f"staged{i}", create=False)
        staged.append(cg)
        for root in order:
            cg.make_in(root)
            # The daemon has seen (and sampled) the cgroup as it is now, before the next hierarchy.
            seen = _sample_count(d, cg.name) if d.get("/api/v1.3/containers" + cg.name)[0] == 200 else 0
            wait_until(
                lambda cg=cg, seen=seen: _sample_count(d, cg.name) > seen,  # type: ignore[misc]
                timeout=10,
                what=f"a sample of {cg.name} after {root}",
            )
    cpu_burner(staged[0])
    for cg in staged:
        memory_holder(cg, 8)

    def collected(cg: TestCgroup) -> dict[str, Any] | None:
        spec = _spec(d, cg.name)
        if not (spec["has_cpu"] and spec["has_memory"] and spec["has_diskio"]):
            return None
        last = _stats(d, cg.name)[-1]
        if last["cpu"]["usage"]["total"] <= 0 or last["memory"]["usage"] < 8 << 20 or "diskio" not in last:
            return None
        return last

    for cg in staged:
        wait_until(lambda cg=cg: collected(cg), timeout=15, what=f"cpu, memory and io of {cg.name}")  # type: ignore[misc]
    _, metrics = d.get("/metrics")
    text = metrics.decode()
    for cg in staged:
        for family in (
            "container_cpu_usage_seconds_total",
            "container_memory_usage_bytes",
            "container_spec_memory_limit_bytes",
        ):
            assert re.search(rf'^{family}{{[^}}]*id="{re.escape(cg.name)}"', text, re.M), (family, cg.name)

    # A hierarchy's directory that goes away while the container lives (its processes moved out of the
    # memory cgroup first, as a runtime tearing down does): memory is dropped, CPU goes on sampling.
    cg = staged[0]
    parent_mem = os.path.dirname(cg.path("memory"))
    for pid in cg.pids():
        with open(os.path.join(parent_mem, "cgroup.procs"), "w") as f:
            f.write(str(pid))
    os.rmdir(cg.path("memory"))
    wait_until(lambda: not _spec(d, cg.name)["has_memory"], timeout=10, what="has_memory false after rmdir")
    before = _stats(d, cg.name)[-1]
    after = wait_until(
        lambda: (
            next((s for s in _stats(d, cg.name, 3) if s["timestamp"] > before["timestamp"] and "memory" not in s), None)
            or None
        ),
        timeout=10,
        what="samples without memory",
    )
    assert after["cpu"]["usage"]["total"] > before["cpu"]["usage"]["total"]
    assert _spec(d, cg.name)["has_cpu"] is True


def test_cgroup_removed_and_made_again_under_the_same_name_keeps_sampling(
    pycadvisor_daemon_factory: Callable[..., Any], test_cgroup: TestCgroup
) -> None:
    """A systemd unit restarting removes its cgroup and makes it again within milliseconds: whether the
    daemon sees one container or a new one, samples of the new cgroup's work must come (descriptors
    held on the removed directories read ENODEV forever)."""
    d = pycadvisor_daemon_factory(*FAST)
    cg = test_cgroup.child("unit")
    wait_until(lambda: _sample_count(d, cg.name) >= 2, timeout=10, what=f"samples of {cg.name}")
    for restart in range(3):
        stamp = _stats(d, cg.name)[-1]["timestamp"]  # the newest sample of the cgroup about to go
        for p in reversed(cg.paths()):
            os.rmdir(p)
        for root in cg.layout.unique_roots():
            cg.make_in(root)
        burner = cpu_burner(cg)

        def fresh_busy(stamp: str = stamp) -> bool:
            if d.get("/api/v1.3/containers" + cg.name)[0] != 200:
                return False  # between the removal and the new cgroup being found
            s = _stats(d, cg.name)
            return bool(s) and s[-1]["timestamp"] > stamp and s[-1]["cpu"]["usage"]["total"] > 50_000_000

        wait_until(fresh_busy, timeout=15, what=f"samples of the new {cg.name} (restart {restart})")
        burner.stop()


def test_limits_written_after_the_directory_are_in_the_spec(
    pycadvisor_daemon_factory: Callable[..., Any], test_cgroup: TestCgroup
) -> None:
    """A runtime makes a container's directory, then writes its limits (runc: Apply, then Set); on v2 every
    file is there at mkdir with its default. The spec follows without waiting for the global housekeeping
    (an hour here), as cAdvisor's, which re-reads a spec older than 5 s when it serves it."""
    if test_cgroup.version == 2:  # the memory controller for its children (a runtime's parent has it)
        test_cgroup.set("cgroup.subtree_control", "+memory")
    d = pycadvisor_daemon_factory("-housekeeping_interval=1s", *FAST[1:])
    cg = test_cgroup.child("limited")
    spec = wait_until(
        lambda: d.get("/api/v2.0/spec" + cg.name)[0] == 200 and _spec(d, cg.name),
        timeout=10,
        what=f"{cg.name} found",
    )
    assert spec["has_memory"] and spec["memory"]["limit"] != 64 << 20
    cg.set("memory.limit_in_bytes" if cg.version == 1 else "memory.max", 64 << 20)
    wait_until(
        lambda: _spec(d, cg.name)["memory"]["limit"] == 64 << 20, timeout=10, what="the limit written afterwards"
    )
