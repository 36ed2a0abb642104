"""The seam between the manager and the ``/metrics`` exposition.

The manager implements :class:`MetricsSource`; the exposition reads only what it returns. Spec and
stats objects are treated as immutable: the manager replaces a container's ``spec`` object when the
spec changes (never mutates it in place), because label strings are cached per spec object
(cAdvisor re-renders them on every scrape; measured in ``bench/exposition.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pycadvisor.model.container import ContainerSpec, ContainerStats


@dataclass(slots=True, frozen=True)
class ContainerSnapshot:
    """One container as the exposition sees it on a scrape."""

    name: str  # cgroup name, e.g. "/docker/<id>": the Prometheus `id` label
    id: str  # runtime id or ""
    aliases: tuple[str, ...]  # first alias = Prometheus `name` label
    namespace: str  # "docker", "podman", ... or ""
    # As the API serves it (cAdvisor getAdjustedSpec: has_memory and memory.limit == 0 -> the machine's
    # memory capacity), and the same object across scrapes while the spec is unchanged.
    spec: ContainerSpec
    stats: ContainerStats | None  # latest sample; None: only the spec families are emitted
    oom_kills: int = 0  # container_oom_events_total (OOM kills whose task cgroup is this container)


@dataclass(slots=True, frozen=True)
class VersionInfo:
    """``cadvisor_version_info`` labels (cAdvisor ``VersionInfo``; docker_version is always "" there)."""

    kernel_version: str
    os_version: str
    docker_version: str
    cadvisor_version: str
    cadvisor_revision: str


# ---------------------------------------------------------------- machine info, structurally
# The machine model (model/machine.py) mirrors cAdvisor's MachineInfo JSON (``info/v1/machine.go``);
# the exposition needs only these attributes, named as the JSON keys (None where Go has a nil slice).
# Read-only properties make the protocols covariant, so the concrete dataclasses satisfy them.


class CacheLike(Protocol):
    @property
    def size(self) -> int: ...  # bytes
    @property
    def type(self) -> str: ...  # "Data", "Instruction", "Unified"
    @property
    def level(self) -> int: ...


class CoreLike(Protocol):
    @property
    def core_id(self) -> int: ...
    @property
    def thread_ids(self) -> Sequence[int]: ...
    @property
    def caches(self) -> Sequence[CacheLike] | None: ...


class HugePagesLike(Protocol):
    @property
    def page_size(self) -> int: ...  # kB
    @property
    def num_pages(self) -> int: ...


class NodeLike(Protocol):
    @property
    def node_id(self) -> int: ...
    @property
    def memory(self) -> int: ...  # bytes
    @property
    def hugepages(self) -> Sequence[HugePagesLike] | None: ...
    @property
    def cores(self) -> Sequence[CoreLike] | None: ...
    @property
    def caches(self) -> Sequence[CacheLike] | None: ...  # shared by every thread of the node
    @property
    def distances(self) -> Sequence[int] | None: ...


class MemoryInfoLike(Protocol):
    @property
    def capacity(self) -> int: ...  # bytes
    @property
    def dimm_count(self) -> int: ...


class NvmInfoLike(Protocol):
    @property
    def memory_mode_capacity(self) -> int: ...  # bytes
    @property
    def app_direct_mode_capacity(self) -> int: ...  # bytes (JSON key "app direct_mode_capacity")
    @property
    def avg_power_budget(self) -> int: ...  # watts


class MachineInfoLike(Protocol):
    """The attributes of ``MachineInfo`` the machine families read (``num_books``/``num_drawers``
    are read with a default of 0, as they are omitempty and may be absent)."""

    @property
    def timestamp(self) -> int: ...  # ns since the epoch: machine samples are timestamped with it
    @property
    def num_cores(self) -> int: ...
    @property
    def num_physical_cores(self) -> int: ...
    @property
    def num_sockets(self) -> int: ...
    @property
    def memory_capacity(self) -> int: ...
    @property
    def swap_capacity(self) -> int: ...
    @property
    def memory_by_type(self) -> Mapping[str, MemoryInfoLike]: ...
    @property
    def nvm(self) -> NvmInfoLike: ...
    @property
    def machine_id(self) -> str: ...
    @property
    def system_uuid(self) -> str: ...
    @property
    def boot_id(self) -> str: ...
    @property
    def topology(self) -> Sequence[NodeLike] | None: ...


class MetricsSource(Protocol):
    """What ``/metrics`` needs from the manager."""

    async def snapshot(self, *, namespace: str | None, max_age_ns: int | None) -> list[ContainerSnapshot]:
        """Every known container (``/`` and all descendants) with its latest sample.

        ``namespace`` restricts to one runtime (``"docker"``, ``"podman"``; ``None`` = all, cAdvisor's
        ``type=name``). With ``max_age_ns`` the manager first re-collects containers whose latest sample
        is older than that (cAdvisor ``max_age``). Raising makes the scrape report
        ``container_scrape_error 1``.
        """
        ...

    def machine_info(self) -> MachineInfoLike | None:
        """The latest ``MachineInfo``; ``None`` (not collected yet) or raising gives ``machine_scrape_error 1``."""
        ...

    def version_info(self) -> VersionInfo:
        """Versions for ``cadvisor_version_info`` (``cadvisor_version`` = pycadvisor's version)."""
        ...
