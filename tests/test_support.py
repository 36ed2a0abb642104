"""The test helpers really work on this machine: real cgroups, real workloads, real services."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest

from support import services as svc
from support.cgroups import PREFIX, TestCgroup, host_layout, parse_cgroup_mounts, sweep_stale
from support.ci import require
from support.procs import ManagedProcess, cpu_burner, disk_writer, memory_holder, pid_start_time, sleeper

if TYPE_CHECKING:
    from support.docker_engine import DockerEngine

REPO_ROOT = Path(__file__).resolve().parent.parent


def _gone(pid: int, start: int | None) -> bool:
    """The process that had ``pid`` (with that start time) no longer exists (zombies count as gone)."""
    now = pid_start_time(pid)
    if now is None or now != start:
        return True
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "Z"


def _port_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


# ---------------------------------------------------------------- pure parsing


HYBRID_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
90 80 0:32 /docker/abc /var/lib/x/memory rw,relatime - cgroup cgroup rw,memory
"""


def test_parse_cgroup_mounts_reads_v1_controllers_and_skips_nonroot_mounts() -> None:
    hiers = parse_cgroup_mounts(HYBRID_MOUNTINFO)
    by_mp = {h.mountpoint: h for h in hiers}
    assert by_mp["/sys/fs/cgroup/cpu"].controllers == {"cpu"}
    assert by_mp["/sys/fs/cgroup/systemd"].controllers == frozenset()  # name=systemd is no controller
    assert by_mp["/sys/fs/cgroup/unified"].version == 2
    assert "/var/lib/x/memory" not in by_mp  # a bind mount of a sub-cgroup is not a hierarchy root


def test_parse_cgroup_mounts_pure_v2_and_comounted_v1() -> None:
    v2 = parse_cgroup_mounts("25 20 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n")
    assert [(h.mountpoint, h.version) for h in v2] == [("/sys/fs/cgroup", 2)]
    co = parse_cgroup_mounts("32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n")
    assert co[0].controllers == {"cpu", "cpuacct"}


# ---------------------------------------------------------------- CI gating


def test_require_skips_outside_ci_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require(False, "no widget")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no widget"):
        require(False, "no widget")
    require(True, "never raised")


def test_a_skip_is_a_failure_under_ci(tmp_path: Path) -> None:
    """The conftest turns any skip (a test's, a fixture's, a module's) into a failure when CI=true."""
    (tmp_path / "conftest.py").write_text((REPO_ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "support").symlink_to(REPO_ROOT / "tests" / "support")
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\npythonpath = .\naddopts = --import-mode=importlib -p no:cacheprovider\n"
    )
    (tmp_path / "test_x.py").write_text(
        textwrap.dedent(
            """
            import pytest

            def test_ok():
                pass

            def test_skips():
                pytest.skip("not here")

            @pytest.mark.xfail(reason="known", strict=True)
            def test_xfail():
                assert False
            """
        )
    )

    def run(ci: str | None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci else {})
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "test_x.py"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    local = run(None)
    assert local.returncode == 0, local.stdout + local.stderr
    assert "1 passed, 1 skipped, 1 xfailed" in local.stdout
    ci = run("true")
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert "1 failed, 1 passed, 1 xfailed" in ci.stdout
    assert "skipped under CI=true" in ci.stdout


# ---------------------------------------------------------------- cgroups and workloads


def _cgroup_usage_ns(cg: TestCgroup) -> int:
    if cg.version == 1:
        return cg.get_int("cpuacct.usage")
    stat = dict(line.split() for line in cg.get("cpu.stat").splitlines())
    return int(stat["usage_usec"]) * 1000


@pytest.mark.root
def test_test_cgroup_exists_in_every_controller_and_is_removed_after() -> None:
    layout = host_layout()
    assert layout is not None
    with TestCgroup("appears") as cg:
        assert cg.name == f"/{cg.prefix}/appears"
        assert len(cg.prefix) == len(PREFIX) + 8
        for controller in layout.roots:
            assert os.path.isdir(cg.path(controller)), controller
        if layout.version == 1:
            assert os.path.isdir(f"/sys/fs/cgroup/cpu{cg.name}") or "cpu" not in layout.roots
            assert cg.get("cpuset.cpus").strip(), "cpuset.cpus copied from the parent"
        paths = cg.paths() + [os.path.join(r, cg.prefix) for r in layout.unique_roots()]
    for p in paths:
        assert not os.path.exists(p), p


def _sched_ns(pid: int) -> tuple[int, int]:
    """(time on CPU, time runnable but waiting) of ``pid`` in ns, from /proc/<pid>/schedstat."""
    with open(f"/proc/{pid}/schedstat") as f:
        run, wait, _ = f.read().split()
    return int(run), int(wait)


@pytest.mark.root
def test_cpu_burner_uses_about_one_core(test_cgroup: TestCgroup) -> None:
    """The burner always wants exactly one core, and every ns it runs is charged to its cgroup.

    Judged by the scheduler's own accounting rather than wall-clock share, so a busy machine
    (fewer ns on CPU, more waiting) does not change the verdict.
    """
    burner = cpu_burner(test_cgroup)
    usage0, (run0, wait0), t0 = _cgroup_usage_ns(test_cgroup), _sched_ns(burner.pid), time.monotonic()
    time.sleep(1.5)
    usage1, (run1, wait1), t1 = _cgroup_usage_ns(test_cgroup), _sched_ns(burner.pid), time.monotonic()
    wall_ns = (t1 - t0) * 1e9
    demand = (run1 - run0 + wait1 - wait0) / wall_ns
    assert 0.9 < demand < 1.1, f"burner was runnable {demand:.2f} of the time, want one core"
    charged, ran = usage1 - usage0, run1 - run0
    assert ran > 0
    assert abs(charged - ran) < 0.05 * wall_ns, f"cgroup charged {charged} ns, burner ran {ran} ns"


@pytest.mark.root
def test_memory_holder_is_charged_to_its_cgroup(test_cgroup: TestCgroup) -> None:
    memory_holder(test_cgroup, 64)
    usage = test_cgroup.get_int("memory.usage_in_bytes" if test_cgroup.version == 1 else "memory.current")
    assert usage >= 64 << 20


@pytest.mark.root
def test_disk_writer_is_counted_by_blkio(test_cgroup: TestCgroup) -> None:
    workdir = REPO_ROOT / ".work"
    workdir.mkdir(exist_ok=True)
    target = workdir / f"disk-writer-{uuid.uuid4().hex[:8]}.bin"
    disk_writer(test_cgroup, 8, str(target))
    assert not target.exists()
    if test_cgroup.version == 1:
        lines = test_cgroup.get("blkio.throttle.io_service_bytes").splitlines()
        written = sum(int(f[2]) for f in (ln.split() for ln in lines) if len(f) == 3 and f[1] == "Write")
    else:
        written = sum(
            int(kv.split("=")[1])
            for ln in test_cgroup.get("io.stat").splitlines()
            for kv in ln.split()[1:]
            if kv.startswith("wbytes=")
        )
    assert written >= 8 << 20


@pytest.mark.root
def test_children_and_cleanup_kill_every_process_even_after_a_failure() -> None:
    with pytest.raises(RuntimeError, match="test body failed"), TestCgroup("outer") as cg:
        inner = cg.child("inner")
        assert inner.name == cg.name + "/inner"
        p1, p2 = sleeper(cg), sleeper(inner)
        stray = subprocess.Popen(["sleep", "infinity"])  # not adopted: only in the cgroup
        inner.add_pid(stray.pid)
        assert inner.pids() == {p2.pid, stray.pid}
        starts = {p.pid: pid_start_time(p.pid) for p in (p1, p2)}
        starts[stray.pid] = pid_start_time(stray.pid)
        paths = cg.paths() + inner.paths()
        raise RuntimeError("test body failed")
    stray.wait(10)
    assert all(_gone(pid, start) for pid, start in starts.items())
    assert not any(os.path.exists(p) for p in paths)


@pytest.mark.root
def test_sweep_removes_only_stale_test_cgroups() -> None:
    layout = host_layout()
    assert layout is not None
    stale = f"{PREFIX}{uuid.uuid4().hex[:8]}"  # no owner record: left by a crashed run
    for root in layout.unique_roots():
        os.makedirs(os.path.join(root, stale, "leftover"))
        if layout.version == 1 and os.path.exists(os.path.join(root, stale, "cpuset.cpus")):
            for d in (stale, f"{stale}/leftover"):
                for name in ("cpuset.cpus", "cpuset.mems"):
                    with open(os.path.join(root, os.path.dirname(d) or ".", name)) as src:
                        value = src.read().strip()
                    with open(os.path.join(root, d, name), "w") as dst:
                        dst.write(value)
    foreign = f"{PREFIX}other-{uuid.uuid4().hex[:8]}"  # another helper's naming: not ours to sweep
    os.makedirs(os.path.join(layout.roots["memory"], foreign))
    orphan = ManagedProcess(["sleep", "infinity"], what="orphan sleeper")
    try:
        for root in layout.unique_roots():
            with open(os.path.join(root, stale, "leftover", "cgroup.procs"), "w") as procs:
                procs.write(str(orphan.pid))
        with TestCgroup("live") as live:
            removed = sweep_stale(layout)
            assert f"/{stale}" in removed
            assert live.exists(), "a cgroup whose owner is alive must survive the sweep"
            assert f"/{live.prefix}" not in removed
        assert not any(os.path.exists(os.path.join(r, stale)) for r in layout.unique_roots())
        assert orphan.proc.wait(10) == -9
        assert os.path.isdir(os.path.join(layout.roots["memory"], foreign))
    finally:
        orphan.stop()
        os.rmdir(os.path.join(layout.roots["memory"], foreign))


# ---------------------------------------------------------------- services


def _stopped(srv: svc.Service) -> None:
    pid, start, port = srv.pid, pid_start_time(srv.pid), srv.port
    srv.stop()
    assert _gone(pid, start)
    if port:
        assert _port_closed(port)
    assert not os.path.exists(srv.workdir)


def test_redis_answers_and_stops(redis_server: svc.RedisServer) -> None:
    import redis

    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    client.set("pycad", "1")
    assert client.get("pycad") == b"1"
    client.close()
    _stopped(redis_server)


def test_influxdb_stores_points_and_stops(influxdb_server: svc.InfluxDBServer) -> None:
    from influxdb import InfluxDBClient

    assert influxdb_server.rpc_port != influxdb_server.port
    client = InfluxDBClient(host=influxdb_server.host, port=influxdb_server.port, database="cadvisor")
    client.create_database("cadvisor")
    point = {"measurement": "cpu_usage_total", "tags": {"container_name": "/c1"}, "fields": {"value": 5}}
    assert client.write_points([point])
    assert [p["value"] for p in client.query("SELECT * FROM cpu_usage_total").get_points()] == [5]
    client.close()
    _stopped(influxdb_server)


# kafka-python 3.0 loads its protocol schemas with importlib.resources APIs deprecated in 3.11.
@pytest.mark.filterwarnings("ignore:.*is deprecated. Use files\\(\\) instead:DeprecationWarning")
def test_kafka_round_trip_and_stop(kafka_broker: svc.KafkaBroker) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
    md = producer.send("stats", key=b"c1", value=b'{"cpu":1}', partition=0).get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap, group_id=None, consumer_timeout_ms=10000)
    tp = TopicPartition("stats", 0)
    consumer.assign([tp])
    consumer.seek(tp, md.offset)
    msg = next(iter(consumer))
    consumer.close()
    assert (msg.key, msg.value) == (b"c1", b'{"cpu":1}')
    _stopped(kafka_broker)


@pytest.mark.parametrize("flavor", ["osmem", "noida"])
def test_es_emulator_indexes_and_searches(es_server_factory: Callable[[str], svc.ESServer], flavor: str) -> None:
    es = es_server_factory(flavor)
    assert es.info["version"]["number"]
    es.request("PUT", "/cadvisor")
    created = es.request("POST", "/cadvisor/_doc?refresh=true", {"container_name": "/c1", "cpu": 3})
    assert created["result"] == "created"
    hits = es.search("cadvisor", {"match": {"container_name": "/c1"}})
    assert [h["_source"]["cpu"] for h in hits] == [3]
    _stopped(es)


def test_statsd_receives_gauges_and_stops(statsd_server: svc.StatsdServer) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.sendto(b"cadvisor.c1.memory_usage:12345|g", (statsd_server.host, statsd_server.port))
    assert statsd_server.wait_gauge("cadvisor.c1.memory_usage") == 12345
    assert statsd_server.counters()["statsd.metrics_received"] >= 1
    _stopped(statsd_server)


def test_parse_statsd_admin_dump() -> None:
    text = "{ 'cadvisor.a.b': 1.5,\n  plain: 2,\n  'we\\'ird': -3 }\nEND\n\n"
    assert svc.parse_statsd_admin(text) == {"cadvisor.a.b": 1.5, "plain": 2, "we'ird": -3}


@pytest.fixture
def metrics_target() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'pycad_test_metric{label="a"} 42\n'
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_prometheus_scrapes_a_target(
    prometheus_factory: Callable[..., svc.PrometheusServer], metrics_target: str
) -> None:
    prom = prometheus_factory([metrics_target], extra_config={"metrics_path": "/metrics"})
    result = prom.query('pycad_test_metric{label="a"}')
    assert result[0]["value"][1] == "42"
    assert result[0]["metric"]["instance"] == metrics_target
    _stopped(prom)


def _regular_member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    """The contents of ``name``, a regular file in ``tar`` (extractfile() gives None for other kinds)."""
    f = tar.extractfile(name)
    assert f is not None, f"{name} is not a regular file in {tar.name!r}"
    return f


def test_busybox_image_archive_is_consistent(busybox_image: svc.BusyboxImage) -> None:
    import hashlib

    with tarfile.open(busybox_image.docker_archive) as tar:
        manifest = json.load(_regular_member(tar, "manifest.json"))
        config = json.load(_regular_member(tar, manifest[0]["Config"]))
        layer = _regular_member(tar, manifest[0]["Layers"][0]).read()
    assert manifest[0]["RepoTags"] == [busybox_image.tag]
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    with tarfile.open(busybox_image.rootfs_tar) as tar:
        assert tar.getmember("bin/sh").linkname == "busybox"


def _memory_cgroup(path: str) -> str:
    layout = host_layout()
    assert layout is not None
    return os.path.join(layout.roots["memory"], path.lstrip("/"))


@pytest.mark.root
def test_containerd_runs_a_task_in_its_cgroup_and_cleans_up(
    containerd_server: svc.ContainerdServer, busybox_image: svc.BusyboxImage
) -> None:
    containerd_server.ctr("images", "import", busybox_image.docker_archive)
    name = f"pycadtest-{uuid.uuid4().hex[:6]}"
    containerd_server.ctr("run", "-d", f"docker.io/library/{busybox_image.tag}", name, "sleep", "300")
    tasks = containerd_server.ctr("tasks", "ls").stdout
    assert name in tasks and "RUNNING" in tasks
    cgroup = _memory_cgroup(f"/default/{name}")
    assert os.path.isdir(cgroup)
    with open(os.path.join(cgroup, "cgroup.procs")) as f:
        task_pid = int(f.read().split()[0])
    start = pid_start_time(task_pid)
    _stopped(containerd_server)
    assert _gone(task_pid, start)
    assert not os.path.exists(cgroup)


@pytest.mark.root
def test_podman_service_runs_a_container_and_cleans_up(
    podman_service: svc.PodmanService, busybox_image: svc.BusyboxImage
) -> None:
    podman_service.podman("load", "-i", busybox_image.docker_archive)
    cid = podman_service.podman("run", "-d", "--network", "none", busybox_image.tag, "sleep", "300").stdout.strip()
    status, body = svc.unix_http_request(podman_service.socket, "GET", "/v1.41/containers/json")
    assert status == 200
    assert [c["Id"] for c in json.loads(body)] == [cid]
    cgroup = _memory_cgroup(f"/libpod_parent/libpod-{cid}")
    assert os.path.isdir(cgroup)
    _stopped(podman_service)
    assert not os.path.exists(cgroup)


@pytest.mark.root
def test_docker_engine_fixture_runs_a_container_in_its_cgroup(docker_engine: DockerEngine) -> None:
    assert docker_engine.ping()
    container = docker_engine.run_busybox("sleep", "300")
    try:
        assert os.path.isdir(_memory_cgroup(container.cgroup))
    finally:
        docker_engine.rm(container)


# ---------------------------------------------------------------- the daemon


def test_daemon_factory_starts_a_healthy_daemon_that_exits_cleanly(
    pycadvisor_daemon_factory: Callable[..., Any],
) -> None:
    daemon = pycadvisor_daemon_factory("-housekeeping_interval=1s")
    assert daemon.get("/healthz") == (200, b"ok")
    pid, start = daemon.pid, pid_start_time(daemon.pid)
    assert daemon.stop() == 0
    assert _gone(pid, start)
