"""Suite-wide fixtures and gating: real cgroups, real services on free ports, the real daemon.

- Under ``CI=true`` a skipped test is reported as a failure (scripts/test runs the suite so).
- Tests marked ``root`` (or using a cgroup/runtime fixture) need root and mounted cgroups.
- Tests using a service fixture are marked ``service``; ``-m "not service"`` leaves them out.
- Every process a fixture starts is stopped by PID at teardown (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from support import services as svc
from support.cgroups import TestCgroup, host_layout, sweep_stale
from support.ci import cannot_run, in_ci, is_root, require, timeout_scale
from support.procs import ManagedProcess, wait_until

if TYPE_CHECKING:
    from support.docker_engine import DockerEngine

REPO_ROOT = Path(__file__).resolve().parent.parent
DAEMON_READY_TIMEOUT = 30.0
DAEMON_STOP_TIMEOUT = 10.0
S = TypeVar("S", bound=svc.Service)

# Fixture host trees (tests/fixtures/hosts/*/sys, ...) copy sysfs, symlink cycles included: collecting
# there never ends. Nothing under a fixtures/ folder is a test.
collect_ignore_glob = ["fixtures", "*/fixtures"]

ROOT_FIXTURES = {"test_cgroup", "cgroup_factory", "containerd_server", "podman_service", "docker_engine"}
SERVICE_FIXTURES = {
    "redis_server",
    "influxdb_server",
    "kafka_broker",
    "es_server",
    "es_server_factory",
    "statsd_server",
    "prometheus_factory",
    "containerd_server",
    "podman_service",
}


# ---------------------------------------------------------------- session hooks and gating


def _can_use_cgroups() -> bool:
    return is_root() and host_layout() is not None


def pytest_report_header(config: pytest.Config) -> list[str]:
    layout = host_layout()
    cg = f"cgroup v{layout.version} ({', '.join(layout.roots)})" if layout else "no cgroups"
    return [f"pycadvisor tests: CI={in_ci()} root={is_root()} {cg}"]


def pytest_sessionstart(session: pytest.Session) -> None:
    # Remove test cgroups left by crashed runs (only those whose owning process is gone).
    if _can_use_cgroups():
        sweep_stale()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _can_use_cgroups():
        sweep_stale()
        _sweep_empty_runtime_parents()


def _sweep_empty_runtime_parents() -> None:
    """Remove the empty ``pycadtest-rootless-*`` cgroup parents that podman's cleanup re-creates in some v1
    hierarchies (devices, freezer) after the test removed them; only empty directories go."""
    import glob

    for top in glob.glob("/sys/fs/cgroup/*/pycadtest-rootless-*"):
        for d, _, _ in os.walk(top, topdown=False):
            try:
                os.rmdir(d)
            except OSError:
                pass


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/v2 runs only inside scripts/test-v2's cgroup v2 guest (which sets PYCAD_V2_GUEST=1): on the
    v1 host its tests could only skip, and a skip fails under CI=true."""
    v2 = REPO_ROOT / "tests" / "v2"
    if (collection_path == v2 or v2 in collection_path.parents) and os.environ.get("PYCAD_V2_GUEST") != "1":
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & ROOT_FIXTURES and not item.get_closest_marker("root"):
            item.add_marker(pytest.mark.root)
        if names & SERVICE_FIXTURES and not item.get_closest_marker("service"):
            item.add_marker(pytest.mark.service)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("root"):
        require(is_root(), "needs root")
        require(host_layout() is not None, "needs mounted cgroups")


def _as_ci_failure(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Under CI=true a skip is a failure: a test that cannot run here tests nothing."""
    if not in_ci() or not report.skipped or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _as_ci_failure(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    _as_ci_failure(report)
    return report


# ---------------------------------------------------------------- small helpers


@pytest.fixture
def free_port() -> Callable[..., int]:
    """``free_port(kind="tcp"|"udp"|"both") -> int``: a port free on 127.0.0.1 right now."""
    return svc.free_port


def _cgroup_name(node: pytest.Item) -> str:
    base = getattr(node, "originalname", node.name)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", base)[:48] or "t"


# ---------------------------------------------------------------- cgroups


@pytest.fixture
def test_cgroup(request: pytest.FixtureRequest) -> Iterator[TestCgroup]:
    """A real cgroup ``/pycadtest-<uuid8>/<test name>`` in every controller read; removed after."""
    with TestCgroup(_cgroup_name(request.node)) as cg:
        yield cg


@pytest.fixture
def cgroup_factory() -> Iterator[Callable[[str], TestCgroup]]:
    """``make(name) -> TestCgroup``: several independent test cgroups, all removed after."""
    made: list[TestCgroup] = []

    def make(name: str) -> TestCgroup:
        cg = TestCgroup(name)
        made.append(cg)
        return cg

    yield make
    errors = []
    for cg in reversed(made):
        try:
            cg.close()
        except Exception as e:
            errors.append(e)
    if errors:
        raise errors[0]


# ---------------------------------------------------------------- services


def _start(start: Callable[[], S]) -> S:
    try:
        return start()
    except svc.ServiceUnavailable as e:
        cannot_run(str(e))


def _running(start: Callable[[], S]) -> Iterator[S]:
    """A fixture's body: the service ``start`` starts, stopped when the test is over."""
    srv = _start(start)
    try:
        yield srv
    finally:
        srv.stop()


class _Started(list[S]):
    """Services a factory fixture started: :meth:`stop_all` at its end."""

    def add(self, srv: S) -> S:
        self.append(srv)
        return srv

    def stop_all(self) -> None:
        for srv in self:
            srv.stop()


@pytest.fixture
def redis_server() -> Iterator[svc.RedisServer]:
    yield from _running(svc.start_redis)


@pytest.fixture
def influxdb_server() -> Iterator[svc.InfluxDBServer]:
    yield from _running(svc.start_influxdb)


@pytest.fixture
def kafka_broker() -> Iterator[svc.KafkaBroker]:
    yield from _running(svc.start_kafka)


@pytest.fixture
def es_server_factory() -> Iterator[Callable[[str], svc.ESServer]]:
    """``make(flavor="osmem"|"noida") -> ESServer``; all stopped after."""
    started: _Started[svc.ESServer] = _Started()

    def make(flavor: str = "osmem") -> svc.ESServer:
        return started.add(_start(lambda: svc.start_es(flavor)))

    yield make
    started.stop_all()


@pytest.fixture
def es_server(es_server_factory: Callable[[str], svc.ESServer]) -> svc.ESServer:
    """An OpenSearch-compatible emulator (osmem-server)."""
    return es_server_factory("osmem")


@pytest.fixture
def statsd_server() -> Iterator[svc.StatsdServer]:
    yield from _running(svc.start_statsd)


@pytest.fixture
def prometheus_factory() -> Iterator[Callable[..., svc.PrometheusServer]]:
    """``make(targets, scrape_interval="1s", extra_config=None, job="pycadvisor", rule_files=(), *,
    remote_write_receiver=False, port=None)
    -> PrometheusServer``; all stopped after."""
    started: _Started[svc.PrometheusServer] = _Started()

    def make(
        targets: Sequence[str],
        scrape_interval: str = "1s",
        extra_config: Mapping[str, Any] | None = None,
        job: str = "pycadvisor",
        rule_files: Sequence[str] = (),
        *,
        remote_write_receiver: bool = False,
        port: int | None = None,
    ) -> svc.PrometheusServer:
        return started.add(
            _start(
                lambda: svc.start_prometheus(
                    targets,
                    scrape_interval,
                    extra_config,
                    job,
                    rule_files,
                    remote_write_receiver=remote_write_receiver,
                    port=port,
                )
            )
        )

    yield make
    started.stop_all()


@pytest.fixture
def containerd_server() -> Iterator[svc.ContainerdServer]:
    yield from _running(svc.start_containerd)


@pytest.fixture
def podman_service() -> Iterator[svc.PodmanService]:
    yield from _running(svc.start_podman_service)


@pytest.fixture(scope="session")
def busybox_image(tmp_path_factory: pytest.TempPathFactory) -> svc.BusyboxImage:
    """Offline busybox image tars (rootfs for import, docker-archive for load/ctr import)."""
    try:
        return svc.build_busybox_image_tar(str(tmp_path_factory.mktemp("images")))
    except svc.ServiceUnavailable as e:
        cannot_run(str(e))


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A private Docker engine (``support.docker_engine.DockerEngine``) for the whole session."""
    try:
        from support.docker_engine import DockerEngine, require_engine
    except ImportError as e:
        cannot_run(f"support.docker_engine unavailable: {e}")
    require_engine()
    with DockerEngine() as engine:
        yield engine


# ---------------------------------------------------------------- the daemon


class Daemon:
    """A running ``python -m pycadvisor`` subprocess listening on 127.0.0.1."""

    def __init__(self, process: ManagedProcess, port: int, argv: list[str]) -> None:
        self.process = process
        self.port = port
        self.argv = argv
        self.url = f"http://127.0.0.1:{port}"
        self.exit_code: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
        """(status, body) of ``GET <url><path>``."""
        return svc.http_get(self.url + path, timeout=timeout)

    def log(self) -> str:
        return self.process.log_tail(200)

    def stop(self) -> int:
        """SIGTERM; the daemon must exit with status 0 within 10 s. Returns the exit code."""
        if self.exit_code is not None:
            return self.exit_code
        if not self.process.alive():
            self.exit_code = self.process.stop()
            pytest.fail(f"pycadvisor exited early with {self.exit_code}\n{self.log()}", pytrace=False)
        self.process.signal(signal.SIGTERM)
        try:
            self.process.proc.wait(DAEMON_STOP_TIMEOUT * timeout_scale())
        except subprocess.TimeoutExpired:
            self.exit_code = self.process.kill()
            pytest.fail(
                f"pycadvisor did not exit within {DAEMON_STOP_TIMEOUT} s of SIGTERM\n{self.log()}",
                pytrace=False,
            )
        self.exit_code = self.process.stop()
        if self.exit_code != 0:
            pytest.fail(f"pycadvisor exited with {self.exit_code} after SIGTERM (want 0)\n{self.log()}", pytrace=False)
        return self.exit_code


def daemon_python() -> str:
    venv = REPO_ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


@pytest.fixture
def pycadvisor_daemon_factory(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """``start(*flags, env=None) -> Daemon``: the real daemon on a free port, ready (``/healthz`` = ok).

    Runs ``.venv/bin/python -m pycadvisor -listen_ip=127.0.0.1 -port=<free> <flags>``. Every
    daemon still running at teardown gets SIGTERM and must exit 0 within 10 s.
    """
    started: list[Daemon] = []

    def start(*flags: str, env: Mapping[str, str] | None = None) -> Daemon:
        port = svc.free_port()
        argv = [daemon_python(), "-m", "pycadvisor", "-listen_ip=127.0.0.1", f"-port={port}", *flags]
        log = str(tmp_path / f"pycadvisor-{len(started)}-{port}.log")
        proc = ManagedProcess(
            argv, what="pycadvisor", log_path=log, env=dict(os.environ, **(env or {})), cwd=str(REPO_ROOT)
        )
        daemon = Daemon(proc, port, argv)
        # With -url_base_prefix, /healthz moves under the prefix too.
        prefix = next((f.split("=", 1)[1].rstrip("/") for f in flags if f.startswith("-url_base_prefix=")), "")
        try:
            wait_until(
                lambda: daemon.get(prefix + "/healthz", timeout=2) == (200, b"ok"),
                timeout=DAEMON_READY_TIMEOUT,
                what=f"pycadvisor /healthz on port {port}",
                proc=proc,
            )
        except BaseException:
            proc.kill()  # never became ready: the start already failed, no exit status to check
            raise
        started.append(daemon)
        return daemon

    yield start
    failures = []
    for d in started:
        try:
            d.stop()
        except BaseException as e:  # pytest.fail raises Failed (a BaseException)
            failures.append(str(e))
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)
