"""The hostile-client and churn scenarios of issue 14, sized by their caller.

``tests/reliability`` runs each one small enough for CI and asserts on what it returns;
``bench/torture.py`` runs the same functions large and prints the figures. Each scenario talks to a
running daemon (``url``, ``pid``) on 127.0.0.1 only, and every loop is bounded in count.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# ---------------------------------------------------------------- what a process holds


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def inotify_watches(pid: int) -> int:
    """Kernel inotify watches held by ``pid``: the ``inotify wd:`` lines of each inotify fd's fdinfo
    (fs/notify/fdinfo.c ``inotify_show_fdinfo``, one line per watch the kernel still keeps)."""
    total = 0
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)) != "anon_inode:inotify":
                continue
            total += sum(1 for line in _read(f"/proc/{pid}/fdinfo/{fd}").splitlines() if line.startswith("inotify wd:"))
        except FileNotFoundError:  # closed meanwhile
            continue
    return total


def watched_inodes(pid: int) -> set[tuple[int, int]]:
    """(device, inode) of every directory ``pid`` has an inotify watch on, as the kernel prints them
    (``ino:%lx sdev:%x``, the device as the kernel's dev_t: major << 20 | minor)."""
    out: set[tuple[int, int]] = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)) != "anon_inode:inotify":
                continue
            text = _read(f"/proc/{pid}/fdinfo/{fd}")
        except FileNotFoundError:
            continue
        for m in re.finditer(r"^inotify wd:\S+ ino:([0-9a-f]+) sdev:([0-9a-f]+)", text, re.M):
            out.add((int(m.group(2), 16), int(m.group(1), 16)))
    return out


def kernel_dev_ino(path: str) -> tuple[int, int]:
    """(device, inode) of ``path`` in the kernel's encoding of :func:`watched_inodes`."""
    st = os.stat(path)
    return (os.major(st.st_dev) << 20) | os.minor(st.st_dev), st.st_ino


@dataclass(frozen=True, slots=True)
class Holdings:
    """What a process holds at one moment (procfs, proc(5))."""

    fds: int
    threads: int
    rss_kib: int
    inotify_watches: int

    @classmethod
    def of(cls, pid: int) -> Holdings:
        status = dict(line.split(":", 1) for line in _read(f"/proc/{pid}/status").splitlines() if ":" in line)
        return cls(
            fds=len(os.listdir(f"/proc/{pid}/fd")),
            threads=int(status["Threads"]),
            rss_kib=int(status["VmRSS"].split()[0]),
            inotify_watches=inotify_watches(pid),
        )


# ---------------------------------------------------------------- raw HTTP


def raw_request(
    port: int, method: str, target: str, headers: Sequence[tuple[str, str]] = (), timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    """Send ``target`` byte for byte (no client normalization) and return (status, headers, body).

    Connection: close, so the body is everything up to EOF.
    """
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for h in header_lines:
        k, _, v = h.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(status_line.split()[1]), hdrs, body


# ---------------------------------------------------------------- API fuzzing


@dataclass(slots=True)
class FuzzResult:
    operations: int = 0
    requests: int = 0
    server_errors: int = 0  # 5xx answers (none is documented but the docker alias one)
    failures: list[str] = field(default_factory=list)  # first lines of each distinct failure
    statuses: dict[int, int] = field(default_factory=dict)


def fuzzable_document(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` without ``stream``: a streamed events answer stays open by design, so a request with
    ``stream=true`` never completes (the streaming path has its own tests in tests/events)."""
    out: dict[str, Any] = json.loads(json.dumps(doc))
    for item in out["paths"].values():
        for op in item.values():
            if "parameters" in op:
                op["parameters"] = [p for p in op["parameters"] if p["name"] != "stream"]
    return out


def fuzz_api(url: str, doc: dict[str, Any], *, max_examples: int, derandomize: bool = True) -> FuzzResult:
    """Property-based requests to every operation of ``doc`` (schemathesis, positive and negative
    data), each answer checked: no undocumented 5xx, documented status and content type, and the body
    validates strictly against the documented schema."""
    import hypothesis
    from schemathesis import GenerationMode
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )
    from schemathesis.openapi import from_dict

    from support.openapi import StrictResponses

    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    fdoc = fuzzable_document(doc)
    schema = from_dict(fdoc)
    strict = StrictResponses(fdoc)
    result = FuzzResult()
    seen: set[str] = set()
    documented_5xx = {
        (path, method): {s for s in op["responses"] if s.startswith("5")}
        for path, item in fdoc["paths"].items()
        for method, op in item.items()
    }

    for op_result in schema.get_all_operations():
        op = op_result.ok()  # type: ignore[union-attr]  # an invalid operation raises here: a document bug
        result.operations += 1
        path, method = op.path, op.method.lower()

        def make_run(path: str, method: str) -> Callable[[Any], None]:
            def run(case: Any) -> None:
                check(case, path, method)

            return run

        def check(case: Any, path: str, method: str) -> None:
            try:
                resp = case.call(base_url=url, timeout=30)
            except Exception as e:  # the daemon closed the connection or did not answer: a failure
                note(f"{method.upper()} {path}: no answer: {e!r}")
                return
            result.requests += 1
            result.statuses[resp.status_code] = result.statuses.get(resp.status_code, 0) + 1
            if resp.status_code >= 500 and str(resp.status_code) not in documented_5xx[(path, method)]:
                result.server_errors += 1
            try:
                case.validate_response(resp, checks=checks)
            except Exception as e:
                first = next((ln.strip() for ln in str(e).splitlines() if ln.strip().startswith("-")), str(e)[:200])
                note(f"{method.upper()} {path} -> {resp.status_code}: {first} ({case.as_curl_command()})")
            for err in strict.response_errors(path, method, resp):
                note(f"{method.upper()} {path} -> {resp.status_code}: {err} ({case.as_curl_command()})")

        def note(text: str) -> None:
            key = re.sub(r"\(curl .*\)$", "", text)
            if key not in seen:
                seen.add(key)
                result.failures.append(text)

        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            test = hypothesis.given(op.as_strategy(generation_mode=mode))(make_run(path, method))
            test = hypothesis.settings(
                max_examples=max_examples,
                deadline=None,
                database=None,
                derandomize=derandomize,
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                suppress_health_check=list(hypothesis.HealthCheck),
            )(test)
            with contextlib.suppress(hypothesis.errors.Unsatisfiable):
                test()
    return result


# ---------------------------------------------------------------- cgroup churn


def only_below(name: str) -> tuple[str, ...]:
    """Daemon flags that make it track only the root and the cgroups at and below ``name``."""
    return ("-docker_only=true", f"-raw_cgroup_prefix_whitelist={name.split('/')[1] and '/' + name.split('/')[1]}")


def get_json(url: str, path: str, timeout: float = 30.0) -> Any:
    from support.services import http_get

    status, body = http_get(url + path, timeout=timeout)
    if status != 200:
        raise RuntimeError(f"GET {path} -> {status}: {body[:300]!r}")
    return json.loads(body)


def tracked_below(url: str, name: str) -> int:
    """Containers the daemon tracks at and below ``name`` (REST ``/api/v2.0/spec?recursive=true``)."""
    try:
        return len(get_json(url, f"/api/v2.0/spec{name}?recursive=true"))
    except RuntimeError:
        return 0


def tracked_total(url: str) -> int:
    return len(get_json(url, "/api/v2.0/spec/?recursive=true"))


@dataclass(slots=True)
class ChurnResult:
    cgroups: int  # cgroups created and removed (pods and their containers)
    with_processes: int
    before: Holdings
    after: Holdings
    peak: Holdings
    tracked_before: int
    tracked_after: int
    creations: int  # containerCreation events of the churned cgroups
    deletions: int  # containerDeletion events of the churned cgroups
    missing_creations: list[str]
    missing_deletions: list[str]
    seconds: float
    removed_dirs: int  # directories removed (a cgroup has one per mounted hierarchy)
    watches_on_removed: int  # inotify watches the kernel still keeps on those removed directories

    def figures(self) -> dict[str, Any]:
        return {
            "cgroups": self.cgroups,
            "with_processes": self.with_processes,
            "events": f"{self.creations}/{self.cgroups} creations, {self.deletions}/{self.cgroups} deletions",
            "fds": [self.before.fds, self.peak.fds, self.after.fds],
            "threads": [self.before.threads, self.peak.threads, self.after.threads],
            "inotify_watches": [self.before.inotify_watches, self.peak.inotify_watches, self.after.inotify_watches],
            "watches_on_removed_dirs": f"{self.watches_on_removed}/{self.removed_dirs}",
            "rss_kib": [self.before.rss_kib, self.peak.rss_kib, self.after.rss_kib],
            "tracked_containers": [self.tracked_before, self.tracked_after],
            "seconds": round(self.seconds, 1),
        }


def steady_holdings(pid: int, *, timeout: float, interval: float = 0.5) -> Holdings:
    """The holdings of ``pid`` once two readings ``interval`` apart agree (work in flight has ended)."""
    from support.procs import wait_until

    last: list[Holdings] = [Holdings.of(pid)]

    def same() -> Holdings | None:
        now = Holdings.of(pid)
        prev, last[0] = last[0], now
        return (
            now
            if (now.fds, now.threads, now.inotify_watches) == (prev.fds, prev.threads, prev.inotify_watches)
            else None
        )

    return wait_until(same, timeout=timeout, interval=interval, what=f"steady holdings of pid {pid}")


def _settled(pid: int, base: Holdings, url: str, tracked: int) -> Holdings | None:
    now = Holdings.of(pid)
    back = (
        now.fds <= base.fds
        and now.threads <= base.threads
        and now.inotify_watches <= base.inotify_watches
        and tracked_total(url) <= tracked
    )
    return now if back else None


def churn(
    url: str,
    pid: int,
    parent: Any,
    *,
    pods: int,
    batch: int = 25,
    process_every: int = 5,
    settle_timeout: float = 60.0,
) -> ChurnResult:
    """Create and remove ``pods`` pod cgroups, each with a container cgroup inside (``<parent>/pN/c``),
    ``batch`` at a time, as a runtime does: the pod first, then its container, hierarchy by
    hierarchy (TestCgroup makes each directory in every mounted hierarchy in turn); every
    ``process_every``-th container runs a process. A batch is removed once the daemon tracks it.

    A first batch warms the daemon up (lazy imports, executor threads) before the baseline is taken;
    at the end, waits (at most ``settle_timeout``) for what the daemon holds to come back to it.
    """
    from support.procs import sleeper, wait_until

    removed_dirs: set[tuple[int, int]] = set()

    def one_batch(start: int, count: int) -> tuple[list[str], int, Holdings]:
        made = []
        names: list[str] = []
        procs = 0
        for i in range(start, start + count):
            pod = parent.child(f"p{i}")
            ctr = pod.child("c")
            if process_every and i % process_every == 0:
                ctr.adopt(sleeper(ctr))
                procs += 1
            made.append((pod, ctr))
            names += [pod.name, ctr.name]
        want = len(names)
        wait_until(
            lambda: tracked_below(url, parent.name) >= want + 1,
            timeout=settle_timeout,
            what=f"the daemon to track {want} new cgroups",
        )
        peak = Holdings.of(pid)
        for pod, ctr in made:
            removed_dirs.update(kernel_dev_ino(d) for cg in (pod, ctr) for d in cg.paths())
            pod.close()
        return names, procs, peak

    wait_until(lambda: tracked_below(url, parent.name) == 1, timeout=settle_timeout, what=f"{parent.name} tracked")
    warm = min(batch, 5)
    one_batch(10**6, warm)  # warm-up, not counted
    wait_until(lambda: tracked_below(url, parent.name) == 1, timeout=settle_timeout, what="warm-up cgroups gone")
    removed_dirs.clear()
    tracked_before = tracked_total(url)
    before = steady_holdings(pid, timeout=settle_timeout)
    t0 = time.monotonic()
    names: list[str] = []
    with_procs = 0
    peak = before
    for start in range(0, pods, batch):
        batch_names, procs, batch_peak = one_batch(start, min(batch, pods - start))
        names += batch_names
        with_procs += procs
        peak = Holdings(
            fds=max(peak.fds, batch_peak.fds),
            threads=max(peak.threads, batch_peak.threads),
            rss_kib=max(peak.rss_kib, batch_peak.rss_kib),
            inotify_watches=max(peak.inotify_watches, batch_peak.inotify_watches),
        )
    want = set(names)

    def events(kind: str) -> set[str]:
        # No start_time: the names are unique to this run, and the warm-up's are not in ``want``.
        q = f"{kind}_events=true&subcontainers=true&max_events=-1"
        return {e["container_name"] for e in get_json(url, f"/api/v1.3/events{parent.name}?{q}")} & want

    def reported(kind: str) -> set[str]:
        try:
            wait_until(lambda: events(kind) == want, timeout=settle_timeout, what=f"{kind} events")
        except TimeoutError:
            pass  # reported below as missing
        return events(kind)

    created = reported("creation")
    deleted = reported("deletion")
    try:
        after = wait_until(
            lambda: _settled(pid, before, url, tracked_before), timeout=settle_timeout, what="holdings back to baseline"
        )
    except TimeoutError:
        after = Holdings.of(pid)
    return ChurnResult(
        removed_dirs=len(removed_dirs),
        watches_on_removed=len(removed_dirs & watched_inodes(pid)),
        cgroups=len(names),
        with_processes=with_procs,
        before=before,
        after=after,
        peak=peak,
        tracked_before=tracked_before,
        tracked_after=tracked_total(url),
        creations=len(created),
        deletions=len(deleted),
        missing_creations=sorted(want - created)[:10],
        missing_deletions=sorted(want - deleted)[:10],
        seconds=time.monotonic() - t0,
    )
