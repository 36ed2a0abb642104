"""Per-container stats from cgroup files, for cgroup v1 and v2.

(As cAdvisor's ``container/libcontainer/handler.go`` with runc's ``libcontainer/cgroups/fs`` and ``fs2``.)

One :class:`CgroupCollector` per container holds its file descriptors (:class:`FileSet`) and
turns the bytes it re-reads each sample into flat ints and family tokens
(:mod:`pycadvisor.model.sample`); no object tree is built per sample. A file that does not exist
means "not collected" (the member stays ``None``); malformed content raises
:class:`pycadvisor.errors.ParseError` for that family only.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable
from dataclasses import dataclass

from pycadvisor.errors import ParseError
from pycadvisor.host.cgroups.collector_io import DiskIoFamily
from pycadvisor.host.cgroups.collector_net import NET_SETS, NetGone, NetnsFamily
from pycadvisor.host.cgroups.cpu import V1_CPU, V2_CPU, cpu_scales, cpu_values
from pycadvisor.host.cgroups.detect import CgroupMounts
from pycadvisor.host.cgroups.files import ContainerGone, FileSet
from pycadvisor.host.cgroups.hugetlb import read_hugetlb
from pycadvisor.host.cgroups.load import TaskstatsClient, open_cgroup_dir
from pycadvisor.host.cgroups.memory import V1_MEMORY, V2_MEMORY, V2_OPTIONAL_FILES, v1_memory_values, v2_memory_values
from pycadvisor.host.cgroups.numa import parse_numa_stat
from pycadvisor.host.cgroups.pids import PIDS, pids_values
from pycadvisor.host.cgroups.rows import Table
from pycadvisor.host.cgroups.samples import new_codec
from pycadvisor.host.paths import HostPaths, read_bytes
from pycadvisor.host.processes import (
    SchedstatAccumulator,
    clear_referenced,
    read_process_stats,
    read_referenced_bytes,
    read_schedstat_by_pid,
)
from pycadvisor.model.container import ContainerStats
from pycadvisor.model.sample import CPU_HEAD, SampleCodec, Token, to_array

NS_PER_S = 1_000_000_000

__all__ = ["CgroupCollector", "CollectOptions", "ContainerGone", "cgroup_dirs", "new_codec"]


@dataclass(frozen=True, slots=True)
class CollectOptions:
    """What to collect; metric-set names as in cAdvisor's ``--enable_metrics`` (``container/factory.go``)."""

    metric_sets: frozenset[str]
    clk_tck: int = 100
    paths: HostPaths = HostPaths()  # network and per-process counters come from <proc>/<pid>/...
    # maj, min -> "/dev/<name>" ("" when unknown), from the machine's disk map.
    device_name: Callable[[int, int], str] = lambda _maj, _min: ""
    # referenced_memory set: write clear_refs every this many samples of a container (0 = never).
    referenced_reset_interval: int = 0
    # -enable_load_reader: task counts from taskstats netlink (cgroup v1), and the decay of the load
    # averages per sample, exp(-interval / 10 s) as cAdvisor's manager/container.go.
    load_reader: TaskstatsClient | None = None
    load_decay: float = 0.0

    def has(self, metric_set: str) -> bool:
        return metric_set in self.metric_sets


def cgroup_dirs(mounts: CgroupMounts, name: str, rootfs_map: Callable[[str], str]) -> dict[str, str]:
    """Map each controller (``"unified"`` on v2) to the container's directory on this host."""
    rel = name.lstrip("/")
    if mounts.is_v2:
        assert mounts.v2 is not None
        return {"unified": os.path.join(rootfs_map(mounts.v2), rel)}
    dirs = {ctrl: os.path.join(rootfs_map(mp), rel) for ctrl, mp in mounts.v1.items()}
    if mounts.v2:  # hybrid: the unified tree may hold PSI files for this cgroup (docker creates them)
        dirs["unified"] = os.path.join(rootfs_map(mounts.v2), rel)
    return dirs


_SCHED: Token = ("sched",)
_REFERENCED: Token = ("ref",)
_LOAD: Token = ("load",)
# A family's files as the general path reads them: (path, keys of a flat-keyed file or None for a
# single-value file); path None when the controller's directory is not there.
_Reads = tuple[tuple[str | None, tuple[bytes, ...] | None], ...]
_CPU, _MEM = 0, 1  # the one-call families (CgroupCollector._fast_paths)


# The cgroup v2 controllers whose files the collector reads (cpu.stat's usage is there without "cpu").
V2_READ_CONTROLLERS = frozenset({"cpu", "memory", "io", "pids"})


class CgroupCollector:
    """Collects one container's samples from its cgroup directories through held descriptors."""

    __slots__ = (
        "_codec",
        "_cpu_reads",
        "_cpu_scales",
        "_cycles",
        "_dirs",
        "_diskio",
        "_expected",
        "_families",
        "_fast",
        "_fast_fds",
        "_fast_gen",
        "_fast_paths",
        "_files",
        "_init_pid",
        "_load_avg",
        "_load_d_avg",
        "_load_fd",
        "_mem_keys",
        "_mem_reads",
        "_net",
        "_opts",
        "_paths",
        "_percpu",
        "_pressure",
        "_psi_absent",
        "_sched",
        "_tick_ns",
        "_v2",
        "_v2_ctrls",
        "name",
    )

    def __init__(
        self,
        name: str,
        dirs: dict[str, str],
        *,
        is_v2: bool,
        files: FileSet,
        opts: CollectOptions,
        codec: SampleCodec | None = None,
    ) -> None:
        """``dirs``: every controller directory the container may have (from the mounts, present or
        not); only those that exist are read, and :meth:`refresh_controllers` picks up the others."""
        self.name = name
        self._expected = dict(dirs)
        self._v2 = is_v2
        self._files = files
        self._opts = opts
        self._net = NetnsFamily(files, opts.paths, opts.metric_sets)
        self._init_pid: int | None = None
        self._sched: SchedstatAccumulator | None = None
        self._cycles = 0  # samples of the referenced_memory set, for its reset interval
        self._load_fd: int | None = None  # the cpu hierarchy directory, asked about by the load reader
        self._load_avg = self._load_d_avg = -1.0  # -1: no sample yet (cAdvisor's initial loadAvg)
        self._codec = codec or new_codec()
        self._percpu = opts.has("percpu")
        self._fast = files.families
        self._tick_ns = NS_PER_S // opts.clk_tck  # cpuacct.stat counts USER_HZ ticks
        self._cpu_scales = cpu_scales(V2_CPU if is_v2 else V1_CPU, self._tick_ns)
        self._configure(self._present())
        self._v2_ctrls = self._v2_controllers()

    def _present(self) -> dict[str, str]:
        return {c: d for c, d in self._expected.items() if os.path.isdir(d)}

    def _configure(self, dirs: dict[str, str]) -> None:
        """Set up everything that follows from which controller directories exist."""
        opts, is_v2, files = self._opts, self._v2, self._files
        self._dirs = dirs
        self._paths: dict[str, str] = {}
        # Hybrid hosts: PSI only where the unified tree has the cgroup (docker creates it there).
        self._pressure = opts.has("pressure") and "unified" in dirs
        fams: list[tuple[str, Callable[[list[Token], list[int]], None]]] = [("cpu", self._cpu)]
        if opts.has("sched"):
            fams.append(("sched", self._schedstat))
        fams.append(("memory", self._memory))
        self._diskio = DiskIoFamily(
            v2=is_v2,
            read=self._read_opt,
            psi=self._psi,
            device_name=opts.device_name,
            blkio="blkio" in dirs,
            pressure=self._pressure,
        )
        for fam, fn in (
            ("diskIO", self._diskio.sample),
            ("hugetlb", self._hugetlb),
            ("process", self._processes),
            ("referenced_memory", self._referenced),
        ):
            if opts.has(fam):
                fams.append((fam, fn))
        if opts.load_reader is not None and not is_v2 and "cpu" in dirs:
            fams.append(("cpuLoad", self._load))
        self._families = tuple(fams)
        use_hierarchy = True  # v1: memory.stat's "total_" keys (host/cgroups/memory.py V1_ROWS)
        if not is_v2 and "memory" in dirs:
            try:  # read once: not worth a held descriptor
                uh: bytes | None = read_bytes(dirs["memory"] + "/memory.use_hierarchy")
            except OSError:
                uh = None
            use_hierarchy = uh is None or uh.strip() != b"0"
        mem_table = V2_MEMORY if is_v2 else V1_MEMORY
        mem_keys = V1_MEMORY.total_keys if not is_v2 and use_hierarchy else mem_table.keys
        self._mem_keys: tuple[bytes, ...] = mem_keys["memory.stat"]
        self._mem_reads = self._reads(mem_table, mem_keys)
        cpu_table = V2_CPU if is_v2 else V1_CPU
        self._cpu_reads = self._reads(cpu_table, cpu_table.keys)
        # The one-call family reads (CPU on v1, memory on both): each family's files (_CPU, _MEM; None:
        # not read that way here) and their descriptors once the general path has opened them all,
        # cached while the file set's generation stays the same.
        cpu_paths = mem_paths = None
        if self._fast is not None and all(p for p, _ in self._mem_reads):
            mem_paths = tuple(p for p, _ in self._mem_reads if p)
        if self._fast is not None and not is_v2 and self._percpu and all(p for p, _ in self._cpu_reads):
            acct = self._path("cpuacct", "cpuacct.usage_percpu")
            cpu_paths = (acct, *(p for p, _ in self._cpu_reads if p)) if acct else None
        self._fast_paths: tuple[tuple[str, ...] | None, ...] = (cpu_paths, mem_paths)
        self._fast_fds: list[tuple[int, ...] | None] = [None, None]
        self._fast_gen = files.generation
        self._psi_absent: set[str] = set()  # pressure files found missing (looked for again on a rescan)

    def refresh_controllers(self, *, reopen: bool = False, present: dict[str, str] | None = None) -> bool:
        """Look again at which controller directories exist; return True if that changed.

        Runtimes make a container's directories one hierarchy after another (runc's cgroup manager
        joins each v1 subsystem in turn, libcontainer/cgroups/fs/fs.go ``Apply``) and remove them the
        same way, so the set seen when the first one appears is not the container's. cAdvisor builds
        every controller's path from the mounts and checks existence when it reads; this does the
        same, once per call instead of once per file read. Held descriptors of a vanished controller
        are closed; a controller that appeared is read from the next sample on.

        ``reopen``: close every held descriptor, also of directories still there: one of them answered
        ENODEV, so it belongs to a cgroup removed and made again under the same name (a systemd unit
        restarting) and would never read again. ``present``: the directories that exist, if a scan listed them."""
        present = self._present() if present is None else present
        ctrls = self._v2_controllers()
        if ctrls != self._v2_ctrls:  # v2: same directory, other controller files (their absences are stale)
            self._v2_ctrls = ctrls
            self.forget_missing()
            self._configure(present)
            return True
        changed = present != self._dirs
        if not changed and not reopen:
            return False
        for ctrl, d in self._dirs.items():
            if reopen or ctrl not in present:
                self._files.forget_under(d + "/")
                if ctrl == "cpu" and self._load_fd is not None:
                    os.close(self._load_fd)
                    self._load_fd = None
        self._files.forget_missing()
        self._configure(present)
        return changed

    def _v2_controllers(self) -> frozenset[str]:
        """cgroup v2: the controllers this cgroup has (its ``cgroup.controllers``), empty elsewhere."""
        if not self._v2 or "unified" not in self._dirs:
            return frozenset()
        try:
            text = self._read_opt("unified", "cgroup.controllers")
        except (OSError, ContainerGone):  # gone: the sample says so, with its own handling
            return frozenset()
        return frozenset(text.decode().split()) if text else frozenset()

    @property
    def v2_partial(self) -> bool:
        """cgroup v2: a controller read here is not (yet) enabled for this cgroup. On v2 a cgroup gets its
        controllers from its parent's ``cgroup.subtree_control``, which may be written after the directory
        is made (kernel/cgroup/cgroup.c ``cgroup_subtree_control_write``): the files come, the directory
        stays, so nothing but this file tells."""
        return self._v2 and not V2_READ_CONTROLLERS.issubset(self._v2_ctrls)

    @property
    def complete(self) -> bool:
        """True when every controller directory the mounts give this container exists."""
        return len(self._dirs) == len(self._expected)

    # ------------------------------------------------------------------ helpers

    def _path(self, ctrl: str, fname: str) -> str | None:
        """``<dir of ctrl>/<fname>``, or ``None`` without that controller; ``fname=""`` gives the directory
        with its trailing slash. Joined once per container, not once per read (os.path.join was 18 % of
        a sample). A file name belongs to one controller within a container, so the name is the key."""
        key = fname or ctrl + "/"
        p = self._paths.get(key)
        if p is None:
            d = self._dirs.get(ctrl)
            if d is None:
                return None
            p = self._paths[key] = d + "/" + fname
        return p

    def _held(self, family: int) -> tuple[int, ...] | None:
        """The held descriptors of a one-call family's files (``_CPU``, ``_MEM``), or None until all are."""
        files = self._files
        if self._fast_gen != files.generation:  # a descriptor was closed: look them all up again
            self._fast_gen = files.generation
            self._fast_fds = [None, None]
        fds = self._fast_fds[family]
        if fds is None:
            paths = self._fast_paths[family]
            optional = V2_OPTIONAL_FILES if self._v2 and family == _MEM else 0
            fds = self._fast_fds[family] = files.held(paths, optional) if paths is not None else None
        return fds

    def _reads(self, table: Table, keys: dict[str, tuple[bytes, ...]]) -> _Reads:
        """The general path's reads of ``table``'s files. On v1 a file's name starts with its
        controller's (kernel/cgroup/cgroup.c ``cgroup_file_name``: cpuacct.stat, memory.stat)."""
        return tuple((self._path("unified" if self._v2 else f.split(".", 1)[0], f), keys.get(f)) for f in table.files)

    def _read_rows(self, reads: _Reads, *, first_required: bool) -> list[int | None] | None:
        """The values of a family's files, laid out as its table reads them (None: absent); ``None``
        when ``first_required`` and the family's own file (the first) is not there."""
        files = self._files
        out: list[int | None] = []
        for path, keys in reads:
            if keys is None:
                v = files.read_int(path) if path is not None else None
                if v is None and first_required and not out:
                    return None
                out.append(v)
                continue
            got = files.read_keyed(path, keys) if path is not None else None
            if got is None:
                if first_required and not out:
                    return None
                got = (None,) * len(keys)
            out += got
        return out

    def _read_opt(self, ctrl: str, fname: str) -> bytes | None:
        p = self._path(ctrl, fname)
        return None if p is None else self._files.read(p)

    @property
    def expected(self) -> dict[str, str]:  # every controller directory the container may have, present or not
        return self._expected

    @property
    def dirs(self) -> dict[str, str]:
        """The container's directory per controller (``"unified"`` on v2)."""
        return self._dirs

    def exists(self) -> bool:
        """True while any of the container's cgroup directories exists (on hybrid hosts the unified
        twin alone does not count: names come from the v1 hierarchies)."""
        return any(os.path.isdir(d) for c, d in self._expected.items() if c != "unified" or self._v2)

    def close(self) -> None:
        self._files.close()
        if self._load_fd is not None:
            os.close(self._load_fd)
            self._load_fd = None

    def forget_missing(self) -> None:
        self._files.forget_missing()
        self._psi_absent.clear()
        self._diskio.forget_plans()

    # ------------------------------------------------------------------ sample

    def sample(self, *, now_ns: int, pid: int | None) -> tuple[list[Token], list[int], list[tuple[str, Exception]]]:
        """Read one sample as family tokens and flat values (:mod:`pycadvisor.model.sample`).

        Returns ``(tokens, values, errors)``: ``values[0]`` is ``now_ns``; ``errors`` holds the
        (family, error) pairs of families that failed, whose tokens and values are left out.
        """
        self._init_pid = pid
        tokens: list[Token] = []
        vals: list[int] = [now_ns]
        errors: list[tuple[str, Exception]] = []
        opts = self._opts
        for fam, fn in self._families:
            nt, nv = len(tokens), len(vals)
            try:
                fn(tokens, vals)
            except ContainerGone:
                raise
            except (ValueError, IndexError, KeyError) as e:
                del tokens[nt:], vals[nv:]
                errors.append((fam, ParseError(self.name, f"{fam}: {e}")))
            except OSError as e:
                del tokens[nt:], vals[nv:]
                errors.append((fam, e))
        sets = opts.metric_sets
        if "memory_numa" in sets:
            nt, nv = len(tokens), len(vals)
            try:
                self._numa(tokens, vals)
            except ContainerGone:
                raise
            except ValueError as e:
                del tokens[nt:], vals[nv:]
                errors.append(("memory_numa", ParseError(self.name, f"memory.numa_stat: {e}")))
            except OSError as e:
                del tokens[nt:], vals[nv:]
                errors.append(("memory_numa", e))
        # cAdvisor reads each of these sets from the init process's netns on its own
        # (container/libcontainer/handler.go GetStats): tcp alone is collected without network.
        if pid and not sets.isdisjoint(NET_SETS):
            nt, nv = len(tokens), len(vals)
            try:
                self._net.sample(pid, tokens, vals)
            except NetGone:
                del tokens[nt:], vals[nv:]
            except ParseError as e:
                del tokens[nt:], vals[nv:]
                errors.append(("network", e))
            except (ValueError, IndexError) as e:
                del tokens[nt:], vals[nv:]
                errors.append(("network", ParseError(f"{opts.paths.proc}/{pid}/net", str(e))))
            except OSError as e:
                del tokens[nt:], vals[nv:]
                errors.append(("network", e))
        return tokens, vals, errors

    def collect(self, *, now_ns: int, pid: int | None) -> tuple[ContainerStats, list[tuple[str, Exception]]]:
        """Read one sample as a :class:`ContainerStats` (for callers that want the object at once)."""
        tokens, vals, errors = self.sample(now_ns=now_ns, pid=pid)
        codec = self._codec
        return codec.build(codec.layout(tokens), to_array(vals)), errors

    # ------------------------------------------------------------------ cpu

    def _psi(self, fname: str) -> tuple[int, ...] | None:
        # On hybrid hosts most cgroups have no unified twin: one set lookup per sample, not four calls.
        if fname in self._psi_absent:
            return None
        p = self._path("unified", fname)
        vals = self._files.read_psi(p) if p is not None else None
        if vals is None:
            self._psi_absent.add(fname)
        return vals

    def _cpu(self, tokens: list[Token], vals: list[int]) -> None:
        files = self._files
        if self._v2:
            ((path, keys),) = self._cpu_reads  # cpu.stat alone, every key in slot order (V2_CPU)
            stat = files.read_keyed(path, keys) if path is not None and keys is not None else None
            if stat is None:
                return
            vals += cpu_values(V2_CPU, self._cpu_scales, stat)
            ncpu = 0
        else:
            if self._fast_paths[_CPU] is not None and self._v1_cpu_fast(tokens, vals):
                return
            acct = self._path("cpuacct", "")
            if acct is None:
                return
            # The total: host/cgroups/cpu.py V1_ROWS.
            percpu = files.read_ints(acct + "cpuacct.usage_percpu") if self._percpu else None
            if percpu:
                total = sum(percpu)
            else:
                percpu = []
                t = files.read_int(acct + "cpuacct.usage")
                if t is None:
                    return
                total = t
            read = self._read_rows(self._cpu_reads, first_required=False)
            assert read is not None
            out = cpu_values(V1_CPU, self._cpu_scales, read, total)
            vals += out[:CPU_HEAD]
            vals += percpu
            vals += out[CPU_HEAD:]
            ncpu = len(percpu)
        psi = self._psi("cpu.pressure") if self._pressure else None
        if psi is not None:
            vals += psi
        tokens.append(("cpu", ncpu, psi is not None))

    # ------------------------------------------------------------------ memory

    def _v1_cpu_fast(self, tokens: list[Token], vals: list[int]) -> bool:
        """The CPU family in one native call once its files are held; False: take the general path."""
        fast, fds = self._fast, self._held(_CPU)
        if fast is None or fds is None:
            return False
        n = len(vals)
        try:
            ncpu = fast.v1_cpu(fds[0], fds[1], fds[2], self._tick_ns, vals)
        except (OSError, ValueError):  # gone, empty or malformed: the general path reports it exactly
            del vals[n:]
            return False
        psi = self._psi("cpu.pressure") if self._pressure else None
        if psi is not None:
            vals += psi
        tokens.append(("cpu", ncpu, psi is not None))
        return True

    def _memory_fast(self, tokens: list[Token], vals: list[int]) -> bool:
        """The memory family in one native call once its files are held; False: take the general path."""
        fast, fds = self._fast, self._held(_MEM)
        if fast is None or fds is None:
            return False
        n = len(vals)
        try:
            if self._v2:
                fast.v2_memory(fds[0], fds[1], fds[2], fds[3], fds[4], self._mem_keys, vals)
            else:
                fast.v1_memory(fds[0], fds[1], fds[2], fds[3], fds[4], self._mem_keys, vals)
        except (OSError, ValueError):
            del vals[n:]
            return False
        psi = self._psi("memory.pressure") if self._pressure else None
        if psi is not None:
            vals += psi
        tokens.append(("mem", psi is not None))
        return True

    def _memory(self, tokens: list[Token], vals: list[int]) -> None:
        """The memory family file by file (host/cgroups/memory.py names each value's file and key)."""
        if self._fast_paths[_MEM] is not None and self._memory_fast(tokens, vals):
            return
        read = self._read_rows(self._mem_reads, first_required=True)
        if read is None:
            return
        vals += v2_memory_values(read) if self._v2 else v1_memory_values(read)
        psi = self._psi("memory.pressure") if self._pressure else None
        if psi is not None:
            vals += psi
        tokens.append(("mem", psi is not None))

    # ------------------------------------------------------------------ hugetlb, processes

    def _hugetlb(self, tokens: list[Token], vals: list[int]) -> None:
        d = self._dirs.get("unified" if self._v2 else "hugetlb")
        out = read_hugetlb(self._files, d, v2=self._v2) if d is not None else None
        if out is not None:
            self._codec.add_object("hugetlb", out, tokens, vals)

    def _pids(self) -> list[int]:
        raw = self._read_opt("unified" if self._v2 else "cpu", "cgroup.procs")
        return [int(x) for x in raw.split()] if raw else []

    def _processes(self, tokens: list[Token], vals: list[int]) -> None:
        """``process`` set (off by default: it walks /proc/<pid>/fd of every process)."""
        ctrl = "unified" if self._v2 else "pids"
        pids = self._pids()
        current, limit = (self._read_opt(ctrl, f) for f in PIDS.files)  # host/cgroups/pids.py ROWS
        threads, threads_max = pids_values(current, limit, len(pids))
        ps = read_process_stats(
            self._opts.paths, pids, self._init_pid, threads_current=threads, threads_max=threads_max
        )
        self._codec.add_object("processes", ps, tokens, vals)

    def _load(self, tokens: list[Token], vals: list[int]) -> None:
        """``-enable_load_reader``: task states of the cgroup and its decaying load averages (× 1000).

        cAdvisor (manager/container.go ``updateLoad``): the first sample sets the average, each next one
        decays it, ``avg = avg * decay + n * (1 - decay)``, n = running tasks (``load_average``) and
        uninterruptible tasks (``load_d_average``); stored as int(avg * 1000).
        """
        reader = self._opts.load_reader
        assert reader is not None
        if self._load_fd is None:
            self._load_fd = open_cgroup_dir(self._dirs["cpu"])
        t = reader.cgroup_tasks(self._load_fd)
        decay = self._opts.load_decay
        run, unint = t.nr_running, t.nr_uninterruptible
        self._load_avg = run if self._load_avg < 0 else self._load_avg * decay + run * (1.0 - decay)
        self._load_d_avg = unint if self._load_d_avg < 0 else self._load_d_avg * decay + unint * (1.0 - decay)
        vals += (*t, int(self._load_avg * 1000), int(self._load_d_avg * 1000))
        tokens.append(_LOAD)

    def _referenced(self, tokens: list[Token], vals: list[int]) -> None:
        """``referenced_memory`` set (off by default): the cgroup's processes' smaps ``Referenced:`` bytes.

        As cAdvisor (container/libcontainer/handler.go ``referencedBytesStat``): the cgroup's own
        processes, read every sample, then their referenced bits cleared every
        ``-referenced_reset_interval`` samples, so the figure is what they touched since the last reset.
        """
        pids = self._pids()
        self._cycles += 1
        vals.append(read_referenced_bytes(self._opts.paths, pids))
        every = self._opts.referenced_reset_interval
        if every > 0 and self._cycles % every == 0:
            clear_referenced(self._opts.paths, pids)
        tokens.append(_REFERENCED)

    def _schedstat(self, tokens: list[Token], vals: list[int]) -> None:
        """``sched`` set (off by default): /proc/<pid>/schedstat of the cgroup's processes."""
        if not tokens or tokens[0][0] != "cpu":
            return
        if self._sched is None:
            self._sched = SchedstatAccumulator()
        s = self._sched.update(read_schedstat_by_pid(self._opts.paths, self._pids()))
        vals += (s.run_time, s.runqueue_time, s.run_periods)
        tokens.append(_SCHED)

    # ------------------------------------------------------------------ memory_numa

    def _numa(self, tokens: list[Token], vals: list[int]) -> None:
        """``memory.numa_stat`` (:mod:`pycadvisor.host.cgroups.numa`): pages per node, after the memory family."""
        raw = self._read_opt("unified" if self._v2 else "memory", "memory.numa_stat")
        if raw is None:
            return
        shape, pages = parse_numa_stat(raw, v2=self._v2, page_size=mmap.PAGESIZE)
        if shape:
            vals += pages
            tokens.append(("numa", shape))
