"""Real cgroups for integration tests: :class:`TestCgroup` and the sweep of stale test cgroups.

A TestCgroup lives at ``pycadtest-<uuid8>/<name>`` below the root of every cgroup v1 hierarchy
pycadvisor reads (cpu, cpuacct, cpuset, memory, blkio, pids), or in the single cgroup2 tree on a
pure-v2 host, so cAdvisor names it ``/pycadtest-<uuid8>/<name>``. Closing it kills every process
inside and removes the directories depth-first, whatever happened in the test.

Ownership of each ``pycadtest-<uuid8>`` prefix is recorded in ``/run/pycadtest/<uuid8>`` (owner
PID and start time) before the directory is made; :func:`sweep_stale` removes only prefixes whose
owner is gone, so concurrent test runs on one machine leave each other alone.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import signal
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from support.procs import pid_start_time

PREFIX = "pycadtest-"
REGISTRY_DIR = "/run/pycadtest"
# The v1 controllers pycadvisor reads (cAdvisor's container/libcontainer supportedSubsystems, less
# the ones this project does not collect) and their cgroup2 counterparts (blkio -> io, cpuacct -> cpu).
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "blkio", "pids")
V2_CONTROLLERS = ("cpu", "cpuset", "memory", "io", "pids")


class Stoppable(Protocol):
    def stop(self, timeout: float = ...) -> int: ...


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """One mounted cgroup hierarchy: v1 with its controllers, or the cgroup2 tree."""

    mountpoint: str
    version: int
    controllers: frozenset[str]


def parse_cgroup_mounts(mountinfo: str) -> list[Hierarchy]:
    """Cgroup hierarchies mounted at their root, from /proc/<pid>/mountinfo text (proc(5)).

    v1 controllers come from the super options (``rw,cpu,cpuacct``; ``name=systemd`` has none);
    a hierarchy mounted more than once is listed once (the first mount). cgroup2 entries get an
    empty controller set; see :func:`host_hierarchies` for reading ``cgroup.controllers``.
    """
    out: list[Hierarchy] = []
    seen: set[tuple[int, frozenset[str]]] = set()
    for line in mountinfo.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        fields = pre.split()
        fstype, _source, superopts = [*post.split(), "", "", ""][:3]
        if fstype not in ("cgroup", "cgroup2") or len(fields) < 5 or fields[3] != "/":
            continue
        mountpoint = fields[4].replace("\\040", " ")
        if fstype == "cgroup2":
            key: tuple[int, frozenset[str]] = (2, frozenset())
            hier = Hierarchy(mountpoint, 2, frozenset())
        else:
            ctrls = frozenset(o for o in superopts.split(",") if o not in ("rw", "ro") and "=" not in o)
            key = (1, ctrls)
            hier = Hierarchy(mountpoint, 1, ctrls)
        if key not in seen:
            seen.add(key)
            out.append(hier)
    return out


def host_hierarchies(proc: str = "/proc") -> list[Hierarchy]:
    """The hierarchies mounted for this process, cgroup2 with its available controllers."""
    with open(os.path.join(proc, "self/mountinfo")) as f:
        hiers = parse_cgroup_mounts(f.read())
    out = []
    for h in hiers:
        if h.version == 2:
            try:
                with open(os.path.join(h.mountpoint, "cgroup.controllers")) as f:
                    h = Hierarchy(h.mountpoint, 2, frozenset(f.read().split()))
            except OSError:
                pass
        out.append(h)
    return out


@dataclass(frozen=True, slots=True)
class Layout:
    """Where test cgroups go: v1 controller -> hierarchy root, or the single v2 root."""

    version: int
    roots: dict[str, str]  # controller -> mountpoint (v2: every controller -> the one mountpoint)

    def unique_roots(self) -> list[str]:
        return list(dict.fromkeys(self.roots.values()))


def choose_layout(hierarchies: Sequence[Hierarchy]) -> Layout | None:
    """v1 when any v1 hierarchy carries a controller we read (also on hybrid hosts), else pure v2."""
    roots = {c: h.mountpoint for h in hierarchies if h.version == 1 for c in h.controllers if c in V1_CONTROLLERS}
    if roots:
        return Layout(1, {c: roots[c] for c in V1_CONTROLLERS if c in roots})
    for h in hierarchies:
        if h.version == 2:
            return Layout(2, {c: h.mountpoint for c in V2_CONTROLLERS if c in h.controllers})
    return None


def host_layout() -> Layout | None:
    return choose_layout(host_hierarchies())


def with_perf_event(layout: Layout, hierarchies: Sequence[Hierarchy]) -> Layout:
    """``layout`` plus the hierarchy perf events are counted in: perf_event's v1 mount, else, on a hybrid
    host where perf_event is bound to no v1 hierarchy, the cgroup2 tree (the kernel enables it there
    implicitly: Documentation/admin-guide/cgroup-v2.rst, "perf_event")."""
    if layout.version == 2 or "perf_event" in layout.roots:
        return layout
    v1 = next((h.mountpoint for h in hierarchies if h.version == 1 and "perf_event" in h.controllers), None)
    v2 = next((h.mountpoint for h in hierarchies if h.version == 2), None)
    root = v1 or v2
    return layout if root is None else Layout(layout.version, {**layout.roots, "perf_event": root})


def perf_event_layout() -> Layout | None:
    """The host's layout for a test cgroup whose tasks perf counts (``TestCgroup(..., layout=...)``)."""
    hiers = host_hierarchies()
    layout = choose_layout(hiers)
    return None if layout is None else with_perf_event(layout, hiers)


# ---------------------------------------------------------------- low-level tree operations


def _read(path: str) -> str:
    with open(path) as f:
        text: str = f.read()
    return text


def _write(path: str, value: str) -> None:
    # One write() per value: cgroup files take a single record per write.
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _procs(path: str) -> list[int]:
    try:
        return [int(x) for x in _read(os.path.join(path, "cgroup.procs")).split()]
    except FileNotFoundError:
        return []


def kill_tree(path: str, *, timeout: float = 10.0) -> None:
    """SIGKILL every process in the cgroup at ``path`` and below, then rmdir it depth-first."""
    if not os.path.isdir(path):
        return
    dirs = [d for d, _, _ in os.walk(path, topdown=False)]
    deadline = time.monotonic() + timeout
    for d in dirs:
        while True:
            kill_file = os.path.join(d, "cgroup.kill")  # cgroup2, Linux 5.14
            if os.path.exists(kill_file):
                with contextlib.suppress(OSError):
                    _write(kill_file, "1")
            for pid in _procs(d):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                # EBUSY while killed tasks finish exiting (or a child appeared): retry until the deadline.
                if e.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)


def rmdir_everywhere(name: str, *, timeout: float = 0.0, base: str = "/sys/fs/cgroup") -> list[str]:
    """rmdir cgroup ``name`` and its descendants, depth-first, in every hierarchy under ``base``.

    For trees a runtime made and left empty (a runtime's monitor may linger a moment after the
    container is removed): retried until ``timeout``; returns the directories still there.
    """
    unified = os.path.exists(os.path.join(base, "cgroup.controllers"))
    roots = [base] if unified else [os.path.join(base, d) for d in os.listdir(base)]
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for root in roots:
            top = os.path.join(root, name.lstrip("/"))
            for d, _, _ in os.walk(top, topdown=False) if os.path.isdir(top) else ():
                try:
                    os.rmdir(d)
                except OSError:
                    left.append(d)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def _copy_cpuset(parent: str, child: str) -> None:
    # cgroup v1 cpuset: a new cgroup starts with empty cpus/mems, and attaching a task fails with
    # ENOSPC until both are set (Documentation/admin-guide/cgroup-v1/cpusets.rst).
    for f in ("cpuset.cpus", "cpuset.mems"):
        if not _read(os.path.join(child, f)).strip():
            _write(os.path.join(child, f), _read(os.path.join(parent, f)).strip())


def _enable_v2_controllers(path: str) -> None:
    # cgroup2: children get only the controllers enabled in the parent's cgroup.subtree_control.
    avail = set(_read(os.path.join(path, "cgroup.controllers")).split())
    want = [c for c in V2_CONTROLLERS if c in avail]
    if want:
        _write(os.path.join(path, "cgroup.subtree_control"), " ".join("+" + c for c in want))


# ---------------------------------------------------------------- ownership registry and sweep


def _owner_alive(record: str) -> bool:
    try:
        pid_s, start_s = _read(record).split()[:2]
    except (OSError, ValueError):
        return False
    return pid_start_time(int(pid_s)) == int(start_s)


def _is_test_prefix(entry: str) -> bool:
    """Exactly ``pycadtest-<8 hex>``: other names under the same prefix belong to other helpers."""
    tail = entry[len(PREFIX) :]
    return entry.startswith(PREFIX) and len(tail) == 8 and all(c in "0123456789abcdef" for c in tail)


def sweep_stale(layout: Layout | None = None, registry_dir: str = REGISTRY_DIR) -> list[str]:
    """Remove ``pycadtest-*`` cgroups whose owning test process is gone; returns their names."""
    layout = layout or perf_event_layout()  # the perf_event tree too: perf tests make cgroups there
    if layout is None:
        return []
    removed: list[str] = []
    for root in layout.unique_roots():
        try:
            entries = os.listdir(root)
        except OSError:
            continue
        for entry in entries:
            if not _is_test_prefix(entry):
                continue
            record = os.path.join(registry_dir, entry[len(PREFIX) :])
            if _owner_alive(record):
                continue
            kill_tree(os.path.join(root, entry))
            removed.append("/" + entry)
    # Records of owners that are gone and whose dirs are all removed.
    with contextlib.suppress(FileNotFoundError):
        for rec in os.listdir(registry_dir):
            path = os.path.join(registry_dir, rec)
            if not _owner_alive(path) and not any(
                os.path.exists(os.path.join(r, PREFIX + rec)) for r in layout.unique_roots()
            ):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
    return sorted(set(removed))


# ---------------------------------------------------------------- TestCgroup


class TestCgroup:
    """A real cgroup for one test, at ``/pycadtest-<uuid8>/<name>``; use as a context manager."""

    __test__ = False  # not a pytest test class

    layout: Layout
    prefix: str
    rel: str
    name: str
    version: int

    def __init__(
        self,
        name: str,
        *,
        parent: TestCgroup | None = None,
        layout: Layout | None = None,
        registry_dir: str = REGISTRY_DIR,
        create: bool = True,
    ) -> None:
        """``create=False`` (nested cgroups only): make no directory yet; :meth:`make_in` makes them one
        hierarchy at a time, as runtimes do."""
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"bad cgroup name {name!r}")
        self._parent = parent
        self._registry_dir = registry_dir
        self._children: list[TestCgroup] = []
        self._handles: list[Stoppable] = []
        self._closed = False
        if parent is not None:
            self.layout = parent.layout
            self.prefix = parent.prefix
            rel = parent.rel + "/" + name
        else:
            found = layout or host_layout()
            if found is None or not found.roots:
                raise RuntimeError("no cgroup hierarchy with a controller pycadvisor reads is mounted")
            self.layout = found
            self.prefix = PREFIX + uuid.uuid4().hex[:8]
            rel = self.prefix + "/" + name
        self.rel = rel
        #: The cAdvisor container name, e.g. ``/pycadtest-1a2b3c4d/burner``.
        self.name = "/" + rel
        self.version = self.layout.version
        if create or parent is None:
            self._create()

    # -- creation

    def _create(self) -> None:
        try:
            if self._parent is None:
                os.makedirs(self._registry_dir, exist_ok=True)
                start = pid_start_time(os.getpid())
                with open(os.path.join(self._registry_dir, self.prefix[len(PREFIX) :]), "w") as f:
                    f.write(f"{os.getpid()} {start}\n")
                for root in self.layout.unique_roots():
                    self._mkdir(root, os.path.join(root, self.prefix))
            for root in self.layout.unique_roots():
                parent_dir = os.path.join(root, os.path.dirname(self.rel))
                self._mkdir(parent_dir, os.path.join(root, self.rel))
        except BaseException:
            self.close()
            raise

    def make_in(self, root: str) -> str:
        """Make this (nested, ``create=False``) cgroup's directory in the hierarchy mounted at ``root``."""
        path = os.path.join(root, self.rel)
        self._mkdir(os.path.dirname(path), path)
        return path

    def _mkdir(self, parent_dir: str, path: str) -> None:
        os.mkdir(path)
        if self.version == 1:
            if os.path.exists(os.path.join(path, "cpuset.cpus")):
                _copy_cpuset(parent_dir, path)
        else:
            _enable_v2_controllers(parent_dir)

    # -- access

    def path(self, controller: str = "memory") -> str:
        """Directory of this cgroup in ``controller``'s hierarchy (v2: the single directory)."""
        try:
            root = self.layout.roots[controller]
        except KeyError:
            raise KeyError(f"controller {controller!r} not available here: {sorted(self.layout.roots)}") from None
        return os.path.join(root, self.rel)

    def paths(self) -> list[str]:
        """Every directory of this cgroup, one per mounted hierarchy."""
        return [os.path.join(r, self.rel) for r in self.layout.unique_roots()]

    def _file(self, file: str) -> str:
        controller = file.split(".", 1)[0]
        if controller == "cgroup":
            return os.path.join(self.paths()[0], file)
        return os.path.join(self.path(controller), file)

    def set(self, file: str, value: str | int) -> None:
        """Write ``value`` to a control file, e.g. ``set("memory.limit_in_bytes", 64 << 20)``."""
        _write(self._file(file), str(value))

    def get(self, file: str) -> str:
        """Content of a control file, e.g. ``get("cpuacct.usage")``."""
        return _read(self._file(file))

    def get_int(self, file: str) -> int:
        return int(self.get(file).strip())

    def procs_files(self) -> list[str]:
        return [os.path.join(p, "cgroup.procs") for p in self.paths()]

    def add_pid(self, pid: int) -> None:
        """Move ``pid`` (the whole process) into this cgroup in every hierarchy."""
        for f in self.procs_files():
            _write(f, str(pid))

    def pids(self) -> builtins.set[int]:
        """PIDs of processes directly in this cgroup (any hierarchy)."""
        out: builtins.set[int] = builtins.set()
        for p in self.paths():
            out.update(_procs(p))
        return out

    def child(self, name: str, *, create: bool = True) -> TestCgroup:
        """A nested cgroup ``<self.name>/<name>``, removed with this one (or earlier, by closing it);
        ``create=False``: its directories are made later, with :meth:`make_in`."""
        if self._closed:
            raise RuntimeError(f"{self.name} is closed")
        c = TestCgroup(name, parent=self, create=create)
        self._children.append(c)
        return c

    def adopt(self, handle: Stoppable) -> None:
        """Stop ``handle`` (a process started into this cgroup) when this cgroup is closed."""
        self._handles.append(handle)

    # -- cleanup

    def close(self) -> None:
        """Stop adopted processes, kill anything left, rmdir depth-first; idempotent."""
        if self._closed:
            return
        self._closed = True
        errors: list[BaseException] = []
        for c in reversed(self._children):
            try:
                c.close()
            except Exception as e:
                errors.append(e)
        for h in reversed(self._handles):
            try:
                h.stop(timeout=5.0)
            except Exception as e:
                errors.append(e)
        targets: Iterable[str] = self.paths()
        if self._parent is None:
            targets = [os.path.join(r, self.prefix) for r in self.layout.unique_roots()]
        for t in targets:
            try:
                kill_tree(t)
            except Exception as e:
                errors.append(e)
        if self._parent is None and not errors:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self._registry_dir, self.prefix[len(PREFIX) :]))
        if errors:
            raise errors[0]

    def exists(self) -> bool:
        return any(os.path.isdir(p) for p in self.paths())

    def __enter__(self) -> TestCgroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TestCgroup({self.name!r}, v{self.version})"
