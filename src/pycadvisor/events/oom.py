"""OOM kills seen through cgroup counters, without /dev/kmsg.

- cgroup v2: ``memory.events.local`` (Linux >= 5.2; else ``memory.events``) keys ``oom`` (this
  cgroup's limit was hit and the OOM killer was about to run) and ``oom_kill`` (tasks of this cgroup
  killed by any OOM killer), woken by inotify ``IN_MODIFY`` (cgroup-v2.rst: "a value change in this
  file generates a file modified event"). The local file is preferred so that a kill in ``/a/b``
  is not counted again for ``/a``; with the hierarchical fallback a parent container counts the
  kills of its descendants too.
- cgroup v1: ``memory.oom_control`` ``oom_kill N`` (Linux >= 4.13; counts kills of this cgroup's
  own tasks), woken through ``cgroup.event_control`` + eventfd (Documentation/admin-guide/
  cgroup-v1/memory.rst §10 "OOM Control"). The kernel signals the eventfd of the cgroup whose limit
  was hit *and of all its descendants* before it picks and kills a task, and again when the cgroup
  is removed. A global (not memcg) OOM signals nothing on v1, so ``/proc/vmstat`` ``oom_kill`` is
  also watched and any rise re-reads every v1 counter. Without /dev/kmsg it is polled every
  ``vmstat_interval`` (1 s). With kmsg (:meth:`OomWatcher.follow_kmsg`) every kill already wakes
  the daemon, so each kmsg OOM report triggers that check at once (the summary line is printed
  just before the kernel bumps the counters, hence a few short rechecks) and the poll drops to a
  backstop every ``vmstat_backstop_interval`` (10 s): one idle wake-up instead of ten. The kernel
  ratelimits its OOM reports (``oom_rs``: 10 per 5 s), and a kill whose report was suppressed
  prints only "Killed process", which ends no report; such kills only happen within
  ``KMSG_RATELIMIT_INTERVAL`` of a printed one, so the 1 s poll is kept for
  ``KMSG_FAST_HOLD`` after each kmsg report. If kmsg stops, the next poll sees it and goes back
  to 1 s. ``/proc/vmstat`` is held open and re-read with ``pread`` (a seq file regenerates at
  offset 0).

Cost: no work per sample. A container holds one fd (v1: the eventfd; v2: the events file, plus one
inotify watch); counters are read only when the kernel signals a change.

Attribution of each kill, as an :class:`~pycadvisor.events.kmsg.OomInstance`:

- ``container_name``: the watched cgroup whose kill counter rose (the killed task's cgroup).
- ``victim_container_name`` (the cgroup whose limit was hit): the shallowest watched cgroup that is
  the task cgroup or an ancestor of it and reported a limit hit (v2: local ``oom`` rose; v1: its
  eventfd fired) within the last ``limit_window`` seconds; ``/`` if none did (a global OOM).
  ``constraint`` is ``CONSTRAINT_MEMCG`` in the first case and unknown (``""``) in the second.
- ``pid`` / ``process_name``: best effort. The kernel names the victim only in kmsg, so when a
  cgroup reports a coming OOM (v1 eventfd, v2 ``oom`` or ``max`` rising) its processes (and those of
  watched cgroups below it) are noted with their ``oom_score``. When its kill counter then rises,
  the report waits (up to ``SETTLE_MAX_NS``) until as many noted processes have left the cgroup as
  were killed (a killed task is counted before it has exited); those are the victims, the most
  recently seen and highest ``oom_score`` first. Without a note (the wake came too late, or never)
  they are ``0`` / ``""``.
- ``time_ns``: when the counter rise was seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from inotify_simple import INotify

from pycadvisor.events.kmsg import OomInstance
from pycadvisor.events.oomfiles import (
    NotedProcess,
    note_processes,
    pread_vmstat_oom_kill,
    read_cgroup_pids,
)
from pycadvisor.host.cgroups.rows import parse_keyed
from pycadvisor.host.paths import HostPaths, read_bytes

log = logging.getLogger(__name__)

CONSTRAINT_MEMCG: Final = "CONSTRAINT_MEMCG"
V1_RECHECK_DELAYS: Final = (0.005, 0.02, 0.1, 0.5, 2.0)  # s after a v1 eventfd wake: the kill follows it
NOTE_MIN_INTERVAL_NS: Final = 1_000_000_000  # v2 "max" storms: at most one note per cgroup per second
NOTE_KEEP_NS: Final = 5_000_000_000  # a noted process that left the cgroup stays a victim candidate this long
SETTLE_STEP: Final = 0.01  # s between looks for the victims of a counted kill
SETTLE_MAX_NS: Final = 300_000_000  # report a counted kill after this long even without a named victim
VMSTAT_BACKSTOP_INTERVAL: Final = 10.0  # s between /proc/vmstat polls while kmsg reports the kills
# mm/oom_kill.c oom_kill_process: dump_header only within __ratelimit(&oom_rs), DEFAULT_RATELIMIT_INTERVAL
# (5 s) and _BURST (10); a window opens with a printed report, so a suppressed one follows a printed one
# within this long.
KMSG_RATELIMIT_INTERVAL: Final = 5.0
KMSG_FAST_HOLD: Final = KMSG_RATELIMIT_INTERVAL + 1.0  # s of vmstat_interval polling after a kmsg OOM
# s after a kmsg OOM report: dump_oom_summary prints before __oom_kill_process bumps the counters.
KMSG_RECHECK_DELAYS: Final = (0.005, 0.05)
_IN_MODIFY: Final = 0x2  # inotify(7)
_IN_IGNORED: Final = 0x8000


# ---------------------------------------------------------------- watcher


@dataclass(slots=True, eq=False)
class _Watch:
    name: str
    dir: str
    version: int  # 1 or 2
    file: str  # memory.oom_control (v1), memory.events.local or memory.events (v2)
    fd: int  # v2: held fd of that file, read with pread at offset 0; v1: -1 (opened per read, see _open)
    kills: int  # last oom_kill seen
    ooms: int = 0  # v2: last oom seen
    maxes: int = 0  # v2: last max seen
    efd: int = -1  # v1 eventfd
    wd: int = -1  # v2 inotify watch descriptor
    reader_on: bool = False
    notes: dict[int, NotedProcess] = field(default_factory=dict)
    noted_at: int = 0
    unreported: int = 0  # kills counted but not yet reported (waiting for their victims to leave)
    counted_at: int = 0
    settle_timer: asyncio.TimerHandle | None = None
    rechecks: list[asyncio.TimerHandle] = field(default_factory=list)


class OomWatcher:
    """Watches cgroups' OOM kill counters; calls ``on_kill`` once per kill (see the module docstring)."""

    def __init__(
        self,
        paths: HostPaths,
        on_kill: Callable[[OomInstance], None],
        clock: Callable[[], int],
        *,
        vmstat_interval: float = 1.0,
        vmstat_backstop_interval: float = VMSTAT_BACKSTOP_INTERVAL,
        limit_window: float = 5.0,
    ) -> None:
        """``vmstat_interval``: the /proc/vmstat poll without kmsg (<= 0: none at all);
        ``vmstat_backstop_interval``: the poll while kmsg reports the kills (at least ``vmstat_interval``).
        """
        self._paths = paths
        self._on_kill = on_kill
        self._clock = clock
        self._vmstat_interval = vmstat_interval
        self._vmstat_backstop = max(vmstat_backstop_interval, vmstat_interval)
        self._limit_window_ns = int(limit_window * 1e9)
        self._watches: dict[str, _Watch] = {}
        self._by_wd: dict[int, _Watch] = {}
        self._limit_marks: dict[str, int] = {}  # cgroup name -> ns of its last limit hit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inotify: Any = None
        self._vmstat_timer: asyncio.TimerHandle | None = None
        self._vmstat_last: int | None = None
        self._vmstat_fd = -1
        self._kmsg_active: Callable[[], bool] | None = None
        self._kmsg_seen = False  # kmsg was active at the last look (to log the fall-back once)
        self._fast_until = 0.0  # loop time until which vmstat_interval applies even with kmsg
        self._kmsg_rechecks: list[asyncio.TimerHandle] = []

    # ------------------------------------------------------------ lifecycle

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        for w in self._watches.values():
            self._arm(w)
        self._schedule_vmstat()

    def stop(self) -> None:
        """Unwatch everything (kills still settling are reported now)."""
        for name in list(self._watches):
            self.unwatch(name)
        self._cancel_vmstat_timers()
        if self._vmstat_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._vmstat_fd)
            self._vmstat_fd = -1
        self._vmstat_last = None
        if self._inotify is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._inotify.fileno())
            self._inotify.close()
            self._inotify = None
        self._loop = None

    def follow_kmsg(self, active: Callable[[], bool] | None) -> None:
        """Whether /dev/kmsg reports the kills: ``active`` says so while it does (None: no kmsg).

        While it does, call :meth:`kmsg_oom` for each OOM it reports; /proc/vmstat is then only
        polled as a backstop. The owner calls ``follow_kmsg(None)`` when the source stops (the
        ``vmstat_interval`` poll resumes at once); ``active`` is also asked at each poll.
        """
        self._kmsg_active = active
        self._kmsg_seen = active is not None and active()
        self._schedule_vmstat(rearm=True)

    def kmsg_oom(self) -> None:
        """kmsg reported an OOM kill: check /proc/vmstat now rather than at the next poll."""
        loop = self._loop
        if loop is None or not self._has_v1():
            return
        self._fast_until = loop.time() + KMSG_FAST_HOLD
        for t in self._kmsg_rechecks:
            t.cancel()
        self._kmsg_rechecks = []
        if not self._check_vmstat():  # not counted yet: the kernel prints the summary first
            self._kmsg_rechecks = [loop.call_later(d, self._kmsg_recheck) for d in KMSG_RECHECK_DELAYS]
        self._schedule_vmstat(rearm=True)

    def vmstat_delay(self) -> float | None:
        """Seconds until the armed /proc/vmstat poll, or None when none is armed."""
        if self._vmstat_timer is None or self._loop is None:
            return None
        return self._vmstat_timer.when() - self._loop.time()

    def watch_count(self) -> int:
        return len(self._watches)

    def watched(self, name: str) -> bool:
        return name in self._watches

    # ------------------------------------------------------------ watch / unwatch

    def watch(self, name: str, cgroup_dir: str) -> bool:
        """Start counting OOM kills of container ``name`` in its memory cgroup ``cgroup_dir``.

        False when the directory offers no OOM kill counter (neither v2 ``memory.events`` nor a v1
        ``memory.oom_control`` with ``oom_kill``) or it cannot be opened.
        """
        if name in self._watches:
            self.unwatch(name)
        w = self._open(name, cgroup_dir)
        if w is None:
            return False
        self._watches[name] = w
        if self._loop is not None:
            self._arm(w)
            self._schedule_vmstat()
        return True

    def unwatch(self, name: str) -> None:
        """Stop watching ``name``; kills counted but not yet reported are reported first."""
        w = self._watches.pop(name, None)
        if w is None:
            return
        self._settle(w, force=True)
        for t in w.rechecks:
            t.cancel()
        w.rechecks.clear()
        if w.version == 1:
            if w.reader_on and self._loop is not None:
                self._loop.remove_reader(w.efd)
            if w.efd >= 0:
                # Closing the eventfd makes the kernel drop the registration (memcg_event_wake on EPOLLHUP).
                with contextlib.suppress(OSError):
                    os.close(w.efd)
        else:
            self._by_wd.pop(w.wd, None)
            if self._inotify is not None and w.wd >= 0:
                with contextlib.suppress(OSError):
                    self._inotify.rm_watch(w.wd)
        w.reader_on = False
        if w.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(w.fd)

    def check(self, name: str) -> None:
        """Read a watched cgroup's counters now (without waiting for a notification)."""
        w = self._watches.get(name)
        if w is None:
            return
        if w.version == 2:
            self._read_v2(w, self._clock())
        else:
            self._read_v1(w, self._clock())

    def _open(self, name: str, cgroup_dir: str) -> _Watch | None:
        for fname in ("memory.events.local", "memory.events"):
            path = os.path.join(cgroup_dir, fname)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            except OSError as e:
                log.warning("cannot watch OOM kills of %s: %s: %s", name, path, e)
                return None
            try:
                c = parse_keyed(os.pread(fd, 4096, 0))
            except OSError as e:
                os.close(fd)
                log.debug("cannot read %s: %s", path, e)
                return None
            if b"oom_kill" not in c:
                os.close(fd)
                return None
            return _Watch(name, cgroup_dir, 2, fname, fd, c[b"oom_kill"], c.get(b"oom", 0), c.get(b"max", 0))
        path = os.path.join(cgroup_dir, "memory.oom_control")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            if e.errno != errno.ENOENT:
                log.warning("cannot watch OOM kills of %s: %s: %s", name, path, e)
            return None
        try:
            c = parse_keyed(os.pread(fd, 4096, 0))
            if b"oom_kill" not in c:  # Linux < 4.13: no counter; kmsg is the only source
                os.close(fd)
                return None
            efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        except OSError as e:
            os.close(fd)
            log.debug("cannot read %s: %s", path, e)
            return None
        try:
            # memory.rst §10: write "<event_fd> <fd of memory.oom_control>" to cgroup.event_control.
            ctl = os.open(os.path.join(cgroup_dir, "cgroup.event_control"), os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(ctl, f"{efd} {fd}".encode())
            finally:
                os.close(ctl)
        except OSError as e:
            # Without the notification the vmstat poll still finds every kill, only later.
            log.debug("no OOM notification for %s (%s); polling only", name, e)
            os.close(efd)
            efd = -1
        finally:
            # The registration holds the cgroup, not this file: keep one fd (the eventfd) per
            # container and re-open memory.oom_control on the rare reads (a wake, a vmstat change).
            os.close(fd)
        return _Watch(name, cgroup_dir, 1, "memory.oom_control", -1, c[b"oom_kill"], efd=efd)

    def _arm(self, w: _Watch) -> None:
        loop = self._loop
        if loop is None or w.reader_on:
            return
        if w.version == 1:
            if w.efd >= 0:
                loop.add_reader(w.efd, self._on_v1_event, w)
                w.reader_on = True
            return
        if self._inotify is None:
            self._inotify = INotify(nonblocking=True)
            loop.add_reader(self._inotify.fileno(), self._on_inotify)
        try:
            w.wd = self._inotify.add_watch(os.path.join(w.dir, w.file), _IN_MODIFY)
        except OSError as e:
            log.warning("cannot watch %s for OOM kills: %s", w.name, e)
            return
        self._by_wd[w.wd] = w
        w.reader_on = True

    # ------------------------------------------------------------ v1

    def _on_v1_event(self, w: _Watch) -> None:
        try:
            os.eventfd_read(w.efd)
        except BlockingIOError:
            return
        except OSError:
            pass
        now = self._clock()
        # This cgroup or an ancestor hit its limit and the killer is about to act (or the cgroup
        # is being removed): note who is here first, then look at the counter.
        self._limit_marks[w.name] = now
        self._note(w, now, force=True)
        if not self._read_v1(w, now):
            return
        loop = self._loop
        if loop is not None:  # the kill follows the notification: look again shortly
            for t in w.rechecks:
                t.cancel()
            w.rechecks = [loop.call_later(d, self._recheck, w) for d in V1_RECHECK_DELAYS]

    def _recheck(self, w: _Watch) -> None:
        if self._watches.get(w.name) is w:
            self._read_v1(w, self._clock())

    def _read_v1(self, w: _Watch, now: int) -> bool:
        try:
            c = parse_keyed(read_bytes(os.path.join(w.dir, w.file)))
        except OSError as e:
            if e.errno in (errno.ENODEV, errno.ENOENT):  # cgroup removed (the kernel also signals the eventfd)
                self.unwatch(w.name)
            else:
                log.debug("reading %s/memory.oom_control: %s", w.dir, e)
            return False
        self._count(w, c.get(b"oom_kill", w.kills), now)
        return True

    def _has_v1(self) -> bool:
        return any(w.version == 1 for w in self._watches.values())

    def _poll_vmstat(self) -> None:
        self._vmstat_timer = None
        if self._loop is None:
            return
        self._check_vmstat()
        self._schedule_vmstat()

    def _kmsg_recheck(self) -> None:
        if self._loop is not None and self._check_vmstat():
            for t in self._kmsg_rechecks:
                t.cancel()
            self._kmsg_rechecks = []

    def _check_vmstat(self) -> bool:
        """Read /proc/vmstat ``oom_kill``; when it rose, re-read every v1 counter. True if it rose."""
        total = self._read_vmstat()
        if total is None or total == self._vmstat_last:
            return False
        first = self._vmstat_last is None
        self._vmstat_last = total
        if first:
            return False
        now = self._clock()
        for w in list(self._watches.values()):
            if w.version == 1:
                self._read_v1(w, now)
        return True

    def _read_vmstat(self) -> int | None:
        """The held /proc/vmstat's ``oom_kill``; on an error the file is re-opened once."""
        path = os.path.join(self._paths.proc, "vmstat")
        for retry in (False, True):
            if self._vmstat_fd < 0:
                try:
                    self._vmstat_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError as e:
                    log.debug("cannot open %s: %s", path, e)
                    return None
            try:
                return pread_vmstat_oom_kill(self._vmstat_fd)
            except OSError as e:
                with contextlib.suppress(OSError):
                    os.close(self._vmstat_fd)
                self._vmstat_fd = -1
                if retry:
                    log.debug("cannot read %s: %s", path, e)
        return None

    def _vmstat_period(self, loop: asyncio.AbstractEventLoop) -> float:
        """The poll interval now: the backstop while kmsg reports the kills, outside an OOM burst."""
        active = self._kmsg_active is not None and self._kmsg_active()
        if self._kmsg_seen and not active:
            log.info("kmsg stopped: polling /proc/vmstat every %g s for global OOM kills", self._vmstat_interval)
        self._kmsg_seen = active
        if not active or loop.time() < self._fast_until:
            return self._vmstat_interval
        return self._vmstat_backstop

    def _schedule_vmstat(self, *, rearm: bool = False) -> None:
        """Arm the next poll (if none is armed, or replacing it when ``rearm``: the interval changed)."""
        loop = self._loop
        if loop is None or self._vmstat_interval <= 0:
            return
        if self._vmstat_timer is not None:
            if not rearm:
                return
            self._vmstat_timer.cancel()
            self._vmstat_timer = None
        if not self._has_v1():
            return
        if self._vmstat_last is None:
            self._vmstat_last = self._read_vmstat()
        self._vmstat_timer = loop.call_later(self._vmstat_period(loop), self._poll_vmstat)

    def _cancel_vmstat_timers(self) -> None:
        if self._vmstat_timer is not None:
            self._vmstat_timer.cancel()
            self._vmstat_timer = None
        for t in self._kmsg_rechecks:
            t.cancel()
        self._kmsg_rechecks = []

    # ------------------------------------------------------------ v2

    def _on_inotify(self) -> None:
        ino = self._inotify
        if ino is None:
            return
        try:
            events = ino.read(timeout=0)
        except BlockingIOError:
            return
        now = self._clock()
        seen: dict[int, _Watch] = {}
        gone: list[_Watch] = []
        for ev in events:
            w = self._by_wd.get(ev.wd)
            if w is None:
                continue
            if ev.mask & _IN_IGNORED:  # the file went away with its cgroup
                gone.append(w)
            else:
                seen[ev.wd] = w
        # Parents first, so a limit hit is marked before the kills below it are counted.
        for w in sorted(seen.values(), key=lambda w: _depth(w.name)):
            self._read_v2(w, now)
        for w in gone:
            if self._watches.get(w.name) is w:
                self._by_wd.pop(w.wd, None)
                w.wd = -1  # the kernel already dropped it
                self.unwatch(w.name)

    def _read_v2(self, w: _Watch, now: int) -> None:
        try:
            c = parse_keyed(os.pread(w.fd, 4096, 0))
        except OSError as e:
            if e.errno in (errno.ENODEV, errno.ENOENT):
                self.unwatch(w.name)
            return
        if b"oom_kill" not in c:  # a partial read (a fixture being rewritten)
            return
        ooms, maxes = c.get(b"oom", w.ooms), c.get(b"max", w.maxes)
        oom_rose, max_rose = ooms > w.ooms, maxes > w.maxes
        w.ooms, w.maxes = ooms, maxes
        if oom_rose:
            self._limit_marks[w.name] = now
        if oom_rose or max_rose:
            # Notes merge, so a victim noted at an earlier "max" survives a note taken after its death.
            self._note_subtree(w, now, force=oom_rose)
        self._count(w, c[b"oom_kill"], now)

    # ------------------------------------------------------------ shared

    def _note(self, w: _Watch, now: int, *, force: bool = False) -> None:
        if not force and now - w.noted_at < NOTE_MIN_INTERVAL_NS:
            return
        fresh = note_processes(self._paths, w.dir, now)
        keep_after = now - NOTE_KEEP_NS
        for pid, p in w.notes.items():
            if pid not in fresh and p.seen_ns >= keep_after:
                fresh[pid] = p
        w.notes = fresh
        w.noted_at = now

    def _note_subtree(self, w: _Watch, now: int, *, force: bool) -> None:
        prefix = w.dir.rstrip("/") + "/"
        for other in list(self._watches.values()):
            if other is w or other.dir.startswith(prefix):
                self._note(other, now, force=force)

    def _count(self, w: _Watch, kills: int, now: int) -> None:
        n = kills - w.kills
        w.kills = kills
        if n <= 0:
            return
        if not w.unreported:
            w.counted_at = now
        w.unreported += n
        self._settle(w)

    def _settle(self, w: _Watch, *, force: bool = False) -> None:
        """Report counted kills once their victims have left the cgroup (or waiting is pointless)."""
        if w.settle_timer is not None:
            w.settle_timer.cancel()
            w.settle_timer = None
        n = w.unreported
        if n <= 0:
            return
        now = self._clock()
        keep_after = now - NOTE_KEEP_NS
        live = [p for p in w.notes.values() if p.seen_ns >= keep_after]
        gone: list[NotedProcess] = []
        if live:
            still = read_cgroup_pids(w.dir) or set()
            gone = [p for p in live if p.pid not in still]
        waiting_helps = len(gone) < n and len(live) > len(gone)
        if waiting_helps and not force and self._loop is not None and now - w.counted_at < SETTLE_MAX_NS:
            w.settle_timer = self._loop.call_later(SETTLE_STEP, self._settle, w)
            return
        gone.sort(key=lambda p: (p.seen_ns, p.oom_score), reverse=True)
        victims = gone[:n]
        for v in victims:
            del w.notes[v.pid]
        limit = self._limit_cgroup(w.name, now)
        w.unreported = 0
        for i in range(n):
            known = victims[i] if i < len(victims) else None
            inst = OomInstance(
                container_name=w.name,
                victim_container_name=limit if limit is not None else "/",
                pid=known.pid if known else 0,
                process_name=known.name if known else "",
                constraint=CONSTRAINT_MEMCG if limit is not None else "",
                time_ns=w.counted_at,
            )
            try:
                self._on_kill(inst)
            except Exception:
                log.exception("OOM callback failed for %s", inst)

    def _limit_cgroup(self, task_cgroup: str, now: int) -> str | None:
        """The shallowest recently limit-hit cgroup at or above ``task_cgroup``; None: a global OOM."""
        cutoff = now - self._limit_window_ns
        best: str | None = None
        for name, t in list(self._limit_marks.items()):
            if t < cutoff:
                del self._limit_marks[name]
            elif _is_within(task_cgroup, name) and (best is None or _depth(name) < _depth(best)):
                best = name
        return best


def _depth(name: str) -> int:
    return 0 if name == "/" else name.count("/")


def _is_within(name: str, ancestor: str) -> bool:
    return ancestor == "/" or name == ancestor or name.startswith(ancestor + "/")
