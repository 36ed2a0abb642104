"""A runtime imported only once its socket exists (``registry.py`` ``DEFERRED``).

A runtime's client is memory a host without that runtime need not carry: containerd's pulls grpclib, h2,
hpack and hyperframe (about 1.2 MiB of RSS), Docker's and Podman's their handlers, layer readers and storage
watchers (about 0.9 MiB). Until the runtime's unix socket appears, this stand-in answers for it from its
naming rule alone (``container/ids.py``, no I/O) and reports it unavailable, as its own factory does while
the socket is missing: the manager keeps such containers under their raw cgroup names and asks again after
1 s, then with backoff (``manager/discovery.py`` ``_retry_runtime``). The first call that finds the socket
(a ``describe``, or any other member the app asks for: Docker's ``info``, ``exit_code``...) imports the
runtime's module, builds its factory and hands every later call to it. A runtime reached over TCP, or with
TLS files to check at start, is built at start as before (``Deferral.socket`` gives None).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pycadvisor.container.base import ContainerMetadata, Factory, RuntimeOptions
from pycadvisor.errors import RuntimeUnavailable

log = logging.getLogger(__name__)


def unix_socket_path(endpoint: str, runtime: str) -> str:
    """The unix socket of an endpoint flag (``/run/x.sock`` or ``unix:///run/x.sock``); ValueError otherwise."""
    path = endpoint[len("unix://") :] if endpoint.startswith("unix://") else endpoint
    if not path.startswith("/"):
        raise ValueError(f"invalid {runtime} endpoint {endpoint!r}: expected an absolute unix socket path")
    return path


def local_socket(endpoint: str) -> str | None:
    """The path of a ``unix://`` or bare-path endpoint; None for ``tcp://``, ``http(s)://`` and anything else."""
    path = endpoint[len("unix://") :] if endpoint.startswith("unix://") else endpoint
    return path if path.startswith("/") else None


@dataclass(frozen=True, slots=True)
class Deferral:
    """What tells a runtime's cgroups and its socket apart before its module is imported."""

    endpoint: Callable[[RuntimeOptions], str]  # the endpoint flag's value
    socket: Callable[[RuntimeOptions], str | None]  # its unix socket; None: build the factory at start
    claims: Callable[[str, RuntimeOptions], bool]  # its naming rule: does it handle (and accept) this cgroup
    # Podman's rootless containers: the socket of the user that owns the cgroup, when not the main one.
    own_socket: Callable[[str, RuntimeOptions], str | None] = lambda _name, _opts: None


class DeferredFactory:
    """Stands for runtime ``name`` until its socket exists; then ``load`` builds the real factory."""

    def __init__(
        self, name: str, opts: RuntimeOptions, deferral: Deferral, build: Callable[[RuntimeOptions], Factory]
    ) -> None:
        socket = deferral.socket(opts)
        if socket is None:
            raise ValueError(f"{name}: endpoint {deferral.endpoint(opts)!r} is not a unix socket: build it at start")
        self.name = name
        self.endpoint = deferral.endpoint(opts)
        self.socket = socket
        self._opts = opts
        self._deferral = deferral
        self._build = build
        self._real: Factory | None = None

    @property
    def loaded(self) -> bool:
        return self._real is not None

    def load(self) -> Factory:
        """The runtime's own factory, importing its module the first time."""
        if self._real is None:
            self._real = self._build(self._opts)
            log.info("%s: a socket is present, runtime client loaded", self.name)
        return self._real

    def can_handle_and_accept(self, cgroup_name: str) -> tuple[bool, bool]:
        if self._real is not None:
            return self._real.can_handle_and_accept(cgroup_name)
        handled = self._deferral.claims(cgroup_name, self._opts)
        return handled, handled

    async def describe(self, cgroup_name: str) -> ContainerMetadata | None:
        if self._real is None:
            own = self._deferral.own_socket(cgroup_name, self._opts)
            if own is not None and not os.path.exists(own):
                return None  # a rootless container whose user runs no API service (podman.py _api_for)
            if own is None and not os.path.exists(self.socket):
                raise RuntimeUnavailable(f"{self.name} at {self.endpoint} unavailable: no socket")
            self.load()
        assert self._real is not None
        return await self._real.describe(cgroup_name)

    async def close(self) -> None:
        if self._real is not None:
            await self._real.close()

    def __getattr__(self, attr: str) -> Any:
        # The runtime's other members (``info``, ``exit_code``, ``storage_filesystems``...) exist once it is
        # loaded, which asking for one does once the socket exists; before, the app's and the manager's
        # ``getattr(f, "info", None)`` find none, as for a runtime without them.
        if attr.startswith("__") or "_real" not in self.__dict__:
            raise AttributeError(attr)
        real = self._real
        if real is None:
            if not os.path.exists(self.socket):
                raise AttributeError(attr)
            real = self.load()
        return getattr(real, attr)
