"""The exporter's own ``process_*`` families: what ``prometheus_client``'s ``ProcessCollector`` reports,
with open fds counted from ``st_size`` of ``/proc/self/fd`` where the kernel provides it."""

from __future__ import annotations

import gc
import os
import resource
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from metrics.expo_fixtures import OwnProcess
from pycadvisor.metrics.runtime import (
    GCFamilies,
    PlatformFamilies,
    ProcessFamilies,
    RuntimeMetrics,
    default_collectors,
    render_collected,
)

PROCESS_FAMILIES = {
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_cpu_seconds",
    "process_open_fds",
    "process_max_fds",
}


def library(proc: str = "/proc") -> ProcessCollector:
    return ProcessCollector(proc=proc, registry=CollectorRegistry(auto_describe=False))


def shape(families: Iterable[Any]) -> list[tuple[str, str, str, list[tuple[str, dict[str, str]]]]]:
    """Everything but the values: family name, type, HELP, and each sample's name and labels."""
    return [(f.name, f.type, f.documentation, [(s.name, dict(s.labels)) for s in f.samples]) for f in families]


def values(families: Iterable[Any]) -> dict[str, float]:
    return {s.name: s.value for f in families for s in f.samples}


@contextmanager
def extra_fds(n: int) -> Iterator[list[int]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n + 256, hard), hard))
    fds = [os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC) for _ in range(n)]
    try:
        yield fds
    finally:
        for fd in fds:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_same_families_as_prometheus_client_for_this_process() -> None:
    ours, lib = ProcessFamilies(OwnProcess()), library()
    got = ours.collect()
    want = list(lib.collect())
    assert {f.name for f in got} == PROCESS_FAMILIES
    assert shape(got) == shape(want)
    a, b = values(got), values(want)
    # Fixed for the process's life, or unchanged between two back-to-back reads.
    for name in ("process_open_fds", "process_max_fds", "process_start_time_seconds"):
        assert a[name] == b[name], name
    assert type(a["process_open_fds"]) is type(b["process_open_fds"]) is int
    assert a["process_max_fds"] == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    # Moving between the two reads, but only by a little.
    assert 0 < a["process_cpu_seconds_total"] <= b["process_cpu_seconds_total"]
    assert abs(a["process_resident_memory_bytes"] - b["process_resident_memory_bytes"]) < 16 << 20
    assert abs(a["process_virtual_memory_bytes"] - b["process_virtual_memory_bytes"]) < 64 << 20


def test_rendered_text_matches_the_client_collector_apart_from_moving_values() -> None:
    ours = {name: text for name, text, _ in render_collected(ProcessFamilies(OwnProcess()).collect())}
    lib = {name: text for name, text, _ in render_collected(library().collect())}
    assert ours.keys() == lib.keys()
    assert ours["process_open_fds"] == lib["process_open_fds"]
    assert ours["process_max_fds"] == lib["process_max_fds"]
    assert ours["process_start_time_seconds"] == lib["process_start_time_seconds"]
    for name in ours:  # HELP and TYPE lines
        assert ours[name].splitlines()[:2] == lib[name].splitlines()[:2]
    assert ours["process_cpu_seconds_total"].startswith(
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
        "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total "
    )


def test_open_fds_follows_fds_the_process_opens_and_closes() -> None:
    ours = ProcessFamilies(OwnProcess())
    before = values(ours.collect())["process_open_fds"]
    with extra_fds(500):
        during = values(ours.collect())["process_open_fds"]
        listed = len(os.listdir("/proc/self/fd"))
        lib = values(library().collect())["process_open_fds"]
        assert during == listed == lib
        assert during == before + 500
    assert values(ours.collect())["process_open_fds"] == before


def test_open_fds_counts_the_listing_on_a_tree_that_is_not_procfs(tmp_path: Path) -> None:
    # A fixture /proc: plain files, so the fd directory's st_size (its own size) must not be taken
    # as a count. Every value is fixed there, so the output equals the client's exactly.
    proc = tmp_path / "proc"
    (proc / "self" / "fd").mkdir(parents=True)
    for i in range(3):
        (proc / "self" / "fd" / str(i)).touch()
    (proc / "stat").write_text("cpu  10 0 10 1000 0 0 0 0 0 0\nbtime 1700000000\nprocesses 42\n")
    (proc / "self" / "stat").write_bytes(
        b"4242 (py thon) S 1 4242 4242 0 -1 4194560 500 0 0 0 "
        b"1234 567 0 0 20 0 3 0 98765 123456789 4321 18446744073709551615 " + b"0 " * 27 + b"0\n"
    )
    with open("/proc/self/limits", "rb") as f:
        limits = f.read()
    (proc / "self" / "limits").write_bytes(
        limits.replace(
            next(line for line in limits.splitlines(keepends=True) if line.startswith(b"Max open files")),
            b"Max open files            4096                 524288               files     \n",
        )
    )
    got = ProcessFamilies(OwnProcess(str(proc))).collect()
    want = list(library(str(proc)).collect())
    assert shape(got) == shape(want)
    assert values(got) == values(want)
    v = values(got)
    ticks = os.sysconf("SC_CLK_TCK")
    assert v["process_open_fds"] == 3
    assert v["process_max_fds"] == 4096
    assert v["process_virtual_memory_bytes"] == 123456789
    assert v["process_resident_memory_bytes"] == 4321 * os.sysconf("SC_PAGE_SIZE")
    assert v["process_start_time_seconds"] == 98765 / ticks + 1700000000
    assert v["process_cpu_seconds_total"] == 1234 / ticks + 567 / ticks


def test_nothing_without_a_boot_time_as_the_client(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "stat").write_text("cpu  10 0 10 1000 0 0 0 0 0 0\n")
    assert ProcessFamilies(OwnProcess(str(proc))).collect() == []
    assert list(library(str(proc)).collect()) == []


def test_default_collectors_serve_each_family_once_with_the_python_ones() -> None:
    names = [name for name, _, _ in RuntimeMetrics(default_collectors(OwnProcess())).blocks()]
    assert len(names) == len(set(names))
    assert {"process_cpu_seconds_total", "process_open_fds", "python_info", "python_gc_collections_total"} <= set(names)


def test_python_info_and_gc_families_render_as_the_clients() -> None:
    registry = CollectorRegistry(auto_describe=False)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    gc.disable()  # no collection between the two reads of gc.get_stats()
    try:
        ours = render_collected([*PlatformFamilies().collect(), *GCFamilies().collect()])
        want = render_collected(registry.collect())
    finally:
        gc.enable()
    assert ours == want
    assert [name for name, _, _ in ours] == [
        "python_info",
        "python_gc_objects_collected_total",
        "python_gc_objects_uncollectable_total",
        "python_gc_collections_total",
    ]


def test_the_daemons_metrics_do_not_import_prometheus_client() -> None:
    """The client costs about 1.1 MiB of RSS (its exposition, WSGI and HTTP servers come with it): the
    daemon and its /metrics renderer do without it; only an application-metrics endpoint in Prometheus
    format loads its parser."""
    code = (
        "import sys\n"
        "import pycadvisor.app\n"
        "from pycadvisor.metrics.runtime import RuntimeMetrics\n"
        "RuntimeMetrics().blocks()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prometheus_client'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
