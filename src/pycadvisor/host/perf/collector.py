"""Perf counters of containers: :class:`PerfManager` checks the configuration against this host once, at
start, and gives each container a :class:`ContainerPerf` that holds its counters for the container's life
(cAdvisor perf/manager_libpfm.go, perf/collector_libpfm.go).

For each configured group and each online CPU, the leader is opened in the container's cgroup
(``PERF_FLAG_PID_CGROUP``) and the other events join it; a sample reads each leader once (``PERF_FORMAT_GROUP``)
and gives ``perf_stats`` entries (info/v1 ``PerfStat``), ordered by group, then CPU, then event. The root
container also holds the ``uncore`` groups, machine-wide on each PMU's CPUs (:mod:`.uncore`), read into
``perf_uncore_stats`` (``PerfUncoreStat``, with the CPU's socket).
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Mapping

from pycadvisor.host.paths import HostPaths, read_text
from pycadvisor.host.perf.config import PerfConfig, PerfConfigError
from pycadvisor.host.perf.events import TYPE_HARDWARE, TYPE_HW_CACHE
from pycadvisor.host.perf.syscall import FLAG_PID_CGROUP, PerfOpener, enable, make_attr, parse_group_read, read_size
from pycadvisor.host.perf.uncore import UncoreError, UncoreEvent, read_pmus, resolve_group
from pycadvisor.host.topology import read_online_cpus
from pycadvisor.model.container import PerfStat, PerfUncoreStat

log = logging.getLogger("pycadvisor.host.perf")

Member = tuple[str, object]  # (ContainerStats member, value)


def perf_cgroup_dir(dirs: Mapping[str, str]) -> str | None:
    """The container's perf_event directory: the v1 hierarchy's, else the unified one (cgroup v2, or a hybrid
    host whose perf_event controller is bound to no v1 hierarchy: it is then implicitly on the default
    hierarchy, kernel/cgroup/cgroup.c ``cgroup_subsys_on_dfl`` and Documentation/admin-guide/cgroup-v2.rst
    "perf_event")."""
    return dirs.get("perf_event") or dirs.get("unified")


def _online_cpus(paths: HostPaths) -> list[int]:
    online = read_online_cpus(paths)
    return sorted(online) if online is not None else list(range(os.cpu_count() or 1))


# One event of a group to open: (name, perf_event_attr type, (config, config1, config2)).
_Event = tuple[str, int, tuple[int, int, int]]


class _Group:
    """One configured group on every CPU: the leaders' descriptors (read) and all descriptors (closed);
    ``pmu``: the uncore PMU it counts on ("" for a core group)."""

    __slots__ = ("fds", "leaders", "names", "pmu", "size")

    def __init__(self, names: tuple[str, ...], pmu: str = "") -> None:
        self.names = names
        self.pmu = pmu
        self.size = read_size(len(names))
        self.leaders: list[tuple[int, int]] = []  # (cpu, leader fd)
        self.fds: list[int] = []


class ContainerPerf:
    """The counters of one container, opened when its perf_event directory is there, closed with it."""

    def __init__(self, manager: PerfManager, name: str) -> None:
        self._m = manager
        self.name = name
        self._groups: list[_Group] | None = None
        # Uncore events count machine-wide, for the root container only (perf/uncore_libpfm.go).
        self._uncore: list[_Group] | None = None if name == "/" and manager.uncore_groups() else []
        self._uncore_logged_ns = -(60 * 10**9)

    @property
    def open_fds(self) -> int:
        return sum(len(g.fds) for g in (*(self._groups or ()), *(self._uncore or ())))

    def update(self, dirs: Mapping[str, str], now_ns: int) -> list[Member]:
        out: list[Member] = []
        if self._uncore is None:
            try:
                self._uncore = self._m.open_uncore()
            except OSError as e:  # perf/uncore_libpfm.go NewUncoreCollector: logged once, core events go on
                log.warning("perf uncore events will not be counted: %s", e)
                self._uncore = []
        if self._uncore:
            sockets = self._m.sockets
            try:
                out.append(("perf_uncore_stats", [
                    PerfUncoreStat(scaling_ratio=ratio, value=value, name=name, socket=sockets.get(cpu, -1), pmu=g.pmu)
                    for g, cpu, values in _read_all(self._uncore) for name, value, ratio in values
                ]))  # fmt: skip
            except OSError as e:  # cAdvisor logs a failed uncore read and goes on with the core events
                if now_ns - self._uncore_logged_ns >= 60 * 10**9:
                    self._uncore_logged_ns = now_ns
                    log.warning("perf uncore events unreadable: %s", e)
        if not self._m.config.core:
            return out
        if self._groups is None:
            path = perf_cgroup_dir(dirs)
            if path is None or not os.path.isdir(path):
                return out  # no perf_event directory (yet): nothing counted, nothing reported
            self._groups = self._m.open_groups(path)
        stats = [
            PerfStat(scaling_ratio=ratio, value=value, name=name, cpu=cpu)
            for _, cpu, values in _read_all(self._groups)
            for name, value, ratio in values
        ]
        out.append(("perf_stats", stats))
        return out

    def reopen(self) -> None:
        """The cgroup was removed and made again under the same name (a restarted systemd unit): the
        counters follow the old, dead cgroup and would stay still; the next sample counts in the new one."""
        for g in self._groups or ():
            _close_all(g.fds)
        self._groups = None

    def close(self) -> None:
        for g in (*(self._groups or ()), *(self._uncore or ())):
            _close_all(g.fds)
        self._groups = None
        self._uncore = []


def _read_all(groups: list[_Group]) -> list[tuple[_Group, int, list[tuple[str, int, float]]]]:
    """Each group's leader on each CPU, read once; a CPU whose read fails is left out, as cAdvisor logs and
    skips it, unless every read failed."""
    out = []
    errors = []
    for g in groups:
        for cpu, fd in g.leaders:
            try:
                out.append((g, cpu, parse_group_read(os.read(fd, g.size), g.names)))
            except (OSError, ValueError) as e:
                errors.append(f"{g.names[0]} on CPU {cpu}: {e}")
    if errors and not out:
        raise OSError("; ".join(errors))
    return out


class PerfManager:
    """The configured core events, checked on this host; one :class:`ContainerPerf` per container."""

    family = "perf_event"

    def __init__(
        self,
        config: PerfConfig,
        paths: HostPaths,
        *,
        opener: PerfOpener | None = None,
        cpus: list[int] | None = None,
    ) -> None:
        self.config = config
        self.paths = paths
        self._opener = opener or PerfOpener()
        self.cpus = cpus if cpus is not None else _online_cpus(paths)
        self._uncore: list[list[UncoreEvent]] | None = None
        self.sockets: dict[int, int] = {}  # cpu -> physical package, for the uncore stats' socket

    def uncore_groups(self) -> list[list[UncoreEvent]]:
        """Each configured uncore group on each PMU it counts on, resolved against this host's PMUs."""
        if self._uncore is None:
            pmus = read_pmus(self.paths) if self.config.uncore else {}
            groups = []
            for spec in self.config.uncore:
                try:
                    groups.extend(resolve_group(spec, pmus))
                except UncoreError as e:
                    raise PerfConfigError(self.config.path, spec.events[0].field, str(e)) from None
            self._uncore = groups
            self.sockets = _sockets(self.paths, {c for g in groups for u in g for c in u.pmu.cpus})
        return self._uncore

    def check(self) -> None:
        """Open every core event once on this process, so an event this host cannot count stops the start
        with its name (a VM without a PMU has no ``cycles``); cAdvisor would only log it per container."""
        for group in self.config.core:
            for ev in group.events:
                assert ev.type is not None
                try:
                    fd = self._opener.open(make_attr(ev.type, ev.config, leader=True, inherit=False), 0, -1, -1, 0)
                except OSError as e:
                    hint = ""
                    if e.errno == errno.ENOENT and ev.type in (TYPE_HARDWARE, TYPE_HW_CACHE):
                        hint = " (this CPU exposes no such hardware counter: a VM without a virtual PMU?)"
                    raise PerfConfigError(
                        self.config.path,
                        ev.field,
                        f'event "{ev.name}" (type {ev.type}, config {ev.config[0]:#x}) cannot be counted on '
                        f"this host: {e.strerror or e}{hint}",
                    ) from None
                os.close(fd)
        # Uncore: every event has a PMU here and an encoding; opening them machine-wide is done once, at the
        # root container's first sample, and fails only that family if refused.
        self.uncore_groups()

    def attach(self, name: str) -> ContainerPerf | None:
        return ContainerPerf(self, name) if self.config.core or (name == "/" and self.config.uncore) else None

    def open_uncore(self) -> list[_Group]:
        """Every uncore group on every CPU of its PMU, machine-wide (``pid`` -1); all or none."""
        groups: list[_Group] = []
        try:
            for events in self.uncore_groups():
                pmu = events[0].pmu
                evs = [(u.name, pmu.type, u.config) for u in events]
                groups.append(self._open(evs, list(pmu.cpus), -1, 0, pmu.name))
        except BaseException:
            for g in groups:
                _close_all(g.fds)
            raise
        return groups

    def open_groups(self, cgroup_dir: str) -> list[_Group]:
        """Every configured group on every CPU in the cgroup at ``cgroup_dir``; all or none."""
        cg = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        groups: list[_Group] = []
        try:
            for spec in self.config.core:
                evs = [(ev.name, ev.type, ev.config) for ev in spec.events if ev.type is not None]
                groups.append(self._open(evs, self.cpus, cg, FLAG_PID_CGROUP))
        except BaseException:
            for g in groups:
                _close_all(g.fds)
            raise
        finally:
            os.close(cg)
        return groups

    def _open(self, events: list[_Event], cpus: list[int], pid: int, flags: int, pmu: str = "") -> _Group:
        """One group on each of ``cpus``: the leader with ``pid``/``flags`` (a cgroup's descriptor and
        ``PERF_FLAG_PID_CGROUP``, or -1 and 0 machine-wide), the others joining it."""
        g = _Group(tuple(name for name, _, _ in events), pmu)
        opened: Callable[[int], None] = g.fds.append
        try:
            for cpu in cpus:
                leader = -1
                for name, type_, config in events:
                    is_leader = leader == -1
                    attr = make_attr(type_, config, leader=is_leader)
                    try:
                        fd = self._opener.open(attr, pid if is_leader else -1, cpu, leader, flags if is_leader else 0)
                    except OSError as e:
                        raise OSError(e.errno, f'perf event "{name}" on CPU {cpu}: {e.strerror}') from None
                    opened(fd)
                    if is_leader:
                        leader = fd
                        g.leaders.append((cpu, fd))
                enable(leader)  # the group is complete: reset and start it
        except BaseException:
            _close_all(g.fds)
            raise
        return g


def _sockets(paths: HostPaths, cpus: set[int]) -> dict[int, int]:
    """cpu -> its physical package (``topology/physical_package_id``); unknown CPUs are left out (-1)."""
    out = {}
    for cpu in sorted(cpus):
        try:
            out[cpu] = int(read_text(f"{paths.sys}/devices/system/cpu/cpu{cpu}/topology/physical_package_id"))
        except (OSError, ValueError):
            continue
    return out


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    fds.clear()
