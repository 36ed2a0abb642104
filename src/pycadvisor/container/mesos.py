"""Mesos runtime factory: names and describes the cgroups of the Mesos containerizer's containers.

Follows cAdvisor ``container/mesos/{factory,handler,client,mesos_agent}.go`` (removed from cAdvisor in 2023, kept
here as a runtime of the seed) over the agent's v1 operator API (``POST /api/v1`` on ``-mesos_agent``, JSON
where cAdvisor sends protobuf; the agent answers both):

- handled cgroups: a basename that is a Mesos container id, a UUID (``/mesos/<id>``, a nested
  ``/mesos/<id>/mesos/<id>``, or under another ``--cgroups_root``); cAdvisor's ``([a-z-0-9]{36})`` searched in
  the basename would also claim a 64-hex Docker id's first 36 characters, so the whole basename must be one;
- the container: ``GET_CONTAINERS``, the entry whose ``container_id.value`` is the id; none → not Mesos's
  (asked again a few times with backoff first: the agent makes the cgroup before it lists the container);
- reference: namespace ``mesos``, id, aliases ``[id, cgroup name]``; pid = ``container_status.executor_pid``;
- labels from ``GET_STATE`` (cAdvisor ``mesos_agent.go`` ``FetchLabels``): ``framework`` = the framework's
  name, ``source`` = the executor's ``source``, ``scheduler_sla`` = ``revocable``/``non_revocable`` from the
  task's ``cpus`` resource, then the task's own labels. cAdvisor fails the container when the framework,
  executor or task is not in the state; here the labels found so far are kept;
- image (cAdvisor sets none): the task's ``container.docker.image``, or its Mesos containerizer image
  (``container.mesos.image.docker.name`` / ``.appc.name``).

Both answers are shared for a second by the containers described together (a burst of new cgroups costs two
requests, not two per container), and every request is bounded by ``-mesos_agent_timeout``.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

import orjson

from pycadvisor.container.base import ContainerMetadata, RuntimeOptions
from pycadvisor.container.runtime_http import RuntimeHttpClient, RuntimeTransportError
from pycadvisor.errors import RuntimeUnavailable

NAMESPACE = "mesos"
DEFAULT_AGENT = "127.0.0.1:5051"
_API = "/api/v1"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_RETRIES = 3  # cAdvisor client.go maxRetryAttempts
_BACKOFF_S = 0.1
_SHARE_S = 1.0


def mesos_id(cgroup_name: str) -> str | None:
    """The Mesos container id a cgroup name ends in, or None (cAdvisor ``ContainerNameToMesosId``)."""
    base = cgroup_name.rsplit("/", 1)[-1]
    return base if _UUID.fullmatch(base) else None


def _value(obj: Any) -> str:
    """``{"value": "x"}`` → ``"x"`` (mesos.proto's ID messages)."""
    return str(obj.get("value") or "") if isinstance(obj, dict) else ""


def _list(doc: Any, *keys: str) -> list[dict[str, Any]]:
    for k in keys:
        doc = doc.get(k) if isinstance(doc, dict) else None
    return [x for x in doc if isinstance(x, dict)] if isinstance(doc, list) else []


def find_container(get_containers: dict[str, Any], cid: str) -> dict[str, Any] | None:
    """The ``GET_CONTAINERS`` entry of container ``cid``."""
    for c in _list(get_containers, "get_containers", "containers"):
        if _value(c.get("container_id")) == cid:
            return c
    return None


def _task_image(task: dict[str, Any]) -> str:
    container = task.get("container") or {}
    docker_image = (container.get("docker") or {}).get("image")
    if docker_image:
        return str(docker_image)
    image = (container.get("mesos") or {}).get("image") or {}
    return str((image.get("docker") or {}).get("name") or (image.get("appc") or {}).get("name") or "")


@dataclass(slots=True)
class _Described:
    labels: dict[str, str]
    image: str


def labels_and_image(get_state: dict[str, Any], framework_id: str, executor_id: str) -> _Described:
    """cAdvisor ``state.FetchLabels`` over a ``GET_STATE`` answer, and the task's image."""
    state = get_state.get("get_state") or {}
    labels: dict[str, str] = {}
    for fw in _list(state, "get_frameworks", "frameworks"):
        info = fw.get("framework_info") or {}
        if _value(info.get("id")) == framework_id:
            labels["framework"] = str(info.get("name") or "")
            break
    else:
        return _Described(labels, "")
    for ex in _list(state, "get_executors", "executors"):
        info = ex.get("executor_info") or {}
        if _value(info.get("executor_id")) == executor_id:
            labels["source"] = str(info.get("source") or "")
            break
    else:
        return _Described(labels, "")
    task = next(
        (t for t in _list(state, "get_tasks", "launched_tasks") if _value(t.get("executor_id")) == executor_id), None
    )
    if task is None:
        return _Described(labels, "")
    for r in _list(task, "resources"):
        if r.get("name") == "cpus":
            labels["scheduler_sla"] = "revocable" if r.get("revocable") is not None else "non_revocable"
            break
    for label in _list(task, "labels", "labels"):
        labels[str(label.get("key") or "")] = str(label.get("value") or "")
    return _Described(labels, _task_image(task))


def metadata_from(container: dict[str, Any], get_state: dict[str, Any], cgroup_name: str) -> ContainerMetadata:
    """What cAdvisor's Mesos handler reports for a container of ``GET_CONTAINERS`` and the agent's state."""
    cid = _value(container.get("container_id"))
    d = labels_and_image(get_state, _value(container.get("framework_id")), _value(container.get("executor_id")))
    pid = (container.get("container_status") or {}).get("executor_pid")
    return ContainerMetadata(
        namespace=NAMESPACE,
        id=cid,
        aliases=[cid, cgroup_name],
        labels=d.labels,
        image=d.image,
        pid=int(pid) if isinstance(pid, int) and pid > 0 else None,
    )


def agent_url(address: str) -> str:
    """``-mesos_agent`` is ``host:port`` (cAdvisor prefixes ``http://``); a URL is taken as given."""
    return address if "://" in address else f"http://{address}"


class MesosFactory:
    """The ``mesos`` runtime: implements :class:`pycadvisor.container.base.Factory`."""

    name = NAMESPACE

    @classmethod
    def from_options(cls, opts: RuntimeOptions) -> MesosFactory:
        return cls(opts.mesos_agent, timeout_s=opts.mesos_timeout_s)

    def __init__(
        self,
        address: str = DEFAULT_AGENT,
        *,
        timeout_s: float = 10.0,
        retry_after_s: float = 1.0,
        retries: int = _RETRIES,
        backoff_s: float = _BACKOFF_S,
        share_s: float = _SHARE_S,
    ) -> None:
        self.endpoint = address
        self._http = RuntimeHttpClient(
            "mesos agent", agent_url(address), timeout_s=timeout_s, retry_after_s=retry_after_s
        )
        self._timeout_s = timeout_s
        self._retries = retries
        self._backoff_s = backoff_s
        self._share_s = share_s
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def can_handle_and_accept(self, cgroup_name: str) -> tuple[bool, bool]:
        if cgroup_name.endswith(".mount") or mesos_id(cgroup_name) is None:
            return False, False
        return True, True

    async def describe(self, cgroup_name: str) -> ContainerMetadata | None:
        """Ask the agent; None when it does not know the container (after the retries).

        Raises :class:`RuntimeUnavailable` when the agent does not answer within the timeout.
        """
        cid = mesos_id(cgroup_name)
        if cid is None:
            return None
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._http.ready(self._probe)
                container = await self._container(cid)
                if container is None:
                    return None
                state = await self._call("GET_STATE")
        except TimeoutError as e:
            self._http.mark_down(f"no answer within {self._timeout_s:g} s")
            raise RuntimeUnavailable(f"mesos agent at {self.endpoint} did not answer in time") from e
        except (RuntimeTransportError, ValueError) as e:
            self._http.mark_down(str(e))
            raise RuntimeUnavailable(f"mesos agent at {self.endpoint} unavailable: {e}") from e
        return metadata_from(container, state, cgroup_name)

    async def close(self) -> None:
        await self._http.close()

    @property
    def available(self) -> bool:
        return self._http.up

    async def _container(self, cid: str) -> dict[str, Any] | None:
        backoff = self._backoff_s
        for attempt in range(self._retries):
            found = find_container(await self._call("GET_CONTAINERS", fresh=attempt > 0), cid)
            if found is not None:
                return found
            if attempt + 1 < self._retries:
                await asyncio.sleep(backoff)
                backoff *= 2
        return None

    async def _call(self, call: str, *, fresh: bool = False) -> dict[str, Any]:
        """The agent's answer to ``call``, shared for ``share_s`` (``fresh``: ask again regardless)."""
        lock = self._locks.setdefault(call, asyncio.Lock())
        async with lock:  # one request in flight per call: the others wait for its answer
            cached = self._cache.get(call)
            now = time.monotonic()
            if cached is not None and not fresh and now - cached[0] < self._share_s:
                return cached[1]
            status, body = await self._http.post_json(_API, {"type": call})
            if status != 200:
                raise RuntimeTransportError(f"{call} answered {status}: {body[:200].decode(errors='replace')}")
            try:
                doc = orjson.loads(body)
            except orjson.JSONDecodeError:
                doc = None
            if not isinstance(doc, dict) or doc.get("type") != call:
                raise ValueError(f"{call} answered something else: {body[:200].decode(errors='replace')}")
            self._cache[call] = (time.monotonic(), doc)
            return doc

    async def _probe(self) -> str:
        doc = await self._call("GET_VERSION")
        info = (doc.get("get_version") or {}).get("version_info") or {}
        return f"version {info.get('version') or '?'}"
