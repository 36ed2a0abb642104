"""The state every role of the manager shares, built once in :class:`ManagerState` (cAdvisor ``manager/manager.go``
``manager`` struct), and what the manager knows of its neighbours: the sinks it reports to and the options it runs with.

The roles (:mod:`.discovery`, :mod:`.scheduler`, :mod:`.queries`) are mixins over this state, composed into
:class:`pycadvisor.manager.manager.Manager`: one object on one asyncio loop, no lock, and no extra hop on the
sampling path (a mixin's method is the object's own).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pycadvisor.clock import Clock, RealClock
from pycadvisor.container.base import Factory
from pycadvisor.container.fsusage import FsUsage as LayerUsage
from pycadvisor.container.hints import HintsFile
from pycadvisor.container.layerfs import LayerFilesystems
from pycadvisor.host.cgroups.collector import CollectOptions, new_codec
from pycadvisor.host.cgroups.detect import CgroupMounts
from pycadvisor.host.cgroups.fdread import FdReader, default_reader
from pycadvisor.host.cgroups.files import FdBudget
from pycadvisor.host.cgroups.load import TaskstatsClient
from pycadvisor.host.command import Runner, subprocess_runner
from pycadvisor.host.fs import RootFsReader
from pycadvisor.host.paths import HostPaths
from pycadvisor.host.zfs import ZfsMountStats
from pycadvisor.manager.container import ContainerState
from pycadvisor.model.container import ContainerReference, ContainerSpec, ContainerStats, MetricSpec, MetricVal
from pycadvisor.model.container import FsStats as ContainerFsStats
from pycadvisor.model.machine import MachineInfo
from pycadvisor.watcher.inotify import CgroupWatcher

log = logging.getLogger("pycadvisor.manager.manager")

S = 1_000_000_000
_ERROR_LOG_EVERY_NS = 60 * S  # cAdvisor logs a container's housekeeping errors at most once a minute
# Housekeeping granularity: samples run at most a tick after they are due; a quarter of the
# housekeeping interval, within these bounds.
_TICK_MIN_NS, _TICK_MAX_NS = 10_000_000, 250_000_000


class EventSink(Protocol):
    def on_container_added(self, name: str, creation_ns: int, memory_cgroup_dir: str | None) -> None: ...

    def on_container_removed(self, name: str, exit_code: int | None) -> None: ...

    def on_memory_cgroup(self, name: str, memory_cgroup_dir: str | None) -> None:
        """The container's memory controller directory appeared (or went away: ``None``) after it was added."""
        ...


class StatsSink(Protocol):
    def add_stats(self, ref: ContainerReference, spec: ContainerSpec, stats: ContainerStats) -> None: ...


class FsUsage(Protocol):
    """Filesystem usage of runtime containers' writable layers, measured off the housekeeping path."""

    def track(self, name: str, dirs: list[str]) -> None: ...

    def untrack(self, name: str) -> None: ...

    def usage(self, name: str) -> tuple[int, int] | None: ...

    def fs_usage(self, name: str) -> LayerUsage | None:
        """``(bytes, inodes, base_bytes, device)`` where ``base_bytes`` leaves out logs and ``device`` is the
        layer's ``st_dev`` (:class:`pycadvisor.container.fsusage.FsUsage`); ``None`` until measured."""
        ...


class ContainerAddon(Protocol):
    """Stats of one container gathered beside its cgroup files (perf counters, a resctrl monitoring group):
    cAdvisor's ``stats.Collector`` (lib/stats/types.go), held from the container's addition to its removal."""

    def update(self, dirs: Mapping[str, str], now_ns: int) -> list[tuple[str, object]]:
        """``(ContainerStats member, value)`` pairs of this sample, from the container's controller
        directories; raising fails only this family's part of the sample."""
        ...

    def reopen(self) -> None:
        """The container's cgroup was removed and made again under the same name while it was followed."""
        ...

    def close(self) -> None:
        """Give back what it holds (descriptors, a monitoring group); the container is gone."""
        ...


class StatsAddon(Protocol):
    """Makes each container's :class:`ContainerAddon` (cAdvisor's ``stats.Manager``, ``GetCollector``)."""

    family: str  # the metric set it fills, named in the logged errors

    def attach(self, name: str) -> ContainerAddon | None: ...


class AppMetricsSource(Protocol):
    """Application metrics of containers that declare them (``io.cadvisor.metric.*`` labels), polled off the
    housekeeping path (:class:`pycadvisor.appmetrics.poller.AppMetricsPoller`)."""

    def watch(self, name: str, labels: dict[str, str], pid: int | None) -> None: ...

    def unwatch(self, name: str) -> None: ...

    def latest(self, name: str) -> tuple[list[MetricSpec], dict[str, list[MetricVal]]] | None:
        """The specs and latest values of ``name``'s endpoints; None when it declares none."""
        ...


@dataclass(frozen=True, slots=True)
class ManagerOptions:
    housekeeping_interval_ns: int = 1 * S
    max_housekeeping_interval_ns: int = 60 * S
    allow_dynamic_housekeeping: bool = True
    jitter_factor: float = 1.0
    initial_splay_factor: float = 1.0
    global_housekeeping_interval_ns: int = 60 * S
    update_machine_info_interval_ns: int = 300 * S
    storage_duration_ns: int = 120 * S
    metric_sets: frozenset[str] = frozenset({"cpu", "memory", "diskIO", "disk", "network", "percpu", "pressure"})
    referenced_reset_interval: int = 0  # samples between clear_refs writes (referenced_memory set; 0 = never)
    enable_load_reader: bool = False  # task states and load averages from taskstats netlink (cgroup v1)
    raw_cgroup_prefix_whitelist: tuple[str, ...] = ()
    docker_only: bool = False
    disable_root_cgroup_stats: bool = False
    machine_id_files: tuple[str, ...] = ("/etc/machine-id", "/var/lib/dbus/machine-id")
    boot_id_file: str = "/proc/sys/kernel/random/boot_id"
    runtime_timeout_s: float = 2.0
    fd_limit: int = 0  # descriptors the collectors may hold; 0 = 80 % of RLIMIT_NOFILE
    container_hints: str = ""  # -container_hints: the file of raw cgroups' veth and mounts ("": none)
    zfs_interval_ns: int = 15 * S  # zfs mounts measured with `zfs list` this often (cAdvisor's zfs watcher period)


@dataclass(slots=True)
class _Counters:
    samples: int = 0
    scrape_errors: int = 0
    created: int = 0
    removed: int = 0
    durations_ns: list[int] = field(default_factory=list)


class ManagerState:
    """Everything the manager holds; the roles read and write it, on the loop only."""

    def __init__(
        self,
        opts: ManagerOptions,
        paths: HostPaths,
        *,
        clock: Clock | None = None,
        factories: Sequence[Factory] = (),
        events: EventSink | None = None,
        sinks: Sequence[StatsSink] = (),
        fs_usage: FsUsage | None = None,
        mounts: CgroupMounts | None = None,
        machine_reader: Callable[[], MachineInfo] | None = None,
        reader: FdReader | None = None,
        runner: Runner | None = None,
        addons: Sequence[StatsAddon] = (),
        appmetrics: AppMetricsSource | None = None,
    ) -> None:
        self.opts = opts
        self._reader = reader or default_reader()  # how collectors read their held descriptors
        self.paths = paths
        self.clock: Clock = clock or RealClock()
        self.factories = list(factories)
        self.events = events
        self.sinks = list(sinks)
        self.fs_usage = fs_usage
        self.addons = list(addons)
        self.appmetrics = appmetrics
        self.mounts = mounts
        self._machine_reader = machine_reader
        self._machine: MachineInfo | None = None
        self.containers: dict[str, ContainerState] = {}
        self._kids: dict[str, set[str]] = {}  # parent name -> direct children's names
        self._sync_pending: set[str] = set()  # containers whose controller directories changed (Discovery._sync_soon)
        self.counters = _Counters()
        self._watcher: CgroupWatcher | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._periodic: dict[str, asyncio.TimerHandle] = {}
        self._due: list[tuple[int, int, ContainerState]] = []  # (due monotonic ns, seq, state): a heap
        self._seq = 0
        self._tick_handle: asyncio.TimerHandle | None = None
        self._tick_at = 0  # monotonic ns the pending tick runs at
        self._ticking = False
        self._tick_ns = min(_TICK_MAX_NS, max(_TICK_MIN_NS, opts.housekeeping_interval_ns // 4))
        self._boot_ns = 0
        self._budget = FdBudget(limit=0)
        self._collect_opts: CollectOptions | None = None
        self._device_names: dict[tuple[int, int], str] = {}
        self._rescan_pending = False
        self._runtime_down: dict[str, bool] = {}
        self._retrying: set[str] = set()  # runtimes whose containers a retry task is naming (_retry_runtime)
        self._running = False
        self._codec = new_codec()
        self._load_reader: TaskstatsClient | None = None
        self._root_fs: RootFsReader | None = None  # held mountinfo, parsed again only after a mount change
        # The global filesystems as last measured, for the writable layers on them (statvfs once per
        # root sample; again only when the root's reading is older than two intervals).
        self._layer_fs = LayerFilesystems(max_age_ns=2 * opts.housekeeping_interval_ns)
        self._disk_set = "disk" in opts.metric_sets
        self._net_set = "network" in opts.metric_sets
        self._runner = runner or subprocess_runner()  # the storage tools (zfs), a parameter for tests
        self._zfs: ZfsMountStats | None = None  # zfs mounts as `zfs list` measures them, when /dev/zfs exists
        self._hints = HintsFile(opts.container_hints) if opts.container_hints else None

    if TYPE_CHECKING:  # the roles call each other through the composed object (Manager)

        def _schedule(self, st: ContainerState, *, first: bool = False) -> None: ...

        def collect(self, st: ContainerState) -> bool | None: ...

        def _sync_controllers(
            self, st: ContainerState, *, reopen: bool = False, present: dict[str, str] | None = None
        ) -> bool: ...

        def _refresh_spec(self, st: ContainerState) -> None: ...

        def _remove(self, name: str) -> None: ...

    def _every(self, interval_ns: int, fn: Callable[[], None]) -> None:
        assert self._loop is not None
        if interval_ns <= 0:
            return

        loop = self._loop
        key = getattr(fn, "__name__", repr(fn))

        def tick() -> None:
            if not self._running:
                return
            try:
                fn()
            except Exception:
                log.exception("periodic task %s failed", key)
            self._periodic[key] = loop.call_later(interval_ns / S, tick)

        self._periodic[key] = loop.call_later(interval_ns / S, tick)

    def runtime_filesystems(self) -> list[ContainerFsStats]:
        """Filesystems a runtime knows that the mount table does not show (Docker's devicemapper thin pool), as
        last measured; a factory without any has no ``storage_filesystems``."""
        out: list[ContainerFsStats] = []
        for f in self.factories:
            get = getattr(f, "storage_filesystems", None)
            if get is None:
                continue
            try:
                out.extend(get())
            except Exception:
                log.exception("storage filesystems of %s failed", f.name)
        return out

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _log_error(self, st: ContainerState, family: str, err: BaseException, now: int) -> None:
        last = st.last_error_log_ns.get(family, 0)
        if now - last >= _ERROR_LOG_EVERY_NS or last == 0:
            st.last_error_log_ns[family] = now
            log.warning("container %s: %s stats failed: %s", st.name, family, err)
