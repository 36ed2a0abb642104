"""One report per OOM kill from two sources: the kernel log and cgroup kill counters.

Rule (kmsg has the better details: the exact task and limit cgroups, pid and process name, the
constraint; the counters see every kill, even those whose kmsg report was rate-limited away by the
kernel's ``oom_rs`` ratelimit or when /dev/kmsg is unreadable):

1. A kmsg kill is reported at once. If a counter-detected kill of the same task cgroup is waiting
   (rule 2), that one is dropped; otherwise a *credit* for the task cgroup is kept for
   ``credit_ttl`` so that the counter rise that follows is not reported a second time.
2. A counter-detected kill first consumes a credit of its cgroup. With none, and kmsg active, it
   waits ``grace`` for its kmsg twin (the kernel prints the report before it bumps the counter,
   but the two reach us through different fds); when none comes it is reported as it is. With
   kmsg inactive it is reported at once.
3. A kmsg report that names no cgroup (a global OOM on kernels before 4.19 prints no ``Task in``
   line, so the task cgroup is ``/``) matches a waiting kill or leaves a credit for any cgroup.

Pure logic over an injected time; :class:`~pycadvisor.events.service.EventService` drives the timers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Final

from pycadvisor.events.kmsg import OomInstance

DEFAULT_GRACE_NS: Final = 500_000_000
DEFAULT_CREDIT_TTL_NS: Final = 10_000_000_000
_ANY: Final = "/"


class OomJoin:
    """Merges kmsg and counter kills; calls ``emit`` once per kill."""

    def __init__(
        self,
        emit: Callable[[OomInstance], None],
        *,
        grace_ns: int = DEFAULT_GRACE_NS,
        credit_ttl_ns: int = DEFAULT_CREDIT_TTL_NS,
    ) -> None:
        self._emit = emit
        self.grace_ns = grace_ns
        self.credit_ttl_ns = credit_ttl_ns
        self.kmsg_active = False
        self._credits: dict[str, deque[int]] = {}  # task cgroup -> expiry times
        self._pending: dict[str, deque[tuple[int, OomInstance]]] = {}  # task cgroup -> (deadline, kill)

    def from_kmsg(self, inst: OomInstance, now: int) -> None:
        name = inst.container_name
        q = self._pending.get(name)
        if not q and name == _ANY:
            q = self._oldest_pending_queue()
        if q:
            _, counted = q.popleft()
            if name == _ANY:  # the counter knows which cgroup the task was in
                inst = _with_container(inst, counted.container_name)
            self._drop_empty()
        else:
            self._credits.setdefault(name, deque()).append(now + self.credit_ttl_ns)
        self._emit(inst)

    def from_counter(self, inst: OomInstance, now: int) -> None:
        if self._take_credit(inst.container_name, now) or self._take_credit(_ANY, now):
            return
        if not self.kmsg_active or self.grace_ns <= 0:
            self._emit(inst)
            return
        self._pending.setdefault(inst.container_name, deque()).append((now + self.grace_ns, inst))

    def flush(self, now: int) -> None:
        """Report the counter kills whose grace has run out."""
        for name in list(self._pending):
            q = self._pending[name]
            while q and q[0][0] <= now:
                self._emit(q.popleft()[1])
        self._drop_empty()

    def next_deadline(self) -> int | None:
        """When :meth:`flush` has something to report next (ns), or None."""
        heads = [q[0][0] for q in self._pending.values() if q]
        return min(heads) if heads else None

    def pending_count(self) -> int:
        return sum(len(q) for q in self._pending.values())

    def _take_credit(self, name: str, now: int) -> bool:
        q = self._credits.get(name)
        if not q:
            return False
        while q and q[0] < now:
            q.popleft()
        if not q:
            del self._credits[name]
            return False
        q.popleft()
        if not q:
            del self._credits[name]
        return True

    def _oldest_pending_queue(self) -> deque[tuple[int, OomInstance]] | None:
        best: deque[tuple[int, OomInstance]] | None = None
        for q in self._pending.values():
            if q and (best is None or q[0][0] < best[0][0]):
                best = q
        return best

    def _drop_empty(self) -> None:
        for name in [n for n, q in self._pending.items() if not q]:
            del self._pending[name]


def _with_container(inst: OomInstance, container: str) -> OomInstance:
    return OomInstance(
        container_name=container,
        victim_container_name=inst.victim_container_name,
        pid=inst.pid,
        process_name=inst.process_name,
        constraint=inst.constraint,
        time_ns=inst.time_ns,
    )
