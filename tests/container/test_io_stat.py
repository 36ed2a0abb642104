"""cgroup v2 ``io.stat`` through the collector: each sample's values are the file's, whatever its shape.

The collector works out io.stat's members once per shape (devices and keys) and then only picks the
numbers (collector.py ``_diskio``); the reference is ``parse_io_stat``, which these tests compare to.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pycadvisor.container.collector import CgroupCollector, CollectOptions
from pycadvisor.container.fdread import PyFdReader, default_reader
from pycadvisor.container.files import FdBudget, FileSet
from pycadvisor.host.cgroups.blkio import parse_io_stat
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
