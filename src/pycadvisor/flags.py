"""Go ``flag`` package syntax over dataclasses: ``-name=value``, ``--name value``, ``-bool``, ``-bool=false``.

Each dataclass field is one flag (metadata: ``help``, optional ``flag`` name, ``kind="duration"``).
Errors read as Go's do (``flag provided but not defined: -x``, ``invalid value "x" for flag -port: ...``)
and the CLI exits 2 on them, like a Go binary built with ``flag.ExitOnError``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pycadvisor.durations import format_go_duration, parse_go_duration

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


class FlagError(Exception):
    """A command-line error; the message names the flag."""


class HelpRequested(Exception):
    """``-h``/``-help`` was given."""


@dataclass(frozen=True, slots=True)
class FlagDef:
    name: str
    owner: type
    attr: str
    type: str  # "bool" | "int" | "float" | "str" | "duration"
    default: Any
    help: str


def parse_go_bool(text: str) -> bool:
    """Go ``strconv.ParseBool``."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"parse error: {text!r} is not a boolean")


def flag_defs(*owners: type) -> dict[str, FlagDef]:
    out: dict[str, FlagDef] = {}
    for owner in owners:
        for f in dataclasses.fields(owner):
            meta = f.metadata
            name = meta.get("flag") or f.name
            kind = meta.get("kind")
            if kind == "duration":
                typ = "duration"
            else:
                typ = {bool: "bool", int: "int", float: "float", str: "str"}.get(
                    f.type if isinstance(f.type, type) else type(f.default), "str"
                )
                if isinstance(f.type, str):
                    typ = {"bool": "bool", "int": "int", "float": "float", "str": "str"}.get(f.type, typ)
            default = f.default if f.default is not dataclasses.MISSING else None
            out[name] = FlagDef(name, owner, f.name, typ, default, meta.get("help", ""))
    return out


def _convert(d: FlagDef, raw: str) -> Any:
    try:
        if d.type == "bool":
            return parse_go_bool(raw)
        if d.type == "int":
            return int(raw, 0) if raw.lower().startswith(("0x", "0o", "0b")) else int(raw)
        if d.type == "float":
            return float(raw)
        if d.type == "duration":
            return parse_go_duration(raw)
        return raw
    except ValueError as e:
        raise FlagError(f'invalid value "{raw}" for flag -{d.name}: {e}') from None


def parse_args(argv: list[str], *owners: type) -> tuple[dict[type, Any], list[str]]:
    """Parse ``argv`` into one instance per owner dataclass; returns them and the positional rest."""
    defs = flag_defs(*owners)
    values: dict[type, dict[str, Any]] = {o: {} for o in owners}
    i = 0
    rest: list[str] = []
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest = argv[i + 1 :]
            break
        if not arg.startswith("-") or arg == "-":
            rest = argv[i:]
            break
        body = arg[2:] if arg.startswith("--") else arg[1:]
        if not body or body.startswith("-") or body.startswith("="):
            raise FlagError(f"bad flag syntax: {arg}")
        name, has_value, raw = body.partition("=")
        if name in ("h", "help"):
            raise HelpRequested
        d = defs.get(name)
        if d is None:
            raise FlagError(f"flag provided but not defined: -{name}")
        if not has_value:
            if d.type == "bool":
                raw = "true"
            else:
                if i + 1 >= len(argv):
                    raise FlagError(f"flag needs an argument: -{name}")
                i += 1
                raw = argv[i]
        values[d.owner][d.attr] = _convert(d, raw)
        i += 1
    return {o: o(**values[o]) for o in owners}, rest


def usage(*owners: type) -> str:
    lines = ["Usage of pycadvisor:"]
    for name, d in sorted(flag_defs(*owners).items()):
        kind = {"bool": "", "duration": " duration", "int": " int", "float": " float", "str": " string"}[d.type]
        lines.append(f"  -{name}{kind}")
        default = d.default
        if d.type == "duration" and isinstance(default, int):
            default = format_go_duration(default)
        shown = "" if default in ("", None, False, 0) and d.type != "duration" else f" (default {default!r})"
        lines.append(f"    \t{d.help}{shown}")
    return "\n".join(lines) + "\n"
