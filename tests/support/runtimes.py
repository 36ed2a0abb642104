"""What the runtime factory tests (containerd, Podman, CRI-O) share: the same scenarios, each runtime's factory.

- :func:`fast_manager` and :func:`named_and_sampled`: a container checked end to end by a Manager on this
  host's cgroups, sampling every 100 ms, the systemd factory first (as ``app.py`` orders them), every
  factory closed with the manager whatever the test did;
- :func:`fails_fast_then_found`: a runtime socket that is not answering yet, then is;
- :func:`podman_with_busybox`, :func:`containerd_with_busybox`: a private runtime holding the offline image.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Protocol

import pytest

from pycadvisor.container.base import ContainerMetadata, Factory
from pycadvisor.container.systemd import SystemdFactory
from pycadvisor.errors import RuntimeUnavailable
from pycadvisor.host.paths import HostPaths
from pycadvisor.manager.container import ContainerState
from pycadvisor.manager.manager import Manager, ManagerOptions
from support import services as svc
from support.ci import cannot_run
from support.procs import eventually
from support.sockets import ClosingSocket


class RuntimeFactory(Factory, Protocol):
    """A factory that reports whether its runtime answers and which version it runs."""

    @property
    def available(self) -> bool: ...

    async def version(self) -> str | None: ...


@contextlib.asynccontextmanager
async def fast_manager(runtime: Factory) -> AsyncIterator[Manager]:
    """A started Manager whose factories are systemd's and ``runtime``; stopped and closed on exit."""
    m = Manager(
        ManagerOptions(
            housekeeping_interval_ns=100_000_000,
            global_housekeeping_interval_ns=0,
            update_machine_info_interval_ns=0,
            initial_splay_factor=0.0,
            runtime_timeout_s=5.0,
        ),
        HostPaths(),
        factories=[SystemdFactory(), runtime],
    )
    await m.start()
    try:
        yield m
    finally:
        await m.stop()
        for f in m.factories:
            await f.close()


async def named_and_sampled(m: Manager, cgroup: str, namespace: str, *, samples: int = 2) -> ContainerState:
    """The state of ``cgroup`` once the runtime has named it (``namespace``) and it holds ``samples`` samples."""

    async def ready() -> ContainerState | None:
        st = m.containers.get(cgroup)
        return st if st is not None and st.namespace == namespace and len(st.history) >= samples else None

    return await eventually(ready, timeout=15, what=f"{namespace} container named with {samples} samples")


async def fails_fast_then_found(
    make: Callable[[float], RuntimeFactory], cgroup: str, closer: ClosingSocket, real_socket: str
) -> tuple[ContainerMetadata | None, str | None]:
    """(metadata, version) of ``cgroup`` once the runtime "starts" at ``closer``'s path, after it did not answer.

    ``make(retry_after_s)`` builds a factory on ``closer.path``. While the socket only hangs up, a factory
    that retries every 600 s asks once and then fails at once, without connecting again; one that retries
    every 0.2 s finds the runtime once the path leads to ``real_socket``.
    """
    slow_retry, quick_retry = make(600.0), make(0.2)
    try:
        with pytest.raises(RuntimeUnavailable):
            await slow_retry.describe(cgroup)
        probes = closer.accepted
        assert probes >= 1
        with pytest.raises(RuntimeUnavailable):  # known down: fails without connecting again
            await slow_retry.describe(cgroup)
        assert await slow_retry.version() is None
        assert closer.accepted == probes
        assert not slow_retry.available
        with pytest.raises(RuntimeUnavailable):
            await quick_retry.describe(cgroup)
        closer.close()
        os.symlink(real_socket, closer.path)  # the runtime "starts" at that path
        md = await eventually(lambda: quick_retry.describe(cgroup), timeout=10, what="describe after start")
        assert quick_retry.available
        return md, await quick_retry.version()
    finally:
        await slow_retry.close()
        await quick_retry.close()


@contextlib.contextmanager
def podman_with_busybox(image: svc.BusyboxImage) -> Iterator[tuple[svc.PodmanService, str]]:
    """(service, image name) of a private Podman API service that has loaded the busybox image."""
    try:
        srv = svc.start_podman_service()
    except svc.ServiceUnavailable as e:
        cannot_run(str(e))
    try:
        srv.podman("load", "-i", image.docker_archive)
        yield srv, "localhost/" + image.tag
    finally:
        srv.stop()


@contextlib.contextmanager
def containerd_with_busybox(
    image: svc.BusyboxImage, namespaces: tuple[str, ...] = ("default",)
) -> Iterator[tuple[svc.ContainerdServer, str]]:
    """(server, image name) of a private containerd that has imported the busybox image into ``namespaces``."""
    try:
        srv = svc.start_containerd()
    except svc.ServiceUnavailable as e:
        cannot_run(str(e))
    try:
        for ns in namespaces:
            srv.ctr("images", "import", image.docker_archive, namespace=ns)
        yield srv, "docker.io/library/" + image.tag
    finally:
        srv.stop()
