"""Runtime name → its factory class, imported only when the factories are built (cAdvisor
``container/factory.go`` ``RegisterPlugin``, as a table instead of registration at import time).

Adding a runtime is one module with a factory class (``from_options``, ``can_handle_and_accept``,
``describe``, ``close``) and one row here. The order is the order the manager asks them in, most
specific first: containerd precedes Docker, since both may claim a bare 64-hex basename under
``/kubepods`` and the manager asks the next claiming factory when one says "not mine".
"""

from __future__ import annotations

import importlib
from typing import Final, Protocol

from pycadvisor.container.base import Factory, RuntimeOptions

__all__ = ["RUNTIME_FACTORIES", "FactoryClass", "build_factories", "load_factory_class"]

RUNTIME_FACTORIES: Final[dict[str, str]] = {
    "systemd": "pycadvisor.container.systemd:SystemdFactory",
    "podman": "pycadvisor.container.podman:PodmanFactory",
    "crio": "pycadvisor.container.crio:CrioFactory",
    "mesos": "pycadvisor.container.mesos:MesosFactory",
    "containerd": "pycadvisor.container.containerd:ContainerdFactory",
    "docker": "pycadvisor.container.docker:DockerFactory",
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


def build_factories(opts: RuntimeOptions) -> list[Factory]:
    """Every runtime's factory, in the table's order; a runtime that is absent just never answers."""
    return [load_factory_class(name).from_options(opts) for name in RUNTIME_FACTORIES]
