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
