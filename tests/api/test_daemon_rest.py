"""The real daemon on this host, through its REST API: containers appear, stats track real work,
errors answer clearly (issue 2)."""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from typing import Any

import pytest

from support.cgroups import TestCgroup
from support.procs import cpu_burner, disk_writer, memory_holder, pid_start_time, sleeper, wait_until
from support.services import get_json, http_request

pytestmark = pytest.mark.root

FAST = ("-housekeeping_interval=200ms", "-allow_dynamic_housekeeping=false", "-global_housekeeping_interval=2s")


def post_json(daemon: Any, path: str, body: Any) -> Any:
    status, data = http_request("POST", daemon.url + path, body)
    assert status == 200, f"{path} -> {status}: {data[:300]!r}"
    return json.loads(data)


def stats_of(daemon: Any, name: str, n: int = 60) -> list[dict[str, Any]]:
    info = post_json(daemon, "/api/v1.3/containers" + name, {"num_stats": n})
    assert info["name"] == name
    return list(info.get("stats", []))


def test_machine_and_root(pycadvisor_daemon_factory: Callable[..., Any]) -> None:
    d = pycadvisor_daemon_factory(*FAST)
    m = get_json(d, "/api/v1.3/machine")
    assert m["num_cores"] == os.cpu_count()
    assert m["memory_capacity"] > 0 and m["filesystems"]
    root = wait_until(lambda: stats_of(d, "/", 3) or None, timeout=10, what="root stats")
    last = root[-1]
    assert last["cpu"]["usage"]["total"] > 0
    assert len(last["cpu"]["usage"]["per_cpu_usage"]) == os.cpu_count()  # cgroup v1 gives per-CPU usage
    assert last["memory"]["usage"] > 0
    assert last["network"]["interfaces"], "the root container reports the host's interfaces"
    assert any(fs["device"] for fs in last["filesystem"])
    assert get_json(d, "/api/v2.0/version")
    attrs = get_json(d, "/api/v2.0/attributes")
    assert attrs["num_cores"] == os.cpu_count() and attrs["kernel_version"]
    ms = wait_until(lambda: get_json(d, "/api/v2.1/machinestats?count=2") or None, timeout=10, what="machinestats")
    assert ms[-1]["memory"]["usage"] > 0
    assert ms[-1]["filesystem"][0]["inline"]["reads_completed"] >= 0
    storage = get_json(d, "/api/v2.0/storage")
    assert any("root" in fs["labels"] for fs in storage)
    assert get_json(d, "/api/v2.0/storage?label=root")[0]["mountpoint"] == "/"
    # /metrics' process_* families are the daemon's own process (read through the manager's host façade).
    status, body = d.get("/metrics")
    assert status == 200
    own = {k: float(v) for k, v in (ln.split() for ln in body.decode().splitlines() if ln.startswith("process_"))}
    start = pid_start_time(d.pid)
    assert start is not None
    with open("/proc/stat") as f:
        btime = next(int(ln.split()[1]) for ln in f if ln.startswith("btime "))
    assert own["process_start_time_seconds"] == pytest.approx(start / os.sysconf("SC_CLK_TCK") + btime)
    with open(f"/proc/{d.pid}/limits") as f:
        soft = next(ln.split()[3] for ln in f if ln.startswith("Max open files"))
    assert own["process_max_fds"] == float(soft)
    assert own["process_open_fds"] > 3 and own["process_resident_memory_bytes"] > 1 << 20


def test_burner_holder_and_writer_are_measured(
    pycadvisor_daemon_factory: Callable[..., Any], test_cgroup: TestCgroup, tmp_path: Any
) -> None:
    burner = test_cgroup.child("burner")
    holder = test_cgroup.child("holder")
    writer = test_cgroup.child("writer")
    d = pycadvisor_daemon_factory(*FAST)
    burner.adopt(cpu_burner(burner))
    holder.adopt(memory_holder(holder, 64))

    def sampled_twice(cg: TestCgroup) -> bool:
        return len(stats_of(d, cg.name, 2)) >= 2

    # Subcontainers appear within seconds (inotify), each with its own stats.
    for cg in (test_cgroup, burner, holder, writer):
        wait_until(functools.partial(sampled_twice, cg), timeout=10, what=f"stats of {cg.name}")

    def window() -> list[dict[str, Any]] | None:
        """The burner's samples once they span 2.5 s: a rate over a shorter window is mostly jitter."""
        s = stats_of(d, burner.name, 60)
        return s if len(s) >= 2 and parse_ts(s[-1]["timestamp"]) - parse_ts(s[0]["timestamp"]) >= 2.5e9 else None

    s = wait_until(window, timeout=20, what=f"2.5 s of samples of {burner.name}", proc=d.process)
    first, last = s[0], s[-1]
    dt = (parse_ts(last["timestamp"]) - parse_ts(first["timestamp"])) / 1e9
    cores = (last["cpu"]["usage"]["total"] - first["cpu"]["usage"]["total"]) / 1e9 / dt
    # About one core when the machine is free; less on a contended host, but the figures must be the
    # kernel's: the latest sample trails cpuacct.usage read now by at most what ran since it was taken.
    assert 0.2 < cores < 1.3, f"burner used {cores:.2f} cores"
    if (os.cpu_count() or 0) >= 2 and os.getloadavg()[0] < 1.5:
        # The 1-minute load average trails a burst of other work: "idle" is a hint, not a guarantee
        # (0.68 cores was seen on a host it called idle), so the bound only says the burner ran.
        assert cores > 0.5, f"an idle host gave the burner only {cores:.2f} cores"
    latest = stats_of(d, burner.name, 1)[-1]
    kernel_now = burner.get_int("cpuacct.usage") if burner.version == 1 else None
    if kernel_now is not None:
        age = time.time() - parse_ts(latest["timestamp"]) / 1e9
        lag = kernel_now - latest["cpu"]["usage"]["total"]
        assert 0 <= lag <= (age + 0.5) * 1.3e9, (lag, age)
    assert sum(latest["cpu"]["usage"]["per_cpu_usage"]) == latest["cpu"]["usage"]["total"]
    mem = stats_of(d, holder.name, 1)[-1]["memory"]
    assert mem["usage"] >= 64 << 20 and mem["working_set"] >= 60 << 20
    assert mem["rss"] >= 60 << 20
    # The parent lists its children, and /subcontainers returns the subtree.
    info = post_json(d, "/api/v1.3/containers" + test_cgroup.name, {"num_stats": 1})
    assert sorted(c["name"] for c in info["subcontainers"]) == sorted([burner.name, holder.name, writer.name])
    sub = post_json(d, "/api/v1.3/subcontainers" + test_cgroup.name, {"num_stats": 0})
    assert sorted(c["name"] for c in sub) == sorted([test_cgroup.name, burner.name, holder.name, writer.name])
    # Disk writes through the writer's cgroup are counted by device.
    path = str(tmp_path / "blob")
    writer.adopt(disk_writer(writer, 16, path))

    def written() -> int:
        st = stats_of(d, writer.name, 1)[-1]
        return sum(e["stats"].get("Write", 0) for e in st.get("diskio", {}).get("io_service_bytes", []))

    assert wait_until(lambda: written() >= 16 << 20, timeout=15, what="16 MiB written")
    entry = stats_of(d, writer.name, 1)[-1]["diskio"]["io_service_bytes"][0]
    assert entry["device"].startswith("/dev/")
    # v2 endpoints over the same containers.
    v21 = get_json(d, f"/api/v2.1/stats{burner.name}?count=3")
    assert list(v21) == [burner.name] and len(v21[burner.name]["stats"]) == 3
    assert v21[burner.name]["stats"][-1]["cpu_inst"]["usage"]["total"] > 1e8  # ns/s of a busy (shared) core
    v20 = get_json(d, f"/api/v2.0/stats{test_cgroup.name}?recursive=true&count=1")
    assert set(v20) == {test_cgroup.name, burner.name, holder.name, writer.name}
    spec = get_json(d, f"/api/v2.0/spec{holder.name}")[holder.name]
    assert spec["has_memory"] is True and spec["memory"]["limit"] > 0
    ps = get_json(d, f"/api/v2.0/ps{burner.name}")
    assert ps and all(p["cgroup_path"] == burner.name or p["cgroup_path"] == "" for p in ps)
    # A removed cgroup is forgotten within seconds.
    gone = burner.name
    burner.close()
    wait_until(lambda: d.get("/api/v1.3/containers" + gone)[0] == 404, timeout=10, what="removed cgroup forgotten")


def test_new_cgroup_stats_with_max_age(pycadvisor_daemon_factory: Callable[..., Any], test_cgroup: TestCgroup) -> None:
    d = pycadvisor_daemon_factory("-housekeeping_interval=30s", "-global_housekeeping_interval=30s")
    test_cgroup.adopt(sleeper(test_cgroup))
    wait_until(lambda: d.get("/api/v1.3/containers" + test_cgroup.name)[0] == 200, timeout=10, what="discovered")
    before = get_json(d, f"/api/v2.0/stats{test_cgroup.name}?count=-1")[test_cgroup.name]
    after = get_json(d, f"/api/v2.0/stats{test_cgroup.name}?count=-1&max_age=10ms")[test_cgroup.name]
    assert len(after) == len(before) + 1  # max_age forced a fresh sample on demand


def parse_ts(text: str) -> int:
    from pycadvisor.model.codec import parse_time

    return parse_time(text)


ERROR_CASES = [
    ("GET", "/api/v1.3/containers/no/such/thing", None, 404, b'"/no/such/thing"'),
    ("GET", "/api/v2.0/stats/nope?count=abc", None, 400, b"count"),
    ("GET", "/api/v2.0/stats/?max_age=soon", None, 400, b"max_age"),
    ("GET", "/api/v2.0/stats/?type=weird", None, 400, b"type"),
    ("POST", "/api/v1.3/containers/", b"{not json", 400, b"request body"),
    ("POST", "/api/v1.3/containers/", b'{"num_stats": "ten"}', 400, b"num_stats"),
    ("POST", "/api/v1.3/containers/", b'{"start": "yesterday"}', 400, b"start"),
    ("GET", "/api", None, 301, b""),
    ("GET", "/api/", None, 400, b"Supported API versions: v1.0,v1.1,v1.2,v1.3,v2.0,v2.1"),
    ("GET", "/api/v1.3", None, 400, b"Supported request types"),
    ("GET", "/api/v9.9/machine", None, 500, b'unsupported API version "v9.9"'),
    ("GET", "/api/v1.3/../../../etc/passwd", None, 500, b'unknown request type ".."'),
    ("GET", "/api/v1.3/containers/%2e%2e/%2e%2e/etc", None, 404, b'"/etc"'),
    ("GET", "/api/v1.3/containers/..%2f..%2fproc", None, 404, b'"/proc"'),
    ("GET", "/api/v2.0/ps/no/such", None, 404, b'"/no/such"'),
    ("GET", "/api/v1.3/docker/a/b", None, 400, b"'name'"),  # issue 14 #10: was a 500
    ("GET", "/metrics?type=kubernetes", None, 400, b"'type'"),
    # Every runtime namespace is a type, mesos too (cAdvisor takes name, docker and podman only): none here.
    ("GET", "/api/v2.0/stats/?type=mesos&recursive=true", None, 200, b"{}"),
    ("GET", "/metrics?type=mesos", None, 200, b"container_scrape_error 0"),
]


def test_errors_are_clear(pycadvisor_daemon_factory: Callable[..., Any]) -> None:
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a: Any, **k: Any) -> None:
            return None

    d = pycadvisor_daemon_factory()
    opener = urllib.request.build_opener(NoRedirect)
    for method, path, body, status, needle in ERROR_CASES:
        req = urllib.request.Request(d.url + path, data=body, method=method)
        try:
            with opener.open(req, timeout=10) as resp:
                got, data = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            got, data = e.code, e.read()
        assert got == status, (method, path, data)
        assert needle in data, (method, path, data)
        assert b"root:x:0:0" not in data  # nothing outside the cgroup mounts is ever read
    assert d.get("/healthz") == (200, b"ok")  # and the daemon is still there


def test_names_are_percent_decoded_once(
    pycadvisor_daemon_factory: Callable[..., Any], cgroup_factory: Callable[[str], TestCgroup]
) -> None:
    """``%2541`` in a URL is the cgroup ``%41``, not ``A`` (issue 14 #9), in v1 and v2 alike."""
    pct, plain = cgroup_factory("rel-pct%41b"), cgroup_factory("rel-pctAb")
    d = pycadvisor_daemon_factory(*FAST)
    quoted = pct.name.replace("%", "%25")
    wait_until(lambda: d.get("/api/v1.3/containers" + quoted)[0] == 200 or None, timeout=10, what="the % cgroup")
    assert get_json(d, "/api/v1.3/containers" + quoted)["name"] == pct.name
    assert list(get_json(d, "/api/v2.0/spec" + quoted)) == [pct.name]
    assert get_json(d, "/api/v1.3/containers" + plain.name)["name"] == plain.name


def test_url_prefix_serves_at_the_root_too(pycadvisor_daemon_factory: Callable[..., Any], tmp_path: Any) -> None:
    """With -url_base_prefix, every route answers under the prefix and at the root (a probe or scrape job
    written for the defaults keeps working, issue 13 #5); links and redirects carry the prefix; the UI is
    guarded at both places."""
    import base64
    import hashlib
    import re
    import urllib.error
    import urllib.request

    from support.services import http_get

    users = tmp_path / "users"
    users.write_text("u:{SHA}" + base64.b64encode(hashlib.sha1(b"pw").digest()).decode() + "\n")
    d = pycadvisor_daemon_factory("-url_base_prefix=/cadvisor", f"-http_auth_file={users}")  # ready: root /healthz
    creds = {"Authorization": "Basic " + base64.b64encode(b"u:pw").decode()}

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a: Any, **k: Any) -> None:
            return None

    def get(path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, str]:
        req = urllib.request.Request(d.url + path, headers=headers or {})
        try:
            with urllib.request.build_opener(NoRedirect).open(req, timeout=10) as r:
                return r.status, r.read(), r.headers.get("Location", "")
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers.get("Location", "")

    for base in ("/cadvisor", ""):
        assert http_get(d.url + base + "/healthz") == (200, b"ok")
        status, body = http_get(d.url + base + "/api/v1.3/machine")
        assert status == 200 and json.loads(body)["num_cores"] > 0
        status, body = http_get(d.url + base + "/api/v2.0/stats/?count=1&type=name")
        assert status == 200 and "/" in json.loads(body)  # query parameters survive either way
        status, body = http_get(d.url + base + "/metrics")
        assert status == 200 and b"cadvisor_version_info{" in body
        assert http_get(d.url + base + "/validate/")[0] == 200
        assert get(base + "/api")[2] == "/cadvisor/api/"
        assert get(base + "/")[2] == "/cadvisor/containers/"
        assert get(base + "/containers/")[0] == 401
        status, page, _ = get(base + "/containers/", creds)
        assert status == 200
        links = re.findall(rb'(?:href|src)="([^"]+)"', page)
        assert links and all(u.startswith(b"/cadvisor/") for u in links), links
        assert get(base + "/static/pycadvisor.css", creds)[0] == 200


def test_load_reader_and_referenced_memory_flags(
    pycadvisor_daemon_factory: Callable[..., Any], cgroup_factory: Callable[[str], TestCgroup]
) -> None:
    """``-enable_load_reader`` fills task_stats and the load average; the referenced_memory set reports
    what a process touched, in the JSON and in /metrics (cgroup v1 kernels answer the load reader)."""
    busy, holder = cgroup_factory("busy"), cgroup_factory("holder")
    cpu_burner(busy)
    memory_holder(holder, 24)
    d = pycadvisor_daemon_factory(*FAST, "-enable_load_reader", "-enable_metrics=cpu,memory,cpuLoad,referenced_memory")

    def newest(name: str) -> dict[str, Any] | None:
        stats = stats_of(d, name, 1)
        return stats[-1] if stats else None

    def busy_loaded() -> dict[str, Any] | None:
        last = newest(busy.name)
        return last if last and last["task_stats"]["nr_running"] == 1 and last["cpu"]["load_average"] > 0 else None

    last = wait_until(busy_loaded, timeout=15, what="a running task and a load average for the burner")
    assert last["task_stats"]["nr_sleeping"] == 0 and last["cpu"]["load_average"] <= 1000
    held = wait_until(functools.partial(newest, holder.name), timeout=10, what="holder stats")
    assert held["referenced_memory"] >= 24 << 20  # never reset (-referenced_reset_interval=0)
    assert held["task_stats"]["nr_sleeping"] == 1 and held["task_stats"]["nr_running"] == 0
    status, body = d.get("/metrics")
    text = body.decode()
    assert status == 200

    def value(family: str, name: str, extra: str = "") -> float:
        """The value of ``family`` for container ``name`` (and the extra label text, e.g. a state)."""
        for line in text.splitlines():
            if line.startswith(f'{family}{{id="{name}"') and extra in line:
                return float(line.split()[1])
        raise AssertionError(f"no {family} series for {name} {extra}")

    assert value("container_tasks_state", busy.name, 'state="running"') == 1
    assert value("container_cpu_load_average_10s", busy.name) > 0
    assert value("container_referenced_bytes", holder.name) >= 24 << 20
