"""Cost of the ``process_*`` families per ``/metrics`` scrape: ``prometheus_client``'s ``ProcessCollector``
against pycadvisor's :class:`~pycadvisor.metrics.runtime.ProcessFamilies` over ``host/ownprocess.py``,
with many fds open.

pycadvisor holds about ten fds per container, so 1000 containers mean ~12,000 open fds. The client
counts them with ``len(os.listdir('/proc/self/fd'))``; ours reads ``st_size`` of that directory (Linux
>= 6.2, ``fs/proc/fd.c`` ``proc_readfd_count``). For each fd count the script opens that many extra fds
(dups of ``/dev/null``, raising ``RLIMIT_NOFILE`` as needed), checks that both report the same
``process_open_fds``, and prints µs per collection (median of rounds, wall and thread CPU) and the ratio.
``render`` adds the text rendering of the families (what a scrape pays).

Usage: ``.venv/bin/python bench/runtime_families.py [--fds 0,1500,12000] [--seconds 0.4]``
(about ``2 x seconds`` per fd count).
"""

from __future__ import annotations

import argparse
import os
import resource
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, ProcessCollector

from overhead_kit.timing import per_call
from pycadvisor.host.ownprocess import OwnProcessReader
from pycadvisor.host.paths import HostPaths
from pycadvisor.metrics.runtime import FamilyLike, ProcessFamilies, render_collected
from pycadvisor.model.process import OwnProcessStats


class OwnProcess:
    """What the manager's HostInfo gives ``/metrics`` of this process (``metrics.runtime.OwnProcessSource``)."""

    def __init__(self) -> None:
        self._reader = OwnProcessReader(HostPaths())

    def own_process(self) -> OwnProcessStats | None:
        return self._reader.read()


def _open_extra(n: int) -> list[int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    base = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    if not n:
        os.close(base)
        return []
    return [base] + [os.dup(base) for _ in range(n - 1)]


def _open_fds(families: Iterable[FamilyLike]) -> float:
    return next(s.value for f in families if f.name == "process_open_fds" for s in f.samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fds", default="0,1500,12000", help="extra fds to hold open, comma-separated")
    ap.add_argument("--seconds", type=float, default=0.4, help="time per variant and fd count")
    args = ap.parse_args()

    lib = ProcessCollector(registry=CollectorRegistry(auto_describe=False))
    ours = ProcessFamilies(OwnProcess())
    print(f"kernel {os.uname().release}; st_size of /proc/self/fd = {os.stat('/proc/self/fd').st_size}")
    print(f"{'extra fds':>9} {'open_fds':>8} {'variant':<18} {'wall µs':>9} {'cpu µs':>9} {'calls':>6}")
    for n in (int(x) for x in args.fds.split(",")):
        held = _open_extra(n)
        try:
            a, b = _open_fds(ours.collect()), _open_fds(lib.collect())
            assert a == b, f"process_open_fds differs: ours {a}, prometheus_client {b}"
            rows = {
                "prometheus_client": per_call(lib.collect, args.seconds),
                "pycadvisor": per_call(ours.collect, args.seconds),
                "client + render": per_call(lambda: render_collected(lib.collect()), args.seconds / 2),
                "ours + render": per_call(lambda: render_collected(ours.collect()), args.seconds / 2),
            }
            for name, (wall, cpu, calls) in rows.items():
                print(f"{n:>9} {int(a):>8} {name:<18} {wall:>9.1f} {cpu:>9.1f} {calls:>6}")
            lw, lc, _ = rows["prometheus_client"]
            ow, oc, _ = rows["pycadvisor"]
            print(f"{n:>9} {'':>8} {'ratio client/ours':<18} {lw / ow:>9.1f} {lc / oc:>9.1f}")
        finally:
            for fd in held:
                os.close(fd)


if __name__ == "__main__":
    main()
