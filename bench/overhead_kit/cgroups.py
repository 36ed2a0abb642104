"""The benchmark's cgroups: N leaves ``/pycadbench-<id>/c<i>``, one sleeping process each, always removed.

On a cgroup v1 or hybrid host the leaves are made in every v1 hierarchy pycadvisor reads (cpu,
cpuacct, cpuset, memory, blkio, pids: cAdvisor's supported subsystems less the ones not collected);
on a pure cgroup2 host in the single tree, with the controllers enabled in ``cgroup.subtree_control``.
Meter cgroups ``/pycadbench-<id>/meters/<name>`` hold a measured process (and its children) in
cpuacct alone, so its CPU time is read to the nanosecond from ``cpuacct.usage`` (v2: ``cpu.stat``
``usage_usec``), dead children included.

Ownership of each prefix is recorded in ``/run/pycadbench/<id>`` (owner PID and start time) before
anything is made; :func:`sweep_stale` removes the prefixes of owners that are gone (a run that was
SIGKILLed), and nothing else.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from overhead_kit.cleanup import Cleanup
from overhead_kit.procfs import start_time

PREFIX = "pycadbench-"
REGISTRY_DIR = "/run/pycadbench"
# cAdvisor's container/libcontainer supportedSubsystems that pycadvisor collects, and their v2 names.
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "blkio", "pids")
V2_CONTROLLERS = ("cpu", "cpuset", "memory", "io", "pids")


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the benchmark's cgroups go: v1 controller -> hierarchy root, or the one v2 root."""

    version: int
    roots: dict[str, str]

    def unique_roots(self) -> list[str]:
        return list(dict.fromkeys(self.roots.values()))

    @property
    def meter_root(self) -> str:
        """The hierarchy that counts CPU time: cpuacct on v1, the single tree on v2."""
        return self.roots["cpuacct"] if self.version == 1 else self.unique_roots()[0]


def parse_cgroup_mounts(mountinfo: str) -> list[tuple[int, str, frozenset[str]]]:
    """``(version, mountpoint, controllers)`` of each cgroup hierarchy mounted at its root (proc(5) mountinfo).

    v1 controllers come from the super options (``rw,cpu,cpuacct``); cgroup2 has an empty set here.
    """
    out: list[tuple[int, str, frozenset[str]]] = []
    seen: set[tuple[int, frozenset[str]]] = set()
    for line in mountinfo.splitlines():
        pre, sep, post = line.partition(" - ")
        fields = pre.split()
        rest = post.split()
        if not sep or len(fields) < 5 or len(rest) < 3 or fields[3] != "/":
            continue
        fstype, superopts = rest[0], rest[2]
        if fstype == "cgroup2":
            key: tuple[int, frozenset[str]] = (2, frozenset())
        elif fstype == "cgroup":
            key = (1, frozenset(o for o in superopts.split(",") if o not in ("rw", "ro") and "=" not in o))
        else:
            continue
        if key not in seen:
            seen.add(key)
            out.append((key[0], fields[4].replace("\\040", " "), key[1]))
    return out


def choose_layout(mounts: list[tuple[int, str, frozenset[str]]], v2_controllers: frozenset[str]) -> Layout | None:
    """v1 whenever a v1 hierarchy carries cpuacct (hybrid hosts too), else the cgroup2 tree."""
    roots = {c: mp for v, mp, ctrls in mounts if v == 1 for c in ctrls if c in V1_CONTROLLERS}
    if "cpuacct" in roots:
        return Layout(1, {c: roots[c] for c in V1_CONTROLLERS if c in roots})
    for v, mp, _ in mounts:
        if v == 2:
            return Layout(2, {c: mp for c in V2_CONTROLLERS if c in v2_controllers} or {"cpu": mp})
    return None


def cgroup_mountpoints(proc: str = "/proc") -> list[str]:
    """Every mounted cgroup hierarchy's root (v1 and cgroup2)."""
    with open(os.path.join(proc, "self/mountinfo")) as f:
        return [mp for _, mp, _ in parse_cgroup_mounts(f.read())]


def host_layout(proc: str = "/proc") -> Layout | None:
    """The layout of this host's cgroup mounts (None when no usable hierarchy is mounted)."""
    with open(os.path.join(proc, "self/mountinfo")) as f:
        mounts = parse_cgroup_mounts(f.read())
    v2_ctrls: frozenset[str] = frozenset()
    for v, mp, _ in mounts:
        if v == 2:
            with contextlib.suppress(OSError), open(os.path.join(mp, "cgroup.controllers")) as f:
                v2_ctrls = frozenset(f.read().split())
    return choose_layout(mounts, v2_ctrls)


# ---------------------------------------------------------------- low-level tree operations


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, value: str) -> None:
    # cgroup control files take one record per write(2).
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _join(procs_files: list[str]) -> None:
    """Move the calling process into every given ``cgroup.procs`` (a ``preexec_fn``)."""
    pid = str(os.getpid())
    for f in procs_files:
        _write(f, pid)


def _procs(path: str) -> list[int]:
    try:
        return [int(x) for x in _read(os.path.join(path, "cgroup.procs")).split()]
    except OSError:
        return []


def kill_tree(path: str, *, timeout: float = 15.0) -> None:
    """SIGKILL every process in the cgroup at ``path`` and below, then rmdir it depth-first."""
    if not os.path.isdir(path):
        return
    deadline = time.monotonic() + timeout
    for d in [d for d, _, _ in os.walk(path, topdown=False)]:
        while True:
            for pid in _procs(d):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                # EBUSY while killed tasks finish exiting.
                if e.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)


def sweep_stale(layout: Layout, registry_dir: str = REGISTRY_DIR) -> list[str]:
    """Remove ``pycadbench-*`` prefixes whose recorded owner process is gone; returns their names."""
    removed: set[str] = set()
    for root in layout.unique_roots():
        try:
            entries = os.listdir(root)
        except OSError:
            continue
        for entry in entries:
            if entry.startswith(PREFIX) and not _owner_alive(os.path.join(registry_dir, entry[len(PREFIX) :])):
                kill_tree(os.path.join(root, entry))
                removed.add("/" + entry)
    with contextlib.suppress(FileNotFoundError):
        for rec in os.listdir(registry_dir):
            path = os.path.join(registry_dir, rec)
            if not _owner_alive(path) and not any(
                os.path.exists(os.path.join(r, PREFIX + rec)) for r in layout.unique_roots()
            ):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
    return sorted(removed)


def _owner_alive(record: str) -> bool:
    try:
        pid_s, start_s = _read(record).split()[:2]
    except (OSError, ValueError):
        return False
    return start_time(int(pid_s)) == int(start_s)


# ---------------------------------------------------------------- the benchmark's tree


class Meter:
    """A cgroup holding one measured process tree in the CPU-accounting hierarchy only."""

    def __init__(self, path: str, version: int) -> None:
        self.path = path
        self.version = version
        self.procs_file = os.path.join(path, "cgroup.procs")

    def usage_ns(self) -> int:
        """CPU time used by every task that ever ran in the cgroup (cpuacct.usage; v2 cpu.stat usage_usec)."""
        if self.version == 1:
            return int(_read(os.path.join(self.path, "cpuacct.usage")))
        for line in _read(os.path.join(self.path, "cpu.stat")).splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) * 1000
        raise ValueError(f"{self.path}/cpu.stat has no usage_usec")

    def enter(self) -> None:
        """Move the calling process into the meter (use as ``preexec_fn``, before exec)."""
        _write(self.procs_file, str(os.getpid()))


class BenchCgroups:
    """``n`` leaf cgroups under a fresh ``/pycadbench-<id>``, each with one ``sleep``; close() removes all."""

    def __init__(self, n: int, layout: Layout, *, registry_dir: str = REGISTRY_DIR) -> None:
        self.n = n
        self.layout = layout
        self.id = uuid.uuid4().hex[:8]
        self.prefix = PREFIX + self.id
        #: The prefix's cAdvisor container name, e.g. ``/pycadbench-1a2b3c4d``.
        self.name = "/" + self.prefix
        self._registry = os.path.join(registry_dir, self.id)
        self._sleeps: list[subprocess.Popen[bytes]] = []
        self._meters: list[Meter] = []
        self._made = False
        self._closed = False

    def leaf_names(self) -> list[str]:
        return [f"{self.name}/c{i}" for i in range(self.n)]

    def sleep_pids(self) -> list[int]:
        return [p.pid for p in self._sleeps]

    def _dirs(self, rel: str) -> Iterator[tuple[str, str]]:
        for root in self.layout.unique_roots():
            yield root, os.path.join(root, rel)

    def create(self) -> None:
        """Record ownership, make the prefix and the leaves, start one sleep in each leaf."""
        os.makedirs(os.path.dirname(self._registry), exist_ok=True)
        with open(self._registry, "w") as f:
            f.write(f"{os.getpid()} {start_time(os.getpid())}\n")
        self._made = True
        for root, path in self._dirs(self.prefix):
            self._mkdir(root, path)
        for i in range(self.n):
            rel = f"{self.prefix}/c{i}"
            paths = []
            for _, path in self._dirs(rel):
                self._mkdir(os.path.join(path, ".."), path)
                paths.append(path)
            # The sleep joins its cgroup before exec, so exec's page faults and CPU are charged there
            # and the leaf looks like a small live container (v1 does not move charges on attach).
            procs = [os.path.join(path, "cgroup.procs") for path in paths]
            p = subprocess.Popen(
                ["sleep", "86400"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=functools.partial(_join, procs),
            )
            self._sleeps.append(p)

    def _mkdir(self, parent: str, path: str) -> None:
        os.mkdir(path)
        parent = os.path.normpath(parent)
        if self.layout.version == 1:
            # cgroup v1 cpuset: a new cgroup starts with empty cpus/mems and refuses tasks until both
            # are set (Documentation/admin-guide/cgroup-v1/cpusets.rst).
            for f in ("cpuset.cpus", "cpuset.mems"):
                child = os.path.join(path, f)
                if os.path.exists(child) and not _read(child).strip():
                    _write(child, _read(os.path.join(parent, f)).strip())
        else:
            # cgroup2: a child gets only the controllers enabled in its parent's subtree_control.
            avail = set(_read(os.path.join(parent, "cgroup.controllers")).split())
            want = [c for c in V2_CONTROLLERS if c in avail]
            if want:
                with contextlib.suppress(OSError):
                    _write(os.path.join(parent, "cgroup.subtree_control"), " ".join("+" + c for c in want))

    def meter(self, name: str) -> Meter:
        """A fresh meter cgroup ``/pycadbench-<id>/meters/<name>`` (removed by close())."""
        root = self.layout.meter_root
        base = os.path.join(root, self.prefix, "meters")
        if not os.path.isdir(base):
            os.mkdir(base)
        path = os.path.join(base, name)
        os.mkdir(path)
        m = Meter(path, self.layout.version)
        self._meters.append(m)
        return m

    def close(self) -> None:
        """Kill the sleeps (by PID) and whatever is left in the tree, rmdir depth-first; idempotent."""
        if self._closed:
            return
        self._closed = True
        for p in self._sleeps:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
        for p in self._sleeps:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)
        if not self._made:
            return
        for _, path in self._dirs(self.prefix):
            kill_tree(path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._registry)


def bench_cgroups(n: int, cleanup: Cleanup) -> BenchCgroups:
    """``n`` benchmark cgroups on this host's layout (not made yet: ``create()``), after sweeping what a killed
    run left; their removal is pushed to ``cleanup``, which must be installed."""
    layout = host_layout()
    if layout is None:
        raise SystemExit("no cgroup hierarchy found")
    sweep_stale(layout)
    cg = BenchCgroups(n, layout)
    cleanup.push("cgroups", cg.close)
    return cg
