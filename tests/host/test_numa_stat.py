"""``memory.numa_stat`` in both kernels' formats (metric set ``memory_numa``, issue 13 item 4)."""

from __future__ import annotations

import pytest

from pycadvisor.host.cgroups.numa import parse_numa_stat
from pycadvisor.model.sample import MEMORY_SIZE, SampleCodec, to_array

# mm/memcontrol.c memcg_numa_stat_show: pages, the cgroup's own lines then the hierarchical ones.
V1 = b"""\
total=4967 N0=4000 N1=967
file=777 N0=700 N1=77
anon=0 N0=0 N1=0
unevictable=4190 N0=3300 N1=890
hierarchical_total=147393 N0=147000 N1=393
hierarchical_file=141632 N0=141500 N1=132
hierarchical_anon=1571 N0=1500 N1=71
hierarchical_unevictable=4190 N0=3300 N1=890
"""

# cgroup-v2.rst "memory.numa_stat": one line per memory.stat key, bytes per node.
V2 = b"""\
anon N0=139022336 N1=2760704
file N0=449581056 N1=0
kernel_stack N0=3670016 N1=0
file_mapped N0=55029760 N1=0
unevictable N0=8192 N1=0
"""


def test_v1_lines_go_to_their_scope_in_pages() -> None:
    shape, pages = parse_numa_stat(V1, v2=False)
    got = {(scope, kind): dict(zip(nodes, pages[i : i + len(nodes)], strict=True))
           for scope, kind, nodes, i in _offsets(shape)}  # fmt: skip
    assert got == {
        ("container", "file"): {0: 700, 1: 77},
        ("container", "anon"): {0: 0, 1: 0},
        ("container", "unevictable"): {0: 3300, 1: 890},
        ("hierarchy", "file"): {0: 141500, 1: 132},
        ("hierarchy", "anon"): {0: 1500, 1: 71},
        ("hierarchy", "unevictable"): {0: 3300, 1: 890},
    }


def test_v2_bytes_become_pages_in_both_scopes() -> None:
    shape, pages = parse_numa_stat(V2, v2=True, page_size=4096)
    got = {(scope, kind): dict(zip(nodes, pages[i : i + len(nodes)], strict=True))
           for scope, kind, nodes, i in _offsets(shape)}  # fmt: skip
    anon = {0: 139022336 // 4096, 1: 2760704 // 4096}
    assert got == {
        ("container", "anon"): anon,
        ("hierarchy", "anon"): anon,
        ("container", "file"): {0: 449581056 // 4096, 1: 0},
        ("hierarchy", "file"): {0: 449581056 // 4096, 1: 0},
        ("container", "unevictable"): {0: 2, 1: 0},
        ("hierarchy", "unevictable"): {0: 2, 1: 0},
    }


def test_malformed_node_field_is_an_error() -> None:
    with pytest.raises(ValueError, match="numa_stat"):
        parse_numa_stat(b"file=1 X0=1\n", v2=False)


def test_sample_carries_numa_stats_into_both_memory_scopes() -> None:
    """A collector's sample (the memory family, then the numa token) decodes into numa_stats."""
    codec = SampleCodec()
    shape, pages = parse_numa_stat(V1, v2=False)
    layout = codec.layout([("mem", False), ("numa", shape)])
    st = codec.build(layout, to_array([1, *([0] * MEMORY_SIZE), *pages]))
    assert st.memory is not None
    assert st.memory.container_data.numa_stats.file == {0: 700, 1: 77}
    assert st.memory.hierarchical_data.numa_stats.anon == {0: 1500, 1: 71}


def _offsets(shape: tuple[tuple[str, str, tuple[int, ...]], ...]) -> list[tuple[str, str, tuple[int, ...], int]]:
    out, i = [], 0
    for scope, kind, nodes in shape:
        out.append((scope, kind, nodes, i))
        i += len(nodes)
    return out
