"""A daemon under cgroup churn (issue 14): every creation and deletion is reported, and what the daemon
holds (fds, threads, kernel inotify watches, tracked containers) comes back to its baseline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from reliability.conftest import FAST_FLAGS
from reliability.scenarios import churn, no_runtime_flags, only_below
from support.cgroups import TestCgroup

PODS = 100  # x 2 cgroups (pod and container): 200 created and removed
RSS_GROWTH_KIB = 32 << 10  # memory a daemon may keep after the churn (caches, allocator)


def test_churned_cgroups_are_all_reported_and_leave_nothing_behind(
    pycadvisor_daemon_factory: Callable[..., Any], test_cgroup: TestCgroup, tmp_path: Path
) -> None:
    # Raw cgroups only below this test's prefix, and no runtime answers (sockets that do not exist):
    # little of the other work on the host is tracked beside the churn.
    no_runtime = no_runtime_flags(str(tmp_path / "runtimes"))
    d = pycadvisor_daemon_factory(*FAST_FLAGS, *only_below(test_cgroup.name), *no_runtime)
    r = churn(d.url, d.pid, test_cgroup, pods=PODS)
    assert r.cgroups == 2 * PODS
    assert (r.creations, r.missing_creations) == (r.cgroups, []), r.figures()
    assert (r.deletions, r.missing_deletions) == (r.cgroups, []), r.figures()
    # Compared on what belongs to the churned cgroups: other work on the host may add or drop
    # containers meanwhile (the totals before, at the peak and after are in r.figures()).
    assert r.tracked_below_after == 0, r.figures()
    assert r.own_fds[1] <= r.own_fds[0], r.figures()
    assert r.after.threads <= r.before.threads, r.figures()
    # The kernel keeps a watch until inotify_rm_watch: a forgotten one outlives its deleted directory
    # (this kernel sends no IN_IGNORED for a removed cgroup directory).
    assert r.removed_dirs >= r.cgroups
    assert r.watches_on_removed == 0, r.figures()
    assert r.after.rss_kib <= r.before.rss_kib + RSS_GROWTH_KIB, r.figures()
