"""The import graph the README's Layout section describes: every package imports only from lower floors
(or itself), so nothing imports upward and there are no cycles; the manager knows events and storage
only through its sink Protocols."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "pycadvisor"

# Floors, lowest first (README "Layout"). A module's unit: its top-level package, but host/cgroups on its own.
FLOORS: dict[str, int] = {
    "errors": 0, "durations": 0, "clock": 0, "model": 0, "klog": 0,
    "host": 1,
    "host/cgroups": 2,
    "container": 3, "watcher": 3, "appmetrics": 3, "events": 3, "storage": 3, "cache": 3, "metrics": 3,
    "flags": 3, "config": 3,
    "manager": 4,
    "api": 5,
    "app": 6,
    "cli": 7,
    "__main__": 8,
    "interpreter": 0,
    "__init__": 0,
}  # fmt: skip


def _unit(parts: list[str]) -> str:
    if parts[0] == "host" and len(parts) > 1 and parts[1] == "cgroups":
        return "host/cgroups"
    return parts[0]


def _imports() -> dict[tuple[str, str], list[str]]:
    """(importer unit, imported unit) -> the importing modules."""
    out: dict[tuple[str, str], list[str]] = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        src = _unit(list(rel.parts))
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "pycadvisor" and len(parts) > 1:
                    dst = _unit(parts[1:])
                    if dst != src and dst in FLOORS:
                        out.setdefault((src, dst), []).append(str(rel))
    return out


def test_every_unit_has_a_floor() -> None:
    units = {_unit(list(p.relative_to(SRC).with_suffix("").parts)) for p in SRC.rglob("*.py")}
    assert units <= set(FLOORS), units - set(FLOORS)


def test_nothing_imports_upward() -> None:
    upward = {k: v for k, v in _imports().items() if FLOORS[k[1]] >= FLOORS[k[0]]}
    assert not upward


def test_the_manager_knows_events_and_storage_only_through_its_sinks() -> None:
    imported = {dst for src, dst in _imports() if src == "manager"}
    assert imported.isdisjoint({"events", "storage", "metrics", "api"})


def test_the_api_and_metrics_ask_the_manager_about_the_host() -> None:
    """``api/`` and ``metrics/`` import no ``host/`` module: the host's attributes, storage, processes, versions,
    the exporter's own process and ``/validate/`` facts come from the manager's :class:`HostInfo`."""
    imports = _imports()
    reaching = {
        m
        for (src, dst), mods in imports.items()
        if src in ("api", "metrics") and dst in ("host", "host/cgroups")
        for m in mods
    }
    assert not reaching, reaching
