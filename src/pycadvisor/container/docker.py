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
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson

from pycadvisor.container.base import ContainerMetadata, RuntimeOptions
from pycadvisor.container.docker_layer import writable_layer_dir
from pycadvisor.container.docker_storage import DockerLayerStorage
from pycadvisor.container.engine_api import (
    ContainerEvent,
    ExitCodes,
    follow_events,
    metadata_from_inspect,
    update_from_event,
)
from pycadvisor.container.ids import docker_id_from_cgroup
from pycadvisor.container.runtime_http import RuntimeHttpClient, RuntimeTransportError, split_endpoint
from pycadvisor.container.watch import cancel_and_wait
from pycadvisor.errors import RuntimeUnavailable
from pycadvisor.host.paths import in_rootfs
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
        self._exit_codes = ExitCodes()  # of recent "die" events
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
        async with self._http.answering():
            api = await self._ready()
            status, body = await self._inspect(api, cid)
        if status >= 500:
            raise RuntimeUnavailable(f"docker engine at {self.endpoint}: inspect {cid} answered {status}")
        if status != 200:
            if status == 400:  # e.g. the engine was replaced by one with another API range
                self._http.up = False  # negotiate again at the next call
            self._live.pop(cid, None)
            return None
        doc = orjson.loads(body)
        md = metadata_from_inspect(doc, self._env_whitelist, NAMESPACE)
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

    async def events(self) -> AsyncGenerator[ContainerEvent, None]:
        """Container events (start, die with exit code, destroy, rename, health) until :meth:`close`.

        Reconnects by itself. Yields ``connected`` once the stream is open (after a restart of the
        engine too: re-describe raw cgroups then) and ``disconnected`` when it breaks. Events
        missed during a short break are replayed with ``since``; duplicates are dropped.
        """
        filters = quote(orjson.dumps({"type": ["container"], "event": list(_EVENT_ACTIONS)}).decode())

        def path(api: str, last_ns: int) -> str:
            since = f"&since={last_ns // 1_000_000_000}.{last_ns % 1_000_000_000:09d}" if last_ns else ""
            return f"/v{api}/events?filters={filters}{since}"

        # aclosing: closing this generator closes the stream at once, not when the loop finalizes it
        stream = follow_events(self._http, self._ready, path, closed=lambda: self._closed, replay=True)
        async with contextlib.aclosing(stream) as events:
            async for ev in events:
                yield ev

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

    def apply_event(self, ev: ContainerEvent) -> None:
        """Bring the metadata of a described container up to date with one engine event."""
        self._exit_codes.remember(ev)
        md = self._live.get(ev.id)
        if md is None:
            return
        update_from_event(md, ev)
        if ev.action == "destroy":
            del self._live[ev.id]

    def _fs_dirs(self, doc: dict[str, Any], cid: str) -> list[str]:
        info = self._info
        root = (info.root_dir if info is not None else "") or self._docker_root
        driver = info.driver if info is not None else ""
        root_here = in_rootfs(self._host_rootfs, root)
        layer = writable_layer_dir(doc, root_here, driver)
        if layer is None:
            return []
        if not layer.startswith(root_here):  # an UpperDir reported by the engine: a host path
            layer = in_rootfs(self._host_rootfs, layer)
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
        root = in_rootfs(self._host_rootfs, info.root_dir or self._docker_root)
        self._storage.configure(info.driver, info.driver_status, root)
        self._api = api
        return (
            f"version {info.server_version}, API {api} (engine {info.api_version}), "
            f"driver {info.driver}, root {info.root_dir or self._docker_root}"
        )
