"""Optional per-container collectors by name, imported only when their flag or metric set asks for them.

``host/perf`` and ``host/resctrl`` cost about 0.3 MiB of RSS in a daemon that collects neither. Importing
a ``"module:callable"`` entry when the feature is configured is the house's accepted exception to imports at
the top of modules, as ``storage/registry.py`` does for storage drivers (``app.py`` builds them, ``cli.py``
checks the perf events file at start).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Final

ADDONS: Final[dict[str, str]] = {
    "perf_event": "pycadvisor.host.perf.addon:perf_addon",
    "perf_event_check": "pycadvisor.host.perf.addon:config_problem",
    "resctrl": "pycadvisor.host.resctrl.addon:resctrl_addon",
}


def load_addon(name: str) -> Callable[..., Any]:
    """The callable of ``ADDONS[name]``, its module imported now."""
    module, _, attr = ADDONS[name].partition(":")
    fn: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    return fn
