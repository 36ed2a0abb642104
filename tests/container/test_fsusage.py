"""The budgeted directory walker against real directory trees; ``du`` is the oracle."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from pycadvisor.container.fsusage import FsUsageTracker
from support.ci import is_root, require

MiB = 1 << 20


def du_bytes(path: Path) -> int:
    """``du -s -x -B1``: allocated bytes, hard links once, one filesystem (what cAdvisor's walk mimics)."""
    out = subprocess.run(["du", "-s", "-x", "-B1", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def distinct_inodes(path: Path) -> int:
    """Distinct inodes under ``path`` on its filesystem, the directory itself included."""
    out = subprocess.run(["find", str(path), "-xdev", "-printf", "%i\n"], capture_output=True, text=True, check=True)
    return len(set(out.stdout.split()))


def write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(os.urandom(size))


def make_tree(root: Path, files: int, size: int = 1000) -> None:
    for i in range(files):
        write(root / f"d{i % 17}" / f"s{i % 5}" / f"f{i}", size)


async def full_walk(t: FsUsageTracker, name: str, max_rounds: int = 100_000) -> int:
    """Run rounds until ``name`` has a figure; return how many rounds that took."""
    for n in range(1, max_rounds + 1):
        await t.run_round()
        if t.usage(name) is not None:
            return n
    raise AssertionError(f"no usage for {name} after {max_rounds} rounds")


def test_usage_matches_du_and_counts_each_inode_once(tmp_path: Path) -> None:
    make_tree(tmp_path, 300, 3000)
    write(tmp_path / "big", 3 * MiB)
    os.link(tmp_path / "big", tmp_path / "d1" / "big-hardlink")  # a hard link: counted once
    (tmp_path / "link").symlink_to("/usr")  # a symlink: its own inode, never followed
    t = FsUsageTracker(60, 10.0)
    t.track("c", [str(tmp_path)])
    asyncio.run(full_walk(t, "c"))
    assert t.usage("c") == (du_bytes(tmp_path), distinct_inodes(tmp_path))
    u = t.usage("c")
    assert u is not None and 3 * MiB < u[0] < 3 * MiB + 300 * 8192  # not 6 MiB: the link is not double counted


def test_base_usage_is_the_first_directory_and_total_adds_the_rest(tmp_path: Path) -> None:
    layer, logs = tmp_path / "layer", tmp_path / "logs"
    write(layer / "a", 2 * MiB)
    write(logs / "json.log", 1 * MiB)
    t = FsUsageTracker(60, 10.0)
    t.track("c", [str(layer), str(logs)])
    asyncio.run(full_walk(t, "c"))
    fs = t.fs_usage("c")
    assert fs is not None
    assert fs.base_bytes == du_bytes(layer)
    assert fs.bytes == du_bytes(layer) + du_bytes(logs)
    assert fs.inodes == distinct_inodes(layer) + distinct_inodes(logs)


def test_missing_writable_layer_means_not_collected_but_missing_logs_do_not(tmp_path: Path) -> None:
    write(tmp_path / "layer" / "a", 4096)
    t = FsUsageTracker(60, 10.0)
    t.track("no-layer", [str(tmp_path / "gone"), str(tmp_path / "layer")])
    t.track("no-logs", [str(tmp_path / "layer"), str(tmp_path / "gone")])

    async def go() -> None:
        for _ in range(5):
            await t.run_round()

    asyncio.run(go())
    assert t.usage("no-layer") is None
    assert t.usage("no-logs") == (du_bytes(tmp_path / "layer"), 2)
    assert t.usage("never-tracked") is None


def test_small_budget_spreads_one_walk_over_rounds_and_never_publishes_a_partial_count(tmp_path: Path) -> None:
    make_tree(tmp_path, 3000, 100)
    t = FsUsageTracker(60, 0.0005, slice_s=0.0002)  # 0.5 ms of walking per round
    t.track("c", [str(tmp_path)])

    async def go() -> int:
        rounds = 0
        while t.usage("c") is None:
            await t.run_round()
            rounds += 1
            assert rounds < 100_000
        return rounds

    rounds = asyncio.run(go())
    assert rounds > 1  # resumed where it stopped instead of walking 3000 entries in one round
    assert t.usage("c") == (du_bytes(tmp_path), distinct_inodes(tmp_path))
    assert t.entries_walked == distinct_inodes(tmp_path) - 1  # each entry visited once across the rounds


def test_event_loop_runs_between_slices_of_a_walk(tmp_path: Path) -> None:
    make_tree(tmp_path, 2000, 100)
    t = FsUsageTracker(60, 10.0, slice_s=0.0005)
    t.track("c", [str(tmp_path)])
    ticks_before_done = 0

    async def go() -> None:
        nonlocal ticks_before_done
        walker = asyncio.ensure_future(t.run_round())
        while not walker.done():
            ticks_before_done += 1
            await asyncio.sleep(0)
        await walker

    asyncio.run(go())
    assert t.usage("c") is not None
    assert ticks_before_done > 1  # another coroutine ran while the walk was in progress


def test_growth_is_seen_on_the_next_interval(tmp_path: Path) -> None:
    write(tmp_path / "a", 4096)
    t = FsUsageTracker(0.05, 10.0, round_s=0.01)
    t.track("c", [str(tmp_path)])

    async def go() -> tuple[int, int]:
        runner = asyncio.ensure_future(t.run())
        try:
            while t.usage("c") is None:
                await asyncio.sleep(0.01)
            u0 = t.usage("c")
            assert u0 is not None
            write(tmp_path / "grown", 10 * MiB)
            for _ in range(1000):
                u = t.usage("c")
                assert u is not None
                if u[0] > u0[0]:
                    return u0[0], u[0]
                await asyncio.sleep(0.01)
            raise AssertionError("usage never grew")
        finally:
            runner.cancel()
            with pytest.raises(asyncio.CancelledError):
                await runner

    before, after = asyncio.run(go())
    assert 10 * MiB <= after - before <= 10 * MiB + 64 * 1024


def test_untrack_mid_walk_forgets_and_closes_its_directories(tmp_path: Path) -> None:
    make_tree(tmp_path, 2000, 100)
    t = FsUsageTracker(60, 0.0005, slice_s=0.0002)
    fds_before = len(os.listdir("/proc/self/fd"))
    t.track("c", [str(tmp_path)])

    async def go() -> None:
        await t.run_round()

    asyncio.run(go())
    assert t.usage("c") is None  # still walking
    assert len(os.listdir("/proc/self/fd")) > fds_before  # holding the open directories
    t.untrack("c")
    assert len(os.listdir("/proc/self/fd")) == fds_before
    assert t.usage("c") is None and t.names() == []


def test_retracking_with_other_dirs_restarts_the_measurement(tmp_path: Path) -> None:
    write(tmp_path / "one" / "a", 1 * MiB)
    write(tmp_path / "two" / "a", 2 * MiB)
    t = FsUsageTracker(60, 10.0)
    t.track("c", [str(tmp_path / "one")])
    asyncio.run(full_walk(t, "c"))
    t.track("c", [str(tmp_path / "one")])  # same dirs: figure kept
    assert t.usage("c") is not None
    t.track("c", [str(tmp_path / "two")])
    assert t.usage("c") is None
    asyncio.run(full_walk(t, "c"))
    assert t.usage("c") == (du_bytes(tmp_path / "two"), 2)


def test_walk_does_not_cross_into_another_filesystem(tmp_path: Path) -> None:
    require(is_root(), "mounting a tmpfs needs root")
    write(tmp_path / "a", 1 * MiB)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "pycad-fsusage", str(mnt)], check=True)
    try:
        write(mnt / "hidden", 8 * MiB)
        t = FsUsageTracker(60, 10.0)
        t.track("c", [str(tmp_path)])
        asyncio.run(full_walk(t, "c"))
        u = t.usage("c")
        assert u is not None
        # find -xdev lists the mount point itself; cAdvisor skips it before counting (Dev != root dev).
        assert u == (du_bytes(tmp_path), distinct_inodes(tmp_path) - 1)
        assert u[0] < 2 * MiB  # the 8 MiB on the tmpfs are not counted
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_bad_parameters_are_rejected() -> None:
    with pytest.raises(ValueError):
        FsUsageTracker(0, 1)
    with pytest.raises(ValueError):
        FsUsageTracker(1, 0)


def test_the_loop_sleeps_while_nothing_is_due(tmp_path: Path) -> None:
    """No wake-ups while nothing is tracked or due; a newly tracked container is walked at once."""
    write(tmp_path / "a", 4096)
    t = FsUsageTracker(interval_s=30.0, budget_s_per_round=1.0, round_s=0.01)

    async def go() -> None:
        runner = asyncio.ensure_future(t.run())
        try:
            await asyncio.sleep(0.3)  # nothing tracked: one round at start, then asleep (was one per round_s)
            assert t.rounds <= 1
            t.track("c", [str(tmp_path)])
            for _ in range(200):
                if t.usage("c") is not None:
                    break
                await asyncio.sleep(0.01)
            assert t.usage("c") is not None  # woken by track(), not after a round_s poll
            rounds = t.rounds
            await asyncio.sleep(0.3)  # the next walk is due in 30 s: no rounds meanwhile
            assert t.rounds - rounds <= 1
        finally:
            runner.cancel()
            with pytest.raises(asyncio.CancelledError):
                await runner

    asyncio.run(go())
