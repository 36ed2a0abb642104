"""The seams between the manager and container runtimes (cAdvisor ``container/factory.go``).

Stats always come from cgroup files (:mod:`pycadvisor.host.cgroups.collector`); a runtime factory
only *names and describes* a cgroup (aliases, labels, image, envs, times, health, pid). A
runtime that fails or is slow degrades the container to its raw cgroup name, never stops its stats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pycadvisor.model.container import FsStats


@dataclass(slots=True, kw_only=True)
class ContainerMetadata:
    """What a runtime knows of one container; ``None`` members mean "the runtime did not say"."""

    namespace: str  # "docker", "podman", "containerd", "crio", "mesos", "systemd"
    id: str = ""
    aliases: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    envs: dict[str, str] = field(default_factory=dict)
    image: str = ""
    creation_time: int | None = None  # ns since epoch
    start_time: int | None = None  # ns since epoch
    pid: int | None = None  # init pid: network and per-process stats are read through it
    has_network: bool | None = None  # False when the netns is shared (docker --net=container:X)
    health: str = ""  # "", "starting", "healthy", "unhealthy"
    fs_dirs: list[str] = field(default_factory=list)  # writable layer, log dir: measured for filesystem usage
    exit_code: int | None = None  # known once the container is gone
    # Its filesystem entry where no layer dir can be walked (a devicemapper thin device, a zfs dataset):
    # read from what a background task last measured; None until known.
    layer_stats: Callable[[], FsStats | None] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeOptions:
    """What the runtime factories are built from (``app.py`` maps the flags onto it)."""

    env_whitelist: list[str] = field(default_factory=list)  # -env_metadata_whitelist
    timeout_s: float = 2.0  # -runtime_timeout
    host_rootfs: str = "/"
    docker: str = "unix:///var/run/docker.sock"
    docker_root: str = "/var/lib/docker"
    docker_tls: tuple[str, str, str] | None = None  # cert, key and CA files with -docker-tls
    podman: str = "unix:///var/run/podman/podman.sock"
    containerd: str = "/run/containerd/containerd.sock"
    containerd_namespace: str = "k8s.io"
    crio: str = "unix:///var/run/crio/crio.sock"
    crio_timeout_s: float = 0.0  # -crio_client_timeout; 0: timeout_s
    mesos_agent: str = "127.0.0.1:5051"  # -mesos_agent
    mesos_timeout_s: float = 10.0  # -mesos_agent_timeout
    thin_ls_interval_s: float = 15.0  # -devicemapper_thin_ls_interval; 0: pool stats only, no thin_ls


class Factory(Protocol):
    """A runtime that may claim cgroups (``ContainerHandlerFactory`` in cAdvisor)."""

    name: str

    def can_handle_and_accept(self, cgroup_name: str) -> tuple[bool, bool]:
        """(handles, accepts) from the cgroup name alone; cheap, no I/O."""
        ...

    async def describe(self, cgroup_name: str) -> ContainerMetadata | None:
        """Ask the runtime about the container; ``None`` if it is not (or no longer) one of its running containers.

        Raises :class:`pycadvisor.errors.RuntimeUnavailable` when the runtime does not answer.
        """
        ...

    async def close(self) -> None: ...
