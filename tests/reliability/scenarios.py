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


def documented_5xx_body(status: int, body: bytes) -> bool:
    """The 500s the document lists, as cAdvisor answers them: a docker alias of more than one path
    element (``/api/v1.2/docker/<a>/<b>``), or an alias that is the prefix of several ids."""
    return status == 500 and (body.startswith(b"invalid docker container name") or b'" is not unique' in body)


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
    from schemathesis.core.failures import FailureGroup
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
    # A documented 500 is still counted unless its body is the documented error (not any exception).

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
            if resp.status_code >= 500 and not (
                str(resp.status_code) in documented_5xx[(path, method)]
                and documented_5xx_body(resp.status_code, resp.content)
            ):
                result.server_errors += 1
            try:
                case.validate_response(resp, checks=checks)
            except (Exception, FailureGroup) as e:  # FailureGroup is a BaseExceptionGroup, not an Exception
                what = "; ".join(getattr(x, "title", repr(x)) for x in getattr(e, "exceptions", [e]))
                note(f"{method.upper()} {path} -> {resp.status_code}: {what} ({case.as_curl_command()})")
            for err in strict.response_errors(path, method, resp):
                note(f"{method.upper()} {path} -> {resp.status_code}: {err} ({case.as_curl_command()})")

        def note(text: str) -> None:
            key = re.sub(r"\(curl .*\)$", "", text)
            if key not in seen:
                seen.add(key)
                result.failures.append(text)

        spec = fdoc["paths"][path][method]
        modes = [GenerationMode.POSITIVE]
        if spec.get("parameters") or spec.get("requestBody"):  # else there is nothing to make invalid
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
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
    top = "/" + name.strip("/").split("/")[0]  # e.g. /pycadtest-1a2b3c4d
    return ("-docker_only=true", f"-raw_cgroup_prefix_whitelist={top}")


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
    own_fds: tuple[int, int]  # descriptors open below the churn's parent cgroup, before and after
    tracked_below_after: int  # churned cgroups still tracked after the churn

    def figures(self) -> dict[str, Any]:
        return {
            "cgroups": self.cgroups,
            "with_processes": self.with_processes,
            "events": f"{self.creations}/{self.cgroups} creations, {self.deletions}/{self.cgroups} deletions",
            "fds": [self.before.fds, self.peak.fds, self.after.fds],
            "fds_below_the_churned_parent": list(self.own_fds),
            "churned_cgroups_still_tracked": self.tracked_below_after,
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


def fds_below(pid: int, dirs: Sequence[str]) -> int:
    """Descriptors of ``pid`` open on files at or below any of ``dirs`` (the cgroup files it holds for
    the containers there), whatever else on the host comes and goes."""
    n = 0
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except FileNotFoundError:
            continue
        n += any(target == d or target.startswith(d + "/") for d in dirs)
    return n


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

    def sampled_twice() -> bool:  # its cgroup files are open from then on: part of the baseline
        return len(get_json(url, f"/api/v2.0/stats{parent.name}?count=2").get(parent.name, [])) >= 2

    wait_until(sampled_twice, timeout=settle_timeout, what=f"two samples of {parent.name}")
    warm = min(batch, 5)
    one_batch(10**6, warm)  # warm-up, not counted
    wait_until(lambda: tracked_below(url, parent.name) == 1, timeout=settle_timeout, what="warm-up cgroups gone")
    removed_dirs.clear()
    tracked_before = tracked_total(url)
    before = steady_holdings(pid, timeout=settle_timeout)
    own_dirs = parent.paths()
    own_fds_before = fds_below(pid, own_dirs)
    assert own_fds_before > 0, f"the daemon holds no file of {parent.name}: it does not sample it"
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

    def settled() -> bool:
        # What belongs to the churned cgroups only: other work on the host may come and go meanwhile.
        return (
            tracked_below(url, parent.name) == 1
            and fds_below(pid, own_dirs) <= own_fds_before
            and Holdings.of(pid).threads <= before.threads
            and not removed_dirs & watched_inodes(pid)
        )

    try:
        wait_until(settled, timeout=settle_timeout, what="what the churn made to be released")
    except TimeoutError:
        pass  # reported below
    after = Holdings.of(pid)
    return ChurnResult(
        removed_dirs=len(removed_dirs),
        watches_on_removed=len(removed_dirs & watched_inodes(pid)),
        own_fds=(own_fds_before, fds_below(pid, own_dirs)),
        tracked_below_after=tracked_below(url, parent.name) - 1,
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


# ---------------------------------------------------------------- path traversal


def traversal_names(canary: str) -> list[str]:
    """Hostile container names, as raw request-target text: each tries to make the daemon open
    ``canary`` (an absolute file path) or a file outside what it reads, or to break its parser."""
    rel = canary.lstrip("/")
    up = "../" * 12
    names = [
        "..",
        "../..",
        up + rel,
        up + "etc/shadow",
        up + "root/.ssh/id_rsa",
        up + "proc/self/environ",
        "/" + rel,
        "//" + rel,
        canary,
        "%2e%2e/" * 12 + rel,
        "%2E%2E%2F" * 12 + rel.replace("/", "%2F"),
        "..%2f" * 12 + rel.replace("/", "%2f"),
        "%252e%252e%252f" * 12 + rel,  # double-encoded
        "%25252e%25252e%25252f" * 12 + rel,  # triple-encoded
        "..%252f" * 12 + rel,
        "%c0%ae%c0%ae/" * 12 + rel,  # overlong UTF-8 dots
        "%c0%af".join([".."] * 12) + "%c0%af" + rel,  # overlong UTF-8 slash
        "..\\" * 12 + rel.replace("/", "\\"),
        "..%5c" * 12 + rel.replace("/", "%5c"),
        ".%2e/" * 12 + rel,
        "%2e./" * 12 + rel,
        "....//" * 12 + rel,
        "..;/" * 12 + rel,
        "./" * 40 + up + rel,
        "%00",
        "..%00/" * 12 + rel,
        up + rel + "%00.json",
        "a%00b",
        "a" * 255,
        "a" * 4096,
        "/".join(["a" * 200] * 30),  # 6 KB of path
        "%" * 100,
        "%zz%%%",
        "%ff%fe%fd",
        "\u2025/" * 12 + rel,  # two-dot leader
        "\uff0e\uff0e\uff0f" * 12 + rel,  # fullwidth dots and solidus
        "\u202e" + rel,  # right-to-left override
        "容器/\U0001f4a5",
        "%e2%80%a5/" * 12 + rel,
        "~root",
        "$(id)",
        "`id`",
        "*",
        "{name}",
        "docker/" + up + rel,
        "system.slice/../../" + up + rel,
        "%0d%0aX-Injected:%201",
        "name?type=docker&recursive=true",
        "name#frag",
        "sys/fs/cgroup/memory/" + up + rel,
        "proc/1/root/" + rel,
    ]
    return names


# Endpoints that take a container name, or a file name (static assets): 22.
NAMED_ENDPOINTS = (
    "/api/v1.0/containers/",
    "/api/v1.1/subcontainers/",
    "/api/v1.2/docker/",
    "/api/v1.3/containers/",
    "/api/v1.3/subcontainers/",
    "/api/v1.3/docker/",
    "/api/v1.3/events/",
    "/api/v2.0/stats/",
    "/api/v2.0/summary/",
    "/api/v2.0/spec/",
    "/api/v2.0/ps/",
    "/api/v2.0/appmetrics/",
    "/api/v2.0/events/",
    "/api/v2.1/stats/",
    "/api/v2.1/spec/",
    "/api/v2.1/ps/",
    "/api/v2.1/ps/{}?type=docker",
    "/api/v2.1/spec/{}?type=podman&recursive=true",
    "/containers/",
    "/docker/",
    "/podman/",
    "/static/",
)

# Files in /etc the daemon reads for its answers: user names for ps (pwd), the OS version
# (attributes), MIME types and name resolution (Python's stdlib).
ETC_FILES = frozenset(
    "/etc/" + f
    for f in (
        "passwd", "group", "os-release", "localtime", "mime.types", "nsswitch.conf", "hosts", "resolv.conf",
        "host.conf", "gai.conf", "ld.so.cache",
        # The default -container_hints file: looked up (one stat) when a new raw container is added, as cAdvisor
        # reads it then (container/common/container_hints.go).
        "cadvisor/container_hints.json",
    )
)  # fmt: skip


def no_runtime_flags(socket_dir: str) -> tuple[str, ...]:
    """Daemon flags pointing every runtime client at a socket in ``socket_dir`` that does not exist:
    the daemon then names no container through a runtime, so it looks at no runtime's files (rootfs,
    logs) that other work on the host may have, and what it opens is its own doing."""
    return (
        f"-docker=unix://{socket_dir}/docker.sock",
        f"-podman=unix://{socket_dir}/podman.sock",
        f"-containerd={socket_dir}/containerd.sock",
        f"-crio=unix://{socket_dir}/crio.sock",
    )


def allowed_roots(repo: str) -> tuple[str, ...]:
    """Where the daemon may open or stat files: cgroupfs, /proc, /sys, /dev, its package and Python
    (lazy imports), and the PATH directories (runtime binaries looked up by name)."""
    import sys

    path_dirs = [p for p in os.environ.get("PATH", "").split(":") if p.startswith("/")]
    roots = ["/sys", "/proc", "/dev", repo, sys.prefix, sys.base_prefix, sys.exec_prefix, *path_dirs]
    roots += [os.path.realpath(r) for r in roots]  # the venv is a symlink here
    return tuple(dict.fromkeys(r.rstrip("/") for r in roots))


_STRACE_PATH = re.compile(r'(?:(AT_FDCWD)|\d+<([^>]*)>)?,? ?"((?:[^"\\]|\\.)*)"')


def strace_paths(log: str, cwd: str) -> set[str]:
    """Absolute paths named by the file syscalls of an ``strace -y -e trace=%file`` log."""
    out: set[str] = set()
    for line in log.splitlines():
        call = line.split(None, 1)[-1]
        paren = call.find("(")
        if paren < 0:
            continue
        for m in _STRACE_PATH.finditer(call, paren + 1):
            base, name = m.group(2), m.group(3)
            if name.startswith("/"):
                out.add(os.path.normpath(name))
            elif base:
                out.add(os.path.normpath(os.path.join(base, name)) if name else base)
            elif name:
                out.add(os.path.normpath(os.path.join(cwd, name)))
    return out


def mount_points(pid: int) -> frozenset[str]:
    """Mount points of ``pid``'s mount namespace (proc(5) mountinfo, field 5): the daemon statfs's
    each one for the filesystem stats, as cAdvisor does."""
    points = set()
    for line in _read(f"/proc/{pid}/mountinfo").splitlines():
        fields = line.split()
        if len(fields) > 4:
            points.add(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
    return frozenset(points)


def outside(paths: set[str], roots: Sequence[str], exact: frozenset[str] = frozenset()) -> list[str]:
    def ok(p: str) -> bool:
        return p == "/" or p in ETC_FILES or p in exact or any(p == r or p.startswith(r + "/") for r in roots)

    return sorted(p for p in paths if not ok(p))


class FileSyscallTrace:
    """``strace -f -y -e trace=%file`` attached to a running process, for the duration of a ``with``."""

    def __init__(self, pid: int, log_path: str) -> None:
        self.pid = pid
        self.log_path = log_path
        self.proc: Any = None

    def __enter__(self) -> FileSyscallTrace:
        from support.procs import ManagedProcess, wait_until

        argv = [
            "strace",
            "-f",
            "-qq",
            "-y",
            "-s",
            "8192",
            "-e",
            "trace=%file",
            "-o",
            self.log_path,
            "-p",
            str(self.pid),
        ]
        self.proc = ManagedProcess(argv, what=f"strace of {self.pid}")

        def traced() -> bool:
            status = _read(f"/proc/{self.pid}/status")
            return "TracerPid:\t0" not in status

        wait_until(traced, timeout=15, what=f"strace to attach to {self.pid}", proc=self.proc)
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.stop()  # SIGTERM: strace detaches and flushes its log

    def paths(self, cwd: str) -> set[str]:
        with open(self.log_path, errors="replace") as f:
            return strace_paths(f.read(), cwd)


@dataclass(slots=True)
class TraversalResult:
    names: int
    endpoints: int
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)  # undocumented 5xx
    files_touched: int = 0
    outside_roots: list[str] = field(default_factory=list)
    canary_touched: bool = False

    def figures(self) -> dict[str, Any]:
        return {
            "corpus": f"{self.names} names x {self.endpoints} endpoints",
            "requests": self.requests,
            "statuses": dict(sorted(self.statuses.items())),
            "5xx": len(self.server_errors),
            "distinct paths the daemon opened or stat'ed": self.files_touched,
            "outside the allowed roots": self.outside_roots,
            "canary touched": self.canary_touched,
        }


def _documented_5xx(target: str, status: int, body: bytes) -> bool:
    return "/docker/" in target and documented_5xx_body(status, body)


def traversal(
    port: int,
    pid: int,
    *,
    canary: str,
    repo: str,
    trace_log: str,
    names: Sequence[str] | None = None,
    also_allowed: Sequence[str] = (),
) -> TraversalResult:
    """Every hostile name on every named endpoint, under strace: what the daemon answered and which
    files it opened or looked at meanwhile (outside :func:`allowed_roots` and ``also_allowed``)."""
    corpus = list(names) if names is not None else traversal_names(canary)
    result = TraversalResult(names=len(corpus), endpoints=len(NAMED_ENDPOINTS))
    with FileSyscallTrace(pid, trace_log) as trace:
        for endpoint in NAMED_ENDPOINTS:
            for name in corpus:
                target = endpoint.format(name) if "{}" in endpoint else endpoint + name
                for method in ("GET", "POST"):
                    status, _, body = raw_request(port, method, target)
                    result.requests += 1
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                    if status >= 500 and not _documented_5xx(target, status, body):
                        result.server_errors.append(f"{method} {target[:200]} -> {status}: {body[:200]!r}")
        # A raw NUL and raw control bytes in the request line: the HTTP parser must refuse them.
        for raw in ("/api/v1.3/containers/a\x00b", "/api/v2.0/spec/\x7f\x01", "/static/\x00"):
            try:
                status, _, body = raw_request(port, "GET", raw)
            except (ConnectionError, ValueError):
                status, body = 400, b""  # the server closed the connection: refused
            result.requests += 1
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status >= 500:
                result.server_errors.append(f"GET {raw!r} -> {status}: {body[:200]!r}")
    touched = trace.paths(repo)
    result.files_touched = len(touched)
    result.outside_roots = outside(touched, (*allowed_roots(repo), *also_allowed), mount_points(pid))
    canary_dir = os.path.dirname(canary)
    result.canary_touched = any(p == canary_dir or p.startswith(canary_dir + "/") for p in touched)
    return result


# ---------------------------------------------------------------- auth bypass

# Resources behind -http_auth_file/-http_digest_file with -auth_protect_api (22).
PROTECTED_PATHS = (
    "/containers/",
    "/containers/system.slice",
    "/docker/",
    "/docker/abc",
    "/podman/",
    "/static/containers.js",
    "/static/containers.css",
    "/api",
    "/api/",
    "/api/openapi.json",
    "/api/v1.0/machine",
    "/api/v1.3/containers/",
    "/api/v1.3/subcontainers/",
    "/api/v1.3/events/",
    "/api/v2.0/attributes",
    "/api/v2.0/ps/",
    "/api/v2.0/storage",
    "/api/v2.1/stats/",
    "/api/v2.1/machinestats",
    "/metrics",
    "/validate/",
    "/validate",
)
METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE")


def _pct_all(s: str) -> str:
    return "".join(f"%{ord(c):02X}" if c.isalnum() else c for c in s)


def spellings(path: str, prefix: str, port: int) -> list[str]:
    """33 request targets that a lax guard might not see as ``prefix + path``."""
    p = prefix + path
    head, _, tail = p[1:].partition("/")
    seg1 = "/" + head
    rest = "/" + tail if tail or p.endswith("/") else ""
    out = [
        p,
        p.upper(),
        "/" + head.capitalize() + rest,
        "/" + p,
        p.replace("/", "//"),
        "/." + p,
        seg1 + "/." + rest if rest else p + "/.",
        "/healthz/.." + p,
        "/healthz/%2e%2e" + p,
        prefix + "/healthz/.." + path,
        "/x/../" + p[1:],
        "/" + p[1:].replace("/", "%2f"),
        "/" + p[1:].replace("/", "%2F"),
        "/%" + f"{ord(p[1]):02x}" + p[2:],
        _pct_all(p),
        p.rstrip("/") if p.endswith("/") else p + "/",
        p + "?",
        p + "#",
        p + ";",
        p + "%00",
        p + "/.",
        "/" + p[1:].replace("/", "\\"),
        "/%2e" + p,
        "/healthz%2f..%2f" + p[1:],
        "/static/../" + p[1:],
        "/" + p[1:].replace("/", "%252f"),
        f"http://127.0.0.1:{port}" + p,
        "/foo/%2e%2e" + p,
        p.lower(),
        prefix + prefix + path if prefix else "/" + head + "/." + rest,
        path,  # without the prefix (the same as p without one)
        prefix.upper() + path if prefix else p + "/..",
        seg1 + "/;x=y" + rest,
    ]
    return out


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _bogus_digest(target: str) -> str:
    return (
        f'Digest username="admin", realm="localhost", nonce="00000000", uri="{target}", '
        f'response="{"0" * 32}", qop=auth, nc=00000001, cnonce="abc", opaque="x", algorithm=MD5'
    )


@dataclass(slots=True)
class AuthResult:
    scheme: str
    prefix: str
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    bypasses: list[str] = field(default_factory=list)  # a 2xx without valid credentials
    canonical_not_401: list[str] = field(default_factory=list)
    valid_refused: list[str] = field(default_factory=list)


def auth_bypass(
    port: int,
    *,
    scheme: str,
    prefix: str,
    user: str,
    password: str,
    wrong_credentials_methods: Sequence[str] = ("GET",),
    workers: int = 8,
) -> AuthResult:
    """Every protected path x every spelling x every method without credentials, and with wrong ones
    for ``wrong_credentials_methods``; a 2xx answer (other than ``/healthz``'s ``ok``) is a bypass.
    The exact spelling must answer 401, and anything but 401 with valid credentials."""
    from concurrent.futures import ThreadPoolExecutor

    result = AuthResult(scheme=scheme, prefix=prefix)
    jobs: list[tuple[str, str, str, list[tuple[str, str]]]] = []
    for path in PROTECTED_PATHS:
        for target in spellings(path, prefix, port):
            for method in METHODS:
                jobs.append((path, target, method, []))
            for method in wrong_credentials_methods:
                jobs.append((path, target, method, [("Authorization", _basic(user, password + "x"))]))
                jobs.append((path, target, method, [("Authorization", _bogus_digest(target))]))

    def send(job: tuple[str, str, str, list[tuple[str, str]]]) -> tuple[tuple[str, str, str, Any], int, Any, bytes]:
        _, target, method, headers = job
        try:
            status, hdrs, body = raw_request(port, method, target, headers)
        except (ConnectionError, ValueError, IndexError):
            return job, 0, {}, b""  # refused at the HTTP parser: no answer, no bypass
        return job, status, hdrs, body

    with ThreadPoolExecutor(workers) as pool:
        for (path, target, method, headers), status, hdrs, body in pool.map(send, jobs):
            result.requests += 1
            result.statuses[status] = result.statuses.get(status, 0) + 1
            healthz = body == b"ok" or (method == "HEAD" and hdrs.get("content-length") == "2")
            if 200 <= status < 300 and not healthz:
                creds = "wrong credentials" if headers else "no credentials"
                result.bypasses.append(f"{method} {target} ({creds}) -> {status}: {body[:120]!r}")
            if target == prefix + path and not headers and (status != 401 or "www-authenticate" not in hdrs):
                result.canonical_not_401.append(f"{method} {target} -> {status}")
    # The guard lets the right credentials through (Basic; Digest through urllib's own client).
    import urllib.error
    import urllib.request

    for path in PROTECTED_PATHS:
        url = f"http://127.0.0.1:{port}{prefix}{path}"
        mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        mgr.add_password(None, url, user, password)
        handler: Any = (
            urllib.request.HTTPBasicAuthHandler(mgr) if scheme == "basic" else urllib.request.HTTPDigestAuthHandler(mgr)
        )
        opener = urllib.request.build_opener(handler)
        try:
            with opener.open(url, timeout=30) as resp:
                status = resp.status
        except urllib.error.HTTPError as e:
            status = e.code
        if status == 401:
            result.valid_refused.append(f"GET {prefix}{path} -> {status}")
    return result
