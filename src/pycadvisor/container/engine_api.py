"""What Docker's Engine API and Podman's Docker-compatible libpod API share: inspect, events, exit codes.

Podman answers container inspect and ``/events`` in Docker's shapes (cAdvisor's ``container/podman``
handler reuses ``container/docker``'s), so both factories read them here:

- :func:`metadata_from_inspect`: a running container's reference (cAdvisor
  ``container/docker/handler.go`` ``newDockerContainerHandler``, ``container/podman/handler.go``);
- :func:`parse_event` and :func:`follow_events`: the NDJSON event stream, reconnecting by itself;
- :class:`ExitCodes`: the codes of recent exits, for containers removed before they were asked about;
- :func:`update_from_event`: what an event changes in metadata already handed out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from pycadvisor.container.base import ContainerMetadata
from pycadvisor.container.runtime_http import RuntimeHttpClient, RuntimeTransportError
from pycadvisor.errors import RuntimeUnavailable
from pycadvisor.model.codec import parse_time

_EXIT_CODES_KEPT = 4096


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


def metadata_from_inspect(doc: dict[str, Any], env_whitelist: list[str], namespace: str) -> ContainerMetadata | None:
    """Metadata of a running container from its inspect document; None if it is not running.

    libpod's document adds ``ImageName`` (the name it was run with, preferred to ``Config.Image``) and,
    before Podman 4, spells ``State.Health`` as ``State.Healthcheck``; Docker's has neither.
    """
    state = doc.get("State") or {}
    if not state.get("Running"):
        return None
    cid = str(doc.get("Id") or "")
    config = doc.get("Config") or {}
    labels = {str(k): str(v) for k, v in (config.get("Labels") or {}).items()}
    restarts = int(doc.get("RestartCount") or 0)
    if restarts > 0:  # cAdvisor adds it only when > 0
        labels["restartcount"] = str(restarts)
    health = state.get("Health") or state.get("Healthcheck") or {}
    network_mode = str((doc.get("HostConfig") or {}).get("NetworkMode") or "")
    pid = int(state.get("Pid") or 0)
    return ContainerMetadata(
        namespace=namespace,
        id=cid,
        aliases=[str(doc.get("Name") or "").lstrip("/"), cid],
        labels=labels,
        envs=filter_envs(config.get("Env"), env_whitelist),
        image=str(doc.get("ImageName") or config.get("Image") or ""),
        creation_time=parse_docker_time(doc.get("Created")),
        start_time=parse_docker_time(state.get("StartedAt")),
        pid=pid or None,
        # cAdvisor needNet: a container in another's network namespace has no network stats of its own
        has_network=not network_mode.startswith("container:"),
        health=str(health.get("Status") or ""),
    )


@dataclass(slots=True, kw_only=True)
class ContainerEvent:
    """A container event, or a ``connected``/``disconnected`` marker of the event stream."""

    action: str  # as the runtime spells it: Docker "die"/"destroy", libpod "died"/"remove"; both "start", …
    id: str = ""
    name: str = ""
    time_ns: int = 0
    exit_code: int | None = None  # "die"/"died" only
    health: str = ""  # "health_status" only: "starting", "healthy", "unhealthy"


def parse_event(line: bytes) -> ContainerEvent | None:
    """One NDJSON line of ``GET /events`` or ``/libpod/events``; None for blank lines and non-container events."""
    line = line.strip()
    if not line:
        return None
    doc = orjson.loads(line)
    if doc.get("Type", "container") != "container":
        return None
    actor = doc.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    action = str(doc.get("Action") or doc.get("status") or "")
    health = ""
    if action.startswith("health_status"):
        # Docker: "health_status: healthy" (moby events filter #25798); libpod: a HealthStatus field.
        action, _, health = action.partition(":")
        action, health = action.strip(), health.strip()
        health = health or str(doc.get("HealthStatus") or attrs.get("health_status") or "")
    raw_code = attrs.get("exitCode")  # Docker's "die"
    if raw_code is None and action == "died":
        raw_code = attrs.get("containerExitCode")  # libpod's
    exit_code: int | None = None
    if raw_code is not None:
        with contextlib.suppress(TypeError, ValueError):
            exit_code = int(raw_code)
    return ContainerEvent(
        action=action,
        id=str(actor.get("ID") or doc.get("id") or ""),
        name=str(attrs.get("name") or ""),
        time_ns=int(doc.get("timeNano") or int(doc.get("time") or 0) * 1_000_000_000),
        exit_code=exit_code,
        health=health,
    )


async def follow_events(
    http: RuntimeHttpClient,
    ready: Callable[[], Awaitable[str]],
    path: Callable[[str, int], str],
    *,
    closed: Callable[[], bool],
    replay: bool,
) -> AsyncGenerator[ContainerEvent, None]:
    """Container events of one API service until ``closed()``; reconnects every ``http.retry_after_s``.

    ``ready()`` brings the service up and returns what ``path(it, last_ns)`` needs to build the
    stream's path. Yields ``connected`` once the stream is open (after a restart of the service too:
    re-describe then) and ``disconnected`` when it breaks. ``replay``: ``last_ns`` is the time of the
    last event yielded, so that events missed during a short break are asked for again (``since``),
    and events not newer than it are dropped as duplicates.
    """
    last_ns = 0
    while not closed():
        connected = False
        try:
            async with asyncio.timeout(http.timeout_s):
                prefix = await ready()
            async with http.event_stream(path(prefix, last_ns)) as lines:
                connected = True
                yield ContainerEvent(action="connected", time_ns=time.time_ns())
                async for line in lines:
                    ev = parse_event(line)
                    if ev is None or (replay and ev.time_ns <= last_ns):
                        continue
                    if replay:
                        last_ns = ev.time_ns
                    yield ev
                raise RuntimeTransportError("event stream closed")
        except (TimeoutError, RuntimeTransportError, ValueError) as e:
            if not closed():
                http.mark_down(str(e) or type(e).__name__)
        except RuntimeUnavailable:
            pass
        if connected:
            yield ContainerEvent(action="disconnected", time_ns=time.time_ns())
        if not closed():
            await asyncio.sleep(http.retry_after_s)


class ExitCodes(dict[str, int]):
    """Exit codes of recent exits by container id, the oldest forgotten beyond a few thousand."""

    def remember(self, ev: ContainerEvent) -> None:
        if ev.action in ("die", "died") and ev.exit_code is not None:
            self[ev.id] = ev.exit_code
            if len(self) > _EXIT_CODES_KEPT:
                del self[next(iter(self))]


def update_from_event(md: ContainerMetadata, ev: ContainerEvent) -> None:
    """Bring metadata handed out earlier up to date with one of its container's events."""
    if ev.action == "health_status" and ev.health:
        md.health = ev.health
    elif ev.action in ("die", "died"):
        md.exit_code = ev.exit_code
    elif ev.action == "start":
        md.exit_code = None
    elif ev.action == "rename" and ev.name and md.aliases:
        md.aliases[0] = ev.name.lstrip("/")
