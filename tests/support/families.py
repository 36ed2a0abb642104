"""Whether the daemon collects every family of a runtime container (issue 13): used by the runtime tests
that start containers while pycadvisor runs."""

from __future__ import annotations

import json
from typing import Any, Protocol


class DaemonLike(Protocol):
    def get(self, path: str, timeout: float = ...) -> tuple[int, bytes]: ...


def every_family(d: DaemonLike, alias: str, runtime: str) -> dict[str, Any] | None:
    """The newest v2 sample of ``alias`` (``?type=<runtime>``) once its spec has CPU, memory and IO and
    the sample carries CPU and memory usage and the IO family; ``None`` until then."""
    status, body = d.get(f"/api/v2.0/spec/{alias}?type={runtime}")
    if status != 200:
        return None
    ((name, spec),) = json.loads(body).items()
    if not (spec.get("has_cpu") and spec.get("has_memory") and spec.get("has_diskio")):
        return None
    status, body = d.get(f"/api/v2.0/stats/{alias}?type={runtime}&count=1")
    if status != 200:
        return None
    samples = json.loads(body).get(name) or []
    if not samples:
        return None
    last: dict[str, Any] = samples[-1]
    if last["cpu"]["usage"]["total"] <= 0 or last["memory"]["usage"] <= 0 or "diskio" not in last:
        return None
    return last


def metric_families_of(d: DaemonLike, cgroup: str) -> set[str]:
    """The ``/metrics`` families with a series whose ``id`` is ``cgroup``."""
    _, body = d.get("/metrics")
    label = f'id="{cgroup}"'
    return {line.split("{", 1)[0] for line in body.decode().splitlines() if label in line and line[0] != "#"}


#: Families every container with CPU and memory has (dashboards built on cAdvisor's families read these).
CORE_FAMILIES = frozenset(
    {
        "container_cpu_usage_seconds_total",
        "container_memory_usage_bytes",
        "container_memory_working_set_bytes",
        "container_spec_memory_limit_bytes",
        "container_spec_cpu_shares",
    }
)


def has_core_families(d: DaemonLike, cgroup: str) -> bool:
    return metric_families_of(d, cgroup) >= CORE_FAMILIES
