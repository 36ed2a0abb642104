"""Discovery, the container map, housekeeping and queries (cAdvisor ``manager/manager.go``, ``container.go``).

Everything runs on one asyncio loop with one scheduler: a heap of due times, drained by a tick at
most every quarter of the housekeeping interval (250 ms at the default 1 s). Each container keeps
cAdvisor's jittered interval, but the samples due within a tick are taken together, in one wake-up
with warm caches: one wake-up per sample cost about three times the sample itself, and each tick of
an idle loop costs about 0.2 ms of CPU on these VMs (bench/README.md). There is no thread per container and no lock.
Runtime metadata lookups (Docker, ...) are awaited in tasks and never delay a sample.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import os
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from pycadvisor.cache import SampleHistory
from pycadvisor.clock import Clock, RealClock
from pycadvisor.container.base import ContainerMetadata, Factory
from pycadvisor.container.layerfs import LayerFilesystems
from pycadvisor.container.spec import read_spec
from pycadvisor.errors import ContainerNotFound, RuntimeUnavailable
from pycadvisor.host.cgroups.collector import CgroupCollector, CollectOptions, cgroup_dirs, new_codec
from pycadvisor.host.cgroups.detect import CgroupMounts, detect_cgroup_mounts
from pycadvisor.host.cgroups.fdread import FdReader, default_reader
from pycadvisor.host.cgroups.files import ContainerGone, FdBudget, FileSet
from pycadvisor.host.cgroups.load import TaskstatsClient
from pycadvisor.host.cgroups.tree import cgroup_dirs_below
from pycadvisor.host.fs import RootFsReader
from pycadvisor.host.paths import HostPaths, read_text
from pycadvisor.manager.container import ContainerState
from pycadvisor.model.container import (
    ContainerInfo,
    ContainerReference,
    ContainerSpec,
    ContainerStats,
    FsStats,
    Health,
)
from pycadvisor.model.machine import MachineInfo
from pycadvisor.model.sample import Token, to_array
from pycadvisor.watcher.inotify import CgroupWatcher

log = logging.getLogger(__name__)

S = 1_000_000_000
_ERROR_LOG_EVERY_NS = 60 * S  # cAdvisor logs a container's housekeeping errors at most once a minute
# Housekeeping granularity: samples run at most a tick after they are due; a quarter of the
# housekeeping interval, within these bounds.
_TICK_MIN_NS, _TICK_MAX_NS = 10_000_000, 250_000_000
# A new container's missing controller directories are looked for before each of its first samples
# (besides inotify and the global housekeeping): runtimes make them one hierarchy after another
# within milliseconds, and an inotify event can be missed (a watch added just after a mkdir).
_SETTLING_SAMPLES = 10
# A runtime that did not answer is asked again after 1 s (the factories' own fail-fast window), then
# 2, 4, 8 s, and then every 10 s until it answers (or the next global housekeeping does it sooner).
_RETRY_FIRST_S, _RETRY_MAX_S = 1.0, 10.0


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

    def fs_usage(self, name: str) -> Any:
        """``(bytes, inodes, base_bytes, device)`` where ``base_bytes`` leaves out logs and ``device`` is the
        layer's ``st_dev`` (:class:`pycadvisor.container.fsusage.FsUsage`); ``None`` until measured."""
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


def _boot_time_ns(paths: HostPaths) -> int:
    try:
        for line in read_text(os.path.join(paths.proc, "stat")).splitlines():
            if line.startswith("btime "):
                return int(line.split()[1]) * S
    except OSError:
        pass
    return 0


def _jitter(d: int, factor: float) -> int:
    """``d + rand * factor * d`` (cAdvisor ``manager/container.go: jitter``); factor <= 0 means none."""
    if factor <= 0:
        return d
    return d + int(random.random() * factor * d)


@dataclass(slots=True)
class _Counters:
    samples: int = 0
    scrape_errors: int = 0
    created: int = 0
    removed: int = 0
    durations_ns: list[int] = field(default_factory=list)


class Manager:
    """Keeps every cgroup on the host as a container with a bounded history of samples."""

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
    ) -> None:
        self.opts = opts
        self._reader = reader or default_reader()  # how collectors read their held descriptors
        self.paths = paths
        self.clock: Clock = clock or RealClock()
        self.factories = list(factories)
        self.events = events
        self.sinks = list(sinks)
        self.fs_usage = fs_usage
        self.mounts = mounts
        self._machine_reader = machine_reader
        self._machine: MachineInfo | None = None
        self.containers: dict[str, ContainerState] = {}
        self._kids: dict[str, set[str]] = {}  # parent name -> direct children's names
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

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Read the machine, find every cgroup, start watching and housekeeping."""
        self._loop = asyncio.get_running_loop()
        if self.mounts is None:
            self.mounts = detect_cgroup_mounts(self.paths)
        self._boot_ns = _boot_time_ns(self.paths)
        self._budget.limit = self.opts.fd_limit or _fd_budget()
        self._refresh_machine()
        self._load_reader = self._open_load_reader()
        self._collect_opts = CollectOptions(
            metric_sets=self.opts.metric_sets,
            clk_tck=os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100,
            paths=self.paths,
            device_name=self._device_name,
            referenced_reset_interval=self.opts.referenced_reset_interval,
            load_reader=self._load_reader,
            load_decay=math.exp(-self.opts.housekeeping_interval_ns / S / 10),
        )
        self._running = True
        self._scan()
        roots = self._hierarchy_roots()
        self._watcher = CgroupWatcher(
            roots,
            on_add=self._on_cgroup_added,
            on_remove=self._on_cgroup_removed,
            on_overflow=self._request_rescan,
        )
        try:
            self._watcher.start(self._loop)
        except OSError as e:  # no inotify (e.g. a fixture tree on an odd fs): periodic rescans still work
            log.warning("cannot watch cgroups with inotify: %s", e)
            self._watcher = None
        self._every(self.opts.global_housekeeping_interval_ns, self._global_housekeeping)
        self._every(self.opts.update_machine_info_interval_ns, self._refresh_machine)

    async def stop(self) -> None:
        self._running = False
        if self._watcher is not None:
            self._watcher.stop()
        for t in self._periodic.values():
            t.cancel()
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        self._due.clear()
        for st in self.containers.values():
            st.collector.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.containers.clear()
        if self._root_fs is not None:
            self._root_fs.close()
            self._root_fs = None
        if self._load_reader is not None:
            self._load_reader.close()
            self._load_reader = None

    def _open_load_reader(self) -> TaskstatsClient | None:
        """The taskstats client when ``-enable_load_reader`` is set; without it, task stats stay zero (cAdvisor)."""
        if not self.opts.enable_load_reader:
            return None
        assert self.mounts is not None
        if self.mounts.is_v2:
            log.warning("cpu load reader: the kernel answers for cgroup v1 directories only; task stats stay zero")
            return None
        try:
            return TaskstatsClient()
        except (OSError, ValueError) as e:
            log.warning("could not initialize cpu load reader: %s", e)
            return None

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

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ machine

    def _refresh_machine(self) -> None:
        try:
            if self._machine_reader is not None:
                self._machine = self._machine_reader()
            else:
                from pycadvisor.host.machine import read_machine_info

                self._machine = read_machine_info(
                    self.paths,
                    machine_id_files=list(self.opts.machine_id_files),
                    boot_id_file=self.opts.boot_id_file,
                    now_ns=self.clock.now_ns(),
                )
        except Exception:
            log.exception("reading machine info failed")
            return
        names: dict[tuple[int, int], str] = {}
        for d in (self._machine.disk_map or {}).values():
            names[(d.major, d.minor)] = "/dev/" + d.name
        self._device_names = names

    def _device_name(self, major: int, minor: int) -> str:
        return self._device_names.get((major, minor), "")

    @property
    def machine_info(self) -> MachineInfo:
        if self._machine is None:
            self._refresh_machine()
        if self._machine is None:
            raise RuntimeError("machine info unavailable")
        return self._machine

    # ------------------------------------------------------------------ discovery

    def _hierarchy_roots(self) -> list[str]:
        assert self.mounts is not None
        if self.mounts.is_v2:
            assert self.mounts.v2 is not None
            return [self.paths.in_rootfs(self.mounts.v2)]
        return sorted({self.paths.in_rootfs(mp) for mp in self.mounts.v1.values()})

    def _list_cgroups(self) -> set[str]:
        names = {"/"}
        for root in self._hierarchy_roots():
            names.update(name for name, _ in cgroup_dirs_below(root))
        return names

    def _scan(self) -> None:
        present = self._list_cgroups()
        for name in sorted(present - self.containers.keys()):
            self._add(name)
        for name in sorted(self.containers.keys() - present):
            self._remove(name)

    def _request_rescan(self) -> None:
        if self._rescan_pending or self._loop is None:
            return
        self._rescan_pending = True

        def run() -> None:
            self._rescan_pending = False
            if self._running:
                self._scan()

        self._loop.call_later(0.05, run)

    def _on_cgroup_added(self, name: str) -> None:
        if not self._running:
            return
        st = self.containers.get(name)
        if st is None:
            self._add(name, found_ns=self.clock.now_ns())
        else:  # its directory in one more hierarchy
            self._sync_controllers(st)

    def _on_cgroup_removed(self, name: str) -> None:
        # Remove the container and any descendants whose directories are gone from every hierarchy;
        # those still in some hierarchy lose the controllers whose directories went away.
        for n in [n for n in self.containers if n == name or n.startswith(name + "/")]:
            st = self.containers.get(n)
            if st is None:
                continue
            if st.collector.exists():
                self._sync_controllers(st)
            else:
                self._remove(n)

    def _sync_controllers(self, st: ContainerState, *, reopen: bool = False) -> bool:
        """Follow the container's controller directories as they appear and vanish: the collector reads
        the ones that exist, the spec's ``has_*`` and limits follow, and OOM counting starts once the
        memory directory exists. Returns True if the set changed. ``reopen``: see
        :meth:`CgroupCollector.refresh_controllers`."""
        mem_before = self._memory_dir(st)
        if not st.collector.refresh_controllers(reopen=reopen):
            return False
        self._refresh_spec(st)
        mem = self._memory_dir(st)
        if mem != mem_before and self.events is not None:
            try:
                self.events.on_memory_cgroup(st.name, mem)
            except Exception:
                log.exception("event sink failed for %s", st.name)
        return True

    def _memory_dir(self, st: ContainerState) -> str | None:
        assert self.mounts is not None
        dirs = st.collector.dirs
        return dirs.get("memory") or (dirs.get("unified") if self.mounts.is_v2 else None)

    def _global_housekeeping(self) -> None:
        self._scan()
        for st in list(self.containers.values()):
            st.collector.forget_missing()
            if not self._sync_controllers(st):
                self._refresh_spec(st)
            if st.handled_by and (st.metadata is None or self._runtime_down.get(st.handled_by)):
                self._spawn(self._describe(st))

    def _accept_raw(self, name: str) -> bool:
        if name == "/":
            return True
        wl = self.opts.raw_cgroup_prefix_whitelist
        if self.opts.docker_only and not wl:
            return False
        if not wl:
            return True
        return any(name.startswith(p) for p in wl)

    def _add(self, name: str, found_ns: int | None = None) -> None:
        """Track cgroup ``name``; ``found_ns``: when inotify reported it (None: found by a scan)."""
        handled_by = ""
        for f in self.factories:
            try:
                handles, accepts = f.can_handle_and_accept(name)
            except Exception:
                log.exception("factory %s failed on %s", f.name, name)
                continue
            if handles:
                if not accepts:
                    return
                handled_by = f.name
                break
        if not handled_by and not self._accept_raw(name):
            return
        assert self.mounts is not None and self._collect_opts is not None
        # Every controller's directory, present or not yet: the collector reads those that exist and
        # picks up the others as they appear (_sync_controllers).
        collector = CgroupCollector(
            name,
            cgroup_dirs(self.mounts, name, self.paths.in_rootfs),
            is_v2=self.mounts.is_v2,
            files=FileSet(self._budget, self._reader),
            opts=self._collect_opts,
            codec=self._codec,
        )
        dirs = collector.dirs
        if not collector.exists():
            collector.close()
            return
        spec = self._read_spec(name, dirs, found_ns=found_ns)
        state = ContainerState(
            name=name,
            collector=collector,
            spec=spec,
            history=SampleHistory(
                max_age_ns=self.opts.storage_duration_ns,
                max_count=max(2, self.opts.storage_duration_ns // max(self.opts.housekeeping_interval_ns, 1) + 2),
                codec=self._codec,
            ),
            handled_by=handled_by,
            interval_ns=self.opts.housekeeping_interval_ns,
            settling=0 if collector.complete else _SETTLING_SAMPLES,
        )
        self.containers[name] = state
        if name != "/":
            self._kids.setdefault(os.path.dirname(name), set()).add(name)
        self.counters.created += 1
        if self.events is not None:
            try:
                self.events.on_container_added(name, spec.creation_time, self._memory_dir(state))
            except Exception:
                log.exception("event sink failed for %s", name)
        if handled_by:
            self._spawn(self._describe(state))
        self._schedule(state, first=True)

    def _remove(self, name: str) -> None:
        st = self.containers.pop(name, None)
        if st is None:
            return
        kids = self._kids.get(os.path.dirname(name))
        if kids is not None:
            kids.discard(name)
        st.due_ns = 0  # its heap entry, if any, is now stale
        st.collector.close()
        if self.fs_usage is not None:
            self.fs_usage.untrack(name)
        self.counters.removed += 1
        if self.events is None:
            return
        if st.metadata is not None and st.metadata.exit_code is None:
            f = next((f for f in self.factories if f.name == st.handled_by), None)
            getter = getattr(f, "exit_code", None)
            if getter is not None and self._running:
                # The cgroup goes away before the runtime publishes the exit: ask it, briefly.
                self._spawn(self._deletion_event(name, getter))
                return
        code = st.metadata.exit_code if st.metadata and st.metadata.exit_code is not None else -1
        self._emit_deletion(name, code)

    def _emit_deletion(self, name: str, code: int) -> None:
        assert self.events is not None
        try:
            self.events.on_container_removed(name, code)
        except Exception:
            log.exception("event sink failed for %s", name)

    async def _deletion_event(self, name: str, getter: Callable[[str], Awaitable[int | None]]) -> None:
        code: int | None = None
        try:
            code = await asyncio.wait_for(getter(name), timeout=self.opts.runtime_timeout_s)
        except Exception as e:  # includes TimeoutError
            log.debug("exit code of %s unknown: %s", name, e)
        self._emit_deletion(name, -1 if code is None else code)

    def _read_spec(
        self, name: str, dirs: dict[str, str], creation_time: int | None = None, found_ns: int | None = None
    ) -> ContainerSpec:
        assert self.mounts is not None
        m = self._machine
        spec = read_spec(
            dirs,
            v2=self.mounts.is_v2,
            num_cpus=m.num_cores if m else (os.cpu_count() or 1),
            boot_time_ns=self._boot_ns,
            is_root=name == "/",
            machine_memory=m.memory_capacity if m else 0,
            machine_swap=m.swap_capacity if m else 0,
            creation_time=creation_time,
            found_ns=found_ns,
        )
        if name == "/":
            spec.has_network = bool(m and m.network_devices) and "network" in self.opts.metric_sets
            spec.has_filesystem = "disk" in self.opts.metric_sets
        if spec.has_memory and spec.memory.limit == 0 and m is not None:
            # cAdvisor serves a memory limit it could not read as the machine's capacity (API and /metrics).
            spec.memory.limit = m.memory_capacity
        return spec

    def _refresh_spec(self, st: ContainerState) -> None:
        if not st.collector.exists():
            return
        # A runtime's creation time replaces the cgroup's in _decorate, and would again: keeping either is the same.
        fresh = self._read_spec(st.name, st.collector.dirs, st.spec.creation_time)
        st.spec = _decorate(fresh, st.metadata) if st.metadata else fresh

    async def _describe(self, st: ContainerState) -> None:
        f = next((f for f in self.factories if f.name == st.handled_by), None)
        if f is None:
            return
        t0 = time.monotonic()
        try:
            meta = await asyncio.wait_for(f.describe(st.name), timeout=self.opts.runtime_timeout_s)
        except (RuntimeUnavailable, TimeoutError, OSError) as e:
            if not self._runtime_down.get(f.name):
                why = str(e) or type(e).__name__
                if isinstance(e, TimeoutError) and not str(e):
                    why = f"no answer within -runtime_timeout={self.opts.runtime_timeout_s:g}s"
                log.warning(
                    "%s did not answer describing %s after %.2f s (%s); its containers keep their raw cgroup "
                    "names until it does, asked again from %g s on",
                    f.name,
                    st.name,
                    time.monotonic() - t0,
                    why,
                    _RETRY_FIRST_S,
                )
            self._runtime_down[f.name] = True
            self._retry_runtime(f.name)
            return
        except Exception:
            log.exception("describing %s through %s failed", st.name, f.name)
            return
        if self._runtime_down.get(f.name):
            log.warning("%s answers again; re-attaching names", f.name)
            self._runtime_down[f.name] = False
        if self.containers.get(st.name) is not st:
            return
        if meta is None:
            # Not that runtime's (a bare 64-hex basename under kubepods may be Docker's or containerd's):
            # ask the next factory that handles the name before calling the cgroup raw.
            for nxt in self.factories[self.factories.index(f) + 1 :]:
                try:
                    handles, accepts = nxt.can_handle_and_accept(st.name)
                except Exception:
                    continue
                if handles and accepts:
                    st.handled_by = nxt.name
                    self._spawn(self._describe(st))
                    return
            if self.opts.docker_only and not self._accept_raw(st.name):
                self._remove(st.name)
            else:
                st.handled_by = ""  # not a running container of that runtime: a raw cgroup
            return
        st.metadata = meta
        st.spec = _decorate(st.spec, meta)
        if self.fs_usage is not None and meta.fs_dirs:
            self.fs_usage.track(st.name, meta.fs_dirs)

    def _retry_runtime(self, runtime: str) -> None:
        """Ask a runtime that did not answer again, with backoff, until it names its containers.

        Without this a runtime slow at start (Podman's service socket-activating, an engine still
        loading) would leave its containers unnamed until the next global housekeeping, a minute by
        default."""
        if runtime in self._retrying or not self._running:
            return
        self._retrying.add(runtime)
        self._spawn(self._retry_loop(runtime))

    async def _retry_loop(self, runtime: str) -> None:
        delay = _RETRY_FIRST_S
        try:
            while self._running and self._runtime_down.get(runtime):
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_S)
                waiting = [st for st in self.containers.values() if st.handled_by == runtime]
                if not waiting:
                    return
                await self._describe(waiting[0])  # one probe; the others once it answers
                if not self._runtime_down.get(runtime):
                    for st in waiting[1:]:
                        if self.containers.get(st.name) is st and st.handled_by == runtime:
                            self._spawn(self._describe(st))
                    return
        finally:
            self._retrying.discard(runtime)

    # ------------------------------------------------------------------ housekeeping

    def _schedule(self, st: ContainerState, *, first: bool = False) -> None:
        if self._loop is None or not self._running:
            return
        base = st.interval_ns
        if first:
            splay = self.opts.initial_splay_factor
            delay = int(random.random() * splay * base) if splay > 0 else 0
        else:
            delay = _jitter(base, self.opts.jitter_factor)
        due = time.monotonic_ns() + delay
        st.due_ns = due
        self._seq += 1
        heapq.heappush(self._due, (due, self._seq, st))
        if not self._ticking and (self._tick_handle is None or due + self._tick_ns < self._tick_at):
            self._arm(due)

    def _arm(self, due: int) -> None:
        """Have exactly one tick pending, at ``due`` but no sooner than a tick from now."""
        assert self._loop is not None
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        now = time.monotonic_ns()
        self._tick_at = max(due, now + self._tick_ns)
        self._tick_handle = self._loop.call_later((self._tick_at - now) / S, self._tick)

    def _tick(self) -> None:
        """Take every sample that is due; tick again at the next due time, at least a tick later.

        While the samples run, their reschedules do not arm a tick (``_ticking``), so exactly one
        tick is pending at any time.
        """
        self._tick_handle = None
        if not self._running:
            return
        now = time.monotonic_ns()
        heap = self._due
        self._ticking = True
        try:
            while heap and heap[0][0] <= now:
                due, _, st = heapq.heappop(heap)
                if st.due_ns == due and self.containers.get(st.name) is st:
                    try:
                        self._housekeep(st)
                    except Exception:  # one container's bug must not stop the others' housekeeping
                        log.exception("housekeeping of %s failed", st.name)
                        self._schedule(st)
        finally:
            self._ticking = False
        if heap and self._loop is not None and self._running:
            self._arm(heap[0][0])

    def _housekeep(self, st: ContainerState) -> None:
        changed = self.collect(st)
        if changed is None:
            return
        if self.opts.allow_dynamic_housekeeping:
            if changed:
                st.interval_ns = self.opts.housekeeping_interval_ns
            else:
                st.interval_ns = min(st.interval_ns * 2, self.opts.max_housekeeping_interval_ns)
        self._schedule(st)

    def collect(self, st: ContainerState) -> bool | None:
        """Take one sample now; return whether it differs from the previous one (None: container gone)."""
        if st.name == "/" and self.opts.disable_root_cgroup_stats:
            return False
        if st.settling:
            st.settling -= 1
            if self._sync_controllers(st) and st.collector.complete:
                st.settling = 0
        now = self.clock.now_ns()
        pid = self._pid_of(st)
        try:
            try:
                tokens, values, errors = st.collector.sample(now_ns=now, pid=pid)
            except ContainerGone:
                # One hierarchy's directory went away (runtimes remove them one after another), or the
                # cgroup was removed and made again under the same name: read what exists now, through
                # fresh descriptors, rather than lose the sample (and every later one).
                if not st.collector.exists():
                    raise
                self._sync_controllers(st, reopen=True)
                tokens, values, errors = st.collector.sample(now_ns=now, pid=pid)
        except ContainerGone:
            if not st.collector.exists():
                self._remove(st.name)
                return None
            return False
        except Exception as e:  # a bug must cost one sample, not the daemon
            self._log_error(st, "collect", e, now)
            return False
        codec = self._codec
        md = st.metadata
        if self._disk_set and (st.name == "/" or (md is not None and md.fs_dirs)):
            self._add_fs(st, now, tokens, values)
        if md is not None and md.health:
            codec.add_object("health", Health(status=md.health), tokens, values)
        if errors:
            st.scrape_errors += 1
            self.counters.scrape_errors += 1
            for fam, err in errors:
                self._log_error(st, fam, err, now)
        else:
            st.scrape_errors = 0
        layout = codec.layout(tokens)
        vals = to_array(values)
        dynamic = self.opts.allow_dynamic_housekeeping
        prev = st.history.latest_entry() if dynamic else None
        stats = codec.build(layout, vals) if self.sinks else None  # built only when somebody reads it
        st.history.add(layout, vals, stats)
        st.summary.add(
            now,
            vals[layout.cpu_total] if layout.cpu_total > 0 else None,
            vals[layout.working_set] if layout.working_set > 0 else None,
        )
        st.last_sample_ns = now
        self.counters.samples += 1
        if stats is not None:
            ref = st.reference()
            for sink in self.sinks:
                try:
                    sink.add_stats(ref, st.spec, stats)
                except Exception as e:
                    self._log_error(st, "storage", e, now)
        if not dynamic:
            return True  # nobody asks whether it changed
        return (
            prev is None
            or prev[0] is not layout
            or [prev[1][i] for i in layout.signature] != [vals[i] for i in layout.signature]
        )

    def _pid_of(self, st: ContainerState) -> int | None:
        if st.name == "/":
            return 1
        if st.metadata is not None and st.metadata.has_network is not False:
            return st.metadata.pid
        return None

    def _add_fs(self, st: ContainerState, now: int, tokens: list[Token], values: list[int]) -> None:
        fs: list[FsStats] | None = None
        if st.name == "/":
            try:
                if self._root_fs is None:
                    self._root_fs = RootFsReader(self.paths)
                measured = self._root_fs.read_partitions()
            except Exception as e:
                self._log_error(st, "disk", e, now)
                return
            self._layer_fs.update(measured, now)
            fs = [s for _, s in measured]
        elif self.fs_usage is not None and st.metadata is not None and st.metadata.fs_dirs:
            layer = self._layer_stats(st, now)
            fs = [layer] if layer is not None else None
        if fs is not None:
            self._codec.add_object("filesystem", fs, tokens, values)

    def _layer_stats(self, st: ContainerState, now: int) -> FsStats | None:
        """A runtime container's ``filesystem`` entry: its writable layer on the device holding it
        (:mod:`pycadvisor.container.layerfs`); None until the layer has been walked once."""
        assert self.fs_usage is not None
        usage = self.fs_usage.fs_usage(st.name)
        if usage is None:
            return None
        if self._layer_fs.stale(now):  # no recent root sample (not yet, or -disable_root_cgroup_stats)
            try:
                if self._root_fs is None:
                    self._root_fs = RootFsReader(self.paths)
                self._layer_fs.update(self._root_fs.read_partitions(), now)
            except Exception as e:
                self._log_error(st, "disk", e, now)
                return None
        return self._layer_fs.stats(usage, st.metadata.fs_dirs[0] if st.metadata and st.metadata.fs_dirs else "")

    def _log_error(self, st: ContainerState, family: str, err: BaseException, now: int) -> None:
        last = st.last_error_log_ns.get(family, 0)
        if now - last >= _ERROR_LOG_EVERY_NS or last == 0:
            st.last_error_log_ns[family] = now
            log.warning("container %s: %s stats failed: %s", st.name, family, err)

    # ------------------------------------------------------------------ queries

    def get(self, name: str) -> ContainerState:
        st = self.containers.get(name)
        if st is None:
            raise ContainerNotFound(name)
        return st

    def subcontainers(self, name: str) -> list[ContainerState]:
        """The container itself and all descendants (cAdvisor ``/subcontainers``)."""
        if name == "/":
            return list(self.containers.values())
        prefix = name.rstrip("/") + "/"
        return [st for n, st in self.containers.items() if n == name or n.startswith(prefix)]

    def children(self, name: str) -> list[ContainerReference]:
        """Direct children, sorted by name (an index kept on add/remove: no scan of every container)."""
        kids = self._kids.get(name, ())
        return [self.containers[n].reference() for n in sorted(kids) if n in self.containers]

    def in_namespace(self, namespace: str) -> list[ContainerState]:
        return [st for st in self.containers.values() if st.namespace == namespace]

    def find_alias(self, namespace: str, alias: str) -> ContainerState:
        """Resolve a runtime name, id or unique id prefix, as cAdvisor's ``/api/v1.2/docker/<alias>`` does."""
        candidates = self.in_namespace(namespace)
        for st in candidates:
            if alias in st.aliases or st.id == alias:
                return st
        prefixed = [st for st in candidates if any(a.startswith(alias) for a in st.aliases)] if alias else []
        if len(prefixed) == 1:
            return prefixed[0]
        if len(prefixed) > 1:
            raise ValueError(f'{namespace} container "{alias}" is not unique')
        raise ContainerNotFound(alias)

    async def ensure_fresh(self, states: Iterable[ContainerState], max_age_ns: int | None) -> None:
        """On-demand housekeeping: sample now any container whose last sample is older than ``max_age_ns``."""
        if max_age_ns is None:
            return
        now = self.clock.now_ns()
        for st in states:
            if now - st.last_sample_ns > max_age_ns and self.containers.get(st.name) is st:
                self.collect(st)

    def info(self, st: ContainerState, *, count: int = 60, start_ns: int = 0, end_ns: int = 0) -> ContainerInfo:
        """The v1 ``ContainerInfo`` of a container with its newest ``count`` samples in the window."""
        return ContainerInfo(
            id=st.id,
            name=st.name,
            aliases=list(st.aliases),
            namespace=st.namespace,
            subcontainers=self.children(st.name),
            spec=st.spec,
            stats=st.history.window(start_ns=start_ns, end_ns=end_ns, count=count),
        )


def _decorate(spec: ContainerSpec, meta: ContainerMetadata | None) -> ContainerSpec:
    if meta is None:
        return spec
    out = replace(spec, labels=dict(meta.labels), envs=dict(meta.envs), image=meta.image)
    if meta.creation_time:
        out.creation_time = meta.creation_time
    if meta.start_time:
        out.start_time = meta.start_time
    if meta.pid and meta.has_network is not False:
        out.has_network = True
    if meta.fs_dirs:
        out.has_filesystem = True
    return out


def _fd_budget() -> int:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # a monitor holding one fd per cgroup file wants the hard limit
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return max(64, int(soft * 0.8) - 64)
