"""Discovery, the container map, housekeeping and queries (cAdvisor ``manager/manager.go``, ``container.go``).

Everything runs on one asyncio loop with one scheduler: a heap of due times, drained by a tick at
most every quarter of the housekeeping interval (250 ms at the default 1 s). Each container keeps
cAdvisor's jittered interval, but the samples due within a tick are taken together, in one wake-up
with warm caches: one wake-up per sample cost about three times the sample itself, and each tick of
an idle loop costs about 0.2 ms of CPU on these VMs (bench/README.md). There is no thread per container and no lock.
Runtime metadata lookups (Docker, ...) are awaited in tasks and never delay a sample.

The object is composed of its roles, each a module of this package over the shared state
(:mod:`.state`): discovery (:mod:`.discovery`), housekeeping (:mod:`.scheduler`) and queries
(:mod:`.queries`); this module keeps its lifecycle and the machine it runs on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import resource

from pycadvisor.errors import ParseError
from pycadvisor.host.cgroups.collector import CollectOptions
from pycadvisor.host.cgroups.detect import detect_cgroup_mounts
from pycadvisor.host.cgroups.load import TaskstatsClient
from pycadvisor.host.command import CommandError
from pycadvisor.host.fs import read_mounts
from pycadvisor.host.machine import read_machine_info
from pycadvisor.host.paths import HostPaths, read_text
from pycadvisor.host.zfs import ZfsMountStats
from pycadvisor.manager.discovery import Discovery
from pycadvisor.manager.queries import Queries
from pycadvisor.manager.scheduler import Scheduler
from pycadvisor.manager.state import EventSink, FsUsage, ManagerOptions, S, StatsSink
from pycadvisor.model.machine import FsInfo, MachineInfo
from pycadvisor.watcher.inotify import CgroupWatcher

__all__ = ["EventSink", "FsUsage", "Manager", "ManagerOptions", "StatsSink"]

log = logging.getLogger(__name__)


def _boot_time_ns(paths: HostPaths) -> int:
    try:
        for line in read_text(os.path.join(paths.proc, "stat")).splitlines():
            if line.startswith("btime "):
                return int(line.split()[1]) * S
    except OSError:
        pass
    return 0


class Manager(Discovery, Scheduler, Queries):
    """Keeps every cgroup on the host as a container with a bounded history of samples.

    Built as ``Manager(opts, paths, *, clock, factories, events, sinks, fs_usage, mounts, machine_reader,
    reader)`` (:class:`pycadvisor.manager.state.ManagerState`)."""

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
        if self._disk_set and os.path.exists(os.path.join(self.paths.dev, "zfs")):
            # cAdvisor's zfs plugin (lib/fs/zfs/plugin.go) measures zfs mounts with `zfs list` when /dev/zfs exists.
            self._zfs = ZfsMountStats(self._runner)
            self._spawn(self._zfs_loop(self._zfs))

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
            st.close_addons()  # perf descriptors, and resctrl groups that would hold their RMIDs after us
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

    # ------------------------------------------------------------------ machine

    def _refresh_machine(self) -> None:
        try:
            if self._machine_reader is not None:
                self._machine = self._machine_reader()
            else:
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
    def inotify_watches(self) -> int | None:
        """Directories watched by inotify; None when cgroups are found by periodic rescans only."""
        return self._watcher.watch_count if self._watcher is not None else None

    def runtime_answering(self, runtime: str) -> bool:
        """False while ``runtime`` has not answered since it last failed to (its containers keep raw names)."""
        return not self._runtime_down.get(runtime)

    async def _zfs_loop(self, zfs: ZfsMountStats) -> None:
        """Measure the mounted zfs datasets every ``zfs_interval_ns``; while ``zfs`` fails they are measured with
        statvfs, as cAdvisor falls back to VFS (``ErrFallbackToVFS``)."""
        failing = False
        while self._running:
            try:
                await zfs.refresh([m.source for m in read_mounts(self.paths) if m.fs_type == "zfs"])
                if failing:
                    log.warning("zfs filesystems are measured with zfs list again")
                failing = False
            except (OSError, CommandError, ParseError) as e:
                zfs.by_dataset = {}
                if not failing:
                    log.warning("zfs filesystems measured with statvfs: %s", e)
                failing = True
            await asyncio.sleep(self.opts.zfs_interval_ns / S)

    @property
    def machine_info(self) -> MachineInfo:
        if self._machine is None:
            self._refresh_machine()
        if self._machine is None:
            raise RuntimeError("machine info unavailable")
        if self._zfs is not None and self._zfs.by_dataset:
            for fs in self._machine.filesystems or ():
                u = self._zfs.by_dataset.get(fs.device)
                if u is not None:
                    fs.type, fs.capacity, fs.inodes, fs.has_inodes = "zfs", u.capacity, 0, False
        extra = self.runtime_filesystems()
        if extra:  # a thin pool measured since the machine was read, or its new capacity
            known = {f.device for f in extra}
            self._machine.filesystems = [f for f in self._machine.filesystems or () if f.device not in known] + [
                FsInfo(device=f.device, capacity=f.capacity, type=f.type) for f in extra
            ]
        return self._machine


def _fd_budget() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # a monitor holding one fd per cgroup file wants the hard limit
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return max(64, int(soft * 0.8) - 64)
