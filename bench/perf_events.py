"""What ``-perf_events_config`` adds to a container-sample: reading its counters and storing them.

    sudo .venv/bin/python bench/perf_events.py            # 4 software events in 2 groups, 3 rounds

A cgroup is made in the hierarchy perf counts in (perf_event's v1 mount, else the cgroup2 tree), a
:class:`~pycadvisor.host.perf.collector.ContainerPerf` opens its counters on every online CPU, and each
container-sample is timed as the manager takes it: ``update`` (one group read per group and CPU, the values
scaled) and ``SampleCodec.add_member`` (stored flat). CPU time of this process (``time.process_time_ns``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid

from pycadvisor.host.cgroups.detect import detect_cgroup_mounts
from pycadvisor.host.paths import HostPaths
from pycadvisor.host.perf.collector import PerfManager
from pycadvisor.host.perf.config import parse_config
from pycadvisor.model.sample import SampleCodec, Token

CONFIG = {"core": {"events": [["task-clock", "context-switches", "page-faults"], "cpu-migrations"]}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    paths = HostPaths()
    mounts = detect_cgroup_mounts(paths)
    root = mounts.v1.get("perf_event") or mounts.v2
    if root is None:
        print("no hierarchy to count perf events in", file=sys.stderr)
        return 1
    cgroup = os.path.join(root, f"pycadbench-perf-{uuid.uuid4().hex[:8]}")
    os.mkdir(cgroup)
    perf = PerfManager(parse_config(json.dumps(CONFIG), "bench"), paths)
    counters = perf.attach("/bench")
    assert counters is not None
    codec = SampleCodec()
    dirs = {"perf_event": cgroup}
    try:
        counters.update(dirs, 0)
        per_sample = []
        for _ in range(args.rounds):
            t0 = time.process_time_ns()
            for _ in range(args.samples):
                tokens: list[Token] = []
                vals = [0]
                for member, value in counters.update(dirs, 0):
                    codec.add_member(member, value, tokens, vals)
            per_sample.append((time.process_time_ns() - t0) / args.samples / 1000)
        print(
            f"{counters.open_fds} counters ({len(perf.cpus)} CPUs, 2 groups, 4 events): "
            f"{statistics.median(per_sample):.1f} us CPU per container-sample (rounds: "
            + ", ".join(f"{x:.1f}" for x in per_sample)
            + ")"
        )
    finally:
        counters.close()
        os.rmdir(cgroup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
