"""Podman runtime factory: names and describes the cgroups of Podman's containers, rootful and rootless.

Follows cAdvisor ``container/podman/{factory,handler,fs}.go``:

- handled cgroups (:func:`pycadvisor.container.ids.podman_id`): ``/libpod_parent/libpod-<id>``
  (cgroupfs manager), ``/machine.slice/libpod-<id>.scope`` (systemd manager), rootless
  ``…/user@<uid>.service/…/libpod-<id>.scope``, and the ``…/container`` child crun makes inside a
  scope on cgroup v2 (named like its scope, as cAdvisor does);
- accepted when libpod inspect (``GET /v<N>.0.0/libpod/containers/<id>/json``) says it runs;
- reference: namespace ``podman``, aliases ``[name, id]``; labels = ``Config.Labels`` plus
  ``restartcount`` when ``RestartCount > 0``; image = ``ImageName`` (the name it was run with,
  as ``Config.Image``); envs = ``Config.Env`` names starting with an allow-listed prefix, key
  lower-cased; creation = ``Created``, start = ``State.StartedAt``, pid = ``State.Pid``, health =
  ``State.Health.Status`` (``Healthcheck`` before Podman 4);
- no network stats when ``HostConfig.NetworkMode`` is ``container:<x>`` (cAdvisor ``needNet``);
- filesystem: the writable layer (``GraphDriver.Data.UpperDir``, else ``<graphRoot>/<driver>/…/<layer>``
  with the layer id from ``<graphRoot>/<driver>-containers/containers.json``, as cAdvisor's
  ``rwLayerID``) and the container's ``userdata`` dir (``StaticDir``: logs, config).

Rootless containers: cAdvisor asks only the one ``--podman`` socket, which knows only root's
containers, so rootless ones went unnamed. Here a cgroup below ``user@<uid>.service`` is looked
up on that user's own API socket, ``/run/user/<uid>/podman/podman.sock`` (what the
``podman.socket`` user unit listens on), read through ``host_rootfs``; when that socket does not
exist the cgroup stays raw without an error.

Transport: aiohttp over each unix socket (:class:`RuntimeHttpClient`, shared with Docker and
CRI-O); libpod API version from ``GET /version`` (``Components[Podman Engine].Details.APIVersion``).

Live metadata: the objects ``describe`` returns stay current from the libpod event stream
(``GET /libpod/events?stream=true``): ``health_status``, ``died`` (exit code), ``rename``,
``start``; after a reconnection they are re-inspected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import orjson

from pycadvisor.container.base import ContainerMetadata, RuntimeOptions
from pycadvisor.container.engine_api import (
    ContainerEvent,
    ExitCodes,
    follow_events,
    metadata_from_inspect,
    update_from_event,
)
from pycadvisor.container.ids import podman_id, rootless_uid
from pycadvisor.container.runtime_http import RuntimeHttpClient, RuntimeTransportError, split_endpoint
from pycadvisor.container.watch import cancel_and_wait
from pycadvisor.errors import RuntimeUnavailable
from pycadvisor.host.paths import in_rootfs

_log = logging.getLogger(__name__)

NAMESPACE = "podman"
DEFAULT_ENDPOINT = "unix:///var/run/podman/podman.sock"
ROOTLESS_SOCKET = "/run/user/{uid}/podman/podman.sock"
DEFAULT_LIBPOD_API = "v4.0.0"
_EVENTS = ("start", "died", "rename", "health_status", "remove")


# ---------------------------------------------------------------- pure helpers


def libpod_api_version(version_doc: dict[str, Any]) -> str:
    """``v<major>.0.0`` of the libpod API from ``GET /version`` (Podman ≥ 2), default ``v4.0.0``."""
    for comp in version_doc.get("Components") or ():
        if isinstance(comp, dict) and comp.get("Name") == "Podman Engine":
            api = str((comp.get("Details") or {}).get("APIVersion") or comp.get("Version") or "")
            major = api.lstrip("v").split(".", 1)[0]
            if major.isdigit():
                return f"v{major}.0.0"
    return DEFAULT_LIBPOD_API


def parse_store(info_doc: dict[str, Any]) -> tuple[str, str]:
    """(graphRoot, graph driver) from ``GET /libpod/info``."""
    store = info_doc.get("store") or {}
    return str(store.get("graphRoot") or ""), str(store.get("graphDriverName") or "")


def find_layer(containers_json: bytes, container_id: str) -> str | None:
    """The read-write layer id of a container in containers/storage's ``containers.json``."""
    try:
        entries = orjson.loads(containers_json)
    except orjson.JSONDecodeError:
        return None
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and entry.get("id") == container_id:
            layer = entry.get("layer")
            return str(layer) if layer else None
    return None


def layer_dir(graph_root: str, driver: str, layer: str) -> str | None:
    """Where a containers/storage layer's files live (overlay ``diff``, vfs ``dir``, btrfs subvolume)."""
    if driver in ("overlay", "overlay2"):  # containers/storage aliases the two (cAdvisor determineDeviceStorage)
        return os.path.join(graph_root, "overlay", layer, "diff")
    if driver == "vfs":
        return os.path.join(graph_root, "vfs", "dir", layer)
    if driver == "btrfs":
        return os.path.join(graph_root, "btrfs", "subvolumes", layer)
    return None


def read_fs_dirs(doc: dict[str, Any], graph_root: str, driver: str, host_rootfs: str) -> list[str]:
    """[writable layer dir, userdata dir] of a container, as paths readable here; [] when unknown (blocking I/O)."""
    cid = str(doc.get("Id") or "")
    data = (doc.get("GraphDriver") or {}).get("Data") or {}
    driver = str((doc.get("GraphDriver") or {}).get("Name") or driver)
    layer_path: str | None = str(data["UpperDir"]) if data.get("UpperDir") else None
    if layer_path is None and graph_root and driver:
        for name in ("containers.json", "volatile-containers.json"):
            path = in_rootfs(host_rootfs, os.path.join(graph_root, f"{driver}-containers", name))
            try:
                with open(path, "rb") as f:
                    layer = find_layer(f.read(), cid)
            except OSError:
                continue
            if layer:
                layer_path = layer_dir(graph_root, driver, layer)
                break
    if layer_path is None:
        return []
    static = str(doc.get("StaticDir") or "")
    if not static and graph_root and driver:
        static = os.path.join(graph_root, f"{driver}-containers", cid, "userdata")
    dirs = [in_rootfs(host_rootfs, layer_path)]
    if static:
        dirs.append(in_rootfs(host_rootfs, static))
    return dirs


# ---------------------------------------------------------------- one API socket


class _PodmanApi:
    """One Podman API service (root's, or one user's) and the metadata described through it."""

    def __init__(self, endpoint: str, *, timeout_s: float, retry_after_s: float, rootless_uid: int | None) -> None:
        what = "podman" if rootless_uid is None else f"podman (uid {rootless_uid})"
        self.http = RuntimeHttpClient(what, endpoint, timeout_s=timeout_s, retry_after_s=retry_after_s)
        self.libpod = ""  # "/v4.0.0/libpod" while the service answers
        self.version = ""
        self.graph_root = ""
        self.driver = ""
        self.live: dict[str, dict[str, ContainerMetadata]] = {}  # id -> cgroup name -> the object handed out
        self.stream_up = False  # the event stream is open: what ``live`` holds is current
        self.exit_codes = ExitCodes()  # of recent "died" events
        self.watcher: asyncio.Task[None] | None = None

    async def ready(self) -> str:
        """The libpod path prefix, probing ``/version`` and ``/libpod/info`` first if needed."""
        await self.http.ready(self._probe)
        return self.libpod

    async def _probe(self) -> str:
        version_doc = await self.http.get_json("/version")
        libpod = "/" + libpod_api_version(version_doc) + "/libpod"
        status, body = await self.http.get(libpod + "/info")
        info_doc = orjson.loads(body) if status == 200 else {}
        self.libpod = libpod
        self.version = str(version_doc.get("Version") or "")
        self.graph_root, self.driver = parse_store(info_doc)
        return f"version {self.version}, API {libpod}, driver {self.driver}, root {self.graph_root}"

    async def inspect_quietly(self, cid: str) -> tuple[int, bytes] | None:
        """(status, body) of the container's libpod inspect; None when the service does not answer in time."""
        try:
            async with asyncio.timeout(self.http.timeout_s):
                libpod = await self.ready()
                return await self.http.get(f"{libpod}/containers/{cid}/json")
        except (TimeoutError, RuntimeTransportError, RuntimeUnavailable):
            return None


# ---------------------------------------------------------------- the factory


class PodmanFactory:
    """The ``podman`` runtime: implements :class:`pycadvisor.container.base.Factory`."""

    name = NAMESPACE

    @classmethod
    def from_options(cls, opts: RuntimeOptions) -> PodmanFactory:
        return cls(
            opts.podman, env_whitelist=opts.env_whitelist, timeout_s=opts.timeout_s, host_rootfs=opts.host_rootfs
        )

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        env_whitelist: list[str] | None = None,
        timeout_s: float = 2.0,
        host_rootfs: str = "/",
        rootless_socket: str | None = ROOTLESS_SOCKET,
        retry_after_s: float = 1.0,
        watch_events: bool = True,
    ) -> None:
        """``rootless_socket``: host path of a user's API socket with ``{uid}``; None to ask only ``endpoint``."""
        split_endpoint(endpoint)  # validate now, not at the first container
        self.endpoint = endpoint
        self._env_whitelist = list(env_whitelist or [])
        self._timeout_s = timeout_s
        self._retry_after_s = retry_after_s
        self._host_rootfs = host_rootfs
        self._rootless_socket = rootless_socket
        self._watch_events = watch_events
        self._closed = False
        self._apis: dict[str, _PodmanApi] = {}
        self._main = self._api_for_endpoint(endpoint, None)

    # ------------------------------------------------------------ Factory protocol

    def can_handle_and_accept(self, cgroup_name: str) -> tuple[bool, bool]:
        handled = podman_id(cgroup_name) is not None
        return handled, handled

    async def describe(self, cgroup_name: str) -> ContainerMetadata | None:
        """Inspect the container; None if Podman does not know it or it does not run.

        Raises :class:`RuntimeUnavailable` when the API service does not answer within ``timeout_s``.
        """
        found = podman_id(cgroup_name)
        if found is None:
            return None
        cid, subgroup = found
        api = self._api_for(cgroup_name)
        if api is None:
            return None  # a rootless container whose user runs no API service
        cached = api.live.get(cid, {}).get(cgroup_name)
        if cached is not None and api.stream_up:
            return cached  # kept current by the event stream
        async with api.http.answering():
            libpod = await api.ready()
            status, body = await api.http.get(f"{libpod}/containers/{cid}/json")
        if status >= 500:
            raise RuntimeUnavailable(f"{api.http.what}: inspect {cid} answered {status}")
        if status != 200:  # 404: no such container
            api.live.pop(cid, None)
            return None
        doc = orjson.loads(body)
        md = metadata_from_inspect(doc, self._env_whitelist, NAMESPACE)
        if md is None:
            api.live.pop(cid, None)
            return None
        if not subgroup:  # measure the layer once, for the scope, not again for its child
            md.fs_dirs = await asyncio.to_thread(read_fs_dirs, doc, api.graph_root, api.driver, self._host_rootfs)
        api.live.setdefault(cid, {})[cgroup_name] = md
        self._start_watcher(api)
        return md

    async def close(self) -> None:
        self._closed = True
        for api in self._apis.values():
            await cancel_and_wait(api.watcher)
            api.watcher = None
            await api.http.close()

    # ------------------------------------------------------------ more of the runtime

    @property
    def available(self) -> bool:
        return self._main.http.up

    async def version(self) -> str | None:
        """The rootful service's Podman version; None when it does not answer."""
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._main.ready()
        except (TimeoutError, RuntimeTransportError, RuntimeUnavailable):
            return None
        return self._main.version

    async def exit_code(self, cgroup_name: str) -> int | None:
        """Exit code of a container that stopped: from its ``died`` event, else from inspect; None if unknown.

        For a manager's ``containerDeletion`` event: the cgroup is often gone before Podman publishes
        ``died`` (its event log is read by polling), so this waits for it up to ``timeout_s``.
        """
        found = podman_id(cgroup_name)
        api = self._api_for(cgroup_name) if found else None
        if found is None or api is None:
            return None
        cid = found[0]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        while True:
            if cid in api.exit_codes:
                return api.exit_codes[cid]
            code = await self._inspect_exit_code(api, cid)
            if code is not None:
                return code
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(0.1)

    async def _inspect_exit_code(self, api: _PodmanApi, cid: str) -> int | None:
        """``State.ExitCode`` once libpod reports the container stopped; None while it runs, is gone or unknown."""
        answer = await api.inspect_quietly(cid)
        if answer is None or answer[0] != 200:
            return None  # no answer, or removed (--rm): only its died event can tell
        state = orjson.loads(answer[1]).get("State") or {}
        if state.get("Running") or state.get("Status") not in ("exited", "stopped"):
            return None
        code = state.get("ExitCode")
        return int(code) if isinstance(code, int) else None

    async def events(self, api: _PodmanApi | None = None) -> AsyncIterator[ContainerEvent]:
        """Container events of one API service (default: root's) until :meth:`close`; reconnects by itself."""
        api = api or self._main
        filters = quote(orjson.dumps({"type": ["container"], "event": list(_EVENTS)}).decode())

        def path(libpod: str, _last_ns: int) -> str:
            return f"{libpod}/events?stream=true&filters={filters}"

        # aclosing: closing this generator closes the stream at once, not when the loop finalizes it
        stream = follow_events(api.http, api.ready, path, closed=lambda: self._closed, replay=False)
        async with contextlib.aclosing(stream) as events:
            async for ev in events:
                yield ev

    def apply_event(self, ev: ContainerEvent, api: _PodmanApi | None = None) -> None:
        """Bring the metadata described through ``api`` (default: root's service) up to date with one event."""
        api = api or self._main
        api.exit_codes.remember(ev)
        for md in api.live.get(ev.id, {}).values():
            update_from_event(md, ev)
        if ev.action == "remove":
            api.live.pop(ev.id, None)

    # ------------------------------------------------------------ internals

    def _api_for_endpoint(self, endpoint: str, uid: int | None) -> _PodmanApi:
        api = self._apis.get(endpoint)
        if api is None:
            api = _PodmanApi(endpoint, timeout_s=self._timeout_s, retry_after_s=self._retry_after_s, rootless_uid=uid)
            self._apis[endpoint] = api
        return api

    def _api_for(self, cgroup_name: str) -> _PodmanApi | None:
        """Root's service, or the service of the user whose manager owns the cgroup (None if it has none)."""
        uid = rootless_uid(cgroup_name)
        if uid is None or uid == 0 or self._rootless_socket is None:
            return self._main
        path = in_rootfs(self._host_rootfs, self._rootless_socket.format(uid=uid))
        endpoint = "unix://" + path
        if endpoint not in self._apis and not os.path.exists(path):
            return None
        return self._api_for_endpoint(endpoint, uid)

    def _start_watcher(self, api: _PodmanApi) -> None:
        if self._watch_events and api.watcher is None and not self._closed:
            api.watcher = asyncio.get_running_loop().create_task(self._watch(api), name="podman-events")

    async def _watch(self, api: _PodmanApi) -> None:
        reconnect = False
        async for ev in self.events(api):
            try:
                if ev.action == "connected":
                    if reconnect:
                        await self._refresh_live(api)
                    reconnect = True
                    api.stream_up = True
                elif ev.action == "disconnected":
                    api.stream_up = False
                self.apply_event(ev, api)
                if ev.action == "health_status" and ev.id in api.live:
                    # Podman 4.3 publishes the status from before the check; its inspect has the new one.
                    await self._refresh_health(api, ev.id)
            except Exception:  # one odd event must not end the watch
                _log.exception("podman event %s not applied", ev)

    def _fresh(self, answer: tuple[int, bytes]) -> ContainerMetadata | None:
        status, body = answer
        return metadata_from_inspect(orjson.loads(body), self._env_whitelist, NAMESPACE) if status == 200 else None

    async def _refresh_health(self, api: _PodmanApi, cid: str) -> None:
        answer = await api.inspect_quietly(cid)
        if answer is None:
            return
        fresh = self._fresh(answer)
        if fresh is not None:
            for md in api.live.get(cid, {}).values():
                md.health = fresh.health

    async def _refresh_live(self, api: _PodmanApi) -> None:
        """Re-inspect what was described through ``api`` after its event stream came back."""
        for cid, held in list(api.live.items()):
            answer = await api.inspect_quietly(cid)
            if answer is None:
                return
            fresh = self._fresh(answer)
            if fresh is None:
                api.live.pop(cid, None)
                code = api.exit_codes.get(cid)
                for md in held.values():
                    md.exit_code = code
                continue
            for md in held.values():
                md.health = fresh.health
                md.aliases[:] = fresh.aliases
                md.pid = fresh.pid
