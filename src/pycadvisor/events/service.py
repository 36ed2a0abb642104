"""Container events for the manager: creation and deletion from discovery, OOM kills from the kernel.

Producers (cAdvisor ``manager/manager.go`` ``createContainerLocked``, ``destroyContainerLocked``, ``watchForNewOoms``):

- ``containerCreation``: :meth:`EventService.on_container_added`, stamped with the container's
  creation time (cAdvisor uses the spec's creation time), ``event_data`` ``{}``.
- ``containerDeletion``: :meth:`EventService.on_container_removed`, stamped now, with the runtime's
  exit code (-1 when there is none, as for raw cgroups).
- ``oom`` (the killed task's cgroup, ``{}``) and ``oomKill`` (the cgroup whose limit was hit, with
  ``pid``, ``process_name``, ``constraint``) for each OOM kill, from /dev/kmsg
  (:class:`~pycadvisor.events.kmsg.KmsgOomSource`) and from cgroup kill counters
  (:class:`~pycadvisor.events.oom.OomWatcher`), merged by :class:`~pycadvisor.events.oomjoin.OomJoin`
  so each kill is reported once with the best details. Each ``oom`` event also counts towards
  :meth:`EventStore.oom_kill_count` (``container_oom_events_total``). While kmsg is read, each OOM
  it reports makes the watcher check ``/proc/vmstat`` at once, and the watcher polls it only as a
  slow backstop (``vmstat_backstop_interval``) instead of every ``vmstat_interval``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from pycadvisor.events.kmsg import KmsgOomSource, OomInstance
from pycadvisor.events.oom import VMSTAT_BACKSTOP_INTERVAL, OomWatcher
from pycadvisor.events.oomjoin import DEFAULT_GRACE_NS, OomJoin
from pycadvisor.events.store import EventStore
from pycadvisor.host.paths import HostPaths
from pycadvisor.model.events import (
    ContainerDeletionEventData,
    Event,
    EventData,
    EventType,
    OomKillEventData,
)

log = logging.getLogger(__name__)


class EventService:
    """Feeds ``store`` with container lifecycle and OOM events."""

    def __init__(
        self,
        store: EventStore,
        paths: HostPaths,
        clock: Callable[[], int] = time.time_ns,
        *,
        kmsg: bool = True,
        oom_counters: bool = True,
        grace_ns: int = DEFAULT_GRACE_NS,
        vmstat_interval: float = 1.0,
        vmstat_backstop_interval: float = VMSTAT_BACKSTOP_INTERVAL,
    ) -> None:
        """``kmsg`` / ``oom_counters`` switch the two OOM sources (both on by default)."""
        self.store = store
        self._clock = clock
        self._join = OomJoin(self._emit_oom, grace_ns=grace_ns)
        self._kmsg = KmsgOomSource(paths, self._on_kmsg_oom, on_stop=self._on_kmsg_stopped) if kmsg else None
        self._watcher = (
            OomWatcher(
                paths,
                self._on_counted_oom,
                clock,
                vmstat_interval=vmstat_interval,
                vmstat_backstop_interval=vmstat_backstop_interval,
            )
            if oom_counters
            else None
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flush_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start the OOM sources on ``loop`` (default: the running loop)."""
        self._loop = loop or asyncio.get_running_loop()
        if self._kmsg is not None:
            self._join.kmsg_active = self._kmsg.start(self._loop)
        if self._watcher is not None:
            self._watcher.follow_kmsg(self._kmsg_alive if self._join.kmsg_active else None)
            self._watcher.start(self._loop)

    async def stop(self) -> None:
        """Stop the OOM sources; kills still waiting for their kmsg twin are reported now."""
        if self._kmsg is not None:
            self._kmsg.stop()
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher.follow_kmsg(None)
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        self._join.kmsg_active = False
        self._join.flush(2**63)
        self._loop = None

    @property
    def kmsg_active(self) -> bool:
        """True while OOM kills are read from /dev/kmsg."""
        return self._kmsg is not None and self._kmsg.active

    def _kmsg_alive(self) -> bool:
        return self.kmsg_active

    def oom_watch_count(self) -> int:
        """Containers whose OOM kill counters are watched."""
        return self._watcher.watch_count() if self._watcher is not None else 0

    # ------------------------------------------------------------ discovery hooks

    def on_container_added(self, name: str, creation_ns: int | None, memory_cgroup_dir: str | None) -> None:
        """A container is tracked (also at start-up): a ``containerCreation`` event and OOM counting."""
        ts = creation_ns if creation_ns else self._clock()
        self.store.add(Event(container_name=name, timestamp=ts, event_type=EventType.CONTAINER_CREATION))
        if self._watcher is not None and memory_cgroup_dir:
            self._watcher.watch(name, memory_cgroup_dir)

    def on_memory_cgroup(self, name: str, memory_cgroup_dir: str | None) -> None:
        """The container's memory directory appeared after it was added (runtimes make a container's
        hierarchies one after another), or went away before the container: count its OOM kills there."""
        if self._watcher is None:
            return
        if memory_cgroup_dir:
            self._watcher.watch(name, memory_cgroup_dir)
        else:
            self._watcher.unwatch(name)

    def on_container_removed(self, name: str, exit_code: int | None) -> None:
        """A tracked container is gone: a ``containerDeletion`` event (exit code -1 when unknown)."""
        if self._watcher is not None:
            self._watcher.check(name)  # a kill just before the removal, if the cgroup is still readable
            self._watcher.unwatch(name)
        data = EventData(
            container_deletion=ContainerDeletionEventData(exit_code=-1 if exit_code is None else exit_code)
        )
        self.store.add(
            Event(
                container_name=name, timestamp=self._clock(), event_type=EventType.CONTAINER_DELETION, event_data=data
            )
        )

    # ------------------------------------------------------------ OOM plumbing

    def _on_kmsg_oom(self, inst: OomInstance) -> None:
        self._join.from_kmsg(inst, self._clock())
        if self._watcher is not None:
            self._watcher.kmsg_oom()  # the counter side of a global OOM on v1, without waiting for a poll

    def _on_kmsg_stopped(self) -> None:
        """kmsg stopped on a read error: no kmsg twin will come, and /proc/vmstat is polled at its
        interval again from now on, not after the backstop interval."""
        self._join.kmsg_active = False
        if self._watcher is not None:
            self._watcher.follow_kmsg(None)

    def _on_counted_oom(self, inst: OomInstance) -> None:
        self._join.from_counter(inst, self._clock())
        self._arm_flush()

    def _arm_flush(self) -> None:
        deadline = self._join.next_deadline()
        if deadline is None or self._loop is None or self._flush_timer is not None:
            return
        delay = max(0.0, (deadline - self._clock()) / 1e9)
        self._flush_timer = self._loop.call_later(delay, self._on_flush)

    def _on_flush(self) -> None:
        self._flush_timer = None
        self._join.flush(self._clock())
        self._arm_flush()

    def _emit_oom(self, inst: OomInstance) -> None:
        # cAdvisor cmd/internal/api/oom.go: "oom" for the task's cgroup, "oomKill" for the limit's.
        self.store.add(Event(container_name=inst.container_name, timestamp=inst.time_ns, event_type=EventType.OOM))
        data = EventData(oom=OomKillEventData(pid=inst.pid, process_name=inst.process_name, constraint=inst.constraint))
        self.store.add(
            Event(
                container_name=inst.victim_container_name,
                timestamp=inst.time_ns,
                event_type=EventType.OOM_KILL,
                event_data=data,
            )
        )
        log.info(
            "OOM kill: pid %d (%s) in %s, limit of %s",
            inst.pid,
            inst.process_name or "?",
            inst.container_name,
            inst.victim_container_name,
        )
