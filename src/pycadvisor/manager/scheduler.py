"""Housekeeping: one heap of due times drained by a tick, and :meth:`Scheduler.collect`, one sample of a
container (cAdvisor ``manager/container.go``: ``housekeeping``, ``housekeepingTick``, ``updateStats``)."""

from __future__ import annotations

import heapq
import logging
import os
import random
import time
from dataclasses import replace

from pycadvisor.container.hints import ContainerHint, read_veth_stats
from pycadvisor.host.cgroups.files import ContainerGone
from pycadvisor.host.fs import RootFsReader
from pycadvisor.host.zfs import DatasetUsage
from pycadvisor.manager.container import ContainerState
from pycadvisor.manager.state import ManagerState, S
from pycadvisor.model.container import FsStats, Health
from pycadvisor.model.sample import Token, to_array

log = logging.getLogger("pycadvisor.manager.manager")


def _jitter(d: int, factor: float) -> int:
    """``d + rand * factor * d`` (cAdvisor ``manager/container.go: jitter``); factor <= 0 means none."""
    if factor <= 0:
        return d
    return d + int(random.random() * factor * d)


def _zfs_stats(s: FsStats, u: DatasetUsage | None) -> FsStats:
    """A zfs mount's entry as cAdvisor's zfs plugin measures it: the dataset's figures, type zfs, no inodes."""
    if u is None:
        return s
    return replace(
        s, type="zfs", capacity=u.capacity, usage=u.capacity - u.free, available=u.available, has_inodes=False,
        inodes=0, inodes_free=0,
    )  # fmt: skip


class Scheduler(ManagerState):
    """The heap/tick housekeeping and ``collect``: the hot path, methods of the object itself."""

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
            # A runtime writes a container's limits (cpu.weight, cpu.max, memory.max) after it made the
            # directories: runc's cgroup manager Apply, then Set (libcontainer/process_linux.go). On v2 the
            # files exist at mkdir with their defaults, so the spec read when the directory appeared is
            # read again until the container settles; cAdvisor re-reads it when served if older than 5 s
            # (manager/container.go GetInfo -> updateSpec).
            st.settling -= 1
            if st.collector.complete:
                self._refresh_spec(st)
            else:
                # The directories it has are followed by inotify and by their reads (ENODEV once removed): only
                # the missing ones are looked for (a stat each; a dozen per sample on a v1 host before).
                have, expected = st.collector.dirs, st.collector.expected
                present = {c: d for c, d in expected.items() if c in have or os.path.isdir(d)}
                if not self._sync_controllers(st, present=present):
                    self._refresh_spec(st)
        elif st.collector.v2_partial:
            # cgroup v2: controllers enabled in the parent after the directory was made (a runtime, or a
            # user, writing cgroup.subtree_control later) are read from the next sample on; cAdvisor
            # reads every file at every sample. One held cgroup.controllers read, for such cgroups only.
            self._sync_controllers(st)
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
                for _, addon in st.addons:
                    addon.reopen()
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
        hint = st.hint if md is None else None
        if hint is not None and hint.veth_host and self._net_set:
            err = self._add_hinted_net(hint, tokens, values)
            if err is not None:  # counted and logged below with the collector's failed families
                errors = [*errors, ("network", err)]
        if self._disk_set and (
            st.name == "/"
            or (md is not None and (md.fs_dirs or md.layer_stats is not None))
            or (hint is not None and hint.mounts)
        ):
            self._add_fs(st, now, tokens, values)
        if md is not None and md.health:
            codec.add_object("health", Health(status=md.health), tokens, values)
        for family, addon in st.addons:
            try:
                for member, value in addon.update(st.collector.dirs, now):
                    codec.add_member(member, value, tokens, values)
            except Exception as e:  # fails this family only: the cgroup files' sample stands
                errors = [*errors, (family, e)]
        if md is not None and self.appmetrics is not None:
            self._add_app_metrics(st, tokens, values)
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

    def _add_app_metrics(self, st: ContainerState, tokens: list[Token], values: list[int]) -> None:
        """The latest answers of the container's endpoints (cAdvisor ``manager/container.go``: ``updateStats``
        sets ``CustomMetrics``; ``updateSpec`` the spec's ``custom_metrics``), polled elsewhere."""
        assert self.appmetrics is not None
        got = self.appmetrics.latest(st.name)
        if got is None:
            return
        specs, metrics = got
        if st.spec.custom_metrics is not specs:
            st.spec.custom_metrics = specs
            st.spec.has_custom_metrics = bool(specs)
        if metrics:
            # The poller hands out the same dict until an endpoint answers again: encode it once, not per sample
            # (bench/appmetrics_sample.py: 28 µs for 5 series, 3.3 ms for 1,000; appending the encoding 0.7 µs, 32 µs).
            enc = st.app_encoded
            if enc is None or enc[0] is not metrics:
                enc = st.app_encoded = (metrics, *self._codec.compactor.encode(metrics))
            self._codec.add_encoded("custom_metrics", (enc[1], enc[2]), tokens, values)

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
            zfs = self._zfs.by_dataset if self._zfs is not None else None
            if zfs:
                measured = [(p, _zfs_stats(s, zfs.get(p.device)) if p.fs_type == "zfs" else s) for p, s in measured]
            self._layer_fs.update(measured, now)
            fs = [s for _, s in measured] + self.runtime_filesystems()
        elif st.metadata is not None and st.metadata.layer_stats is not None:
            try:
                layer = st.metadata.layer_stats()
            except Exception as e:
                self._log_error(st, "disk", e, now)
                return
            fs = [layer] if layer is not None else None
        elif self.fs_usage is not None and st.metadata is not None and st.metadata.fs_dirs:
            layer = self._layer_stats(st, now)
            fs = [layer] if layer is not None else None
        elif st.metadata is None and st.hint is not None and st.hint.mounts:
            fs = self._hinted_fs(st, st.hint, now)
        if fs is not None:
            self._codec.add_object("filesystem", fs, tokens, values)

    def _fresh_root_fs(self, st: ContainerState, now: int) -> bool:
        """The root's filesystems read again when no recent root sample refreshed them (not yet, or
        -disable_root_cgroup_stats); False (logged against ``st``'s disk family) when they cannot be read."""
        if not self._layer_fs.stale(now):
            return True
        try:
            if self._root_fs is None:
                self._root_fs = RootFsReader(self.paths)
            self._layer_fs.update(self._root_fs.read_partitions(), now)
        except Exception as e:
            self._log_error(st, "disk", e, now)
            return False
        return True

    def _layer_stats(self, st: ContainerState, now: int) -> FsStats | None:
        """A runtime container's ``filesystem`` entry: its writable layer on the device holding it
        (:mod:`pycadvisor.container.layerfs`); None until the layer has been walked once."""
        assert self.fs_usage is not None
        usage = self.fs_usage.fs_usage(st.name)
        if usage is None:
            return None
        if not self._fresh_root_fs(st, now):
            return None
        return self._layer_fs.stats(usage, st.metadata.fs_dirs[0] if st.metadata and st.metadata.fs_dirs else "")

    def _add_hinted_net(self, hint: ContainerHint, tokens: list[Token], vals: list[int]) -> Exception | None:
        """A raw cgroup's network family from its hinted veth (:func:`pycadvisor.container.hints.read_veth_stats`),
        in the token shape of the netns reader (``collector_net.py``): one interface, no tcp/udp tables. Returns
        the error that failed it (only this family fails)."""
        try:
            i = read_veth_stats(self.paths, hint)
        except (OSError, ValueError) as e:
            return e
        if i is None:  # the veth is not there (yet, or any more): not collected
            return None
        vals += (i.rx_bytes, i.rx_packets, i.rx_errors, i.rx_dropped,
                 i.tx_bytes, i.tx_packets, i.tx_errors, i.tx_dropped)  # fmt: skip
        tokens.append(("net", (i.name,), None, None, None, None, None))
        return None

    def _hinted_fs(self, st: ContainerState, hint: ContainerHint, now: int) -> list[FsStats] | None:
        """The global filesystems holding a raw cgroup's hinted ``host_dir`` mounts, each once (cAdvisor
        ``container/raw/handler.go`` ``getFsStats`` through ``GetFsInfoForPath``)."""
        if not self._fresh_root_fs(st, now):
            return None
        out: list[FsStats] = []
        seen: set[str] = set()
        for m in hint.mounts:
            fs = self._layer_fs.holding(self.paths.in_rootfs(m.host_dir))
            if fs is not None and fs.device not in seen:
                seen.add(fs.device)
                out.append(fs)
        return out or None
