"""Perf events for real (issue 16 item 2): software counters of a burner's cgroup, opened by the daemon with
``perf_event_open`` per CPU in the cgroup, read through REST v1 and ``/metrics``, and closed with the cgroup.
This host is a VM without hardware counters; the software events are the ones every kernel has."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pycadvisor.host.paths import HostPaths
from pycadvisor.host.perf.collector import PerfManager
from pycadvisor.host.perf.config import load_config
from support.cgroups import TestCgroup, perf_event_layout
from support.procs import cpu_burner, run_cli_expecting_exit, wait_until
from support.services import http_request

pytestmark = pytest.mark.root

FAST = ("-housekeeping_interval=200ms", "-allow_dynamic_housekeeping=false", "-global_housekeeping_interval=2s")
# Two groups as cAdvisor's files write them: a list counted together, and a raw event alone.
CONFIG = {
    "core": {
        "events": [["task-clock", "context-switches", "page-faults"], "cpu-migrations-raw"],
        "custom_events": [{"type": 1, "config": ["0x4"], "name": "cpu-migrations-raw"}],
    }
}
EVENTS = 4


def _perf_fds(pid: int) -> int:
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[perf_event]"
        except FileNotFoundError:
            pass
    return n


def _online_cpus() -> int:
    n = 0
    for part in Path("/sys/devices/system/cpu/online").read_text().strip().split(","):
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    return n


def _perf_stats(daemon: Any, name: str) -> list[dict[str, Any]] | None:
    status, body = http_request("POST", f"{daemon.url}/api/v1.3/containers{name}", {"num_stats": 1})
    if status != 200:
        return None
    stats = json.loads(body).get("stats") or []
    return list(stats[-1].get("perf_stats") or []) if stats else None


def _total(stats: list[dict[str, Any]], event: str) -> int:
    return sum(int(s["value"]) for s in stats if s["name"] == event)


def test_a_burners_software_events_are_counted_through_rest_and_metrics(
    pycadvisor_daemon_factory: Callable[..., Any], tmp_path: Path
) -> None:
    config = tmp_path / "perf.json"
    config.write_text(json.dumps(CONFIG))
    layout = perf_event_layout()
    assert layout is not None
    with TestCgroup("perf", layout=layout) as outer:
        # Raw cgroups only below `outer` (runtime containers of other tests on this host are still watched).
        d = pycadvisor_daemon_factory(
            *FAST, f"-perf_events_config={config}", f"-raw_cgroup_prefix_whitelist={outer.name}/"
        )
        cpus = _online_cpus()
        burner_cg = outer.child("burner")  # made after the daemon started, as a runtime makes containers
        cpu_burner(burner_cg)
        name = burner_cg.name

        def counted_beyond(event: str, floor: int) -> Callable[[], list[dict[str, Any]] | None]:
            def stats() -> list[dict[str, Any]] | None:
                s = _perf_stats(d, name)
                return s if s and _total(s, event) > floor else None

            return stats

        first = wait_until(counted_beyond("task-clock", 0), timeout=15, what="task-clock of the burner", proc=d.process)
        assert sorted({s["name"] for s in first}) == ["context-switches", "cpu-migrations-raw", "page-faults",
                                                       "task-clock"]  # fmt: skip
        assert sorted({s["cpu"] for s in first}) == list(range(cpus))
        assert list(first[0]) == ["scaling_ratio", "value", "name", "cpu"]  # cAdvisor's PerfStat field order
        assert all(0 < s["scaling_ratio"] <= 1 for s in first)
        # task-clock counts the burner's CPU time (ns): it moves between samples, and the spinning shell
        # is switched out by the scheduler now and then.
        moved = counted_beyond("task-clock", _total(first, "task-clock"))
        wait_until(moved, timeout=15, what="task-clock to move", proc=d.process)
        wait_until(counted_beyond("context-switches", 0), timeout=15, what="its context switches", proc=d.process)

        status, body = d.get("/metrics")
        assert status == 200
        series = {
            (s.labels["cpu"], s.labels["event"]): s.value
            for fam in text_string_to_metric_families(body.decode())
            if fam.name == "container_perf_events"
            for s in fam.samples
            if s.name == "container_perf_events_total" and s.labels["id"] == name
        }
        assert {e for _, e in series} == {"task-clock", "context-switches", "page-faults", "cpu-migrations-raw"}
        assert sum(v for (_, e), v in series.items() if e == "task-clock") > 0
        # Copied into v2 samples whatever the spec (info/v2/conversion.go).
        for version, path in (("v2.0", (name, -1)), ("v2.1", (name, "stats", -1))):
            status, body = d.get(f"/api/{version}/stats{name}?count=1")
            assert status == 200
            doc = json.loads(body)
            for key in path:
                doc = doc[key]
            assert _total(doc["perf_stats"], "task-clock") > 0


def test_a_containers_counters_are_held_open_until_it_goes(tmp_path: Path) -> None:
    """One descriptor per event and CPU, in the container's cgroup, closed with it (checked in /proc/self/fd:
    this process opens them, nothing else here does); once the cgroup is made again under the same name (a
    restarted systemd unit) the new one is counted, not the dead one."""
    config = tmp_path / "perf.json"
    config.write_text(json.dumps(CONFIG))
    perf = PerfManager(load_config(str(config)), HostPaths())
    layout = perf_event_layout()
    assert layout is not None
    before = _perf_fds(os.getpid())
    per_container = _online_cpus() * EVENTS
    with TestCgroup("perffds", layout=layout) as outer:
        cg = outer.child("unit")
        dirs = {c: cg.path(c) for c in layout.roots}
        counters = perf.attach(cg.name)
        assert counters is not None

        def task_clock() -> int:
            ((member, stats),) = counters.update(dirs, 0)
            assert member == "perf_stats" and isinstance(stats, list)
            return sum(s.value for s in stats if s.name == "task-clock")

        try:
            cpu_burner(cg)
            assert counters.update(dirs, 0)  # opens them
            assert _perf_fds(os.getpid()) - before == per_container == counters.open_fds
            wait_until(lambda: task_clock() > 0, timeout=10, what="the burner's task-clock")

            cg.close()  # the unit stops, and starts again: the same name, a new cgroup
            cg = outer.child("unit")
            assert {c: cg.path(c) for c in layout.roots} == dirs
            counters.reopen()  # what the manager calls when the cgroup files it holds answer ENODEV
            cpu_burner(cg)
            first = task_clock()
            wait_until(lambda: task_clock() > first, timeout=10, what="task-clock moving in the new cgroup")
            assert _perf_fds(os.getpid()) - before == per_container == counters.open_fds
        finally:
            counters.close()
        assert _perf_fds(os.getpid()) == before and counters.open_fds == 0


def test_uncore_groups_are_opened_machine_wide_on_their_pmus_cpus(tmp_path: Path) -> None:
    """The uncore path for real on a host without uncore PMUs: a sysfs tree whose one "uncore" PMU is the
    kernel's software PMU (type 1), its alias encoding context-switches, counted on CPU 0 for the root."""
    pmu = tmp_path / "sys/bus/event_source/devices/uncore_sw"
    (pmu / "events").mkdir(parents=True)
    (pmu / "format").mkdir()
    (pmu / "type").write_text("1\n")
    (pmu / "cpumask").write_text("0\n")
    (pmu / "format" / "event").write_text("config:0-63\n")
    (pmu / "events" / "switches").write_text("event=0x3\n")
    topo = tmp_path / "sys/devices/system/cpu/cpu0/topology"
    topo.mkdir(parents=True)
    (topo / "physical_package_id").write_text("0\n")
    config = tmp_path / "perf.json"
    config.write_text(json.dumps({"uncore": {"events": ["uncore_sw/switches"]}}))
    perf = PerfManager(load_config(str(config)), HostPaths(sys=str(tmp_path / "sys")))
    perf.check()
    assert perf.attach("/docker/abc") is None  # uncore only for the root
    root = perf.attach("/")
    assert root is not None
    before = _perf_fds(os.getpid())
    try:

        def switches() -> list[Any]:
            ((member, stats),) = root.update({}, 0)
            assert member == "perf_uncore_stats" and isinstance(stats, list)
            return stats if stats and stats[0].value > 0 else []

        (stat,) = wait_until(switches, timeout=10, what="context switches on CPU 0")
        assert (stat.name, stat.pmu, stat.socket, stat.scaling_ratio) == ("uncore_sw/switches", "uncore_sw", 0, 1.0)
        assert _perf_fds(os.getpid()) - before == 1
    finally:
        root.close()
    assert _perf_fds(os.getpid()) == before


def test_an_unknown_event_stops_the_start_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "perf.json"
    config.write_text(json.dumps({"core": {"events": ["task-clock", ["cs", "instructions_retired"]]}}))
    r = run_cli_expecting_exit(f"-perf_events_config={config}")
    assert r.returncode == 2
    assert "-perf_events_config" in r.stderr and str(config) in r.stderr
    assert 'core.events[1][1]: unknown event "instructions_retired"' in r.stderr


def test_an_event_this_host_cannot_count_stops_the_start_naming_it(tmp_path: Path) -> None:
    # A software event id past the kernel's PERF_COUNT_SW_MAX: perf_event_open refuses it on every host.
    config = tmp_path / "perf.json"
    config.write_text(
        json.dumps(
            {"core": {"events": ["bogus"], "custom_events": [{"type": 1, "config": ["0x7fff"], "name": "bogus"}]}}
        )
    )
    r = run_cli_expecting_exit(f"-perf_events_config={config}")
    assert r.returncode == 2
    assert 'core.events[0]: event "bogus"' in r.stderr and "cannot be counted on this host" in r.stderr


def test_uncore_events_without_a_pmu_here_stop_the_start_naming_them(tmp_path: Path) -> None:
    # This VM has no uncore PMU (/sys/bus/event_source/devices has no uncore_*).
    config = tmp_path / "perf.json"
    config.write_text(json.dumps({"uncore": {"events": ["uncore_imc/cas_count_read"]}}))
    r = run_cli_expecting_exit(f"-perf_events_config={config}")
    assert r.returncode == 2
    assert 'uncore.events[0]: the event "uncore_imc/cas_count_read" has no PMU to count with on this host' in r.stderr
