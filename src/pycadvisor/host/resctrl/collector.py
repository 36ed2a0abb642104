"""Resctrl monitoring of containers: :class:`ResctrlManager` knows the tree and its features, and gives each
container a :class:`ContainerResctrl` that makes its monitoring group, writes its tasks in, reads the group's
``mon_data`` every sample and removes the group with the container (cAdvisor resctrl/intel/manager.go,
collector.go).

Differences from cAdvisor, on purpose: a container with no task yet (its runtime made the cgroup and has not
moved the process in) is tried again at its next sample instead of being given up; with ``-resctrl_interval``,
tasks that joined the container since are written into its group at each check (cAdvisor fails the check, as
the group no longer holds exactly the container's tasks); the groups are also removed when pycadvisor stops,
so their RMIDs are not held after it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pycadvisor.host.paths import HostPaths, read_text
from pycadvisor.host.resctrl.tree import (
    MON_GROUP_PREFIX,
    assign_tasks,
    find_control_group,
    find_mon_group,
    mon_group_name,
    read_mon_data,
    read_tasks,
    remove_group,
    threads_of,
)

Member = tuple[str, object]


def container_pids(dirs: Mapping[str, str]) -> list[int]:
    """The processes in the container's own cgroup (cAdvisor lists them with ``ListSelf``)."""
    d = dirs.get("cpu") or dirs.get("unified") or next(iter(dirs.values()), None)
    if d is None:
        return []
    try:
        return [int(x) for x in read_text(os.path.join(d, "cgroup.procs")).split()]
    except FileNotFoundError:
        return []


class ContainerResctrl:
    """One container's monitoring group: made when the container has tasks, read every sample."""

    def __init__(self, manager: ResctrlManager, name: str) -> None:
        self._m = manager
        self.name = name
        self.group: str | None = None  # the group read; the root group for "/"
        self._made = False  # whether we made it (and so remove it)
        self._next_check_ns = 0
        self._gave_up = False
        self._force = False  # check the group at the next sample even without an interval

    def update(self, dirs: Mapping[str, str], now_ns: int) -> list[Member]:
        m = self._m
        if self.name == "/":
            return [("resctrl", read_mon_data(m.root, m.features))]
        if self.group is None:
            if self._gave_up or now_ns < self._next_check_ns:
                return []
            pids = container_pids(dirs)
            if not pids:
                return []  # no task yet: asked again at the next sample
            try:
                self._prepare(pids)
            except Exception:
                # resctrl/intel/collector.go setup: without an interval a failed set-up is final.
                self._gave_up = m.interval_ns == 0
                self._next_check_ns = now_ns + m.interval_ns
                raise
            self._next_check_ns = now_ns + m.interval_ns
        elif (m.interval_ns or self._force) and now_ns >= self._next_check_ns:
            self._force = False
            self._next_check_ns = now_ns + m.interval_ns
            pids = container_pids(dirs)
            if pids:
                self._prepare(pids)
        assert self.group is not None
        return [("resctrl", read_mon_data(self.group, m.features))]

    def reopen(self) -> None:
        """The cgroup was made again under the same name: its new tasks go into the group at the next sample
        (also without ``-resctrl_interval``, and after a set-up that had failed)."""
        self._gave_up = False
        self._next_check_ns = 0
        if self.group is not None and self._m.interval_ns == 0:
            self._force = True

    def _prepare(self, pids: list[int]) -> None:
        """Find or make the group holding ``pids`` (resctrl/intel/utils.go prepareMonitoringGroup)."""
        m = self._m
        control = find_control_group(m.root, pids)
        if control is None:
            raise OSError(f"no resctrl control group under {m.root} holds every task of {self.name}")
        existing = find_mon_group(control, pids)
        if existing is not None and not os.path.basename(existing).startswith(MON_GROUP_PREFIX):
            self._switch(existing, made=False)  # someone else's group: read, never removed
            return
        target = os.path.join(control, "mon_groups", mon_group_name(self.name))
        if existing == target:
            self._switch(target, made=True)
            return
        os.makedirs(target, exist_ok=True)
        try:
            have = read_tasks(target) if os.path.exists(os.path.join(target, "tasks")) else set()
            assign_tasks(target, [t for t in threads_of(m.paths, pids) if t not in have])
        except BaseException:
            if self.group != target:
                remove_group(target)
            raise
        self._switch(target, made=True)

    def _switch(self, group: str, *, made: bool) -> None:
        if self.group is not None and self.group != group:
            self.close()  # the container moved to another control group: its old group goes
        self.group, self._made = group, made

    def close(self) -> None:
        group, made = self.group, self._made
        self.group, self._made = None, False
        if group is not None and made and self.name != "/":
            remove_group(group)


class ResctrlManager:
    """The resctrl tree at ``root`` with its monitoring ``features``; one :class:`ContainerResctrl` each."""

    family = "resctrl"

    def __init__(self, root: str, paths: HostPaths, *, features: frozenset[str], interval_ns: int = 0) -> None:
        self.root = root
        self.paths = paths
        self.features = features
        self.interval_ns = interval_ns

    def attach(self, name: str) -> ContainerResctrl:
        return ContainerResctrl(self, name)
