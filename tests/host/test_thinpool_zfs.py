"""Devicemapper thin pools and ZFS datasets from their tools' output (issue 16 item 5).

The fixtures are the tools' real formats (tests/fixtures/devicemapper/README.md, tests/fixtures/zfs/README.md);
``thin_ls`` itself runs here on metadata restored from XML with ``thin_restore`` (thin-provisioning-tools):
this kernel has no device-mapper, so there is no pool, but the tool and its output are real.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from pycadvisor.errors import ParseError
from pycadvisor.host.command import CommandError, subprocess_runner
from pycadvisor.host.devicemapper import ThinPool, parse_dmsetup_status, parse_dmsetup_table, parse_thin_ls
from pycadvisor.host.zfs import ZfsDataset, parse_zfs_get_used, parse_zfs_list_usage
from support.ci import require
from support.storage_tools import (
    DM,
    POOL,
    RELEASE,
    RESERVE,
    STATUS,
    THIN_LS,
    TMETA,
    ZFS,
    FakeTools,
    thin_pool_tools,
    zfs_tools,
)

CONTAINER_LAYER = "tank/docker/0d6f54d9c2e3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9"


def test_dmsetup_table_and_status() -> None:
    t = parse_dmsetup_table((DM / "dmsetup-table.txt").read_text())
    assert (t.data_major, t.data_minor, t.block_sectors) == (253, 2, 128)
    s = parse_dmsetup_status((DM / "dmsetup-status.txt").read_text())
    assert (s.used_blocks, s.total_blocks, s.metadata_snap_held) == (24576, 1638400, False)
    assert parse_dmsetup_status((DM / "dmsetup-status-held.txt").read_text()).metadata_snap_held
    for bad in ("", "0 2048 linear 8:1 0", "0 1 thin-pool 7 x/y z/w -"):
        with pytest.raises(ParseError, match="dmsetup"):
            parse_dmsetup_status(bad)
    with pytest.raises(ParseError, match="dmsetup table"):
        parse_dmsetup_table("0 2048 linear 8:1 0")


def test_thin_ls_output_of_the_real_tool() -> None:
    assert parse_thin_ls((DM / "thin_ls.txt").read_text()) == {"1": 0, "2": 1048576, "3": 2097152}
    assert parse_thin_ls("DEV EXCLUSIVE_BYTES\nbad line here\n7 12\n") == {"7": 12}


def test_thin_ls_itself_on_restored_metadata(tmp_path: Path) -> None:
    require(shutil.which("thin_ls") and shutil.which("thin_restore"), "thin-provisioning-tools not installed")
    meta = tmp_path / "tmeta"
    with open(meta, "wb") as f:
        f.truncate(8 << 20)
    subprocess.run(["thin_restore", "-i", str(DM / "thin-metadata.xml"), "-o", str(meta)], check=True, timeout=30)
    run = subprocess_runner(timeout_s=30)
    # -m reads a held metadata snapshot, which only a live pool has: the same listing without it.
    out = asyncio.run(run(["thin_ls", "--no-headers", "-o", "DEV,EXCLUSIVE_BYTES", str(meta)]))
    assert parse_thin_ls(out.decode()) == parse_thin_ls((DM / "thin_ls.txt").read_text())
    with pytest.raises(CommandError, match="no current metadata snap"):
        asyncio.run(run([*THIN_LS[:-1], str(meta)]))


def test_pool_capacity_free_and_device_usage() -> None:
    tools = thin_pool_tools()
    pool = ThinPool(POOL, TMETA, tools)
    assert pool.device_usage("2") is None  # not read yet: unknown, not zero
    stats = asyncio.run(pool.read_stats())
    block = 128 * 512
    assert (stats.capacity, stats.free) == (1638400 * block, (1638400 - 24576) * block)
    assert (stats.major, stats.minor) == (253, 2)
    asyncio.run(pool.refresh_usage())
    assert pool.device_usage("2") == 1048576 and pool.device_usage("9") is None
    assert tools.calls[-4:] == [STATUS, RESERVE, THIN_LS, RELEASE]


def test_a_held_snapshot_is_released_first_and_a_failed_thin_ls_still_releases() -> None:
    tools = FakeTools({STATUS: "dmsetup-status-held.txt", THIN_LS: "thin_ls.txt"})
    pool = ThinPool(POOL, TMETA, tools)
    asyncio.run(pool.refresh_usage())
    assert tools.calls == [STATUS, RELEASE, RESERVE, THIN_LS, RELEASE]
    tools.answers[THIN_LS] = CommandError("`thin_ls` exited with 1: bad checksum in superblock")
    tools.calls.clear()
    with pytest.raises(CommandError, match="bad checksum"):
        asyncio.run(pool.refresh_usage())
    assert tools.calls[-1] == RELEASE
    assert pool.device_usage("3") == 2097152  # the last good round is kept


def test_zfs_list_and_get() -> None:
    u = parse_zfs_list_usage((ZFS / "zfs-list-usage.txt").read_text())
    assert (u.capacity, u.free, u.available) == (1610612736 + 9126805504 + 98304, 9126805504, 9126805504)
    assert parse_zfs_list_usage("-\t100\t-\n").capacity == 100
    used = parse_zfs_get_used((ZFS / "zfs-get-used.txt").read_text())
    assert used["tank/docker"] == 1610612736 and used[CONTAINER_LAYER] == 8392704 and len(used) == 4
    with pytest.raises(ParseError, match="zfs list"):
        parse_zfs_list_usage("cannot open 'tank/nope': dataset does not exist\n")
    with pytest.raises(ParseError, match="zfs get"):
        parse_zfs_get_used("tank/docker 12 extra\n")


def test_zfs_dataset_through_the_runner() -> None:
    tools = zfs_tools()
    ds = ZfsDataset("tank/docker", tools)
    assert ds.child_usage(CONTAINER_LAYER) is None
    asyncio.run(ds.read_stats())
    asyncio.run(ds.refresh_usage())
    assert ds.stats is not None and ds.stats.available == 9126805504
    assert ds.child_usage(CONTAINER_LAYER) == 8392704


def test_the_subprocess_runner_names_what_failed() -> None:
    run = subprocess_runner(timeout_s=0.3)
    with pytest.raises(CommandError, match="pycad-no-such-tool"):
        asyncio.run(run(["pycad-no-such-tool", "status"]))
    with pytest.raises(CommandError, match="exited with 3: oops"):
        asyncio.run(run(["sh", "-c", "echo oops >&2; exit 3"]))
    with pytest.raises(CommandError, match=r"took longer than 0\.3 s"):
        asyncio.run(run(["sleep", "30"]))
    assert asyncio.run(run(["printf", "1 2\\n"])) == b"1 2\n"
