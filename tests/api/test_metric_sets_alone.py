"""Metric sets collected as cAdvisor collects them (issue 13 item 4): ``tcp``/``udp``/``advtcp`` without
``network``, and ``memory_numa`` from ``memory.numa_stat``, through the real daemon on this host."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.cgroups import TestCgroup
from support.procs import memory_holder, wait_until
from support.services import http_request

pytestmark = pytest.mark.root

FAST = ("-housekeeping_interval=200ms", "-allow_dynamic_housekeeping=false", "-global_housekeeping_interval=2s")


def newest(daemon: Any, name: str) -> dict[str, Any] | None:
    status, body = http_request("POST", f"{daemon.url}/api/v1.3/containers{name}", {"num_stats": 1})
    if status != 200:
        return None
    stats = json.loads(body).get("stats") or []
    return dict(stats[-1]) if stats else None


def series(daemon: Any, family: str) -> list[tuple[dict[str, str], float]]:
    status, body = daemon.get("/metrics")
    assert status == 200
    for fam in text_string_to_metric_families(body.decode()):
        if fam.name == family.removesuffix("_total") or fam.name == family:
            return [(s.labels, s.value) for s in fam.samples if s.name == family]
    return []


def test_tcp_and_udp_are_collected_without_the_network_set(pycadvisor_daemon_factory: Callable[..., Any]) -> None:
    """The daemon's own listening socket shows in the root's tcp table with only ``tcp`` enabled."""
    d = pycadvisor_daemon_factory(*FAST, "-enable_metrics=tcp,udp,advtcp")

    def root_tcp() -> dict[str, Any] | None:
        last = newest(d, "/")
        return last if last and last.get("network", {}).get("tcp", {}).get("Listen", 0) > 0 else None

    last = wait_until(root_tcp, timeout=15, what="the root's tcp table with our listening socket", proc=d.process)
    net = last["network"]
    assert not net.get("interfaces")  # the network set itself stays off (omitempty)
    assert sum(net["tcp_advanced"].values()) > 0  # /proc/1/net/netstat and snmp were read
    listen = [v for labels, v in series(d, "container_network_tcp_usage_total")
              if labels["id"] == "/" and labels["tcp_state"] == "listen"]  # fmt: skip
    assert listen and listen[0] >= 1
    assert any(labels["id"] == "/" for labels, _ in series(d, "container_network_udp_usage_total"))
    assert not series(d, "container_network_receive_bytes_total")


def test_memory_numa_pages_of_a_cgroup_holding_memory(
    pycadvisor_daemon_factory: Callable[..., Any], test_cgroup: TestCgroup
) -> None:
    memory_holder(test_cgroup, 32)
    d = pycadvisor_daemon_factory(*FAST, "-enable_metrics=memory,memory_numa")
    name = test_cgroup.name

    def anon_pages() -> dict[str, Any] | None:
        last = newest(d, name)
        if last is None:
            return None
        anon = last["memory"]["container_data"]["numa_stats"].get("anon") or {}
        return last if sum(anon.values()) >= (32 << 20) // 4096 else None

    last = wait_until(anon_pages, timeout=15, what="anon pages per node of the holder", proc=d.process)
    assert last["memory"]["hierarchical_data"]["numa_stats"]["anon"]["0"] > 0
    status, body = d.get(f"/api/v2.0/stats{name}?count=1")
    assert status == 200
    v2 = json.loads(body)[name][-1]["memory"]
    assert v2["container_data"]["numa_stats"]["anon"]["0"] > 0
    pages = {(labels["scope"], labels["type"], labels["node"]): v
             for labels, v in series(d, "container_memory_numa_pages") if labels["id"] == name}  # fmt: skip
    assert pages[("container", "anon", "0")] > 0 and pages[("hierarchy", "anon", "0")] > 0
    assert ("container", "file", "0") in pages and ("container", "unevictable", "0") in pages
