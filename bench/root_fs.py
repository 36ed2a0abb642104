"""Cost of the ``/`` container's filesystem stats per sample: ``read_root_fs_stats`` (mountinfo parsed every
time) against :class:`~pycadvisor.host.fs.RootFsReader` (parsed again only after the kernel reports a
mount table change by ``POLLPRI`` on the held ``mountinfo``).

Prints µs per call (median of rounds, wall and thread CPU) of both, of the partition lookup alone
(``read_partitions`` against ``RootFsReader.partitions``) and the ratios. ``--mounts N`` adds N tmpfs
mounts first, as a docker host has an overlay per running container: as root, the script then re-runs
itself under ``unshare --mount --propagation private``, so the mounts live in a private mount
namespace that goes away with the process and nobody else sees them.

Usage: ``.venv/bin/python bench/root_fs.py [--mounts 0,200] [--seconds 0.3]`` (a few seconds in all).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from overhead_kit.timing import per_call
from pycadvisor.host.fs import RootFsReader, read_mounts, read_partitions, read_root_fs_stats
from pycadvisor.host.paths import HostPaths


def _time(fn: Callable[[], Any], seconds: float) -> tuple[float, float]:
    """(median wall µs, median thread-CPU µs) per call."""
    wall, cpu, _calls = per_call(fn, seconds)
    return wall, cpu


def measure(extra_mounts: int, seconds: float) -> None:
    paths = HostPaths()
    top = tempfile.mkdtemp(prefix="pycadbench-rootfs-")
    try:
        for i in range(extra_mounts):  # only ever inside the private namespace (see main)
            d = os.path.join(top, f"m{i}")
            os.mkdir(d)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", f"pycadbench{i}", d], check=True)
        with RootFsReader(paths) as reader:
            a, b = reader.read(), read_root_fs_stats(paths)
            assert [s.device for s in a] == [s.device for s in b], "the reader and read_root_fs_stats disagree"
            rows = {
                "read_root_fs_stats": _time(lambda: read_root_fs_stats(paths), seconds),
                "RootFsReader.read": _time(reader.read, seconds),
                "read_partitions": _time(lambda: read_partitions(paths), seconds / 2),
                "RootFsReader.partitions": _time(reader.partitions, seconds / 2),
            }
            assert reader.parses == 1, f"the unchanged mount table was parsed {reader.parses} times"
        n = len(read_mounts(paths))
        print(f"mounts {n} (+{extra_mounts} tmpfs), filesystems reported {len(a)}")
        for name, (wall, cpu) in rows.items():
            print(f"  {name:<24} {wall:>8.1f} µs wall {cpu:>8.1f} µs cpu")
        pairs = (("read_root_fs_stats", "RootFsReader.read"), ("read_partitions", "RootFsReader.partitions"))
        for before, after in pairs:
            print(f"  ratio {before} / {after}: {rows[before][1] / rows[after][1]:.1f}x cpu")
    finally:
        for i in range(extra_mounts):
            d = os.path.join(top, f"m{i}")
            if os.path.ismount(d):
                subprocess.run(["umount", d], check=False)
        shutil.rmtree(top, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mounts", default="0,200", help="extra tmpfs mounts to add, comma-separated")
    ap.add_argument("--seconds", type=float, default=0.3, help="time per variant and size")
    ap.add_argument("--private-ns", action="store_true", help=argparse.SUPPRESS)  # set by the re-run
    args = ap.parse_args()
    sizes = [int(x) for x in args.mounts.split(",")]
    if any(sizes) and not args.private_ns:
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            print("extra mounts need root and unshare(1): measuring the host's mount table only")
            sizes = [0]
        else:
            cmd = ["unshare", "--mount", "--propagation", "private", sys.executable, *sys.argv, "--private-ns"]
            raise SystemExit(subprocess.run(cmd, check=False).returncode)
    print(f"kernel {os.uname().release}" + (", in a private mount namespace" if args.private_ns else ""))
    for n in sizes:
        measure(n, args.seconds)


if __name__ == "__main__":
    main()
