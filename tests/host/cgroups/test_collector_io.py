"""cgroup v2 ``io.stat`` through the collector: each sample's values are the file's, whatever its shape.

The collector works out io.stat's members once per shape (devices and keys) and then only picks the
numbers (collector.py ``_diskio``); the reference is ``parse_io_stat``, which these tests compare to.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pycadvisor.host.cgroups.blkio import parse_io_stat
from pycadvisor.host.cgroups.collector import CgroupCollector, CollectOptions
from pycadvisor.host.cgroups.fdread import PyFdReader, default_reader
from pycadvisor.host.cgroups.files import FdBudget, FileSet
from pycadvisor.model.container import ContainerStats

NAMES = {(8, 0): "/dev/sda", (259, 0): "/dev/nvme0n1"}


@pytest.fixture(params=["default", "python"])
def collector(request: pytest.FixtureRequest, tmp_path: Path) -> CgroupCollector:
    (tmp_path / "io.stat").write_bytes(b"")
    opts = CollectOptions(metric_sets=frozenset({"diskIO"}), device_name=lambda a, b: NAMES.get((a, b), ""))
    reader = default_reader() if request.param == "default" else PyFdReader()
    return CgroupCollector("/c", {"unified": str(tmp_path)}, is_v2=True, files=FileSet(FdBudget(16), reader), opts=opts)


def write(c: CgroupCollector, content: bytes) -> None:
    Path(c.dirs["unified"], "io.stat").write_bytes(content)


def io(c: CgroupCollector) -> dict[str, dict[tuple[int, int], dict[str, int]]]:
    s, errors = c.collect(now_ns=1, pid=None)
    assert not errors
    return as_dict(s)


def as_dict(s: ContainerStats) -> dict[str, dict[tuple[int, int], dict[str, int]]]:
    out: dict[str, dict[tuple[int, int], dict[str, int]]] = {}
    assert s.diskio is not None
    for member in ("io_service_bytes", "io_serviced", "io_cost_usage", "io_cost_wait"):
        for e in getattr(s.diskio, member):
            out.setdefault(member, {})[(e.major, e.minor)] = dict(e.stats)
            assert e.device == NAMES.get((e.major, e.minor), "")
    return out


def expected(content: bytes) -> dict[str, dict[tuple[int, int], dict[str, int]]]:
    return {m: devs for m, devs in parse_io_stat(content).items() if m in ("io_service_bytes", "io_serviced",
            "io_cost_usage", "io_cost_wait")}  # fmt: skip


LINE_SDA = b"8:0 rbytes=%d wbytes=%d rios=%d wios=%d dbytes=0 dios=0\n"
LINE_NVME = b"259:0 rbytes=%d wbytes=%d rios=%d wios=%d dbytes=4096 dios=1\n"


def test_values_follow_the_file_sample_after_sample(collector: CgroupCollector) -> None:
    for i in range(1, 6):
        content = LINE_SDA % (4096 * i, 8192 * i, i, 2 * i) + LINE_NVME % (10**12 + i, 7, 3 * i, 0)
        write(collector, content)
        assert io(collector) == expected(content)
    got = io(collector)
    assert got["io_service_bytes"][(259, 0)] == {"Read": 10**12 + 5, "Write": 7}
    assert got["io_serviced"][(8, 0)] == {"Read": 5, "Write": 10}


def test_a_new_device_a_vanished_one_and_new_keys(collector: CgroupCollector) -> None:
    contents = [
        LINE_SDA % (1, 2, 3, 4),
        LINE_SDA % (1, 2, 3, 4) + LINE_NVME % (5, 6, 7, 8),  # a device appears
        LINE_NVME % (9, 10, 11, 12),  # the first one goes
        b"259:0 rbytes=9 wbytes=10 rios=11 wios=12 dbytes=0 dios=0 cost.usage=77 cost.wait=5\n",  # iocost on
        b"",  # no IO at all any more (a fresh cgroup)
        LINE_NVME % (13, 14, 15, 16) + LINE_SDA % (17, 18, 19, 20),  # devices listed in another order
    ]
    for content in contents:
        write(collector, content)
        assert io(collector) == expected(content), content
    assert io(collector)["io_service_bytes"] == {(8, 0): {"Read": 17, "Write": 18}, (259, 0): {"Read": 13, "Write": 14}}


def test_repeated_keys_and_odd_tokens_read_as_the_parser_reads_them(collector: CgroupCollector) -> None:
    contents = [
        b"8:0 rbytes=1 wbytes=2 rios=3 wios=4 rbytes=5\n",  # a repeated key: the last one
        b"8:0 rbytes=1 wbytes=2 rios=3 wios=4 odd=x=7 other=+3\n",  # unknown keys of any shape
        b"8:0 rbytes=+1 wbytes=2 rios=3 wios=4\n8:0 rios=30\n",  # a sign; a device on two lines
    ]
    for content in contents * 2:
        write(collector, content)
        assert io(collector) == expected(content), content


def test_a_bad_value_is_the_familys_error_and_the_next_good_sample_reads(collector: CgroupCollector) -> None:
    write(collector, LINE_SDA % (1, 2, 3, 4))
    io(collector)
    write(collector, b"8:0 rbytes=1x wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n")
    s, errors = collector.collect(now_ns=1, pid=None)
    assert [f for f, _ in errors] == ["diskIO"] and s.diskio is None
    write(collector, LINE_SDA % (5, 6, 7, 8))
    assert io(collector) == expected(LINE_SDA % (5, 6, 7, 8))


# ---------------------------------------------------------------- cgroup v1 blkio


@pytest.fixture(params=["default", "python"])
def v1(request: pytest.FixtureRequest, tmp_path: Path) -> CgroupCollector:
    for f in ("bfq.io_service_bytes_recursive", "bfq.io_serviced_recursive", "throttle.io_service_bytes_recursive",
              "throttle.io_serviced_recursive"):  # fmt: skip
        (tmp_path / f"blkio.{f}").write_bytes(b"Total 0\n")
    opts = CollectOptions(metric_sets=frozenset({"diskIO"}), device_name=lambda a, b: NAMES.get((a, b), ""))
    reader = default_reader() if request.param == "default" else PyFdReader()
    return CgroupCollector("/c", {"blkio": str(tmp_path)}, is_v2=False, files=FileSet(FdBudget(16), reader), opts=opts)


def blkio(ops: dict[tuple[int, int], dict[str, int]]) -> bytes:
    lines = [f"{a}:{b} {op} {v}\n" for (a, b), d in ops.items() for op, v in d.items()]
    return "".join(lines).encode() + f"Total {sum(v for d in ops.values() for v in d.values())}\n".encode()


def v1_write(c: CgroupCollector, group: str, served: bytes, serviced: bytes) -> None:
    d = Path(c.dirs["blkio"])
    (d / f"blkio.{group}.io_service_bytes_recursive").write_bytes(served)
    (d / f"blkio.{group}.io_serviced_recursive").write_bytes(serviced)


def test_v1_values_follow_the_files_and_their_shape(v1: CgroupCollector) -> None:
    ops = ("Read", "Write", "Sync", "Async", "Discard", "Total")
    for i in range(1, 5):
        devs = {(8, 0): {op: 4096 * i * (k + 1) for k, op in enumerate(ops)}}
        if i >= 3:  # a second device shows up
            devs[(259, 0)] = {op: 10**15 + i for op in ops}
        v1_write(v1, "throttle", blkio(devs), blkio({d: {op: i for op in ops} for d in devs}))
        got = io(v1)
        assert got["io_service_bytes"] == devs
        assert got["io_serviced"] == {d: {op: i for op in ops} for d in devs}


def test_v1_group_order_and_a_bad_value(v1: CgroupCollector) -> None:
    v1_write(v1, "throttle", blkio({(8, 0): {"Read": 1, "Write": 2}}), blkio({(8, 0): {"Read": 3, "Write": 4}}))
    assert io(v1)["io_service_bytes"] == {(8, 0): {"Read": 1, "Write": 2}}
    # BFQ starts counting: its group comes first (runc's order).
    v1_write(v1, "bfq", blkio({(8, 0): {"Read": 7, "Write": 8}}), blkio({(8, 0): {"Read": 9, "Write": 10}}))
    assert io(v1) == {
        "io_service_bytes": {(8, 0): {"Read": 7, "Write": 8}},
        "io_serviced": {(8, 0): {"Read": 9, "Write": 10}},
    }
    v1_write(v1, "bfq", b"8:0 Read 7x\n8:0 Write 8\nTotal 15\n", blkio({(8, 0): {"Read": 9}}))
    s, errors = v1.collect(now_ns=1, pid=None)
    assert [f for f, _ in errors] == ["diskIO"] and s.diskio is None
    v1_write(v1, "bfq", blkio({(8, 0): {"Read": 70, "Write": 80}}), blkio({(8, 0): {"Read": 90, "Write": 100}}))
    assert io(v1)["io_serviced"] == {(8, 0): {"Read": 90, "Write": 100}}
