"""containerd runtime factory: names and describes the cgroups of containerd's containers.

Follows cAdvisor ``container/containerd/{factory,handler,client}.go``:

- handled cgroups (:func:`pycadvisor.container.ids.containerd_id`): ``…/cri-containerd-<id>.scope``,
  ``/kubepods…/<id>`` and ``/<namespace>/<id>`` for the configured ``--containerd-namespace``;
- a cgroup is a container when ``Containers/Get(id)`` finds it in that namespace; its task's pid
  comes from ``Tasks/Get``, retried 5 times from 100 ms with doubling backoff while the task is
  not yet created (the cgroup appears during task creation), all within ``timeout_s``;
- reference: namespace ``containerd``, aliases ``[id, cgroup name]`` (as cAdvisor: the Prometheus
  ``name`` label is the id); labels = container labels as stored (Kubernetes ``io.kubernetes.*``,
  ``io.cri-containerd.kind``, …); image = the container's image reference; envs = OCI spec
  ``process.env`` entries whose name starts with an allow-listed prefix, **key case kept**;
  creation time = ``CreatedAt``; the start time stays the cgroup's;
- network stats only for pod sandboxes (label ``io.cri-containerd.kind == sandbox``): the other
  containers of a pod share the sandbox's network namespace (cAdvisor ``needNet``); no
  filesystem stats (cAdvisor collects none for containerd).

Transport: gRPC over the unix socket with grpclib (pure-Python, asyncio-native; about 2 MB of
RSS against about 10 MB and extra threads for grpcio) and the hand-written messages of
:mod:`pycadvisor.container.containerd_proto`; every call carries the ``containerd-namespace``
header. grpclib is a dependency, imported with this module, which the runtime registry imports only
once the socket exists (``container/deferred.py``).

Live metadata: the objects ``describe`` returns are cached per id and kept current from
``Events/Subscribe`` (filtered to the namespace): ``/containers/update`` replaces labels and
image, ``/tasks/start`` sets the pid, ``/tasks/exit`` and ``/tasks/delete`` record the exit code
(for ``containerDeletion`` events), ``/containers/delete`` forgets the container. While the
event stream is down, ``describe`` asks containerd again instead of trusting the cache.

Faults: when containerd does not answer, calls raise :class:`RuntimeUnavailable` (one probe per
``retry_after_s``, failing fast in between); the fact is logged once and the recovery once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from grpclib.client import Channel, UnaryStreamMethod, UnaryUnaryMethod
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from pycadvisor.container.base import ContainerMetadata, RuntimeOptions
from pycadvisor.container.containerd_proto.codec import MessageCodec
from pycadvisor.container.containerd_proto.messages import (
    TASK_STOPPED,
    Container,
    ContainerEvent,
    Empty,
    Envelope,
    GetContainerRequest,
    GetContainerResponse,
    GetTaskRequest,
    GetTaskResponse,
    SubscribeRequest,
    TaskEvent,
    VersionResponse,
)
from pycadvisor.container.containerd_proto.wire import WireError
from pycadvisor.container.deferred import unix_socket_path
from pycadvisor.container.ids import containerd_id
from pycadvisor.container.watch import cancel_and_wait
from pycadvisor.errors import RuntimeUnavailable

_log = logging.getLogger(__name__)

NAMESPACE = "containerd"
DEFAULT_ENDPOINT = "/run/containerd/containerd.sock"
DEFAULT_K8S_NAMESPACE = "k8s.io"
NAMESPACE_HEADER = "containerd-namespace"  # containerd ``namespaces.GRPCHeader``
SANDBOX_KIND_LABEL = "io.cri-containerd.kind"

# gRPC status codes (grpc/codes): what the runtime meant by an error.
_GRPC_NOT_FOUND = 5
_GRPC_UNAVAILABLE = 14
_GRPC_DEADLINE = 4

_TASK_RETRIES = 5  # cAdvisor newContainerdContainerHandler
_TASK_BACKOFF_S = 0.1
_EXIT_CODES_KEPT = 4096
_EVENT_TOPICS = ("/tasks/start", "/tasks/exit", "/tasks/delete", "/containers/update", "/containers/delete")


# ---------------------------------------------------------------- pure helpers


def socket_path(endpoint: str) -> str:
    """The unix socket of ``--containerd`` (``/run/containerd/containerd.sock`` or ``unix:///…``)."""
    return unix_socket_path(endpoint, NAMESPACE)


def envs_from_spec(spec_json: bytes, whitelist: list[str]) -> dict[str, str]:
    """OCI spec ``process.env`` entries whose name starts with a whitelisted prefix (key case kept, as cAdvisor)."""
    prefixes = tuple(p for p in whitelist if p)
    if not prefixes or not spec_json:
        return {}
    try:
        spec = orjson.loads(spec_json)
    except orjson.JSONDecodeError:
        return {}
    process = spec.get("process") if isinstance(spec, dict) else None
    env = process.get("env") if isinstance(process, dict) else None
    out: dict[str, str] = {}
    for item in env or ():
        if not isinstance(item, str):
            continue
        key, sep, value = item.partition("=")
        if sep and key.startswith(prefixes):
            out[key] = value
    return out


def metadata_from_container(
    container: Container, cgroup_name: str, pid: int | None, env_whitelist: list[str]
) -> ContainerMetadata:
    """What cAdvisor's containerd handler reports for a container (see the module docstring)."""
    labels = dict(container.labels)
    return ContainerMetadata(
        namespace=NAMESPACE,
        id=container.id,
        aliases=[container.id, cgroup_name],
        labels=labels,
        envs=envs_from_spec(container.spec.value if container.spec else b"", env_whitelist),
        image=container.image,
        creation_time=container.created_at_ns,
        pid=pid or None,
        has_network=labels.get(SANDBOX_KIND_LABEL) == "sandbox",
    )


def event_filters(namespace: str) -> list[str]:
    """containerd filters (any-of) for the events a factory follows, restricted to ``namespace``."""
    return [f'namespace=="{namespace}",topic=="{topic}"' for topic in _EVENT_TOPICS]


@dataclass(slots=True, kw_only=True)
class ContainerdEvent:
    """One event of interest, or a ``connected``/``disconnected`` marker of the stream."""

    topic: str  # "/tasks/exit", …, "connected", "disconnected"
    id: str = ""
    pid: int = 0
    exit_code: int | None = None
    labels: dict[str, str] | None = None
    image: str = ""
    time_ns: int = 0


def parse_envelope(env: Envelope) -> ContainerdEvent | None:
    """The event in an envelope; None for topics not followed and for exec processes' task events."""
    topic = env.topic
    if topic.startswith("/tasks/"):
        task = TaskEvent.decode(topic, env.event.value)
        if not task.is_init or topic not in _EVENT_TOPICS:
            return None
        return ContainerdEvent(
            topic=topic,
            id=task.container_id,
            pid=task.pid,
            exit_code=task.exit_status,
            time_ns=env.timestamp_ns or 0,
        )
    if topic in ("/containers/update", "/containers/delete"):
        c = ContainerEvent.from_bytes(env.event.value)
        return ContainerdEvent(
            topic=topic,
            id=c.id,
            labels=c.labels if topic == "/containers/update" else None,
            image=c.image,
            time_ns=env.timestamp_ns or 0,
        )
    return None


class _Transport(Exception):
    """containerd did not answer (no socket, refused, reset, unavailable)."""


# ---------------------------------------------------------------- the factory


class ContainerdFactory:
    """The ``containerd`` runtime: implements :class:`pycadvisor.container.base.Factory`."""

    name = NAMESPACE

    @classmethod
    def from_options(cls, opts: RuntimeOptions) -> ContainerdFactory:
        return cls(opts.containerd, namespace=opts.containerd_namespace, env_whitelist=opts.env_whitelist,
                   timeout_s=opts.timeout_s)  # fmt: skip

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        namespace: str = DEFAULT_K8S_NAMESPACE,
        env_whitelist: list[str] | None = None,
        timeout_s: float = 2.0,
        retry_after_s: float = 1.0,
        watch_events: bool = True,
        task_retries: int = _TASK_RETRIES,
        task_backoff_s: float = _TASK_BACKOFF_S,
    ) -> None:
        self.endpoint = endpoint
        self.namespace = namespace
        self._socket = socket_path(endpoint)
        self._env_whitelist = list(env_whitelist or [])
        self._timeout_s = timeout_s
        self._retry_after_s = retry_after_s
        self._task_retries = task_retries
        self._task_backoff_s = task_backoff_s
        self._metadata = {NAMESPACE_HEADER: namespace}
        self._channel: Channel | None = None
        self._version: str | None = None  # set while containerd answers
        self._connect_lock = asyncio.Lock()
        self._next_probe = 0.0
        self._down_logged = False
        self._closed = False
        self._watch_events = watch_events
        self._watcher: asyncio.Task[None] | None = None
        self._stream_up = False
        self._live: dict[str, ContainerMetadata] = {}
        self._exit_codes: dict[str, int] = {}

    # ------------------------------------------------------------ Factory protocol

    def can_handle_and_accept(self, cgroup_name: str) -> tuple[bool, bool]:
        handled = containerd_id(cgroup_name, self.namespace) is not None
        return handled, handled

    async def describe(self, cgroup_name: str) -> ContainerMetadata | None:
        """Metadata of the container whose cgroup this is; None if containerd does not know it or it has no task.

        Raises :class:`RuntimeUnavailable` when containerd does not answer within ``timeout_s``.
        """
        cid = containerd_id(cgroup_name, self.namespace)
        if cid is None:
            return None
        cached = self._live.get(cid)
        if cached is not None and self._stream_up and cgroup_name in cached.aliases:
            return cached  # kept current by the event stream
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._ready()
                container = await self._get_container(cid)
                if container is None:
                    self._live.pop(cid, None)
                    return None
                process = await self._get_task(cid)
        except TimeoutError as e:
            self._mark_down(f"no answer within {self._timeout_s:g} s")
            raise RuntimeUnavailable(f"containerd at {self.endpoint} did not answer in time") from e
        except _Transport as e:
            self._mark_down(str(e))
            raise RuntimeUnavailable(f"containerd at {self.endpoint} unavailable: {e}") from e
        if process is None or process.status == TASK_STOPPED:
            return None  # created but never started, or already exited: no running container
        md = metadata_from_container(container, cgroup_name, process.pid, self._env_whitelist)
        if cached is not None and cached.aliases[1:] == [cgroup_name]:
            _refresh(cached, md)  # keep the object the manager holds
            md = cached
        self._live[cid] = md
        self._start_watcher()
        return md

    async def close(self) -> None:
        self._closed = True
        await cancel_and_wait(self._watcher)
        self._watcher = None
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    # ------------------------------------------------------------ more of the runtime

    @property
    def available(self) -> bool:
        return self._version is not None

    async def version(self) -> str | None:
        """containerd's version (``Version/Version``); None when it does not answer."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._ready()
        except (TimeoutError, _Transport, RuntimeUnavailable):
            return None

    async def exit_code(self, cgroup_name: str) -> int | None:
        """Exit code of the container's task: from its ``/tasks/exit`` event, else ``Tasks/Get``; None if unknown.

        For a manager's ``containerDeletion`` event, asked after the cgroup is gone; waits for the
        event up to ``timeout_s`` when the task was already deleted.
        """
        cid = containerd_id(cgroup_name, self.namespace)
        if cid is None:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        while True:
            if cid in self._exit_codes:
                return self._exit_codes[cid]
            code = await self._task_exit_code(cid)
            if code is not None:
                return code
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(0.05)

    async def _task_exit_code(self, cid: str) -> int | None:
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._ready()
                reply: GetTaskResponse = await self._unary(GetTaskRequest.METHOD, GetTaskRequest(cid), GetTaskResponse)
        except (TimeoutError, _Transport, RuntimeUnavailable, GRPCError):
            return None  # unreachable, or the task was deleted: only its event can tell
        process = reply.process
        return process.exit_status if process.status == TASK_STOPPED else None

    async def events(self) -> AsyncIterator[ContainerdEvent]:
        """Task and container events of the namespace until :meth:`close`; reconnects by itself.

        Yields ``connected`` once the subscription is open and ``disconnected`` when it breaks.
        """
        while not self._closed:
            connected = False
            try:
                async with asyncio.timeout(self._timeout_s):
                    await self._ready()
                assert self._channel is not None
                method = UnaryStreamMethod(self._channel, SubscribeRequest.METHOD, SubscribeRequest, Envelope)
                async with method.open(metadata=self._metadata) as stream:
                    # containerd sends the response headers only with the first event: the
                    # subscription counts as open once the request is sent.
                    await stream.send_message(SubscribeRequest(event_filters(self.namespace)), end=True)
                    connected = True
                    yield ContainerdEvent(topic="connected", time_ns=time.time_ns())
                    async for env in stream:
                        ev = parse_envelope(env)
                        if ev is not None:
                            yield ev
                raise _Transport("event stream closed")
            except (TimeoutError, _Transport, GRPCError, ProtocolError, StreamTerminatedError, OSError, WireError) as e:
                if not self._closed:
                    self._mark_down(str(e) or type(e).__name__)
            except RuntimeUnavailable:
                pass
            if connected:
                yield ContainerdEvent(topic="disconnected", time_ns=time.time_ns())
            if not self._closed:
                await asyncio.sleep(self._retry_after_s)

    def apply_event(self, ev: ContainerdEvent) -> None:
        """Bring a described container's metadata up to date with one event."""
        if ev.topic in ("/tasks/exit", "/tasks/delete") and ev.exit_code is not None:
            self._exit_codes[ev.id] = ev.exit_code
            if len(self._exit_codes) > _EXIT_CODES_KEPT:
                del self._exit_codes[next(iter(self._exit_codes))]
        md = self._live.get(ev.id)
        if md is None:
            return
        if ev.topic == "/tasks/start":
            md.pid = ev.pid or None
            md.exit_code = None
        elif ev.topic in ("/tasks/exit", "/tasks/delete"):
            if ev.exit_code is not None:
                md.exit_code = ev.exit_code
        elif ev.topic == "/containers/update" and ev.labels is not None:
            md.labels.clear()
            md.labels.update(ev.labels)
            if ev.image:
                md.image = ev.image
            md.has_network = md.labels.get(SANDBOX_KIND_LABEL) == "sandbox"
        elif ev.topic == "/containers/delete":
            del self._live[ev.id]

    # ------------------------------------------------------------ internals

    async def _unary(self, method_name: str, request: Any, reply_type: Any) -> Any:
        assert self._channel is not None
        method: UnaryUnaryMethod[Any, Any] = UnaryUnaryMethod(self._channel, method_name, type(request), reply_type)
        try:
            return await method(request, metadata=self._metadata)
        except GRPCError as e:
            if e.status.value in (_GRPC_UNAVAILABLE, _GRPC_DEADLINE):
                raise _Transport(f"{method_name}: {e.message or e.status.name}") from e
            raise
        except (ProtocolError, StreamTerminatedError, OSError, WireError) as e:
            raise _Transport(f"{method_name}: {e or type(e).__name__}") from e

    async def _get_container(self, cid: str) -> Container | None:
        try:
            reply: GetContainerResponse = await self._unary(
                GetContainerRequest.METHOD, GetContainerRequest(cid), GetContainerResponse
            )
        except GRPCError as e:
            if e.status.value == _GRPC_NOT_FOUND:
                return None
            raise _Transport(f"Containers/Get {cid}: {e.message or e.status.name}") from e
        return reply.container

    async def _get_task(self, cid: str) -> Any:
        """The task's init process; None if it does not exist after the retries (never started)."""
        backoff = self._task_backoff_s
        for attempt in range(self._task_retries):
            try:
                reply: GetTaskResponse = await self._unary(GetTaskRequest.METHOD, GetTaskRequest(cid), GetTaskResponse)
                return reply.process
            except GRPCError as e:
                if e.status.value != _GRPC_NOT_FOUND:
                    raise _Transport(f"Tasks/Get {cid}: {e.message or e.status.name}") from e
            if attempt + 1 < self._task_retries:
                await asyncio.sleep(backoff)
                backoff *= 2
        return None

    async def _ready(self) -> str:
        """containerd's version, connecting first if needed; fails fast while it is down."""
        version = self._version
        if version is not None:
            return version
        if time.monotonic() < self._next_probe:
            raise RuntimeUnavailable(f"containerd at {self.endpoint} unavailable")
        async with self._connect_lock:
            if self._version is not None:
                return self._version
            if time.monotonic() < self._next_probe:
                raise RuntimeUnavailable(f"containerd at {self.endpoint} unavailable")
            if not os.path.exists(self._socket):
                self._mark_down("no socket")
                raise RuntimeUnavailable(f"containerd at {self.endpoint} unavailable: no socket")
            try:
                if self._channel is None:
                    self._channel = Channel(path=self._socket, codec=MessageCodec())
                reply: VersionResponse = await self._unary(Empty.METHOD_VERSION, Empty(), VersionResponse)
            except _Transport as e:
                self._mark_down(str(e))
                raise RuntimeUnavailable(f"containerd at {self.endpoint} unavailable: {e}") from e
            except Exception as e:  # an odd answer (a non-containerd gRPC server, an error status)
                self._mark_down(f"{type(e).__name__}: {e}")
                raise RuntimeUnavailable(f"containerd at {self.endpoint} unavailable: {e}") from e
            self._version = reply.version or "unknown"
            self._next_probe = 0.0
            if self._down_logged:
                _log.warning("containerd at %s is back: version %s", self.endpoint, self._version)
                self._down_logged = False
            else:
                _log.info("containerd at %s: version %s, namespace %s", self.endpoint, self._version, self.namespace)
            return self._version

    def _mark_down(self, reason: str) -> None:
        self._version = None
        self._stream_up = False
        self._next_probe = time.monotonic() + self._retry_after_s
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if not self._down_logged and not self._closed:
            self._down_logged = True
            _log.warning(
                "containerd at %s unavailable (%s): its containers are monitored as raw cgroups until it answers again",
                self.endpoint,
                reason,
            )

    def _start_watcher(self) -> None:
        if self._watch_events and self._watcher is None and not self._closed:
            self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="containerd-events")

    async def _watch(self) -> None:
        reconnect = False
        async for ev in self.events():
            try:
                if ev.topic == "connected":
                    if reconnect:
                        await self._refresh_live()  # what changed while the stream was down
                    reconnect = True
                    self._stream_up = True
                elif ev.topic == "disconnected":
                    self._stream_up = False
                else:
                    self.apply_event(ev)
            except Exception:  # one odd event must not end the watch
                _log.exception("containerd event %s not applied", ev)

    async def _refresh_live(self) -> None:
        for cid, md in list(self._live.items()):
            cgroup_name = md.aliases[1] if len(md.aliases) > 1 else ""
            try:
                fresh = await self.describe(cgroup_name)
            except RuntimeUnavailable:
                return
            if fresh is None:
                self._live.pop(cid, None)
                if cid in self._exit_codes:
                    md.exit_code = self._exit_codes[cid]


def _refresh(held: ContainerMetadata, fresh: ContainerMetadata) -> None:
    held.labels.clear()
    held.labels.update(fresh.labels)
    held.envs.clear()
    held.envs.update(fresh.envs)
    held.image = fresh.image
    held.pid = fresh.pid
    held.has_network = fresh.has_network
    held.exit_code = None
