"""Docker containers through pycadvisor's API (issue 4): the real daemon, a real private engine.

Engine: support/docker_engine.py (own dockerd in its own netns, vfs, offline busybox image,
``--pull=never``). Traffic only flows between that netns and its containers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.docker_engine import Container, DockerEngine, require_engine
from support.procs import wait_until
from support.services import http_request

pytestmark = [pytest.mark.root, pytest.mark.service]

MiB = 1 << 20
FAST = ("-housekeeping_interval=200ms", "-allow_dynamic_housekeeping=false", "-global_housekeeping_interval=2s")
SPEC_OPTS = ("--cpu-shares", "2048", "-m", "1g", "--label", "bar=baz", "-e", "TEST_VAR=FOO", "-e", "OTHER=x")


def flags(eng: DockerEngine, *extra: str) -> tuple[str, ...]:
    return (*FAST, f"-docker={eng.endpoint}", "-env_metadata_whitelist=TEST_VAR", *extra)


def get(daemon: Any, path: str) -> tuple[int, Any]:
    status, body = daemon.get(path)
    return status, (json.loads(body) if status == 200 else body)


def get_ok(daemon: Any, path: str) -> Any:
    status, body = get(daemon, path)
    assert status == 200, f"{path} -> {status}: {body[:300]!r}"
    return body


def docker_info(daemon: Any, alias: str, num_stats: int = 60) -> tuple[str, dict[str, Any]] | None:
    """(cgroup name, v1 ContainerInfo) from ``/api/v1.2/docker/<alias>``, or None while unknown."""
    status, body = http_request("POST", f"{daemon.url}/api/v1.2/docker/{alias}", {"num_stats": num_stats})
    if status != 200:
        return None
    doc = json.loads(body)
    assert len(doc) == 1, doc.keys()
    ((name, info),) = doc.items()
    return name, info


def wait_named(daemon: Any, c: Container, timeout: float = 20.0) -> dict[str, Any]:
    """The container's v1 info once pycadvisor knows it by name and has 2+ samples."""

    def ready() -> dict[str, Any] | None:
        got = docker_info(daemon, c.name)
        return got[1] if got is not None and len(got[1].get("stats", [])) >= 2 else None

    info: dict[str, Any] = wait_until(ready, timeout=timeout, what=f"{c.name} in /api/v1.2/docker", proc=daemon.process)
    return info


def latest(daemon: Any, c: Container) -> dict[str, Any]:
    got = docker_info(daemon, c.id, 1)
    assert got is not None, f"{c.name} vanished"
    return dict(got[1]["stats"][-1])


@pytest.fixture
def engine(docker_engine: DockerEngine) -> DockerEngine:
    return docker_engine


# ---------------------------------------------------------------- lookup, reference, spec


def test_lookup_by_name_id_and_prefix_with_aliases_namespace_and_spec(
    engine: DockerEngine, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    c = engine.run_busybox(opts=SPEC_OPTS)
    d = pycadvisor_daemon_factory(*flags(engine))
    info = wait_named(d, c)
    cgroup = f"/docker/{c.id}"

    # By name, full id and a unique id prefix: the same single entry, keyed by the cgroup name.
    for alias in (c.name, c.id, c.id[:12]):
        got = docker_info(d, alias)
        assert got is not None and got[0] == cgroup, alias
    assert info["id"] == c.id
    assert info["name"] == cgroup
    assert info["aliases"] == [c.name, c.id]
    assert info["namespace"] == "docker"
    assert "subcontainers" not in info

    # All docker containers: an object keyed by cgroup name, only docker containers in it.
    every = get_ok(d, "/api/v1.2/docker/")
    assert cgroup in every
    assert all(v["namespace"] == "docker" for v in every.values())
    assert get_ok(d, f"/api/v1.3/containers{cgroup}")["aliases"] == [c.name, c.id]

    spec = info["spec"]
    assert spec["has_cpu"] and spec["cpu"]["limit"] == 2048
    assert spec["has_memory"] and spec["memory"]["limit"] == 1 << 30
    assert spec["image"] == "pycad-bb:1"
    assert spec["labels"] == {"bar": "baz"}
    assert spec["envs"] == {"test_var": "FOO"}  # allow-listed prefix only, key lower-cased
    assert spec["has_network"] and spec["has_diskio"] and spec["has_filesystem"]
    doc = engine.inspect(c)
    assert spec["creation_time"].startswith(doc["Created"][:19])
    assert spec["start_time"].startswith(doc["State"]["StartedAt"][:19])

    # An unknown name is an error, not an empty answer.
    assert docker_info(d, "no-such-container") is None


def test_v2_endpoints_take_type_docker(engine: DockerEngine, pycadvisor_daemon_factory: Callable[..., Any]) -> None:
    c = engine.run_busybox(opts=SPEC_OPTS)
    d = pycadvisor_daemon_factory(*flags(engine))
    wait_named(d, c)
    cgroup = f"/docker/{c.id}"
    for alias in (c.name, c.id, c.id[:12]):
        spec = get_ok(d, f"/api/v2.0/spec/{alias}?type=docker")
        assert list(spec) == [cgroup], alias
        assert spec[cgroup]["aliases"] == [c.name, c.id]
        assert spec[cgroup]["namespace"] == "docker"
        assert spec[cgroup]["labels"] == {"bar": "baz"}
    stats = get_ok(d, f"/api/v2.1/stats/{c.name}?type=docker&count=2")
    assert list(stats) == [cgroup] and len(stats[cgroup]["stats"]) == 2
    everything = get_ok(d, "/api/v2.0/spec/?type=docker&recursive=true")
    assert cgroup in everything and all(v["namespace"] == "docker" for v in everything.values())
    status, _ = get(d, f"/api/v2.0/spec/{c.name}?type=docker&recursive=true")
    assert status != 200  # cAdvisor: recursive docker requests only for "/"


def test_attributes_report_the_docker_version(
    engine: DockerEngine, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    d = pycadvisor_daemon_factory(*flags(engine))
    version = engine.api_get("/version")
    attrs = get_ok(d, "/api/v2.0/attributes")
    assert attrs["docker_version"] == version["Version"]
    assert attrs["docker_api_version"] == version["ApiVersion"]


# ---------------------------------------------------------------- stats agree with the engine


def test_idle_container_cpu_and_memory_agree_with_the_engine(
    engine: DockerEngine, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    """Both read the same cgroup files; for an idle container they agree within 10 ms CPU / 5 % memory."""
    c = engine.run_busybox(opts=("-m", "256m"))
    d = pycadvisor_daemon_factory(*flags(engine))
    wait_named(d, c)

    def settled() -> bool:
        """Idle: two samples in a row with the same CPU total (its start-up spent, ``sleep`` uses none)."""
        got = docker_info(d, c.id, 2)
        stats = got[1]["stats"] if got is not None else []
        return len(stats) == 2 and stats[0]["cpu"]["usage"]["total"] == stats[1]["cpu"]["usage"]["total"]

    wait_until(settled, timeout=10, what=f"{c.name} idle", proc=d.process)
    ours = latest(d, c)
    theirs = engine.stats(c)
    ours_after = latest(d, c)

    cpu_ns = theirs["cpu_stats"]["cpu_usage"]["total_usage"]  # cgroup v1: cpuacct.usage, ns
    lo = min(ours["cpu"]["usage"]["total"], ours_after["cpu"]["usage"]["total"])
    hi = max(ours["cpu"]["usage"]["total"], ours_after["cpu"]["usage"]["total"])
    assert lo - 10_000_000 <= cpu_ns <= hi + 10_000_000, (lo, cpu_ns, hi)
    per_cpu = ours_after["cpu"]["usage"].get("per_cpu_usage")
    if per_cpu:  # cgroup v1 only
        assert sum(per_cpu) == ours_after["cpu"]["usage"]["total"]

    mem = theirs["memory_stats"]["usage"]  # API 1.41 on cgroup v1: memory.usage_in_bytes
    ours_mem = ours_after["memory"]["usage"]
    assert abs(ours_mem - mem) <= max(mem * 0.05, 256 * 1024), (ours_mem, mem)
    assert 0 < ours_after["memory"]["working_set"] <= ours_mem
    assert theirs["memory_stats"]["limit"] == 256 * MiB == latest_spec_limit(d, c)


def latest_spec_limit(daemon: Any, c: Container) -> int:
    got = docker_info(daemon, c.id, 0)
    assert got is not None
    return int(got[1]["spec"]["memory"]["limit"])


def test_network_counters_move_with_real_traffic(
    engine: DockerEngine, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    server = engine.run_busybox("httpd", "-f", "-p", "8080", "-h", "/srv")
    d = pycadvisor_daemon_factory(*flags(engine))
    wait_named(d, server)
    ip = engine.ip_of(server)

    def eth0() -> dict[str, Any] | None:
        net = latest(d, server).get("network")
        if not net:
            return None
        ifaces = {i["name"]: i for i in net.get("interfaces", [])}
        return ifaces.get("eth0")

    before = wait_until(eth0, timeout=10, what="eth0 counters", proc=d.process)
    assert {i["name"] for i in latest(d, server)["network"]["interfaces"]} == {"eth0"}  # lo is left out
    fetches = 8
    for _ in range(fetches):  # 8 × 256 KiB from the container to the engine's netns
        engine.in_netns("/bin/busybox", "wget", "-q", "-O", "/dev/null", f"http://{ip}:8080/blob")
    sent = fetches * 256 * 1024

    def moved() -> dict[str, Any] | None:
        now = eth0()
        return now if now is not None and now["tx_bytes"] - before["tx_bytes"] >= sent else None

    after = wait_until(moved, timeout=10, what="tx_bytes to grow by the bytes served", proc=d.process)
    assert after["tx_bytes"] - before["tx_bytes"] < sent + 512 * 1024  # the files plus HTTP/TCP overhead
    assert after["rx_bytes"] > before["rx_bytes"] and after["rx_packets"] > before["rx_packets"]
    assert after["tx_bytes"] != after["rx_bytes"]
    # The engine's own view of the same interface moved the same way.
    engine_tx = engine.stats(server)["networks"]["eth0"]["tx_bytes"]
    assert engine_tx >= after["tx_bytes"] - 64 * 1024


def test_writable_layer_usage_includes_what_the_container_wrote(
    engine: DockerEngine, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    """Two containers of one image; the one that wrote 10 MiB uses 10 MiB more (v1 and v2.1 stats)."""
    quiet = engine.run_busybox()
    writer = engine.run_busybox("sh", "-c", "dd if=/dev/zero of=/tmp/blob bs=1M count=10 && sleep 3600")
    wait_until(
        lambda: "/tmp/blob" in engine.exec(writer, "sh", "-c", "ls /tmp/blob && sync"),
        timeout=20,
        what="the 10 MiB file",
    )
    d = pycadvisor_daemon_factory(*flags(engine))

    def usage(c: Container) -> int | None:
        fs = latest(d, c).get("filesystem")
        return int(fs[0]["usage"]) if fs else None

    q = wait_until(lambda: usage(quiet), timeout=30, what="quiet's fs usage", proc=d.process)
    w = wait_until(lambda: usage(writer), timeout=30, what="writer's fs usage", proc=d.process)
    assert 10 * MiB <= w - q <= 11 * MiB, (w, q)
    fs = latest(d, writer)["filesystem"][0]
    assert fs["inodes"] > 0 and fs["capacity"] > 0
    v2 = get_ok(d, f"/api/v2.1/stats/{writer.id}?type=docker&count=1")
    v2fs = v2[f"/docker/{writer.id}"]["stats"][-1]["filesystem"]
    assert v2fs["totalUsageBytes"] == w or abs(v2fs["totalUsageBytes"] - w) < MiB
    assert v2fs["baseUsageBytes"] >= 10 * MiB


def _mount_of_device(dev: int) -> tuple[str, str]:
    """(source, fs type) of the first mount of device number ``dev`` in our mount table."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-", 6)
            major, minor = (int(x) for x in fields[2].split(":"))
            if os.makedev(major, minor) == dev:
                return fields[sep + 2], fields[sep + 1]
    raise AssertionError(f"device {os.major(dev)}:{os.minor(dev)} is in no mount")


def _diskstats_reads(dev: int) -> int | None:
    with open("/proc/diskstats") as f:
        for line in f:
            fields = line.split()
            if os.makedev(int(fields[0]), int(fields[1])) == dev:
                return int(fields[3])
    return None


def test_filesystem_is_the_device_holding_the_writable_layer(
    engine: DockerEngine, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    """The container's filesystem entry, and its container_fs_* series, are the filesystem its writable
    layer is on (its st_dev through the mount table) with that filesystem's capacity and disk counters,
    not the root container's first filesystem (the /dev/shm tmpfs here), as cAdvisor's docker/fs.go."""
    c = engine.run_busybox()
    d = pycadvisor_daemon_factory(*flags(engine))
    with open(f"{engine.data_root}/image/vfs/layerdb/mounts/{c.id}/mount-id") as f:
        layer = f"{engine.data_root}/vfs/dir/{f.read().strip()}"
    dev = os.stat(layer).st_dev
    source, fstype = _mount_of_device(dev)
    vfs = os.statvfs(layer)
    assert fstype != "tmpfs" and source != "/dev/shm"  # what this test tells apart: the layer is on a disk

    def fs() -> dict[str, Any] | None:
        got = latest(d, c).get("filesystem")
        return dict(got[0]) if got else None

    entry = wait_until(fs, timeout=30, what="the container's filesystem entry", proc=d.process)
    assert len(latest(d, c)["filesystem"]) == 1
    assert entry["device"] == source
    assert entry["capacity"] == vfs.f_blocks * vfs.f_frsize
    assert 0 < entry["available"] <= entry["capacity"] and entry["inodes_free"] > 0
    assert entry["usage"] > 0 and entry["inodes"] > 0  # the layer's, from the walk
    reads = _diskstats_reads(dev)
    if reads is not None:  # a block device: its /proc/diskstats counters come along
        assert 0 < entry["reads_completed"] <= reads
    status, body = d.get("/metrics")
    assert status == 200
    limits = {s.labels["device"]: s.value
              for fam in text_string_to_metric_families(body.decode()) if fam.name == "container_fs_limit_bytes"
              for s in fam.samples if s.labels["id"] == f"/docker/{c.id}"}  # fmt: skip
    assert limits == {source: vfs.f_blocks * vfs.f_frsize}
    # The engine's root (a temp dir on the same disk here) labels its filesystem docker-images.
    (images,) = get_ok(d, "/api/v2.0/storage?label=docker-images")
    assert images["device"] == source and "docker-images" in images["labels"]
    assert images["capacity"] == vfs.f_blocks * vfs.f_frsize


# ---------------------------------------------------------------- lifecycle


def test_removal_is_noticed_within_seconds(engine: DockerEngine, pycadvisor_daemon_factory: Callable[..., Any]) -> None:
    c = engine.run_busybox()
    d = pycadvisor_daemon_factory(*flags(engine))
    wait_named(d, c)
    engine.rm(c)
    cgroup = f"/docker/{c.id}"
    wait_until(
        lambda: docker_info(d, c.name) is None and cgroup not in get_ok(d, "/api/v1.2/docker/"),
        timeout=10,
        what="the removed container to disappear",
        proc=d.process,
    )
    status, _ = get(d, f"/api/v1.3/containers{cgroup}")
    assert status != 200


def test_deletion_event_carries_the_exit_code(
    engine: DockerEngine, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    d = pycadvisor_daemon_factory(*flags(engine))
    # Each exits when told to, once named: a loaded host may take longer than any fixed lifetime to name it.
    until_told = "until [ -e /tmp/exit ]; do sleep 0.1; done; exit "
    kept = engine.run_busybox("sh", "-c", until_told + "3")
    auto = engine.run_busybox("sh", "-c", until_told + "4", opts=("--rm",))
    for c, code in ((kept, 3), (auto, 4)):
        wait_named(d, c)
        engine.exec(c, "touch", "/tmp/exit")
        path = f"/api/v1.3/events/docker/{c.id}?deletion_events=true"

        def deletions(path: str = path) -> list[dict[str, Any]]:
            return list(get_ok(d, path))

        events = wait_until(deletions, timeout=20, what="a deletion event", proc=d.process)
        assert [e["event_data"]["container_deletion"]["exit_code"] for e in events] == [code]


def test_docker_only_and_metrics_type_docker(
    engine: DockerEngine, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    c = engine.run_busybox(opts=SPEC_OPTS)
    h = engine.run_busybox(opts=("--health-cmd", "true", "--health-interval", "1s"))
    d = pycadvisor_daemon_factory(*flags(engine, "-docker_only"))
    wait_named(d, c)
    wait_named(d, h)
    subs = {s["name"] for s in get_ok(d, "/api/v1.3/subcontainers/")}
    assert "/" in subs and f"/docker/{c.id}" in subs
    assert all(n == "/" or n.startswith("/docker/") for n in subs), sorted(subs)[:10]

    def metrics() -> str:
        status, body = d.get("/metrics?type=docker")
        assert status == 200
        return str(body.decode())

    text = metrics()
    series = [ln for ln in text.splitlines() if ln.startswith("container_memory_usage_bytes{")]
    assert series and all('id="/docker/' in ln for ln in series)  # only docker containers
    mine = next(ln for ln in series if f'id="/docker/{c.id}"' in ln)
    for label in (
        'container_label_bar="baz"',
        'image="pycad-bb:1"',
        f'name="{c.name}"',
        'container_env_test_var="FOO"',
    ):
        assert label in mine, (label, mine)

    def healthy() -> bool:
        for ln in metrics().splitlines():
            if ln.startswith("container_health_state{") and f'id="/docker/{h.id}"' in ln:
                return ln.rsplit("}", 1)[1].split()[0] == "1"  # value, then an optional timestamp
        return False

    wait_until(healthy, timeout=30, what="container_health_state 1 for the healthy container", proc=d.process)


# ---------------------------------------------------------------- engine faults


@pytest.fixture
def own_engine() -> Iterator[DockerEngine]:
    """An engine this test may stop and start; live-restore keeps its containers running meanwhile."""
    require_engine()
    eng = DockerEngine(live_restore=True)
    try:
        yield eng
    finally:
        eng.cleanup()


def test_engine_absent_at_start_then_started_names_are_attached(
    own_engine: DockerEngine, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    eng = own_engine
    eng.start()
    c = eng.run_busybox(opts=("--label", "bar=baz"))
    eng.stop()  # live-restore: c keeps running without its engine
    cgroup = f"/docker/{c.id}"
    d = pycadvisor_daemon_factory(*flags(eng))
    # Monitored as a raw cgroup meanwhile: stats, but no name.
    raw = wait_until(
        lambda: (i := get(d, f"/api/v1.3/containers{cgroup}")[1]) and isinstance(i, dict) and i.get("stats") and i,
        timeout=20,
        what="the container as a raw cgroup",
        proc=d.process,
    )
    assert "aliases" not in raw and "namespace" not in raw
    assert docker_info(d, c.name) is None
    eng.start()
    info = wait_named(d, c, timeout=30)  # re-attached without restarting pycadvisor
    assert info["aliases"] == [c.name, c.id] and info["spec"]["labels"] == {"bar": "baz"}
    assert "docker engine" in d.log() and "unavailable" in d.log()
    assert d.log().count("unavailable") <= 2  # logged once (factory and manager), not per container/sample


def test_engine_stopped_and_started_while_pycadvisor_runs(
    own_engine: DockerEngine, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    eng = own_engine
    eng.start()
    c = eng.run_busybox()
    d = pycadvisor_daemon_factory(*flags(eng))
    wait_named(d, c)
    cgroup = f"/docker/{c.id}"

    def sample_time() -> str:
        stats = get_ok(d, f"/api/v1.3/containers{cgroup}").get("stats") or [{}]
        return str(stats[-1].get("timestamp", ""))

    eng.stop()
    t0 = sample_time()
    wait_until(lambda: sample_time() > t0, timeout=10, what="samples while the engine is down", proc=d.process)
    eng.start()
    c2 = eng.run_busybox()
    info = wait_named(d, c2, timeout=30)  # a container started after the restart gets its name
    assert info["aliases"] == [c2.name, c2.id]
    assert docker_info(d, c.name) is not None  # and the survivor is still known by name


def test_hung_engine_stalls_neither_housekeeping_nor_the_api(
    own_engine: DockerEngine, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    eng = own_engine
    eng.start()
    c = eng.run_busybox()
    d = pycadvisor_daemon_factory(*flags(eng, "-runtime_timeout=1s"))
    wait_named(d, c)
    cgroup = f"/docker/{c.id}"
    eng.freeze()  # the socket accepts, nothing answers
    try:
        t0 = latest(d, c)["timestamp"]
        # The API answers and samples keep coming although the engine answers nothing.
        wait_until(lambda: latest(d, c)["timestamp"] > t0, timeout=10, what="fresh samples", proc=d.process)
        assert get_ok(d, "/api/v2.0/attributes")["num_cores"] == os.cpu_count()
        assert cgroup in get_ok(d, "/api/v1.2/docker/")
    finally:
        eng.thaw()


# ---------------------------------------------------------------- containers started while pycadvisor runs


def _every_family(d: Any, c: Container) -> dict[str, Any] | None:
    """The container's newest sample once pycadvisor has its name, CPU and memory usage and the IO family."""
    got = docker_info(d, c.name, 1)
    if got is None or not got[1].get("stats"):
        return None
    spec, last = got[1]["spec"], got[1]["stats"][-1]
    if not (spec.get("has_cpu") and spec.get("has_memory") and spec.get("has_diskio")):
        return None
    if last["cpu"]["usage"]["total"] <= 0 or last["memory"]["usage"] <= 0 or "diskio" not in last:
        return None
    return dict(got[1])


def _in_metrics(d: Any, c: Container) -> set[str]:
    """The families of ``/metrics`` with a series named after the container."""
    _, body = d.get("/metrics")
    label = f'name="{c.name}"'
    return {line.split("{", 1)[0] for line in body.decode().splitlines() if label in line and not line.startswith("#")}


WANTED_FAMILIES = {
    "container_cpu_usage_seconds_total",
    "container_memory_usage_bytes",
    "container_memory_working_set_bytes",
    "container_spec_memory_limit_bytes",
    "container_spec_cpu_shares",
}


def test_containers_started_after_the_daemon_get_every_stat(
    engine: DockerEngine, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    """runc makes a container's cgroup one hierarchy after another while pycadvisor already watches
    (issue 13): every container started after the daemon gets CPU, memory and IO, several at once."""
    d = pycadvisor_daemon_factory(*flags(engine))
    for round_ in range(2):
        started = [
            engine.run_busybox("sh", "-c", "while :; do :; done", opts=("--label", f"round={round_}")) for _ in range(3)
        ]
        try:
            for c in started:
                info = wait_until(
                    lambda c=c: _every_family(d, c),  # type: ignore[misc]
                    timeout=20,
                    what=f"cpu, memory and io of {c.name}",
                    proc=d.process,
                )
                assert info["spec"]["labels"]["round"] == str(round_)
                missing = wait_until(
                    lambda c=c: (WANTED_FAMILIES - _in_metrics(d, c)) == set() or None,  # type: ignore[misc]
                    timeout=10,
                    what=f"/metrics series of {c.name}",
                    proc=d.process,
                )
                assert missing
        finally:
            for c in started:
                engine.rm(c)


def test_engine_started_after_the_daemon_then_restarted(
    own_engine: DockerEngine, pycadvisor_daemon_factory: Callable[..., Any]
) -> None:
    """No engine when pycadvisor starts; it comes, runs containers, restarts: names, labels and stats
    follow each time without restarting pycadvisor."""
    eng = own_engine
    d = pycadvisor_daemon_factory(*flags(eng))
    eng.start()
    first = eng.run_busybox("sh", "-c", "while :; do :; done", opts=("--label", "gen=1"))
    info = wait_until(lambda: _every_family(d, first), timeout=30, what="the first container", proc=d.process)
    assert info["spec"]["labels"]["gen"] == "1" and info["aliases"] == [first.name, first.id]
    eng.stop()  # live-restore: the container keeps running
    eng.start()
    second = eng.run_busybox("sh", "-c", "while :; do :; done", opts=("--label", "gen=2"))
    info = wait_until(lambda: _every_family(d, second), timeout=30, what="a container after the restart")
    assert info["spec"]["labels"]["gen"] == "2" and info["aliases"] == [second.name, second.id]
    before = _every_family(d, first)
    assert before is not None, "the survivor keeps its name and stats"
    t0 = before["stats"][-1]["timestamp"]
    wait_until(
        lambda: (i := _every_family(d, first)) is not None and i["stats"][-1]["timestamp"] > t0,
        timeout=10,
        what="fresh samples of the survivor",
    )
