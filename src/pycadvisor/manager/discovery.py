"""Discovery: the cgroups found by scans and inotify become containers, followed as their controller
directories come and go, named by the runtimes (asked again with backoff while one does not answer), and
removed with their deletion events (cAdvisor ``manager/manager.go``: ``detectSubcontainers``,
``createContainer``, ``destroyContainer``, ``watchForNewContainers``)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from pycadvisor.cache import SampleHistory
from pycadvisor.container.base import ContainerMetadata
from pycadvisor.container.hints import ContainerHint
from pycadvisor.container.spec import read_spec
from pycadvisor.errors import RuntimeUnavailable
from pycadvisor.host.cgroups.collector import CgroupCollector, cgroup_dirs
from pycadvisor.host.cgroups.files import FileSet
from pycadvisor.host.cgroups.tree import cgroup_dirs_below
from pycadvisor.manager.container import ContainerState
from pycadvisor.manager.state import ManagerState
from pycadvisor.model.container import ContainerSpec

log = logging.getLogger("pycadvisor.manager.manager")

# A new container's missing controller directories are looked for before each of its first samples
# (besides inotify and the global housekeeping): runtimes make them one hierarchy after another
# within milliseconds, and an inotify event can be missed (a watch added just after a mkdir). Its spec
# is read again meanwhile: the limits are written after the directories are made.
_SETTLING_SAMPLES = 10
# A runtime that did not answer is asked again after 1 s (the factories' own fail-fast window), then
# 2, 4, 8 s, and then every 10 s until it answers (or the next global housekeeping does it sooner).
_RETRY_FIRST_S, _RETRY_MAX_S = 1.0, 10.0


class Discovery(ManagerState):
    """Scan, inotify callbacks, add/remove, controller sync, runtime describe and retry."""

    def _hierarchy_roots(self) -> list[str]:
        assert self.mounts is not None
        if self.mounts.is_v2:
            assert self.mounts.v2 is not None
            return [self.paths.in_rootfs(self.mounts.v2)]
        return sorted({self.paths.in_rootfs(mp) for mp in self.mounts.v1.values()})

    def _list_cgroups(self) -> dict[str, set[str]]:
        """The name of every cgroup directory, ``/`` included, per hierarchy root."""
        return {root: {"/", *(name for name, _ in cgroup_dirs_below(root))} for root in self._hierarchy_roots()}

    def _controller_roots(self) -> dict[str, str]:
        """Each controller's hierarchy root, as the collectors' directories are built (``cgroup_dirs``)."""
        assert self.mounts is not None
        if self.mounts.is_v2:
            assert self.mounts.v2 is not None
            return {"unified": self.paths.in_rootfs(self.mounts.v2)}
        roots = {ctrl: self.paths.in_rootfs(mp) for ctrl, mp in self.mounts.v1.items()}
        if self.mounts.v2:  # hybrid: the unified twin, not among the hierarchies scanned
            roots["unified"] = self.paths.in_rootfs(self.mounts.v2)
        return roots

    def _scan(self, listing: dict[str, set[str]] | None = None) -> None:
        present = set().union(*(listing or self._list_cgroups()).values())
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
            self._sync_soon(name)

    def _on_cgroup_removed(self, name: str) -> None:
        # Remove the container and any descendants whose directories are gone from every hierarchy;
        # those still in some hierarchy lose the controllers whose directories went away.
        for n in self._subtree(name):
            self._sync_soon(n)

    def _subtree(self, name: str) -> list[str]:
        """``name`` and the tracked containers below it, from the children index (not every container's name)."""
        below = name + "/" if name != "/" else "/"
        out = [name] if name in self.containers else []
        for parent, kids in self._kids.items():
            if parent == name or parent.startswith(below):
                out += kids
        out.sort()  # parents before their children, as the scan adds them
        return out

    def _sync_soon(self, name: str) -> None:
        """Follow ``name``'s controller directories once the inotify events read with this one are handled: remove
        it if none is left, else read the ones there.

        Runtimes make and remove a container's directories one hierarchy after another (twelve on a v1 host), and
        the events come together: each used to look at every controller directory and read the spec again. As
        before, what counts is the directories there when the events are handled, not when they were sent."""
        first = not self._sync_pending
        self._sync_pending.add(name)
        if self._loop is None:  # not started (no watcher either): at once
            self._sync_pending_now()
        elif first:
            self._loop.call_soon(self._sync_pending_now)

    def _sync_pending_now(self) -> None:
        names, self._sync_pending = self._sync_pending, set()
        for name in sorted(names):  # parents before their children
            st = self.containers.get(name)
            if st is None or not self._running:
                continue
            if st.collector.exists():
                self._sync_controllers(st)
            else:
                self._remove(name)

    def _sync_controllers(
        self, st: ContainerState, *, reopen: bool = False, present: dict[str, str] | None = None
    ) -> bool:
        """Follow the container's controller directories as they appear and vanish: the collector reads
        the ones that exist, the spec's ``has_*`` and limits follow, and OOM counting starts once the
        memory directory exists. Returns True if the set changed. ``reopen``, ``present``: see
        :meth:`CgroupCollector.refresh_controllers`."""
        mem_before = self._memory_dir(st)
        if not st.collector.refresh_controllers(reopen=reopen, present=present):
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
        listing = self._list_cgroups()
        self._scan(listing)
        roots = self._controller_roots()
        for st in list(self.containers.values()):
            st.collector.forget_missing()
            if not self._sync_controllers(st, present=_listed_dirs(st, listing, roots)):
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
        hint = self._hints.get(name) if self._hints is not None else None
        spec = self._read_spec(name, dirs, found_ns=found_ns, hint=None if handled_by else hint)
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
            hint=hint,
            interval_ns=self.opts.housekeeping_interval_ns,
            settling=_SETTLING_SAMPLES,
        )
        self._attach_addons(state)
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
        parent = os.path.dirname(name)
        kids = self._kids.get(parent)
        if kids is not None:
            kids.discard(name)
            if not kids:  # a removed pod's or slice's entry must not stay behind (churn)
                del self._kids[parent]
        st.due_ns = 0  # its heap entry, if any, is now stale
        st.collector.close()
        st.close_addons()
        if self.fs_usage is not None:
            self.fs_usage.untrack(name)
        if self.appmetrics is not None:
            self.appmetrics.unwatch(name)
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

    def _attach_addons(self, st: ContainerState) -> None:
        """The container's perf counters and resctrl group (cAdvisor manager.go ``createContainerLocked``:
        a collector that cannot be set up is logged and the container is monitored without it)."""
        for addon in self.addons:
            try:
                got = addon.attach(st.name)
            except Exception as e:
                log.warning("%s metrics will not be available for container %s: %s", addon.family, st.name, e)
                continue
            if got is not None:
                st.addons.append((addon.family, got))

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
        self,
        name: str,
        dirs: dict[str, str],
        creation_time: int | None = None,
        found_ns: int | None = None,
        hint: ContainerHint | None = None,
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
        elif hint is not None:  # a raw cgroup's hinted veth and mounts (container/raw/handler.go GetSpec)
            spec.has_network = bool(hint.veth_host) and "network" in self.opts.metric_sets
            spec.has_filesystem = bool(hint.mounts) and "disk" in self.opts.metric_sets
        if spec.has_memory and spec.memory.limit == 0 and m is not None:
            # cAdvisor serves a memory limit it could not read as the machine's capacity (API and /metrics).
            spec.memory.limit = m.memory_capacity
        return spec

    def _refresh_spec(self, st: ContainerState) -> None:
        if not st.collector.exists():
            return
        # A runtime's creation time replaces the cgroup's in _decorate, and would again: keeping either is the same.
        fresh = self._read_spec(
            st.name, st.collector.dirs, st.spec.creation_time, hint=st.hint if st.metadata is None else None
        )
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
                if st.hint is not None:  # its hints apply now that it is raw
                    self._refresh_spec(st)
            return
        st.metadata = meta
        st.spec = _decorate(st.spec, meta)
        if self.appmetrics is not None:
            self.appmetrics.watch(st.name, meta.labels, meta.pid)
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
    if meta.fs_dirs or meta.layer_stats is not None:
        out.has_filesystem = True
    return out


def _listed_dirs(st: ContainerState, listing: dict[str, set[str]], roots: dict[str, str]) -> dict[str, str]:
    """The controller directories of ``st`` that a scan's ``listing`` holds (``os.path.isdir`` for a hierarchy it
    did not list): the global housekeeping's check of every container without a ``stat`` per controller (a
    dozen per container on a v1 host, 2,900 ``stat`` calls and half its CPU at 220 containers)."""
    out: dict[str, str] = {}
    for ctrl, d in st.collector.expected.items():
        names = listing.get(roots.get(ctrl, ""))
        if names is None:
            if os.path.isdir(d):
                out[ctrl] = d
        elif st.name in names:
            out[ctrl] = d
    return out
