"""The Python cost of one sample on each fixture host (cgroup v1 and v2 trees in real kernels' formats).

    .venv/bin/python bench/fixture_samples.py              # 5 rounds of 300 samples per container and host

This host is cgroup v1, so the v2 collection path cannot be measured on a live kernel here; the fixture
trees under ``tests/fixtures/hosts`` hold v2 hosts' files (cpu.stat, memory.*, io.stat, the pressure
files). The manager samples every container of a tree with the native reader and with its pure-Python twin
(``pycadvisor.host.cgroups.fdread.PyFdReader``, the baseline, in the same process, rounds alternating), and the
figure is CPU per container-sample (``time.thread_time_ns``). Files on disk are cheaper to read than
cgroupfs (no generation by the kernel), so this isolates the parsing and bookkeeping a sample costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

from pycadvisor.clock import FakeClock
from pycadvisor.host.cgroups.fdread import FdReader, PyFdReader, native_reader
from pycadvisor.host.paths import HostPaths
from pycadvisor.manager.manager import Manager, ManagerOptions
from pycadvisor.metrics.sets import MetricSets

HOSTS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "hosts"


def us_per_sample(host: str, reader: FdReader, samples: int) -> float:
    """CPU µs per container-sample of the manager over one fixture tree (default metric sets)."""
    sets = frozenset(MetricSets.from_flags("", None).enabled)
    opts = ManagerOptions(
        metric_sets=sets,
        global_housekeeping_interval_ns=0,
        update_machine_info_interval_ns=0,
        allow_dynamic_housekeeping=False,
    )
    loop = asyncio.new_event_loop()
    m = Manager(opts, HostPaths.under(str(HOSTS / host)), clock=FakeClock(), reader=reader)
    loop.run_until_complete(m.start())
    try:
        states = [st for name, st in m.containers.items() if name != "/"]
        for st in states:  # open and hold every file first
            m.collect(st)
        t = time.thread_time_ns()
        for _ in range(samples):
            for st in states:
                m.collect(st)
        return (time.thread_time_ns() - t) / (samples * len(states)) / 1000
    finally:
        loop.run_until_complete(m.stop())
        loop.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--samples", type=int, default=300, help="samples per container and round")
    args = ap.parse_args()
    native = native_reader()
    if native is None:
        raise SystemExit("the native reader was not built (pip install -e . with a C compiler)")
    out: dict[str, object] = {"bench": "fixture_samples", "rounds": args.rounds, "samples": args.samples}
    for host in sorted(p.name for p in HOSTS.iterdir() if p.is_dir()):
        nat: list[float] = []
        py: list[float] = []
        for _ in range(args.rounds):
            nat.append(us_per_sample(host, native, args.samples))
            py.append(us_per_sample(host, PyFdReader(), args.samples))
        a, b = statistics.median(nat), statistics.median(py)
        print(f"{host:20s} native {a:6.1f} µs/sample   python reader {b:6.1f} µs/sample   {a / b:.2f}x", flush=True)
        out[host] = {"native_us_per_sample": round(a, 1), "python_us_per_sample": round(b, 1)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
