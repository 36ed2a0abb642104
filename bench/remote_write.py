"""Cost and size of ``-storage_driver=remote_write``: CPU per container sample and bytes per pushed sample.

Encodes the synthetic docker containers of ``bench/exposition.py`` (cAdvisor's default metric sets, 2 CPUs,
one interface, one block device, one filesystem; ``compose``: every other container with five compose labels
and an env) through the driver's own path (the series builder, the cached label bytes, snappy), each round
with a new sample time, in request batches of 1 container sample (a steady daemon: housekeeping spreads the
containers over the interval, so batches are small) and of 100 (a backlog after an outage). Prints per case
the thread-CPU µs per container sample, the series per container sample, and the WriteRequest bytes per
series-sample before and after snappy. ``--protobuf`` also times building the same requests with
``protobuf`` message objects (the path the driver does not take).

Usage: ``.venv/bin/python bench/remote_write.py [--containers 100] [--rounds 20] [--protobuf]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from typing import Any

from exposition import synthetic
from pycadvisor.app import sample_series
from pycadvisor.metrics.options import ExpositionOptions
from pycadvisor.model.container import ContainerReference
from pycadvisor.storage.base import Sample
from pycadvisor.storage.options import StorageOptions
from pycadvisor.storage.registry import build_drivers
from pycadvisor.storage.remote_write import RemoteWriteDriver

MS = 1_000_000


def samples(compose: bool, n: int, rounds: int) -> list[list[Sample]]:
    """``rounds`` lists of one sample per container, 1 s apart."""
    snaps = synthetic(n, compose)
    out = []
    for r in range(rounds):
        batch = []
        for s in snaps:
            assert s.stats is not None
            stats = dataclasses.replace(s.stats, timestamp=s.stats.timestamp + r * 1000 * MS)
            ref = ContainerReference(id=s.id, name=s.name, aliases=list(s.aliases), namespace=s.namespace)
            batch.append(Sample(ref, s.spec, stats, 0))
        out.append(batch)
    return out


def make_driver() -> RemoteWriteDriver:
    opts = StorageOptions(storage_driver="remote_write", storage_driver_host="http://127.0.0.1:9/api/v1/write")
    [d] = build_drivers(opts, machine_name="bench", series=sample_series(ExpositionOptions(), lambda name: 0))
    assert isinstance(d, RemoteWriteDriver)
    return d


def run(compose: bool, n: int, rounds: int, batch: int) -> None:
    d = make_driver()
    data = samples(compose, n, rounds)
    d.request_body(data[0])  # warm the label caches, as a running daemon has them
    cpu: list[float] = []
    raw_bytes = comp_bytes = series = count = 0
    for round_ in data[1:]:
        for i in range(0, len(round_), batch):
            part = round_[i : i + batch]
            c0 = time.thread_time()
            body, bad = d.request_body(part)
            cpu.append((time.thread_time() - c0) / len(part))
            assert not bad
            raw = b"".join(e for s in part for e in d.encode(s))
            raw_bytes += len(raw)
            comp_bytes += len(body)
            series += sum(len(d.encode(s)) for s in part)
            count += len(part)
    print(
        f"{'compose' if compose else 'plain':8} batch {batch:4}"
        f"  {statistics.median(cpu) * 1e6:7.1f} µs/container-sample"
        f"  {series / count:5.0f} series/container-sample  {raw_bytes / series:6.1f} B/series-sample raw"
        f"  {comp_bytes / series:6.2f} B/series-sample snappy"
        f"  {comp_bytes / count / 1024:6.2f} KiB/container-sample"
    )


def run_protobuf(n: int) -> None:
    """Building the same series as protobuf (upb) messages, per container sample."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="bench_remote.proto", package="prometheus", syntax="proto3")
    m = fdp.message_type.add(name="Label")
    m.field.add(name="name", number=1, type=9, label=1)
    m.field.add(name="value", number=2, type=9, label=1)
    m = fdp.message_type.add(name="Sample")
    m.field.add(name="value", number=1, type=1, label=1)
    m.field.add(name="timestamp", number=2, type=3, label=1)
    m = fdp.message_type.add(name="TimeSeries")
    m.field.add(name="labels", number=1, type=11, label=3, type_name=".prometheus.Label")
    m.field.add(name="samples", number=2, type=11, label=3, type_name=".prometheus.Sample")
    m = fdp.message_type.add(name="WriteRequest")
    m.field.add(name="timeseries", number=1, type=11, label=3, type_name=".prometheus.TimeSeries")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    write_request: Any = message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))
    series = sample_series(ExpositionOptions(), lambda name: 0)
    data = samples(False, n, 2)
    cpu = []
    for s in data[1]:
        c0 = time.thread_time()
        req = write_request()
        for labels, value in series(s):
            ts = req.timeseries.add()
            for k, v in labels:
                ts.labels.add(name=k, value=v)
            ts.samples.add(value=value, timestamp=s.stats.timestamp // MS)
        req.SerializeToString()
        cpu.append(time.thread_time() - c0)
    print(f"protobuf messages (no snappy, batch 1)  {statistics.median(cpu) * 1e6:7.1f} µs/container-sample")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--protobuf", action="store_true")
    args = ap.parse_args()
    for compose in (False, True):
        for batch in (1, 100):
            run(compose, args.containers, args.rounds, batch)
    if args.protobuf:
        run_protobuf(args.containers)


if __name__ == "__main__":
    main()
