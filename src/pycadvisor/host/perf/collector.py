"""Perf counters of containers: :class:`PerfManager` checks the configuration against this host once, at
start, and gives each container a :class:`ContainerPerf` that holds its counters for the container's life
(cAdvisor perf/manager_libpfm.go, perf/collector_libpfm.go).

For each configured group and each online CPU, the leader is opened in the container's cgroup
(``PERF_FLAG_PID_CGROUP``) and the other events join it; a sample reads each leader once (``PERF_FORMAT_GROUP``)
and gives ``perf_stats`` entries (info/v1 ``PerfStat``), ordered by group, then CPU, then event.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Mapping

from pycadvisor.host.paths import HostPaths
from pycadvisor.host.perf.config import EventGroup, PerfConfig, PerfConfigError
from pycadvisor.host.perf.events import TYPE_HARDWARE, TYPE_HW_CACHE
from pycadvisor.host.perf.syscall import FLAG_PID_CGROUP, PerfOpener, enable, make_attr, parse_group_read, read_size
from pycadvisor.host.topology import read_online_cpus
from pycadvisor.model.container import PerfStat

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


class _Group:
    """One configured group on every CPU: the leaders' descriptors (read) and all descriptors (closed)."""

    __slots__ = ("fds", "leaders", "names", "size")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.size = read_size(len(names))
        self.leaders: list[tuple[int, int]] = []  # (cpu, leader fd)
        self.fds: list[int] = []


class ContainerPerf:
    """The counters of one container, opened when its perf_event directory is there, closed with it."""

    def __init__(self, manager: PerfManager, name: str) -> None:
        self._m = manager
        self.name = name
        self._groups: list[_Group] | None = None

    @property
    def open_fds(self) -> int:
        return sum(len(g.fds) for g in self._groups or ())

    def update(self, dirs: Mapping[str, str], now_ns: int) -> list[Member]:
        if self._groups is None:
            path = perf_cgroup_dir(dirs)
            if path is None or not os.path.isdir(path):
                return []  # no perf_event directory (yet): nothing counted, nothing reported
            self._groups = self._m.open_groups(path)
        stats: list[PerfStat] = []
        errors = []
        for g in self._groups:
            for cpu, fd in g.leaders:
                try:
                    values = parse_group_read(os.read(fd, g.size), g.names)
                except (OSError, ValueError) as e:  # cAdvisor logs and skips that CPU's group
                    errors.append(f"{g.names[0]} on CPU {cpu}: {e}")
                    continue
                for name, value, ratio in values:
                    stats.append(PerfStat(scaling_ratio=ratio, value=value, name=name, cpu=cpu))
        if errors and not stats:
            raise OSError("; ".join(errors))
        return [("perf_stats", stats)]

    def close(self) -> None:
        for g in self._groups or ():
            for fd in g.fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._groups = None


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
        self._opener = opener or PerfOpener()
        self.cpus = cpus if cpus is not None else _online_cpus(paths)

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

    def attach(self, name: str) -> ContainerPerf | None:
        return ContainerPerf(self, name) if self.config.core else None

    def open_groups(self, cgroup_dir: str) -> list[_Group]:
        """Every configured group on every CPU in the cgroup at ``cgroup_dir``; all or none."""
        cg = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        groups: list[_Group] = []
        try:
            for spec in self.config.core:
                groups.append(self._open_group(spec, cg))
        except BaseException:
            for g in groups:
                _close_all(g.fds)
            raise
        finally:
            os.close(cg)
        return groups

    def _open_group(self, spec: EventGroup, cgroup_fd: int) -> _Group:
        g = _Group(tuple(ev.name for ev in spec.events))
        opened: Callable[[int], None] = g.fds.append
        try:
            for cpu in self.cpus:
                leader = -1
                for ev in spec.events:
                    assert ev.type is not None
                    is_leader = leader == -1
                    attr = make_attr(ev.type, ev.config, leader=is_leader)
                    pid, flags = (cgroup_fd, FLAG_PID_CGROUP) if is_leader else (-1, 0)
                    try:
                        fd = self._opener.open(attr, pid, cpu, leader, flags)
                    except OSError as e:
                        raise OSError(e.errno, f'perf event "{ev.name}" on CPU {cpu}: {e.strerror}') from None
                    opened(fd)
                    if is_leader:
                        leader = fd
                        g.leaders.append((cpu, fd))
                enable(leader)  # the group is complete: reset and start it
        except BaseException:
            _close_all(g.fds)
            raise
        return g


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    fds.clear()
