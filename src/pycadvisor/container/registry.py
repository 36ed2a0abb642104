"""Runtime name → its factory class, imported only when the factories are built (cAdvisor
``container/factory.go`` ``RegisterPlugin``, as a table instead of registration at import time).

Adding a runtime is one module with a factory class (``from_options``, ``can_handle_and_accept``,
``describe``, ``close``) and one row here. The order is the order the manager asks them in, most
specific first: containerd precedes Docker, since both may claim a bare 64-hex basename under
``/kubepods`` and the manager asks the next claiming factory when one says "not mine".

A runtime in ``DEFERRED`` (one whose client library costs memory the others share with the HTTP server)
is imported only once its socket exists: until then a :class:`~pycadvisor.container.deferred.DeferredFactory`
claims its cgroups by name and reports it unavailable, and the manager's retries load it when the socket
appears. Importing a module by name from this table, at start or later, is the house's accepted exception
to "imports at the top of modules": the plugin is imported when it is configured, not before.
"""

from __future__ import annotations

import functools
import importlib
import os
from typing import Final, Protocol

from pycadvisor.container.base import Factory, RuntimeOptions
from pycadvisor.container.deferred import Deferral, DeferredFactory, local_socket
from pycadvisor.container.ids import containerd_id, docker_id_from_cgroup, podman_id, rootless_uid

__all__ = ["DEFERRED", "RUNTIME_FACTORIES", "FactoryClass", "build_factories", "load_factory_class"]

RUNTIME_FACTORIES: Final[dict[str, str]] = {
    "systemd": "pycadvisor.container.systemd:SystemdFactory",
    "podman": "pycadvisor.container.podman:PodmanFactory",
    "crio": "pycadvisor.container.crio:CrioFactory",
    "mesos": "pycadvisor.container.mesos:MesosFactory",
    "containerd": "pycadvisor.container.containerd:ContainerdFactory",
    "docker": "pycadvisor.container.docker:DockerFactory",
}


def _podman_user_socket(cgroup_name: str, opts: RuntimeOptions) -> str | None:
    """A rootless container's own API socket, as podman.py ``_api_for`` finds it (``ROOTLESS_SOCKET``)."""
    uid = rootless_uid(cgroup_name)
    if uid is None or uid == 0:
        return None
    return os.path.join(opts.host_rootfs, f"run/user/{uid}/podman/podman.sock")


# Runtimes imported once their socket exists: containerd's grpclib, h2, hpack, hyperframe (about 1.2 MiB of
# RSS), Docker's and Podman's handlers, layer readers and storage watchers (about 0.9 MiB). CRI-O and Mesos
# cost little beyond what the HTTP server already imports; systemd nothing.
DEFERRED: Final[dict[str, Deferral]] = {
    "podman": Deferral(
        endpoint=lambda o: o.podman,
        socket=lambda o: local_socket(o.podman),
        claims=lambda name, o: podman_id(name) is not None,
        own_socket=_podman_user_socket,
    ),
    "containerd": Deferral(
        endpoint=lambda o: o.containerd,
        socket=lambda o: local_socket(o.containerd) or o.containerd,  # a bad path fails in its factory
        claims=lambda name, o: containerd_id(name, o.containerd_namespace) is not None,
    ),
    "docker": Deferral(
        endpoint=lambda o: o.docker,
        # TLS files are read (and a bad one stops the start) when the factory is built: build it now.
        socket=lambda o: None if o.docker_tls else local_socket(o.docker),
        claims=lambda name, o: docker_id_from_cgroup(name) is not None,
    ),
}


class FactoryClass(Protocol):
    """A runtime factory class: built from the runtime options."""

    def from_options(self, opts: RuntimeOptions, /) -> Factory: ...


def load_factory_class(name: str) -> FactoryClass:
    """Import the module of runtime ``name`` and return its factory class."""
    target = RUNTIME_FACTORIES.get(name)
    if target is None:
        raise ValueError(f"unknown container runtime: {name} (valid: {', '.join(RUNTIME_FACTORIES)})")
    module_name, _, attr = target.partition(":")
    cls: FactoryClass = getattr(importlib.import_module(module_name), attr)
    return cls


def build_factory(name: str, opts: RuntimeOptions) -> Factory:
    """Runtime ``name``'s own factory, importing its module."""
    return load_factory_class(name).from_options(opts)


def build_factories(opts: RuntimeOptions) -> list[Factory]:
    """Every runtime's factory, in the table's order; a runtime that is absent just never answers, and one in
    ``DEFERRED`` whose socket is absent is a stand-in until the socket appears."""
    out: list[Factory] = []
    for name in RUNTIME_FACTORIES:
        deferral = DEFERRED.get(name)
        if deferral is None:
            out.append(build_factory(name, opts))
            continue
        socket = deferral.socket(opts)
        if socket is None or not socket.startswith("/") or os.path.exists(socket):
            out.append(build_factory(name, opts))  # reached over TCP, TLS to check, a bad path, or present
            continue
        out.append(DeferredFactory(name, opts, deferral, functools.partial(build_factory, name)))
    return out
