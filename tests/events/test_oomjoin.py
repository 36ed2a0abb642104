"""Each OOM kill reported once, with kmsg's details when kmsg saw it."""

from __future__ import annotations

from pycadvisor.events.kmsg import OomInstance
from pycadvisor.events.oomjoin import OomJoin

MS = 1_000_000


def kmsg_kill(task: str = "/a", limit: str = "/a", pid: int = 42, t: int = 0) -> OomInstance:
    return OomInstance(
        container_name=task,
        victim_container_name=limit,
        pid=pid,
        process_name="hog",
        constraint="CONSTRAINT_MEMCG",
        time_ns=t,
    )


def counted_kill(task: str = "/a", t: int = 0) -> OomInstance:
    return OomInstance(container_name=task, victim_container_name=task, constraint="CONSTRAINT_MEMCG", time_ns=t)


def make(active: bool = True) -> tuple[OomJoin, list[OomInstance]]:
    out: list[OomInstance] = []
    j = OomJoin(out.append, grace_ns=500 * MS, credit_ttl_ns=10_000 * MS)
    j.kmsg_active = active
    return j, out


def test_kmsg_first_then_counter_reports_once_with_kmsg_details() -> None:
    j, out = make()
    j.from_kmsg(kmsg_kill(), 0)
    j.from_counter(counted_kill(), 5 * MS)
    j.flush(10_000 * MS)
    assert out == [kmsg_kill()]


def test_counter_first_waits_for_kmsg() -> None:
    j, out = make()
    j.from_counter(counted_kill(), 0)
    assert out == [] and j.next_deadline() == 500 * MS
    j.from_kmsg(kmsg_kill(pid=7), 100 * MS)
    j.flush(1_000 * MS)
    assert [(o.pid, o.process_name) for o in out] == [(7, "hog")]
    assert j.pending_count() == 0


def test_counter_kill_without_kmsg_twin_is_reported_after_the_grace() -> None:
    j, out = make()
    j.from_counter(counted_kill(), 0)
    j.flush(499 * MS)
    assert out == []
    j.flush(500 * MS)
    assert out == [counted_kill()]


def test_counter_kill_is_reported_at_once_when_kmsg_is_off() -> None:
    j, out = make(active=False)
    j.from_counter(counted_kill(), 0)
    assert out == [counted_kill()]


def test_kills_the_kernel_did_not_log_are_still_reported() -> None:
    # The kernel rate-limits OOM reports (oom_rs): 3 kills counted, only 1 logged.
    j, out = make()
    j.from_kmsg(kmsg_kill(), 0)
    for _ in range(3):
        j.from_counter(counted_kill(), 1 * MS)
    j.flush(2_000 * MS)
    assert [o.pid for o in out] == [42, 0, 0]


def test_credits_are_per_cgroup_and_expire() -> None:
    j, out = make()
    j.from_kmsg(kmsg_kill(task="/a"), 0)
    j.from_counter(counted_kill(task="/b"), 1 * MS)  # another cgroup: not covered by /a's credit
    j.flush(1_000 * MS)
    assert [o.container_name for o in out] == ["/a", "/b"]
    j.from_counter(counted_kill(task="/a"), 20_000 * MS)  # the /a credit expired long ago
    j.flush(30_000 * MS)
    assert [o.container_name for o in out] == ["/a", "/b", "/a"]


def test_legacy_report_without_cgroup_takes_the_counted_cgroup() -> None:
    # A global OOM on Linux < 4.19 prints no "Task in" line: kmsg says "/".
    j, out = make()
    j.from_counter(counted_kill(task="/docker/x"), 0)
    j.from_kmsg(kmsg_kill(task="/", limit="/", pid=9), 10 * MS)
    j.flush(10_000 * MS)
    assert [(o.container_name, o.pid) for o in out] == [("/docker/x", 9)]
