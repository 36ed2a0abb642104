"""Listing a cgroup hierarchy's directories (host/cgroups/tree.py) on fixture trees and on the real cgroupfs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pycadvisor.host.cgroups.tree import cgroup_dirs_below
from support.cgroups import TestCgroup

HOSTS = Path(__file__).resolve().parents[1] / "fixtures" / "hosts"


def walked(top: str) -> set[str]:
    """Every directory below ``top`` the plain way (os.walk, symlinks not followed), as /a/b names."""
    out = set()
    for dirpath, dirnames, _ in os.walk(top):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        rel = os.path.relpath(dirpath, top)
        if rel != ".":
            out.add("/" + rel)
    return out


def listed(top: str) -> dict[str, str]:
    got = dict(cgroup_dirs_below(top))
    assert all(path == top + name for name, path in got.items())
    return got


@pytest.mark.parametrize("host", ["cgroup1-docker", "cgroup2-containerd", "cgroup2-systemd"])
def test_fixture_hosts_list_every_cgroup(host: str) -> None:
    roots = [str(p) for p in (HOSTS / host / "sys" / "fs" / "cgroup").iterdir() if p.is_dir()]
    roots.append(str(HOSTS / host / "sys" / "fs" / "cgroup"))
    nested = 0
    for top in roots:
        got = listed(top)
        assert set(got) == walked(top)
        nested += sum(name.count("/") >= 2 for name in got)
    assert nested  # cgroups below cgroups (a service under a slice), not just the first level


def test_a_real_hierarchy_nested_and_leaves(test_cgroup: TestCgroup) -> None:
    a = test_cgroup.child("a")
    b = a.child("b")
    b.child("c")
    test_cgroup.child("d")
    top = os.path.dirname(test_cgroup.path())  # /sys/fs/cgroup/<memory>/pycadtest-<id>
    leaf = test_cgroup.name.rsplit("/", 1)[1]
    want = {f"/{leaf}", f"/{leaf}/a", f"/{leaf}/a/b", f"/{leaf}/a/b/c", f"/{leaf}/d"}
    assert set(listed(top)) == want == walked(top)
    # The whole hierarchy, the test's cgroups among everything else the host has.
    root = test_cgroup.layout.roots["memory"]
    assert {test_cgroup.name + "/a/b/c", test_cgroup.name + "/d"} <= set(listed(root))


def test_symlinks_are_not_followed_and_files_are_not_dirs(tmp_path: Path) -> None:
    (tmp_path / "x" / "y").mkdir(parents=True)
    (tmp_path / "x" / "memory.stat").write_text("cache 0\n")
    (tmp_path / "link").symlink_to(tmp_path / "x")
    assert set(listed(str(tmp_path))) == {"/x", "/x/y"}


def test_a_missing_top_lists_nothing(tmp_path: Path) -> None:
    assert listed(str(tmp_path / "gone")) == {}


def test_directories_without_a_subdirectory_count_are_listed_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # btrfs and overlayfs report st_nlink 1 for directories: no directory may be taken for a leaf there.
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "d").mkdir()
    real_lstat = os.lstat

    class Stat:
        def __init__(self, path: str) -> None:
            self.st_nlink = 1 if os.path.isdir(path) else real_lstat(path).st_nlink

    monkeypatch.setattr(os, "lstat", Stat)
    assert set(listed(str(tmp_path))) == {"/a", "/a/b", "/a/b/c", "/d"}


def test_leaves_are_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "p" / "leaf1").mkdir(parents=True)
    (tmp_path / "p" / "leaf2").mkdir()
    (tmp_path / "q").mkdir()
    scanned: list[str] = []
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        scanned.append(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert set(listed(str(tmp_path))) == {"/p", "/p/leaf1", "/p/leaf2", "/q"}
    assert sorted(scanned) == [str(tmp_path), str(tmp_path / "p")]
