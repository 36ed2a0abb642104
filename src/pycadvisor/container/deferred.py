"""A runtime imported only once its socket exists (``registry.py`` ``DEFERRED``).

containerd's client pulls grpclib, h2, hpack and hyperframe (about 1.2 MiB of RSS, 43 modules) into every
daemon, on hosts where no containerd runs too. Until its socket appears this stand-in answers for the
runtime from its naming rule alone (``container/ids.py``, no I/O) and reports the runtime unavailable, as
the real factory does while its socket is missing (``containerd.py`` ``_ready``): the manager keeps such
containers under their raw cgroup names and asks again after 1 s, then with backoff
(``manager/discovery.py`` ``_retry_runtime``). The first ``describe`` that finds the socket imports the
runtime's module, builds its factory and hands every later call to it.
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


@dataclass(frozen=True, slots=True)
class Deferral:
    """What tells a runtime's cgroups and its socket apart before its module is imported."""

    endpoint: Callable[[RuntimeOptions], str]  # the endpoint flag's value
    claims: Callable[[str, RuntimeOptions], bool]  # its naming rule: does it handle (and accept) this cgroup


class DeferredFactory:
    """Stands for runtime ``name`` until its socket exists; then ``load`` builds the real factory."""

    def __init__(
        self, name: str, opts: RuntimeOptions, deferral: Deferral, build: Callable[[RuntimeOptions], Factory]
    ) -> None:
        self.name = name
        self.endpoint = deferral.endpoint(opts)
        self.socket = unix_socket_path(self.endpoint, name)  # a bad flag fails at start, as the real factory
        self._opts = opts
        self._claims = deferral.claims
        self._build = build
        self._real: Factory | None = None

    @property
    def loaded(self) -> bool:
        return self._real is not None

    def load(self) -> Factory:
        """The runtime's own factory, importing its module the first time."""
        if self._real is None:
            self._real = self._build(self._opts)
            log.info("%s: socket %s present, runtime client loaded", self.name, self.socket)
        return self._real

    def can_handle_and_accept(self, cgroup_name: str) -> tuple[bool, bool]:
        if self._real is not None:
            return self._real.can_handle_and_accept(cgroup_name)
        handled = self._claims(cgroup_name, self._opts)
        return handled, handled

    async def describe(self, cgroup_name: str) -> ContainerMetadata | None:
        if self._real is None:
            if not os.path.exists(self.socket):
                raise RuntimeUnavailable(f"{self.name} at {self.endpoint} unavailable: no socket")
            self.load()
        assert self._real is not None
        return await self._real.describe(cgroup_name)

    async def close(self) -> None:
        if self._real is not None:
            await self._real.close()

    def __getattr__(self, attr: str) -> Any:
        # The runtime's other members (containerd's ``exit_code``, ``version``...) exist once it is loaded;
        # before, the manager's ``getattr(f, "exit_code", None)`` finds none, as for a runtime without them.
        real = self.__dict__.get("_real")
        if real is None:
            raise AttributeError(attr)
        return getattr(real, attr)
