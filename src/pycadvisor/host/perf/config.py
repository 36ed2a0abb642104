"""The ``-perf_events_config`` file, cAdvisor's format (perf/config.go): ``core`` and ``uncore``, each with
``events`` (a list whose items are an event name or a list of names counted as one group) and
``custom_events`` (``{"type": <uint32>, "config": ["0x...", ...], "name": ...}``, the raw ``perf_event_attr``
``type``, ``config``, ``config1``, ``config2`` of a name used in ``events``).

:func:`parse_config` is pure; every error names the file and the field (``core.events[1][0]``), so a typo
stops the start instead of a counter silently missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pycadvisor.host.perf.events import lookup


class PerfConfigError(ValueError):
    """A perf events configuration that cannot be used; the message names the file and the field."""

    def __init__(self, path: str, field: str, detail: str) -> None:
        super().__init__(f"{path}: {field}: {detail}" if field else f"{path}: {detail}")
        self.path = path
        self.field = field
        self.detail = detail

    @property
    def where(self) -> str:
        """The message without the file's name: the field, then what is wrong."""
        return f"{self.field}: {self.detail}" if self.field else self.detail


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One counter: its name in the stats and its ``perf_event_attr`` encoding (``type`` None: an uncore
    event whose type is its PMU's, see :mod:`pycadvisor.host.perf.uncore`)."""

    name: str
    field: str  # where it is in the file, for errors found later (opening it on this host)
    type: int | None
    config: tuple[int, int, int] = (0, 0, 0)  # config, config1, config2
    pmu_prefix: str = ""  # uncore: the part before "/" ("uncore_imc" in "uncore_imc/cas_count_read")


@dataclass(frozen=True, slots=True)
class EventGroup:
    """Events counted together (one leader per CPU; cAdvisor's ``Group``); ``array``: written as a list."""

    events: tuple[EventSpec, ...]
    array: bool


@dataclass(frozen=True, slots=True)
class PerfConfig:
    path: str
    core: tuple[EventGroup, ...]
    uncore: tuple[EventGroup, ...]


def _parse_uint(text: object, path: str, field: str) -> int:
    # Go's strconv.ParseUint(v, 0, 64) (perf/config.go Config.UnmarshalJSON): 0x, 0o, 0b, a leading 0 is octal.
    if not isinstance(text, str):
        raise PerfConfigError(path, field, f"want a string holding an unsigned integer, got {json.dumps(text)}")
    s = text.strip().replace("_", "")
    try:
        v = int(s[1:], 8) if len(s) > 1 and s[0] == "0" and s[1].isdigit() else int(s, 0)
    except ValueError:
        raise PerfConfigError(path, field, f"{text!r} is not an unsigned integer") from None
    if not 0 <= v < 1 << 64:
        raise PerfConfigError(path, field, f"{text!r} is out of range for uint64")
    return v


def _custom_events(section: dict[str, object], path: str, prefix: str) -> dict[str, tuple[int, tuple[int, int, int]]]:
    raw = section.get("custom_events")
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise PerfConfigError(path, f"{prefix}.custom_events", "want a list")
    out: dict[str, tuple[int, tuple[int, int, int]]] = {}
    for i, ev in enumerate(raw):
        field = f"{prefix}.custom_events[{i}]"
        if not isinstance(ev, dict):
            raise PerfConfigError(path, field, "want an object with type, config and name")
        name = ev.get("name")
        if not isinstance(name, str) or not name:
            raise PerfConfigError(path, f"{field}.name", "want a non-empty string")
        typ = ev.get("type", 0)
        if not isinstance(typ, int) or isinstance(typ, bool) or not 0 <= typ < 1 << 32:
            raise PerfConfigError(path, f"{field}.type", f"want a uint32, got {json.dumps(typ)}")
        cfg = ev.get("config")
        # perf/collector_libpfm.go createPerfEventAttr: config[0] is config, [1] config1 (Ext1), [2] config2.
        if not isinstance(cfg, list) or not 1 <= len(cfg) <= 3:
            raise PerfConfigError(path, f"{field}.config", "want a list of 1 to 3 strings (config, config1, config2)")
        vals = [_parse_uint(c, path, f"{field}.config[{j}]") for j, c in enumerate(cfg)]
        vals += [0] * (3 - len(vals))
        out[name] = (typ, (vals[0], vals[1], vals[2]))
    return out


def _groups(section: dict[str, object], path: str, prefix: str) -> list[tuple[list[tuple[str, str]], bool]]:
    raw = section.get("events")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise PerfConfigError(path, f"{prefix}.events", "want a list of event names or lists of names")
    out: list[tuple[list[tuple[str, str]], bool]] = []
    for i, g in enumerate(raw):
        field = f"{prefix}.events[{i}]"
        if isinstance(g, str):
            out.append(([(g, field)], False))
        elif isinstance(g, list) and g:
            names = []
            for j, n in enumerate(g):
                if not isinstance(n, str):
                    raise PerfConfigError(path, f"{field}[{j}]", f"want an event name, got {json.dumps(n)}")
                names.append((n, f"{field}[{j}]"))
            out.append((names, True))
        else:
            raise PerfConfigError(path, field, "want an event name or a non-empty list of names")
    return out


def parse_config(text: str, path: str) -> PerfConfig:
    """The configuration in ``text`` (read from ``path``, named in errors)."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise PerfConfigError(path, "", f"not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise PerfConfigError(path, "", 'want an object with "core" and/or "uncore"')
    sections: dict[str, tuple[EventGroup, ...]] = {}
    for key in ("core", "uncore"):
        section = doc.get(key) or {}
        if not isinstance(section, dict):
            raise PerfConfigError(path, key, 'want an object with "events" and "custom_events"')
        custom = _custom_events(section, path, key)
        groups = []
        for names, array in _groups(section, path, key):
            events = []
            for name, field in names:
                # perf/uncore_libpfm.go parseEventName: the first "/" separates the PMU prefix.
                pmu = name.partition("/")[0] if key == "uncore" and "/" in name else ""
                if name in custom:
                    typ, cfg = custom[name]
                    # An uncore raw event of type 0 counts on the PMUs its name's prefix matches
                    # (perf/uncore_libpfm.go parsePMUs).
                    events.append(EventSpec(name, field, typ if typ or key == "core" else None, cfg, pmu))
                    continue
                if key == "uncore":
                    events.append(EventSpec(name, field, None, (0, 0, 0), pmu))
                    continue
                enc = lookup(name)
                if enc is None:
                    raise PerfConfigError(
                        path,
                        field,
                        f'unknown event "{name}": not a generic perf event (cycles, instructions, task-clock, '
                        "context-switches, ...) nor the name of a core.custom_events entry",
                    )
                events.append(EventSpec(name, field, enc[0], (enc[1], 0, 0)))
            groups.append(EventGroup(tuple(events), array))
        sections[key] = tuple(groups)
    # perf/manager_libpfm.go NewManager: "there is no events in config file".
    if not sections["core"] and not sections["uncore"]:
        raise PerfConfigError(path, "", "there are no events (core.events and uncore.events are empty)")
    return PerfConfig(path=path, core=sections["core"], uncore=sections["uncore"])


def load_config(path: str) -> PerfConfig:
    """Read and parse ``path``; a missing or unreadable file is a :class:`PerfConfigError` too."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise PerfConfigError(path, "", f"cannot read: {e}") from None
    return parse_config(text, path)
