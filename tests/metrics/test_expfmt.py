"""The C writer (``_expfmt.c``) and its pure-Python twin (``expfmt.PyWriter``) give the same ``/metrics`` bytes.

Every exposition option is rendered through both, over the fixture containers plus containers with awkward
values (NaN, +-Inf, -0, 1e21, 2**53+1, 1e-5, 999999.5, 1e6), label values that need escaping or are not ASCII,
unsorted and duplicate extra label values, and compose labels that make the leading extra labels merge across
containers. Values are also checked against strings Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` prints.
"""

from __future__ import annotations

import dataclasses
import math
import random
import struct

import pytest

from metrics.expo_fixtures import SCRAPE_TIME, docker_snapshot, fixture_machine, fixture_snapshots, fixture_version
from pycadvisor.metrics import catalog
from pycadvisor.metrics import render as render_module
from pycadvisor.metrics.expfmt import PyWriter, WriterFactory, native_writer, sort_samples
from pycadvisor.metrics.options import ExpositionOptions
from pycadvisor.metrics.render import ExpositionRenderer
from pycadvisor.metrics.sets import ALL_METRIC_SETS, MetricSets
from pycadvisor.metrics.source import ContainerSnapshot
from pycadvisor.metrics.spec import MetricSpec
from pycadvisor.metrics.textformat import format_value
from pycadvisor.model.container import (
    CpuCFS,
    CpuSchedstat,
    CpuStats,
    CpuUsage,
    FsStats,
    InterfaceStats,
    MetricVal,
    NetworkStats,
    PSIData,
    PSIStats,
)
from support.ci import require

# What Go's strconv.FormatFloat(float64(v), 'g', -1, 64) prints (expfmt's writeFloat).
GO_FLOATS: list[tuple[float | int, str]] = [
    (math.nan, "NaN"),
    (math.inf, "+Inf"),
    (-math.inf, "-Inf"),
    (-0.0, "-0"),
    (0, "0"),
    (0.0, "0"),
    (1e21, "1e+21"),
    (2**53 + 1, "9.007199254740992e+15"),
    (2**53 - 1, "9.007199254740991e+15"),
    (-(2**53) - 1, "-9.007199254740992e+15"),
    (1e-5, "1e-05"),
    (0.0001, "0.0001"),
    (0.00012345, "0.00012345"),
    (999999.5, "999999.5"),
    (999999, "999999"),
    (1e6, "1e+06"),
    (1_000_000, "1e+06"),
    (-1_234_567, "-1.234567e+06"),
    (8_388_608, "8.388608e+06"),
    (7e-09, "7e-09"),
    (0.1, "0.1"),
    (1 / 3, "0.3333333333333333"),
    (123456.789, "123456.789"),
    (1234567.125, "1.234567125e+06"),
    (1e16, "1e+16"),
    (1.5e15, "1.5e+15"),
    (18_446_744_073_709_551_615, "1.8446744073709552e+19"),
    (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (True, "1"),
    (False, "0"),
]


def _native() -> WriterFactory:
    w = native_writer()
    require(w is not None, "pycadvisor.metrics._expfmt was not built (no C compiler or Python headers)")
    assert w is not None
    return w


@pytest.mark.parametrize(("value", "go"), GO_FLOATS, ids=[g for _, g in GO_FLOATS])
def test_values_are_formatted_as_go_formats_them(value: float | int, go: str) -> None:
    from pycadvisor.metrics import _expfmt

    _native()
    assert format_value(value) == go
    assert _expfmt.format_value(value) == go


def test_c_and_python_format_random_values_alike() -> None:
    _native()
    from pycadvisor.metrics import _expfmt

    rnd = random.Random(18)
    values: list[float | int] = []
    for _ in range(3000):
        values.append(rnd.uniform(-1, 1) * 10 ** rnd.randint(-12, 25))
        values.append(rnd.getrandbits(rnd.randint(1, 70)) * rnd.choice((1, -1)))
        values.append(round(rnd.uniform(0, 2e6), rnd.randint(0, 3)))
        values.append(struct_double(rnd.getrandbits(64)))
    for v in values:
        assert _expfmt.format_value(v) == format_value(v), repr(v)


def struct_double(bits: int) -> float:
    """The float64 whose IEEE-754 bits are ``bits`` (NaNs, subnormals and huge exponents included)."""
    return float(struct.unpack("<d", struct.pack("<Q", bits))[0])


def _awkward(
    name: str, i: int, labels: dict[str, str], ifaces: list[str], values: list[float | int]
) -> ContainerSnapshot:
    base = docker_snapshot()
    assert base.stats is not None and base.stats.memory is not None
    v = (values * 4)[i : i + 4]
    psi = PSIStats(
        full=PSIData(total=1 + i * 1_000_003, avg10=v[0], avg60=v[1]),
        some=PSIData(total=2**55 + 3 * i, avg300=v[2]),
    )
    if i == 3:  # a float where the µs count is: divided as a float
        psi.full.total = 1234.5678  # type: ignore[assignment]
    stats = dataclasses.replace(
        base.stats,
        timestamp=base.stats.timestamp + i * 1_000_000,
        # Counters exported in seconds (declared paths with a scale): ints past 2**53, which the C writer divides
        # as Python does, and a float where an int is expected.
        cpu=CpuStats(
            usage=CpuUsage(
                total=v[3] if isinstance(v[3], int) else 17,
                per_cpu_usage=[3, 0, 2**53 + 1],
                user=2**53 + 2 * i + 1,
                system=123_456_789_012 + i,
            ),
            cfs=CpuCFS(periods=7, throttled_time=2**64 - 1 - i, burst_time=1),
            schedstat=CpuSchedstat(run_time=999_999_999 + i, runqueue_time=-(2**60) - i, run_periods=2**53 + 1),
            load_average=i,
            psi=psi,
        )
        if i != 5
        else None,
        memory=None
        if i == 6
        else dataclasses.replace(base.stats.memory, usage=10**21 + i, rss=2**53 + 1, cache=999_999),
        network=NetworkStats(
            name=ifaces[0], interfaces=[InterfaceStats(name=n, rx_bytes=k) for k, n in enumerate(ifaces)]
        ),
        filesystem=[
            FsStats(device='/dev/"odd"\\disk\n', type="vfs", capacity=10**6, usage=1, inodes=2),
            FsStats(device="/dev/äö", type="vfs", capacity=2**64 - 1, usage=0, inodes=1),
        ],
        custom_metrics={
            "app_values": [
                MetricVal(labels={"k": 'é"\\\n'}, timestamp=base.stats.timestamp, float_value=x) for x in values[:1]
            ]
        },
    )
    spec = dataclasses.replace(base.spec, labels=labels, image=f"img:{i}")
    return ContainerSnapshot(
        name=name, id=f"{i:064x}", aliases=(f"c-{i}",), namespace="docker", spec=spec, stats=stats, oom_kills=i
    )


AWKWARD_VALUES: list[float | int] = [math.nan, math.inf, -math.inf, -0.0, 1e21, 2**53 + 1, 1e-5, 999999.5, 1e6]


def rich_snapshots() -> list[ContainerSnapshot]:
    out = fixture_snapshots()
    compose = [
        {"com.docker.compose.project": "shop", "com.docker.compose.service": 'we"b\\\n'},
        {"com.docker.compose.project": "日本", "maintainer": "zoë"},
        {},
        {"com.docker.compose.project": "shop", "com.docker.compose.service": "api"},
    ]
    ifaces = [["eth1", "eth0", "eth0"], ["eth0"], ['weird"if', "eth9", "ä"], ["eth0", "eth1"]]
    for i in range(8):
        name = f"/docker/{'ab'[i % 2]}{i}"
        out.append(_awkward(name, i, compose[i % 4], ifaces[i % 4], AWKWARD_VALUES[i:] + AWKWARD_VALUES[:i]))
    return out


OPTIONS: dict[str, ExpositionOptions] = {
    "default": ExpositionOptions(runtime_metrics=False),
    "all sets": ExpositionOptions(metric_sets=MetricSets.of(ALL_METRIC_SETS), runtime_metrics=False),
    "no empty labels": ExpositionOptions(
        metric_sets=MetricSets.of(ALL_METRIC_SETS), no_empty_label_padding=True, runtime_metrics=False
    ),
    "kubelet": ExpositionOptions(kubelet_labels=True, runtime_metrics=False),
    "allow-lists": ExpositionOptions(
        family_allowlist=("container_cpu_*", "container_network_*", "container_fs_*", "machine_*", "app_*"),
        label_allowlist=("name", "image", "container_label_com_docker_compose_*"),
        runtime_metrics=False,
    ),
    "kubelet, no empty labels": ExpositionOptions(
        metric_sets=MetricSets.of(ALL_METRIC_SETS),
        kubelet_labels=True,
        no_empty_label_padding=True,
        runtime_metrics=False,
    ),
}


def _render(factory: WriterFactory, options: ExpositionOptions, snaps: list[ContainerSnapshot] | None) -> bytes:
    r = ExpositionRenderer(options, writer=factory)
    machine, version = fixture_machine(), fixture_version()
    first = r.render(snaps, machine=machine, version=version, now_ns=SCRAPE_TIME)
    # The second scrape reads the cached labels (and the C writer starts from the last size).
    assert r.render(snaps, machine=machine, version=version, now_ns=SCRAPE_TIME) == first
    return first


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_c_and_python_writers_render_the_same_bytes(option: str) -> None:
    native = _native()
    snaps = rich_snapshots()
    py = _render(PyWriter, OPTIONS[option], snaps)
    c = _render(native, OPTIONS[option], snaps)
    if c != py:
        a, b = py.decode().splitlines(), c.decode().splitlines()
        first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        pytest.fail(
            f"line {first + 1}:\n  python: {a[first : first + 1]}\n  C:      {b[first : first + 1]}", pytrace=False
        )
    text = c.decode()
    # The awkward inputs were rendered (not filtered away): values, escapes, non-ASCII.
    if option in ("default", "all sets"):
        for s in ("NaN", "+Inf", "-Inf", " -0\n", "1e+21", "9.007199254740992e+15", "1e-05", "999999.5", "1e+06"):
            assert s in text, s
        for s in ('device="/dev/\\"odd\\"\\\\disk\\n"', 'device="/dev/äö"', 'interface="weird\\"if"', "日本"):
            assert s in text, s


def test_without_containers_both_writers_agree() -> None:
    native = _native()
    for options in OPTIONS.values():
        assert _render(native, options, None) == _render(PyWriter, options, None)
        assert _render(native, options, []) == _render(PyWriter, options, [])


@pytest.mark.parametrize("which", ["C", "Python"])
def test_a_body_still_held_is_never_written_over_by_the_next_scrape(which: str) -> None:
    factory = _native() if which == "C" else PyWriter
    r = ExpositionRenderer(OPTIONS["default"], writer=factory)
    machine, version = fixture_machine(), fixture_version()
    snaps = rich_snapshots()
    held = r.render(snaps, machine=machine, version=version, now_ns=SCRAPE_TIME)
    copy = bytes(bytearray(held))
    # Other scrapes while the first response is still being sent: different containers, another time.
    other = r.render(snaps[:3], machine=machine, version=version, now_ns=SCRAPE_TIME + 10**9)
    assert held == copy and other != copy and len(other) < len(copy)
    del other  # a response sent and dropped: the next scrape may write where it was
    for i, subset in enumerate([snaps, snaps[:3], snaps, snaps[:3]]):
        again = r.render(subset, machine=machine, version=version, now_ns=SCRAPE_TIME)
        expected = copy if len(subset) == len(snaps) else _render(PyWriter, OPTIONS["default"], subset)
        assert again == expected, i
        # A body written where another was forgets that one's hash (dicts and sets would misfile it).
        assert hash(again) == hash(bytes(bytearray(again))), i
        del again
    assert held == copy


@pytest.mark.parametrize("which", ["C", "Python"])
def test_a_body_over_the_kept_size_is_not_held_after_the_scrape(which: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A large body's buffer is dropped with the response (its pages leave RSS); a small one is kept for reuse.
    factory = _native() if which == "C" else PyWriter
    made: list[int] = []

    def counting(capacity: int) -> object:
        made.append(capacity)
        return factory(capacity)

    r = ExpositionRenderer(OPTIONS["default"], writer=counting)  # type: ignore[arg-type]
    machine, version = fixture_machine(), fixture_version()
    snaps = rich_snapshots()
    small = r.render(snaps[:1], machine=machine, version=version, now_ns=SCRAPE_TIME)
    del small
    r.render(snaps[:1], machine=machine, version=version, now_ns=SCRAPE_TIME)
    assert len(made) == 1  # kept and reused
    monkeypatch.setattr(render_module, "_KEEP_BUFFER_MAX", 1000)
    big = r.render(snaps, machine=machine, version=version, now_ns=SCRAPE_TIME)
    assert len(big) > 1000
    del big
    r.render(snaps, machine=machine, version=version, now_ns=SCRAPE_TIME)
    assert len(made) == 2  # the large buffer was not kept: the next scrape made a new writer


class _Node:
    """An object to walk a declared path through (the stats objects are slotted dataclasses)."""

    __slots__ = ("inner", "v")

    def __init__(self, v: object = None, inner: object = None) -> None:
        self.v = v
        self.inner = inner


# Values at the end of a declared path: ints on both sides of 2**53 and of 2**63, negative, float, bool.
PATH_VALUES: list[float | int | None] = [
    0,
    1,
    999_999_999,
    1_000_000_000,
    123_456_789_012,
    2**53 - 1,
    2**53 + 1,
    -(2**53) - 3,
    2**63 + 5,
    2**64 - 1,
    10**30 + 7,
    -17,
    1234.5678,
    1e-300,
    math.inf,
    True,
    None,
]


@pytest.mark.parametrize("which", ["C", "Python"])
@pytest.mark.parametrize("scale", [None, 1e9, 1e6, 3.0])
def test_a_declared_path_reads_and_scales_as_python_divides(which: str, scale: float | None) -> None:
    # The C writer walks MetricSpec.path itself and divides by MetricSpec.scale: each series must be what
    # Python's `v / scale` gives (no series where any step is None).
    w = _native()(0) if which == "C" else PyWriter()
    objs = [_Node(inner=_Node(v=v)) for v in PATH_VALUES] + [_Node(inner=None)]
    labels = [f'{{i="{i}"}}' for i in range(len(objs))]
    n = w.family("m", (("inner", "v"), scale), objs, labels, ["\n"] * len(objs))
    expected = [
        f'm{{i="{i}"}} {format_value(v if scale is None else v / scale)}'
        for i, v in enumerate(PATH_VALUES)
        if v is not None
    ]
    assert w.finish().decode().splitlines() == expected
    assert n == len(expected)


@pytest.mark.parametrize("which", ["C", "Python"])
def test_a_declared_path_naming_a_missing_attribute_is_an_error(which: str) -> None:
    w = _native()(0) if which == "C" else PyWriter()
    with pytest.raises(AttributeError, match="nope"):
        w.family("m", (("inner", "nope"), None), [_Node(inner=_Node(v=1))], ["{}"], ["\n"])


def test_declared_readers_give_remote_write_the_values_the_exposition_has() -> None:
    # MetricSpec.value, built from the path, is what remote write (metrics/series.py) calls.
    snaps = rich_snapshots()
    declared = [s for s in catalog.container_metrics(MetricSets.of(ALL_METRIC_SETS)) if s.path and not s.each]
    names = {s.name for s in declared}
    assert {"container_memory_cache", "container_cpu_user_seconds_total", "container_processes"} <= names
    for spec in declared:
        assert spec.value is not None
        w = PyWriter()
        stats = [s.stats for s in snaps if s.stats is not None]
        w.family(spec.name, (spec.path, spec.scale), stats, ["{}"] * len(stats), ["\n"] * len(stats))
        values = [spec.value(s) for s in stats]
        assert w.finish().decode().splitlines() == [
            f"{spec.name}{{}} {format_value(v)}" for v in values if v is not None
        ], spec.name
    stats = [s.stats for s in snaps if s.stats is not None]
    with_samples = [s for s in catalog.container_metrics(MetricSets.of(ALL_METRIC_SETS)) if s.samples or s.each]
    assert {"container_memory_failures_total", "container_tasks_state", "container_network_receive_bytes_total"} <= {
        s.name for s in with_samples
    }
    for spec in with_samples:
        assert spec.values is not None
        segs = [("{", *[","] * (len(spec.extra_labels) - 1), "}")] * len(stats)
        c = _native()(0)
        read = (spec.samples, spec.scale) if spec.samples else (spec.each, spec.each_labels, spec.path, spec.scale)
        c.multi(spec.name, read, stats, segs, ["\n"] * len(stats), None, False, sort_samples)
        expected = []
        for s in stats:
            first = {ev: v for ev, v in reversed(spec.values(s))}  # of equal series the first is kept
            expected += [f"{spec.name}{{{','.join(ev)}}} {format_value(first[ev])}\n" for ev in sorted(first)]
        assert c.finish().decode() == "".join(expected), spec.name
    cpu_user = next(s for s in declared if s.name == "container_cpu_user_seconds_total")
    last = rich_snapshots()[-1].stats
    assert last is not None and last.cpu is not None
    assert cpu_user.value is not None and cpu_user.value(last) == last.cpu.usage.user / 1e9


def test_a_spec_takes_a_path_or_a_reader_and_a_scale_only_with_a_path() -> None:
    with pytest.raises(ValueError, match="each_labels"):
        MetricSpec(name="m", help="h", type="gauge", extra_labels=("k",), each=("items",), path=("v",))
    with pytest.raises(ValueError, match="exclude"):
        MetricSpec(name="m", help="h", type="gauge", path=("memory", "cache"), value=lambda s: 1)
    with pytest.raises(ValueError, match="scale"):
        MetricSpec(name="m", help="h", type="gauge", value=lambda s: 1, scale=1e9)
    with pytest.raises(ValueError, match="exclude"):
        MetricSpec(
            name="m", help="h", type="gauge", extra_labels=("k",), samples=((("a",), ("v",)),), values=lambda s: ()
        )


@pytest.mark.parametrize("which", ["C", "Python"])
@pytest.mark.parametrize("scale", [None, 1e9])
def test_declared_samples_read_each_path_and_skip_the_absent(which: str, scale: float | None) -> None:
    # MetricSpec.samples: a fixed (extra values, path) per sample, walked by the writer itself; a path that
    # reads None gives no series, and samples come sorted by their extra values whatever the declared order.
    w = _native()(0) if which == "C" else PyWriter()
    pairs = (
        (("b", "x"), ("inner", "v")),
        (("a", "y"), ("v",)),
        (("a", "x"), ("inner", "inner")),
    )
    objs = [_Node(v=2**53 + 1, inner=_Node(v=7, inner=1234.5)), _Node(v=None, inner=None), _Node(v=0, inner=_Node())]
    segs = [(f'{{i="{i}",k="', '",l="', '"}') for i in range(len(objs))]
    n = w.multi("m", (pairs, scale), objs, segs, ["\n"] * len(objs), None, False, sort_samples)

    def f(v: float | int) -> str:
        return format_value(v if scale is None else v / scale)

    expected = [
        f'm{{i="0",k="a",l="x"}} {f(1234.5)}',
        f'm{{i="0",k="a",l="y"}} {f(2**53 + 1)}',
        f'm{{i="0",k="b",l="x"}} {f(7)}',
        f'm{{i="2",k="a",l="y"}} {f(0)}',
    ]
    assert w.finish().decode().splitlines() == expected
    assert n == 4


@pytest.mark.parametrize("which", ["C", "Python"])
def test_declared_items_give_a_sample_per_item_of_the_list(which: str) -> None:
    # MetricSpec.each: a sample per item of a list (network interfaces, filesystems), labelled by the items'
    # attributes; no list (None) or an empty one gives no series, nor does an item whose value reads None.
    w = _native()(0) if which == "C" else PyWriter()
    items = [_Node(v="eth1", inner=_Node(v=2**53 + 1)), _Node(v="eth0", inner=_Node(v=3)), _Node(v="x", inner=None)]
    objs = [_Node(inner=items), _Node(inner=None), _Node(inner=[]), _Node(inner=items[1:2])]
    segs = [(f'{{i="{i}",k="', '"}') for i in range(len(objs))]
    n = w.multi("m", (("inner",), ("v",), ("inner", "v"), 1e9), objs, segs, ["\n"] * 4, None, True, sort_samples)
    assert w.finish().decode().splitlines() == [
        f'm{{i="0",k="eth0"}} {format_value(3 / 1e9)}',
        f'm{{i="0",k="eth1"}} {format_value((2**53 + 1) / 1e9)}',
        f'm{{i="3",k="eth0"}} {format_value(3 / 1e9)}',
    ]
    assert n == 3
