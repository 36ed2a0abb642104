"""Helpers of the storage tests: real samples, driver options, backend crash/revive, async polling."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from pycadvisor.container.spec import read_spec
from pycadvisor.host.cgroups.collector import CgroupCollector, CollectOptions, cgroup_dirs
from pycadvisor.host.cgroups.detect import detect_cgroup_mounts
from pycadvisor.host.cgroups.files import FdBudget, FileSet
from pycadvisor.host.paths import HostPaths
from pycadvisor.model.container import (
    CacheStats,
    ContainerReference,
    ContainerSpec,
    ContainerStats,
    CpuStats,
    CpuUsage,
    FsStats,
    HugetlbStats,
    InterfaceStats,
    MemoryBandwidthStats,
    MemoryStats,
    MemoryStatsMemoryData,
    NetworkStats,
    PerfStat,
    ResctrlStats,
)
from pycadvisor.storage.base import StorageDriver
from pycadvisor.storage.options import StorageOptions
from pycadvisor.storage.registry import build_drivers
from support.cgroups import TestCgroup
from support.procs import ManagedProcess, wait_until
from support.services import Service

T = TypeVar("T")
MS = 1_000_000
LABELS = {"com.example.team": "storage tests", "tier": "backend"}
IMAGE = "registry.example/pycad/busybox:1.36"
TS0 = 1_760_000_000_123_456_789  # a fixed sample time (2025-10-09T08:53:20.123456789Z)


def options(driver: str, **kw: Any) -> StorageOptions:
    """Options for tests: short buffer duration and retry interval, so delivery is prompt."""
    base: dict[str, Any] = {
        "storage_driver": driver,
        "storage_driver_buffer_duration": 50 * MS,
        "storage_driver_retry_max_interval": 500 * MS,
        "storage_driver_close_timeout": 5_000 * MS,
    }
    base.update(kw)
    return StorageOptions(**base)


# ---------------------------------------------------------------- samples


def cgroup_sample(cg: TestCgroup) -> tuple[ContainerReference, ContainerSpec, ContainerStats]:
    """One sample of ``cg`` read by pycadvisor's own collector and spec reader from the real cgroup files.

    The spec gets :data:`LABELS` and :data:`IMAGE`, as a runtime would report them (a raw cgroup has none).
    """
    paths = HostPaths()
    mounts = detect_cgroup_mounts(paths)
    dirs = cgroup_dirs(mounts, cg.name, lambda p: p)
    collector = CgroupCollector(
        cg.name,
        dirs,
        is_v2=mounts.is_v2,
        files=FileSet(FdBudget(limit=64)),
        opts=CollectOptions(metric_sets=frozenset({"cpu", "memory", "diskIO", "process"})),
    )
    try:
        stats, errors = collector.collect(now_ns=time.time_ns(), pid=None)
    finally:
        collector.close()
    assert not errors, errors
    spec = read_spec(
        dirs,
        v2=mounts.is_v2,
        num_cpus=os.cpu_count() or 1,
        boot_time_ns=0,
        is_root=False,
        machine_memory=0,
        machine_swap=0,
    )
    spec.labels = dict(LABELS)
    spec.image = IMAGE
    return ContainerReference(name=cg.name), spec, stats


def full_sample() -> tuple[ContainerReference, ContainerSpec, ContainerStats]:
    """A sample with every member the drivers read (per-CPU, network, fs, hugetlb, perf, resctrl)."""
    ref = ContainerReference(id="f" * 64, name="/docker/" + "f" * 64, aliases=["web-1", "f" * 64], namespace="docker")
    spec = ContainerSpec(labels=dict(LABELS), envs={"test_var": "FOO"}, image=IMAGE)
    stats = ContainerStats(
        timestamp=TS0,
        cpu=CpuStats(usage=CpuUsage(total=900, per_cpu_usage=[500, 400], user=600, system=300), load_average=3),
        memory=MemoryStats(
            usage=4096,
            max_usage=8192,
            cache=1024,
            rss=2048,
            swap=16,
            mapped_file=32,
            working_set=3072,
            total_active_file=256,
            total_inactive_file=128,
            failcnt=2,
            container_data=MemoryStatsMemoryData(pgfault=11, pgmajfault=1),
            hierarchical_data=MemoryStatsMemoryData(pgfault=22, pgmajfault=2),
        ),
        network=NetworkStats(
            name="eth0",
            rx_bytes=906,
            rx_errors=1,
            tx_bytes=126,
            tx_errors=2,
            interfaces=[InterfaceStats(name="eth0", rx_bytes=906, rx_errors=1, tx_bytes=126, tx_errors=2)],
        ),
        filesystem=[
            FsStats(device="/dev/vda1", type="vfs", capacity=10_000, usage=4_000),
            FsStats(device="/dev/vdb", type="vfs", capacity=5_000, usage=1_000),
        ],
        hugetlb={"2MB": HugetlbStats(usage=4, max_usage=8, failcnt=1)},
        perf_stats=[PerfStat(scaling_ratio=1.5, value=4589, name="cycles", cpu=1)],
        referenced_memory=12345,
        resctrl=ResctrlStats(
            memory_bandwidth=[MemoryBandwidthStats(mbm_total_bytes=11, mbm_local_bytes=7)],
            cache=[CacheStats(llc_occupancy=3)],
        ),
    )
    return ref, spec, stats


def burst(
    base: tuple[ContainerReference, ContainerSpec, ContainerStats], n: int, *, distinct_names: bool = False
) -> list[tuple[ContainerReference, ContainerSpec, ContainerStats]]:
    """``n`` copies of ``base``, 1 ms apart; with ``distinct_names`` each has its own alias ``c0000``..."""
    ref, spec, stats = base
    out = []
    for i in range(n):
        r = dataclasses.replace(ref, aliases=[f"c{i:04d}"]) if distinct_names else ref
        out.append((r, spec, dataclasses.replace(stats, timestamp=stats.timestamp + i * MS)))
    return out


# ---------------------------------------------------------------- backends that die and come back


def crash(srv: Service) -> None:
    """SIGKILL the service (keeping its data directory and port for :func:`revive`)."""
    srv.process.kill()


def revive(srv: Service, ready: Callable[[], object], timeout: float = 30.0) -> None:
    """Start the service again with the same command line (same port, same data)."""
    old = srv.process
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    srv.process = ManagedProcess(old.argv, what=old.what, log_path=old.log_path, env=env)
    wait_until(ready, timeout=timeout, what=f"{old.what} back", proc=srv.process)


# ---------------------------------------------------------------- async polling


async def poll(predicate: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """Like ``wait_until`` but awaits between tries (the predicate runs in a thread: it may block)."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = await asyncio.to_thread(predicate)
        except Exception as e:
            value, last = None, e
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"timed out after {timeout} s waiting for {what}" + (f" (last error: {last!r})" if last else "")
            )
        await asyncio.sleep(interval)


def add_all(driver: Any, samples: Sequence[tuple[ContainerReference, ContainerSpec, ContainerStats]]) -> None:
    for ref, spec, stats in samples:
        driver.add_stats(ref, spec, stats)


@contextlib.asynccontextmanager
async def running(opts: StorageOptions, machine_name: str = "n") -> AsyncIterator[StorageDriver]:
    """The one driver ``opts`` selects, started; closed (flushing) on exit, whatever happened."""
    [driver] = build_drivers(opts, machine_name=machine_name)
    await driver.start()
    try:
        yield driver
    finally:
        await driver.close()
