"""The host as the API and ``/metrics`` ask about it, besides its containers: attributes, storage, processes,
version info, the exporter's own process (``process_*``) and the ``/validate/`` facts (cAdvisor
``manager/manager.go``: ``GetVersionInfo``, ``GetFsInfo``, ``GetProcessList``; ``validate/validate.go``).

One :class:`HostInfo` is built by the composition root (``app.py``) and handed to the API; ``api/`` and
``metrics/`` import no ``host/`` module, so every read of the kernel's files goes through the manager's floor.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pycadvisor.host.fs import LABEL_DOCKER_IMAGES, CrioStorage, UnknownFilesystem, read_storage
from pycadvisor.host.machine import read_attributes, read_kernel_version, read_os_version
from pycadvisor.host.ownprocess import OwnProcessReader
from pycadvisor.host.paths import read_text
from pycadvisor.host.ps import list_processes
from pycadvisor.manager.manager import Manager
from pycadvisor.model.machine import Attributes, StorageFsInfo
from pycadvisor.model.process import OwnProcessStats, ProcessInfo

__all__ = ["CrioStorage", "HostInfo", "RuntimeVersions", "StorageRoots", "UnknownFilesystem", "ValidateFacts"]

log = logging.getLogger(__name__)

# () -> extra attributes (docker version ...) merged into /api/v2.0/attributes
RuntimeVersions = Callable[[], Awaitable[dict[str, str]]]
# () -> (docker root, CRI-O storage) as the runtimes report them now: the /storage labels docker-images,
# crio-images and crio-containers (cAdvisor fs.Context).
StorageRoots = Callable[[], Awaitable[tuple[str | None, CrioStorage | None]]]


@dataclass(frozen=True, slots=True)
class ValidateFacts:
    """What ``/validate/`` prints of the kernel: each file's text, or ``unreadable (<strerror>)``."""

    kernel_release: str
    proc_cgroups: str
    inotify_max_user_watches: str
    io_schedulers: list[tuple[str, str]] | None  # (block device, its scheduler line); None: no /sys/block


class HostInfo:
    """Answers what the API asks of the host; reads through the manager's paths and machine info."""

    def __init__(
        self,
        manager: Manager,
        cadvisor_version: str,
        *,
        runtime_versions: RuntimeVersions | None = None,
        storage_roots: StorageRoots | None = None,
    ) -> None:
        self.m = manager
        self.cadvisor_version = cadvisor_version
        self._runtime_versions = runtime_versions
        self._storage_roots = storage_roots
        self._own = OwnProcessReader(manager.paths)

    async def attributes(self) -> Attributes:
        """``/api/v2.0/attributes``: the machine's, with the runtimes' versions when they answer."""
        attrs = read_attributes(self.m.paths, self.m.machine_info, self.cadvisor_version)
        if self._runtime_versions is not None:
            try:
                extra = await self._runtime_versions()
            except Exception as e:  # a runtime that does not answer must not fail the whole call
                log.debug("attributes extra failed: %s", e)
                extra = {}
            for k, v in extra.items():
                setattr(attrs, k, v)
        return attrs

    async def storage(self, label: str | None, uuid: str | None) -> list[StorageFsInfo]:
        """``/api/v2.0/storage``; raises :class:`UnknownFilesystem` for a label or uuid naming none."""
        docker_root, crio = None, None
        if self._storage_roots is not None:
            try:
                docker_root, crio = await self._storage_roots()
            except Exception as e:  # a runtime that does not answer only loses its label
                log.debug("storage roots failed: %s", e)
        now = self.m.clock.now_ns()
        # A devicemapper thin pool is Docker's image store and no mount (cAdvisor addDockerImagesLabel).
        pools = [
            StorageFsInfo(timestamp=now, device=f.device, capacity=f.capacity, available=f.available, usage=f.usage,
                          labels=[LABEL_DOCKER_IMAGES])
            for f in self.m.runtime_filesystems() if f.type == "devicemapper"
        ]  # fmt: skip
        if pools and label == LABEL_DOCKER_IMAGES and not uuid:
            return pools[:1]
        out = read_storage(self.m.paths, now, label, uuid, docker_root=docker_root, crio=crio)
        if pools and not label and not uuid:
            for s in out:
                s.labels = [lb for lb in s.labels if lb != LABEL_DOCKER_IMAGES]
            out += pools
        return out

    def processes(self, container: str) -> list[ProcessInfo]:
        """``/api/v2.0/ps`` of a container (``/``: every process on the host)."""
        return list_processes(
            self.m.paths,
            cgroup_filter=None if container == "/" else container,
            mem_total_bytes=self.m.machine_info.memory_capacity,
            now_s=time.time(),
        )

    def own_process(self) -> OwnProcessStats | None:
        """This process's figures for ``/metrics``' ``process_*`` families (``metrics.runtime.OwnProcessSource``)."""
        return self._own.read()

    def versions(self) -> tuple[str, str]:
        """(kernel, OS) for ``cadvisor_version_info``: the ones ``/attributes`` serves (cAdvisor reads both
        through ``machine.KernelVersion``/``ContainerOsVersion`` for either); the running kernel's if
        ``/proc`` does not say."""
        kernel = read_kernel_version(self.m.paths)
        return (platform.release() if kernel == "Unknown" else kernel), read_os_version(self.m.paths)

    def validate_facts(self) -> ValidateFacts:
        p = self.m.paths
        schedulers: list[tuple[str, str]] | None
        try:
            devices = sorted(os.listdir(os.path.join(p.sys, "block")))
        except OSError:
            schedulers = None
        else:
            schedulers = [(d, _read(os.path.join(p.sys, "block", d, "queue", "scheduler"))) for d in devices]
        return ValidateFacts(
            kernel_release=_read(os.path.join(p.proc, "sys/kernel/osrelease")),
            proc_cgroups=_read(os.path.join(p.proc, "cgroups")),
            inotify_max_user_watches=_read(os.path.join(p.proc, "sys/fs/inotify/max_user_watches")),
            io_schedulers=schedulers,
        )


def _read(path: str) -> str:
    try:
        return read_text(path).strip()
    except OSError as e:
        return f"unreadable ({e.strerror})"
