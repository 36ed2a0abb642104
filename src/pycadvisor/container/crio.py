"""CRI-O runtime factory: names and describes the cgroups of CRI-O's containers.

Follows cAdvisor ``container/crio/{factory,handler,client}.go`` over CRI-O's info HTTP API
(``GET /info``, ``GET /containers/<id>`` on its unix socket):

- handled cgroups (:func:`pycadvisor.container.ids.crio_id`): basename starting ``crio`` with a
  64-character id — ``crio-<id>.scope`` (systemd driver), ``crio-<id>`` (cgroupfs); not
  ``crio-conmon-<id>``; when ``/info`` reports the systemd cgroup driver, a ``crio-…`` basename
  that is not a ``.scope`` is handled but not accepted (no such container cgroup exists then);
- reference: namespace ``crio``, aliases ``[name, id]``; labels = ``labels`` plus
  ``restartcount`` from annotation ``io.kubernetes.container.restartCount`` when > 0; image =
  ``image``; no envs (cAdvisor reads none for CRI-O); creation = ``created_time`` (ns);
  pid = ``pid`` — 0 while the container is being created, in which case it is asked again in the
  background until known (cAdvisor re-asks at each housekeeping);
- network stats only for the pod's infra container (label ``io.kubernetes.container.name == POD``),
  whose netns the pod's other containers share (cAdvisor ``needNet``);
- filesystem: ``root`` without ``/merged``, plus ``/diff`` for overlay (the writable layer), and
  the directory holding ``log_path`` (kubelet's ``/var/log/pods/<pod>/<container>/``).

Not hard-coded: the socket is ``--crio`` (cAdvisor fixes ``/var/run/crio/crio.sock``) and every
request is bounded by ``timeout_s`` (``--crio_client_timeout``, else the runtime timeout). A
container CRI-O does not know yet (its cgroup appears before CRI-O registers it) is asked again
up to 5 times with doubling backoff from 100 ms, within that bound.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any

import orjson

from pycadvisor.container.base import ContainerMetadata, RuntimeOptions
from pycadvisor.container.ids import crio_id
from pycadvisor.container.runtime_http import RuntimeHttpClient, RuntimeTransportError
from pycadvisor.container.watch import cancel_and_wait
from pycadvisor.errors import RuntimeUnavailable
from pycadvisor.host.paths import in_rootfs

_log = logging.getLogger(__name__)

NAMESPACE = "crio"
DEFAULT_ENDPOINT = "unix:///var/run/crio/crio.sock"
RESTART_COUNT_ANNOTATION = "io.kubernetes.container.restartCount"
CONTAINER_NAME_LABEL = "io.kubernetes.container.name"
_RETRIES = 5
_BACKOFF_S = 0.1
_PID_POLL_S = 1.0
_PID_POLLS = 30


@dataclass(slots=True, kw_only=True)
class CrioInfo:
    """``GET /info`` (CRI-O ``types.CrioInfo``); ``storage_driver`` is absent from recent CRI-O."""

    storage_driver: str = ""
    storage_root: str = ""
    storage_image: str = ""  # a separate image store (cAdvisor's crio-images label), "" when none
    cgroup_driver: str = ""


def parse_info(doc: dict[str, Any]) -> CrioInfo:
    return CrioInfo(
        storage_driver=str(doc.get("storage_driver") or ""),
        storage_root=str(doc.get("storage_root") or ""),
        storage_image=str(doc.get("storage_image") or ""),
        cgroup_driver=str(doc.get("cgroup_driver") or ""),
    )


def fs_dirs(doc: dict[str, Any], storage_driver: str, host_rootfs: str = "/") -> list[str]:
    """[writable layer dir, log dir] of a container (cAdvisor ``rootfsStorageDir``, ``storageLogDir``)."""
    root = str(doc.get("root") or "")
    if not root:
        return []
    merged = root.endswith("/merged")
    layer = root[: -len("/merged")] if merged else root
    if storage_driver in ("overlay", "overlay2") or (not storage_driver and merged):
        layer = os.path.join(layer, "diff")
    out = [in_rootfs(host_rootfs, layer)]
    log_path = str(doc.get("log_path") or "")
    if log_path:
        out.append(in_rootfs(host_rootfs, os.path.dirname(log_path)))
    return out


def metadata_from_container_info(
    doc: dict[str, Any], container_id: str, storage_driver: str = "", host_rootfs: str = "/"
) -> ContainerMetadata:
    """What cAdvisor's CRI-O handler reports for a ``GET /containers/<id>`` answer."""
    labels = {str(k): str(v) for k, v in (doc.get("labels") or {}).items()}
    annotations = doc.get("annotations") or {}
    try:
        restarts = int(annotations.get(RESTART_COUNT_ANNOTATION) or 0)
    except (TypeError, ValueError):
        restarts = 0  # cAdvisor ignores a malformed count (sandboxes have none)
    if restarts > 0:
        labels["restartcount"] = str(restarts)
    created = int(doc.get("created_time") or 0)
    pid = int(doc.get("pid") or 0)
    return ContainerMetadata(
        namespace=NAMESPACE,
        id=container_id,
        aliases=[str(doc.get("name") or ""), container_id],
        labels=labels,
        image=str(doc.get("image") or ""),
        creation_time=created or None,
        pid=pid or None,
        has_network=labels.get(CONTAINER_NAME_LABEL) == "POD",
        fs_dirs=fs_dirs(doc, storage_driver, host_rootfs),
    )


def ip_address(doc: dict[str, Any]) -> str:
    """The container's IP: ``ip_address`` (old CRI-O) or the first of ``ip_addresses``."""
    ip = str(doc.get("ip_address") or "")
    if ip:
        return ip
    ips = doc.get("ip_addresses") or []
    return str(ips[0]) if ips else ""


class CrioFactory:
    """The ``crio`` runtime: implements :class:`pycadvisor.container.base.Factory`."""

    name = NAMESPACE

    @classmethod
    def from_options(cls, opts: RuntimeOptions) -> CrioFactory:
        return cls(opts.crio, timeout_s=opts.crio_timeout_s or opts.timeout_s, host_rootfs=opts.host_rootfs)

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        timeout_s: float = 2.0,
        host_rootfs: str = "/",
        retry_after_s: float = 1.0,
        retries: int = _RETRIES,
        backoff_s: float = _BACKOFF_S,
        pid_poll_s: float = _PID_POLL_S,
    ) -> None:
        self.endpoint = endpoint
        self._http = RuntimeHttpClient("cri-o", endpoint, timeout_s=timeout_s, retry_after_s=retry_after_s)
        self._timeout_s = timeout_s
        self._host_rootfs = host_rootfs
        self._retries = retries
        self._backoff_s = backoff_s
        self._pid_poll_s = pid_poll_s
        self._info: CrioInfo | None = None
        self._pid_tasks: dict[str, asyncio.Task[None]] = {}

    # ------------------------------------------------------------ Factory protocol

    def can_handle_and_accept(self, cgroup_name: str) -> tuple[bool, bool]:
        if crio_id(cgroup_name) is None:
            return False, False
        info = self._info
        if info is not None and info.cgroup_driver == "systemd" and not cgroup_name.endswith(".scope"):
            return True, False
        return True, True

    async def describe(self, cgroup_name: str) -> ContainerMetadata | None:
        """Ask CRI-O about the container; None if it does not know it (after the retries).

        Raises :class:`RuntimeUnavailable` when CRI-O does not answer within ``timeout_s``.
        """
        cid = crio_id(cgroup_name)
        if cid is None:
            return None
        async with self._http.answering():
            info = await self._ready()
            doc = await self._container(cid)
        if doc is None:
            return None
        md = metadata_from_container_info(doc, cid, info.storage_driver, self._host_rootfs)
        if md.pid is None and cid not in self._pid_tasks:
            task = asyncio.get_running_loop().create_task(self._poll_pid(cid, md), name=f"crio-pid-{cid[:12]}")
            self._pid_tasks[cid] = task
            task.add_done_callback(self._pid_task_done)
        return md

    async def close(self) -> None:
        for task in list(self._pid_tasks.values()):
            await cancel_and_wait(task)
        await self._http.close()

    # ------------------------------------------------------------ more of the runtime

    @property
    def available(self) -> bool:
        return self._http.up

    async def info(self) -> CrioInfo | None:
        """Storage driver/root and cgroup driver; None when CRI-O does not answer."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._ready()
        except (TimeoutError, RuntimeTransportError, RuntimeUnavailable):
            return None

    # ------------------------------------------------------------ internals

    async def _container(self, cid: str) -> dict[str, Any] | None:
        """``GET /containers/<id>``, retried while CRI-O answers 404 (not registered yet)."""
        backoff = self._backoff_s
        for attempt in range(self._retries):
            status, body = await self._http.get(f"/containers/{cid}")
            if status == 200:
                doc = orjson.loads(body)
                return doc if isinstance(doc, dict) else None
            if status >= 500:
                raise RuntimeTransportError(f"/containers/{cid} answered {status}")
            if attempt + 1 < self._retries:
                await asyncio.sleep(backoff)
                backoff *= 2
        return None

    def _pid_task_done(self, task: asyncio.Task[None]) -> None:
        for cid, t in list(self._pid_tasks.items()):
            if t is task:
                del self._pid_tasks[cid]

    async def _poll_pid(self, cid: str, md: ContainerMetadata) -> None:
        """Fill in the pid of a container CRI-O described before its process existed."""
        for _ in range(_PID_POLLS):
            await asyncio.sleep(self._pid_poll_s)
            try:
                async with asyncio.timeout(self._timeout_s):
                    status, body = await self._http.get(f"/containers/{cid}")
            except (TimeoutError, RuntimeTransportError):
                continue
            if status != 200:
                return  # gone
            pid = int(orjson.loads(body).get("pid") or 0)
            if pid:
                md.pid = pid
                return

    async def _ready(self) -> CrioInfo:
        await self._http.ready(self._probe)
        assert self._info is not None  # set by the probe that brought it up
        return self._info

    async def _probe(self) -> str:
        self._info = info = parse_info(await self._http.get_json("/info"))
        driver = info.storage_driver or "?"
        return f"storage driver {driver}, root {info.storage_root}, cgroup driver {info.cgroup_driver}"
