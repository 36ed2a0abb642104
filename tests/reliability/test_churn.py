"""A daemon under cgroup churn (issue 14): every creation and deletion is reported, and what the daemon
holds (fds, threads, kernel inotify watches, tracked containers) comes back to its baseline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reliability.conftest import FAST_FLAGS
from reliability.scenarios import churn, only_below
from support.cgroups import TestCgroup

PODS = 100  # x 2 cgroups (pod and container): 200 created and removed
RSS_GROWTH_KIB = 32 << 10  # memory a daemon may keep after the churn (caches, allocator)


def test_churned_cgroups_are_all_reported_and_leave_nothing_behind(
    pycadvisor_daemon_factory: Callable[..., Any], test_cgroup: TestCgroup
) -> None:
    # Only this test's cgroups (and the root): other tests' cgroups coming and going on the host would
    # move the fd, watch and container counts this test compares.
    d = pycadvisor_daemon_factory(*FAST_FLAGS, *only_below(test_cgroup.name))
    r = churn(d.url, d.pid, test_cgroup, pods=PODS)
    assert r.cgroups == 2 * PODS
    assert (r.creations, r.missing_creations) == (r.cgroups, []), r.figures()
    assert (r.deletions, r.missing_deletions) == (r.cgroups, []), r.figures()
    assert r.tracked_after == r.tracked_before, r.figures()
    assert r.after.fds <= r.before.fds, r.figures()
    assert r.after.threads <= r.before.threads, r.figures()
    # The kernel keeps a watch until inotify_rm_watch: a forgotten one outlives its deleted directory
    # (this kernel sends no IN_IGNORED for a removed cgroup directory).
    assert r.removed_dirs >= r.cgroups
    assert r.watches_on_removed == 0, r.figures()
    assert r.after.inotify_watches <= r.before.inotify_watches, r.figures()
    assert r.after.rss_kib <= r.before.rss_kib + RSS_GROWTH_KIB, r.figures()
