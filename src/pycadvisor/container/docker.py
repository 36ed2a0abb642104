"""Docker runtime factory: names and describes the cgroups of running Docker containers.

Follows cAdvisor ``container/docker/{factory,handler}.go`` and ``container/docker/utils/docker.go``:

- a cgroup is handled when its basename holds a run of 64 ``[a-z0-9]`` characters and does not
  end in ``.mount`` (cgroupfs driver ``/docker/<id>``, systemd driver
  ``/system.slice/docker-<id>.scope``, ``--cgroup-parent`` and kubepods layouts alike);
- it is accepted only if ``GET /containers/<id>/json`` answers with ``State.Running``;
- reference: namespace ``docker``, aliases ``[Name without "/", id]``; labels = ``Config.Labels``
  plus ``restartcount`` when ``RestartCount > 0``; image = ``Config.Image`` as given; envs =
  ``Config.Env`` entries whose name starts with an allow-listed prefix, key lower-cased;
  creation = ``Created``, start = ``State.StartedAt``, pid = ``State.Pid``, health =
  ``State.Health.Status``;
- no network stats for a container that shares another's network namespace
  (``HostConfig.NetworkMode`` ``container:<x>``; cAdvisor ``needNet``). ``host`` mode keeps
  them, as in cAdvisor: the container's netns is the host's, so it reports the host's interfaces;
- filesystem dirs: the writable layer (``<root>/<driver>/…/<mount-id>``, the mount id read from
  ``<root>/image/<driver>/layerdb/mounts/<id>/mount-id``) then the log dir
  ``<root>/containers/<id>``; ``<root>`` comes from ``GET /info`` ``DockerRootDir``, falling back
  to ``--docker_root``.

Transport: aiohttp over the engine's unix socket (or ``tcp://``), through the
:class:`~pycadvisor.container.runtime_http.RuntimeHttpClient` Podman and CRI-O use too, not the
docker SDK in a worker thread. The event loop never blocks, a slow request is cancelled at
``timeout_s`` instead of pinning a pool thread until the engine answers, and aiohttp is already a
core dependency (the SDK is an optional extra). The API version is negotiated from
``GET /version`` the way Docker's own client does (``min(server ApiVersion, ours)``, raised to the
server's ``MinAPIVersion`` if needed): cAdvisor pinned 1.41 and broke on Docker 29, which requires
≥ 1.44 (cadvisor#3749).

Live metadata: the :class:`ContainerMetadata` objects returned by ``describe`` stay current. A
task started at the first successful ``describe`` follows ``GET /events`` and updates them in
place: ``health`` on ``health_status`` (cAdvisor re-inspects at every housekeeping instead),
``exit_code`` on ``die``, the name alias on ``rename``; after a reconnection it re-inspects them.
The manager holds these objects, so it sees the changes at its next sample without polling.

Faults: when the engine does not answer, calls raise :class:`RuntimeUnavailable` at once (one
probe per ``retry_after_s``), the fact is logged once, and the next successful probe logs the
recovery and renegotiates; :meth:`DockerFactory.events` yields ``connected``/``disconnected``
markers so a manager can re-describe raw cgroups when the engine comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson

from pycadvisor.container.base import ContainerMetadata, RuntimeOptions
from pycadvisor.container.docker_layer import writable_layer_dir
from pycadvisor.container.docker_storage import DockerLayerStorage
from pycadvisor.container.ids import docker_id_from_cgroup
from pycadvisor.container.runtime_http import RuntimeHttpClient, RuntimeTransportError, split_endpoint
from pycadvisor.container.watch import cancel_and_wait
from pycadvisor.errors import RuntimeUnavailable
from pycadvisor.model.codec import parse_time
from pycadvisor.model.container import FsStats

_log = logging.getLogger(__name__)

NAMESPACE = "docker"
DEFAULT_ENDPOINT = "unix:///var/run/docker.sock"
DEFAULT_ROOT = "/var/lib/docker"

# Highest Engine API version whose container-inspect shape this module was written against
# (Docker 28.x = 1.51). Newer engines are asked at this version (they keep answering old
# versions down to their MinAPIVersion); older engines at their own.
CLIENT_MAX_API = (1, 51)

# Basename prefixes of other runtimes' container cgroups (container/ids.py has their rules).

# Events a manager needs: lifecycle (exit codes from "die"), renames and health changes.
# Docker matches "health_status" as a prefix of "health_status: <status>" (moby events filter #25798).
_EVENT_ACTIONS = ("start", "die", "destroy", "rename", "health_status")

_EXIT_CODES_KEPT = 4096
_CREATED_RETRIES = 10
_CREATED_RETRY_S = 0.1


# ---------------------------------------------------------------- pure helpers


def parse_api_version(text: str) -> tuple[int, int]:
    """``"1.41"`` -> ``(1, 41)``."""
    major, _, minor = text.strip().partition(".")
    return int(major), int(minor or 0)


def negotiate_api_version(server_api: str, server_min: str | None) -> str:
    """The API version to speak: ``min(server, CLIENT_MAX_API)``, at least the server's minimum."""
    chosen = min(parse_api_version(server_api), CLIENT_MAX_API)
    if server_min:
        chosen = max(chosen, parse_api_version(server_min))
    return f"{chosen[0]}.{chosen[1]}"


def parse_docker_time(text: str | None) -> int | None:
    """Docker's RFC 3339 time as ns since the epoch; ``None`` for absent or Go's zero time."""
    if not text or text.startswith("0001-01-01"):
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


def filter_envs(env: list[str] | None, whitelist: list[str]) -> dict[str, str]:
    """``Config.Env`` entries whose name starts with a whitelisted prefix, keys lower-cased (cAdvisor)."""
    out: dict[str, str] = {}
    prefixes = tuple(p for p in whitelist if p)
    if not env or not prefixes:
        return out
    for item in env:
        key, sep, value = item.partition("=")
        if sep and key.startswith(prefixes):
            out[key.lower()] = value
    return out


def metadata_from_inspect(doc: dict[str, Any], env_whitelist: list[str]) -> ContainerMetadata | None:
    """Metadata of a running container from its inspect document; None if it is not running."""
    state = doc.get("State") or {}
    if not state.get("Running"):
        return None
    cid = str(doc.get("Id", ""))
    config = doc.get("Config") or {}
    labels = {str(k): str(v) for k, v in (config.get("Labels") or {}).items()}
    restarts = int(doc.get("RestartCount") or 0)
    if restarts > 0:  # cAdvisor adds it only when > 0
        labels["restartcount"] = str(restarts)
    health = state.get("Health") or {}
    network_mode = str((doc.get("HostConfig") or {}).get("NetworkMode") or "")
    pid = int(state.get("Pid") or 0)
    return ContainerMetadata(
        namespace=NAMESPACE,
        id=cid,
        aliases=[str(doc.get("Name", "")).lstrip("/"), cid],
        labels=labels,
        envs=filter_envs(config.get("Env"), env_whitelist),
        image=str(config.get("Image") or ""),
        creation_time=parse_docker_time(doc.get("Created")),
        start_time=parse_docker_time(state.get("StartedAt")),
        pid=pid or None,
        has_network=not network_mode.startswith("container:"),
        health=str(health.get("Status") or ""),
    )


def _in_rootfs(host_rootfs: str, path: str) -> str:
    if host_rootfs in ("", "/"):
        return path
    return os.path.join(host_rootfs, path.lstrip("/"))


@dataclass(slots=True, kw_only=True)
class DockerInfo:
    """What ``/version`` and ``/info`` say about the engine (``/api/v2.0/attributes``, ``/validate/``, UI)."""

    server_version: str  # e.g. "20.10.24+dfsg1"
    api_version: str  # the engine's own ApiVersion, e.g. "1.41"
    negotiated_api_version: str  # what this client speaks
    min_api_version: str = ""
    root_dir: str = ""  # DockerRootDir as the engine sees it (a host path)
    driver: str = ""  # storage driver, e.g. "overlay2", "vfs"
    driver_status: list[tuple[str, str]] = field(default_factory=list)
    cgroup_driver: str = ""  # "cgroupfs" | "systemd"
    cgroup_version: str = ""  # "1" | "2"
    kernel_version: str = ""
    operating_system: str = ""
    hostname: str = ""
    containers: int = 0
    containers_running: int = 0
    images: int = 0


def parse_info(version_doc: dict[str, Any], info_doc: dict[str, Any], negotiated: str) -> DockerInfo:
    status = [
        (str(p[0]), str(p[1])) for p in (info_doc.get("DriverStatus") or []) if isinstance(p, list) and len(p) == 2
    ]
    return DockerInfo(
        server_version=str(version_doc.get("Version") or info_doc.get("ServerVersion") or ""),
        api_version=str(version_doc.get("ApiVersion") or ""),
        negotiated_api_version=negotiated,
        min_api_version=str(version_doc.get("MinAPIVersion") or ""),
        root_dir=str(info_doc.get("DockerRootDir") or ""),
        driver=str(info_doc.get("Driver") or ""),
        driver_status=status,
        cgroup_driver=str(info_doc.get("CgroupDriver") or ""),
        cgroup_version=str(info_doc.get("CgroupVersion") or ""),
        kernel_version=str(info_doc.get("KernelVersion") or ""),
        operating_system=str(info_doc.get("OperatingSystem") or ""),
        hostname=str(info_doc.get("Name") or ""),
        containers=int(info_doc.get("Containers") or 0),
        containers_running=int(info_doc.get("ContainersRunning") or 0),
        images=int(info_doc.get("Images") or 0),
    )


@dataclass(slots=True, kw_only=True)
class DockerEvent:
    """A container event, or a ``connected``/``disconnected`` marker of the event stream."""

    action: str  # "start", "die", "destroy", "rename", "health_status", "connected", "disconnected"
    id: str = ""
    name: str = ""
    time_ns: int = 0
    exit_code: int | None = None  # "die" only
    health: str = ""  # "health_status" only: "starting", "healthy", "unhealthy"


def parse_event(line: bytes) -> DockerEvent | None:
    """One NDJSON line of ``GET /events``; None for blank lines and non-container events."""
    line = line.strip()
    if not line:
        return None
    doc = orjson.loads(line)
    if doc.get("Type", "container") != "container":
        return None
    action = str(doc.get("Action") or doc.get("status") or "")
    health = ""
    if action.startswith("health_status"):
        action, _, health = action.partition(":")
        action, health = action.strip(), health.strip()
    actor = doc.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    exit_code: int | None = None
    if "exitCode" in attrs:
        with contextlib.suppress(ValueError):
            exit_code = int(attrs["exitCode"])
    time_ns = int(doc.get("timeNano") or int(doc.get("time") or 0) * 1_000_000_000)
    return DockerEvent(
        action=action,
        id=str(actor.get("ID") or doc.get("id") or ""),
        name=str(attrs.get("name") or ""),
        time_ns=time_ns,
        exit_code=exit_code,
        health=health,
    )


def tls_context(cert: str, key: str, ca: str) -> ssl.SSLContext:
    """Client TLS for ``--docker-tls`` (``--docker-tls-cert``, ``-key``, ``-ca``)."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    return ctx


# ---------------------------------------------------------------- the factory


class DockerFactory:
    """The ``docker`` runtime: implements :class:`pycadvisor.container.base.Factory`."""

    name = NAMESPACE

    @classmethod
    def from_options(cls, opts: RuntimeOptions) -> DockerFactory:
        tls = tls_context(*opts.docker_tls) if opts.docker_tls else None
        return cls(opts.docker, env_whitelist=opts.env_whitelist, docker_root=opts.docker_root,
                   timeout_s=opts.timeout_s, host_rootfs=opts.host_rootfs, tls=tls,
                   storage=DockerLayerStorage(thin_ls_interval_s=opts.thin_ls_interval_s))  # fmt: skip

    def __init__(
        self,
        endpoint: str,
        *,
        env_whitelist: list[str],
        docker_root: str,
        timeout_s: float,
        host_rootfs: str = "/",
        retry_after_s: float = 1.0,
        max_concurrency: int = 8,
        tls: ssl.SSLContext | None = None,
        watch_events: bool = True,
        storage: DockerLayerStorage | None = None,
    ) -> None:
        self.endpoint = endpoint
        split_endpoint(endpoint, kind="docker")  # validate now, the error naming the flag
        # tls=False: an https:// endpoint without --docker_tls is not verified.
        self._http = RuntimeHttpClient(
            "docker engine",
            endpoint,
            timeout_s=timeout_s,
            retry_after_s=retry_after_s,
            tls=tls if tls is not None else False,
            unix_host="docker",
            log=_log,
        )
        self._env_whitelist = [p for p in env_whitelist if p]
        self._docker_root = docker_root or DEFAULT_ROOT
        self._timeout_s = timeout_s
        self._host_rootfs = host_rootfs
        self._retry_after_s = retry_after_s
        self._sem = asyncio.Semaphore(max_concurrency)
        self._api = ""  # negotiated version, valid while ``self._http.up``
        self._info: DockerInfo | None = None
        self._closed = False
        # Metadata handed out by describe(), kept current from the event stream (health, exit code,
        # renames): the manager holds these objects and reads them at every sample.
        self._watch_events = watch_events
        self._watcher: asyncio.Task[None] | None = None
        self._live: dict[str, ContainerMetadata] = {}
        self._exit_codes: dict[str, int] = {}  # id -> code of recent "die" events
        self._storage = storage or DockerLayerStorage()  # devicemapper's thin pool, zfs's parent dataset

    # ------------------------------------------------------------ Factory protocol

    def can_handle_and_accept(self, cgroup_name: str) -> tuple[bool, bool]:
        """(handles, accepts) by the 64-character id rule; whether it runs is for :meth:`describe`."""
        handled = docker_id_from_cgroup(cgroup_name) is not None
        return handled, handled

    async def describe(self, cgroup_name: str) -> ContainerMetadata | None:
        """Inspect the container; None if Docker does not know it or it is not running.

        Raises :class:`RuntimeUnavailable` when the engine does not answer within ``timeout_s``
        (or answered neither recently nor now). Never takes longer than ``timeout_s``.
        """
        cid = docker_id_from_cgroup(cgroup_name)
        if cid is None:
            return None
        try:
            async with asyncio.timeout(self._timeout_s):
                api = await self._ready()
                status, body = await self._inspect(api, cid)
        except TimeoutError as e:
            self._http.mark_down(f"no answer within {self._timeout_s:g} s")
            raise RuntimeUnavailable(f"docker engine at {self.endpoint} did not answer in time") from e
        except RuntimeTransportError as e:
            self._http.mark_down(str(e))
            raise RuntimeUnavailable(f"docker engine at {self.endpoint} unavailable: {e}") from e
        if status >= 500:
            raise RuntimeUnavailable(f"docker engine at {self.endpoint}: inspect {cid} answered {status}")
        if status != 200:
            if status == 400:  # e.g. the engine was replaced by one with another API range
                self._http.up = False  # negotiate again at the next call
            self._live.pop(cid, None)
            return None
        doc = orjson.loads(body)
        md = metadata_from_inspect(doc, self._env_whitelist)
        if md is None:
            self._live.pop(cid, None)
            return None
        md.fs_dirs = self._fs_dirs(doc, cid)
        md.layer_stats = self._storage.layer_stats(doc)
        self._live[cid] = md
        self._start_watcher()
        return md

    async def close(self) -> None:
        self._closed = True
        self._http.closed = True  # what closing breaks is not an outage to log
        await cancel_and_wait(self._watcher)
        self._watcher = None
        await self._storage.close()
        await self._http.close()

    # ------------------------------------------------------------ more of the engine

    @property
    def available(self) -> bool:
        """Whether the last call reached the engine."""
        return self._http.up

    def storage_filesystems(self) -> list[FsStats]:
        """Filesystems of the storage driver the mount table does not show: a devicemapper thin pool."""
        return self._storage.filesystems()

    async def exit_code(self, cgroup_name: str) -> int | None:
        """Exit code of a container that stopped: from its ``die`` event, else from inspect; None if unknown.

        For a manager's ``containerDeletion`` event (cAdvisor reports the runtime's exit code). The
        cgroup is gone before dockerd publishes ``die``, so ask after the removal: inspect waits for
        dockerd to finish the exit; a container already removed (``--rm``) is answered from its
        ``die`` event, awaited for at most ``timeout_s``.
        """
        cid = docker_id_from_cgroup(cgroup_name)
        if cid is None:
            return None
        if cid in self._exit_codes:
            return self._exit_codes[cid]
        try:
            async with asyncio.timeout(self._timeout_s):
                api = await self._ready()
                async with self._sem:
                    status, body = await self._http.get(f"/v{api}/containers/{cid}/json")
                if status == 404 and self._watcher is not None:
                    while cid not in self._exit_codes:
                        await asyncio.sleep(0.05)
                    return self._exit_codes[cid]
        except (TimeoutError, RuntimeTransportError, RuntimeUnavailable):
            return self._exit_codes.get(cid)
        if status != 200:
            return None
        state = orjson.loads(body).get("State") or {}
        if state.get("Running"):
            return None
        code = state.get("ExitCode")
        return int(code) if isinstance(code, int) else None

    async def info(self) -> DockerInfo | None:
        """Engine version, API versions, root dir and storage driver; None when it does not answer."""
        try:
            async with asyncio.timeout(self._timeout_s):
                api = await self._ready()
                status, body = await self._http.get(f"/v{api}/info")
        except (TimeoutError, RuntimeTransportError) as e:
            self._http.mark_down(str(e) or "timed out")
            return None
        except RuntimeUnavailable:
            return None
        if status == 200 and self._info is not None:
            fresh = parse_info({}, orjson.loads(body), api)
            fresh.server_version = fresh.server_version or self._info.server_version
            fresh.api_version = self._info.api_version
            fresh.min_api_version = self._info.min_api_version
            self._info = fresh
        return self._info

    async def events(self) -> AsyncGenerator[DockerEvent, None]:
        """Container events (start, die with exit code, destroy, rename, health) until :meth:`close`.

        Reconnects by itself. Yields ``connected`` once the stream is open (after a restart of the
        engine too: re-describe raw cgroups then) and ``disconnected`` when it breaks. Events
        missed during a short break are replayed with ``since``; duplicates are dropped.
        """
        last_ns = 0
        filters = orjson.dumps({"type": ["container"], "event": list(_EVENT_ACTIONS)}).decode()
        while not self._closed:
            connected = False
            try:
                async with asyncio.timeout(self._timeout_s):
                    api = await self._ready()
                query = f"filters={quote(filters)}"
                if last_ns:
                    query += f"&since={last_ns // 1_000_000_000}.{last_ns % 1_000_000_000:09d}"
                async with self._http.event_stream(f"/v{api}/events?{query}") as lines:
                    connected = True
                    yield DockerEvent(action="connected", time_ns=time.time_ns())
                    async for line in lines:
                        ev = parse_event(line)
                        if ev is None or ev.time_ns <= last_ns:
                            continue
                        last_ns = ev.time_ns
                        yield ev
                    raise RuntimeTransportError("event stream closed")
            except (TimeoutError, RuntimeTransportError, ValueError) as e:
                if not self._closed:
                    self._http.mark_down(str(e) or type(e).__name__)
            except RuntimeUnavailable:
                pass
            if connected:
                yield DockerEvent(action="disconnected", time_ns=time.time_ns())
            if not self._closed:
                await asyncio.sleep(self._retry_after_s)

    # ------------------------------------------------------------ internals

    def _start_watcher(self) -> None:
        if self._watch_events and self._watcher is None and not self._closed:
            self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="docker-events")

    async def _watch(self) -> None:
        reconnect = False
        async for ev in self.events():
            try:
                if ev.action == "connected" and reconnect:
                    await self._refresh_live()  # what changed while the stream was down
                reconnect = reconnect or ev.action == "connected"
                self.apply_event(ev)
            except Exception:  # one odd event must not end the watch
                _log.exception("docker event %s not applied", ev)

    async def _refresh_live(self) -> None:
        for cid, md in list(self._live.items()):
            try:
                fresh = await self.describe(f"/{cid}")
            except RuntimeUnavailable:
                return
            if fresh is None:
                self._live.pop(cid, None)
                md.exit_code = await self.exit_code(f"/{cid}")
                continue
            md.health = fresh.health
            md.aliases[:] = fresh.aliases
            self._live[cid] = md  # keep the object the manager holds

    def apply_event(self, ev: DockerEvent) -> None:
        """Bring the metadata of a described container up to date with one engine event."""
        md = self._live.get(ev.id)
        if ev.action == "die" and ev.exit_code is not None:
            self._exit_codes[ev.id] = ev.exit_code
            if len(self._exit_codes) > _EXIT_CODES_KEPT:
                del self._exit_codes[next(iter(self._exit_codes))]
        if md is None:
            return
        if ev.action == "health_status":
            md.health = ev.health
        elif ev.action == "die":
            md.exit_code = ev.exit_code
        elif ev.action == "start":
            md.exit_code = None
        elif ev.action == "rename" and ev.name and md.aliases:
            md.aliases[0] = ev.name.lstrip("/")
        elif ev.action == "destroy":
            del self._live[ev.id]

    def _fs_dirs(self, doc: dict[str, Any], cid: str) -> list[str]:
        info = self._info
        root = (info.root_dir if info is not None else "") or self._docker_root
        driver = info.driver if info is not None else ""
        root_here = _in_rootfs(self._host_rootfs, root)
        layer = writable_layer_dir(doc, root_here, driver)
        if layer is None:
            return []
        if not layer.startswith(root_here):  # an UpperDir reported by the engine: a host path
            layer = _in_rootfs(self._host_rootfs, layer)
        return [layer, os.path.join(root_here, "containers", cid)]

    async def _inspect(self, api: str, cid: str) -> tuple[int, bytes]:
        """Inspect ``cid``; while it is still "created" (its cgroup exists, the start is under way) ask again.

        dockerd normally holds the container's lock through a start, so inspect answers only once it
        runs; the retry covers engines that answer mid-start. Bounded by the caller's timeout.
        """
        for _ in range(_CREATED_RETRIES):
            async with self._sem:
                status, body = await self._http.get(f"/v{api}/containers/{cid}/json")
            if status != 200 or b'"Status":"created"' not in body:
                break
            await asyncio.sleep(_CREATED_RETRY_S)
        return status, body

    async def _ready(self) -> str:
        """The negotiated API version, connecting first if needed; fails fast while the engine is down."""
        await self._http.ready(self._probe)
        return self._api

    async def _probe(self) -> str:
        """Negotiate the API version (``GET /version``) and learn root dir and driver (``GET /info``)."""
        version_doc = await self._http.get_json("/version")
        api = negotiate_api_version(str(version_doc.get("ApiVersion") or "1.24"), version_doc.get("MinAPIVersion"))
        status, body = await self._http.get(f"/v{api}/info")
        info_doc = orjson.loads(body) if status == 200 else {}
        self._info = info = parse_info(version_doc, info_doc, api)
        root = _in_rootfs(self._host_rootfs, info.root_dir or self._docker_root)
        self._storage.configure(info.driver, info.driver_status, root)
        self._api = api
        return (
            f"version {info.server_version}, API {api} (engine {info.api_version}), "
            f"driver {info.driver}, root {info.root_dir or self._docker_root}"
        )
