"""The cost of one read of a held cgroup file: the native reader against its pure-Python twin.

    .venv/bin/python bench/fdread.py                 # this host's own cgroup files, 20,000 reads each

For each file kind the collector reads every sample (cgroup v1 or v2, whichever this host's memory
controller is on), both readers of ``pycadvisor.host.cgroups.fdread`` read and parse the same held
descriptor in a warm loop; the figure is CPU per call (``time.thread_time_ns``). The difference is the
Python cost the native reader removes per read; the kernel's part (the pread itself) is in both and is
measured alone as ``os.pread`` of 16 KiB. A live collector sees colder caches than this loop, so its
saving per sample is larger than the warm difference (bench/README.md, housekeeping.py).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

from pycadvisor.host.cgroups.detect import detect_cgroup_mounts
from pycadvisor.host.cgroups.fdread import FdReader, PyFdReader, native_reader
from pycadvisor.host.paths import HostPaths

V1_MEM_KEYS = tuple(
    k.encode()
    for k in (
        "total_cache", "total_rss", "total_swap", "total_mapped_file", "total_active_file", "total_inactive_file",
        "workingset_refault_file", "workingset_refault_anon", "pgfault", "pgmajfault",
    )
)  # fmt: skip
V2_MEM_KEYS = tuple(
    k.encode()
    for k in (
        "anon", "file", "file_mapped", "active_file", "inactive_file", "file_dirty", "file_writeback", "pgscan",
        "pgsteal", "workingset_refault_file", "workingset_refault_anon", "pgfault", "pgmajfault",
    )
)  # fmt: skip


def cases(paths: HostPaths) -> list[tuple[str, str, Callable[[FdReader, int], object]]]:
    """(label, file, call) for the files a sample reads on this host, at the root cgroup."""
    mounts = detect_cgroup_mounts(paths)
    if mounts.is_v2 and mounts.v2:
        d = mounts.v2
        return [
            ("cpu.stat keyed", f"{d}/cpu.stat", lambda r, fd: r.read_keyed(fd, (b"usage_usec", b"user_usec"))),
            ("memory.stat keyed", f"{d}/memory.stat", lambda r, fd: r.read_keyed(fd, V2_MEM_KEYS)),
            ("memory.events keyed", f"{d}/memory.events", lambda r, fd: r.read_keyed(fd, (b"high", b"max"))),
        ]
    acct, mem = mounts.v1["cpuacct"], mounts.v1["memory"]
    return [
        ("cpuacct.usage_percpu ints", f"{acct}/cpuacct.usage_percpu", lambda r, fd: r.read_ints(fd)),
        ("cpuacct.stat keyed", f"{acct}/cpuacct.stat", lambda r, fd: r.read_keyed(fd, (b"user", b"system"))),
        ("memory.stat keyed", f"{mem}/memory.stat", lambda r, fd: r.read_keyed(fd, V1_MEM_KEYS)),
        ("memory.usage_in_bytes int", f"{mem}/memory.usage_in_bytes", lambda r, fd: r.read_int(fd)),
        ("memory.failcnt int", f"{mem}/memory.failcnt", lambda r, fd: r.read_int(fd)),
    ]


def per_call_ns(fn: Callable[[], object], n: int, rounds: int = 5) -> float:
    runs = []
    for _ in range(rounds):
        t0 = time.thread_time_ns()
        for _ in range(n):
            fn()
        runs.append((time.thread_time_ns() - t0) / n)
    return statistics.median(runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reads", type=int, default=20000, help="calls per file, reader and round")
    args = ap.parse_args()
    native = native_reader()
    if native is None:
        print("the native reader was not built (pip install -e . with a C compiler)", file=sys.stderr)
        return 1
    py = PyFdReader()
    rows = []
    for label, path, call in cases(HostPaths()):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            assert call(native, fd) == call(py, fd) or "percpu" in label or "usage" in label  # live counters move
            pread = per_call_ns(functools.partial(os.pread, fd, 16384, 0), args.reads)
            n_ns = per_call_ns(functools.partial(call, native, fd), args.reads)
            p_ns = per_call_ns(functools.partial(call, py, fd), args.reads)
        finally:
            os.close(fd)
        rows.append({"file": label, "pread_ns": round(pread), "native_ns": round(n_ns), "python_ns": round(p_ns)})
        print(
            f"{label:28s} os.pread {pread / 1000:6.2f} µs   native {n_ns / 1000:6.2f} µs   "
            f"python {p_ns / 1000:6.2f} µs   python/native {p_ns / n_ns:4.2f}x",
            flush=True,
        )
    print(json.dumps({"bench": "fdread", "reads": args.reads, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
