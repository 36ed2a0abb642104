"""Uncore PMUs (memory controllers, caching agents, ...) and their events, from sysfs
(Documentation/ABI/testing/sysfs-bus-event_source-devices-{events,format}).

cAdvisor (perf/uncore_libpfm.go) counts uncore events for the root container only, machine-wide (``pid`` -1)
on the CPUs of each PMU's ``cpumask``, on every PMU whose name starts with the event's prefix
(``uncore_imc/cas_count_read`` counts on ``uncore_imc_0``, ``uncore_imc_1``, ...) or, for a raw event with a
``type``, on the PMU of that type. Without libpfm4, a named event is encoded the way perf(1) does from the
PMU's own sysfs aliases: ``events/<name>`` holds terms (``event=0x04,umask=0x03``) and ``format/<term>``
where each goes in ``perf_event_attr`` (``config:0-7``), tools/perf/util/pmu.c.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pycadvisor.host.paths import HostPaths, read_text
from pycadvisor.host.perf.config import EventGroup, EventSpec
from pycadvisor.host.topology import parse_cpu_list

UNCORE_PREFIX = "uncore"  # perf/uncore_libpfm.go uncorePMUPrefix


@dataclass(frozen=True, slots=True)
class Pmu:
    name: str
    type: int
    cpus: tuple[int, ...]
    path: str


@dataclass(frozen=True, slots=True)
class UncoreEvent:
    """One configured event on one PMU: its ``perf_event_attr`` type and configs."""

    name: str
    pmu: Pmu
    config: tuple[int, int, int]


class UncoreError(ValueError):
    pass


def read_pmus(paths: HostPaths) -> dict[str, Pmu]:
    """Every uncore PMU (``/sys/bus/event_source/devices/uncore*``: ``type``, ``cpumask``), by name."""
    base = os.path.join(paths.sys, "bus", "event_source", "devices")
    try:
        names = sorted(n for n in os.listdir(base) if n.startswith(UNCORE_PREFIX))
    except FileNotFoundError:
        return {}
    out = {}
    for n in names:
        d = os.path.join(base, n)
        try:
            out[n] = Pmu(n, int(read_text(os.path.join(d, "type")).strip(), 0),
                         tuple(parse_cpu_list(read_text(os.path.join(d, "cpumask")))), d)  # fmt: skip
        except (OSError, ValueError) as e:
            raise UncoreError(f"PMU {n}: unreadable type or cpumask: {e}") from None
    return out


def parse_format(text: str) -> list[tuple[str, list[int]]]:
    """``config:0-7,21`` -> ``[("config", [0..7, 21])]``: the attr word and the bits a term fills."""
    word, _, bits = text.strip().partition(":")
    if word not in ("config", "config1", "config2") or not bits:
        raise ValueError(f"unsupported format {text.strip()!r}")
    return [(word, parse_cpu_list(bits))]


def encode_alias(pmu: Pmu, alias: str) -> tuple[int, int, int]:
    """The configs of ``events/<alias>`` of ``pmu``, each term placed by ``format/<term>``."""
    try:
        terms = read_text(os.path.join(pmu.path, "events", alias)).strip()
    except FileNotFoundError:
        raise UncoreError(f'PMU {pmu.name} has no event "{alias}" (events/ in sysfs)') from None
    words = {"config": 0, "config1": 0, "config2": 0}
    for term in filter(None, (t.strip() for t in terms.split(","))):
        key, _, val = term.partition("=")
        value = int(val, 0) if val else 1
        try:
            ((word, bits),) = parse_format(read_text(os.path.join(pmu.path, "format", key)))
        except (OSError, ValueError) as e:
            raise UncoreError(f'PMU {pmu.name} event "{alias}": term {key!r}: {e}') from None
        for i, bit in enumerate(bits):  # the value's bits, low first, into the listed positions
            if value >> i & 1:
                words[word] |= 1 << bit
    return words["config"], words["config1"], words["config2"]


def resolve_event(ev: EventSpec, pmus: dict[str, Pmu]) -> list[UncoreEvent]:
    """Where ``ev`` counts (perf/uncore_libpfm.go parsePMUs, obtainPMUs) and with what encoding."""
    if ev.type is not None:  # a raw event with a type: the PMU of that type only
        found = [p for p in pmus.values() if p.type == ev.type]
        if not found:
            raise UncoreError(f"there is no PMU with event type {ev.type:#x}")
        return [UncoreEvent(ev.name, found[0], ev.config)]
    if not ev.pmu_prefix:
        raise UncoreError(f'"{ev.name}" names no PMU: write it "<pmu prefix>/<event>" or give it a type')
    matched = [p for n, p in sorted(pmus.items()) if n.startswith(ev.pmu_prefix)]
    if not matched:
        raise UncoreError(f'the event "{ev.name}" has no PMU to count with on this host')
    alias = ev.name.partition("/")[2]
    raw = ev.config != (0, 0, 0)
    return [UncoreEvent(ev.name, p, ev.config if raw else encode_alias(p, alias)) for p in matched]


def resolve_group(group: EventGroup, pmus: dict[str, Pmu]) -> list[list[UncoreEvent]]:
    """The group's events per PMU (one counting group per PMU); a listed group must be on one set of PMUs
    (perf/uncore_libpfm.go checkGroup)."""
    per_event = [resolve_event(ev, pmus) for ev in group.events]
    names = [{u.pmu.name for u in evs} for evs in per_event]
    if group.array and any(n != names[0] for n in names):
        raise UncoreError(f"the events in group {[e.name for e in group.events]} have to be from the same PMUs")
    by_pmu: dict[str, list[UncoreEvent]] = {}
    for evs in per_event:
        for u in evs:
            by_pmu.setdefault(u.pmu.name, []).append(u)
    return [by_pmu[n] for n in sorted(by_pmu)]
