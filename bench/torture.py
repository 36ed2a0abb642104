"""The daemon as an attacker and an overloaded operator see it (issue 14): the reliability suite's
scenarios (``tests/reliability/scenarios.py``) run larger than CI runs them, figures printed.

Run as root, from the repository (every daemon listens on 127.0.0.1 only; every loop is bounded)::

    .venv/bin/python bench/torture.py                       # all sections, the issue's sizes
    .venv/bin/python bench/torture.py --only churn --churn-pods 500
    .venv/bin/python bench/torture.py --save bench/results/torture-<commit>.txt

Sections (each starts its own daemon with fast housekeeping, stopped by PID at the end):

- ``fuzz``: schemathesis from ``/api/openapi.json``, random seeds, positive and negative data:
  requests, 5xx, failures (undocumented status or content type, bodies not matching the document);
- ``traversal``: hostile names on every named endpoint under strace: corpus size, 5xx, files opened or
  stat'ed outside cgroupfs, /proc, /sys, /dev, the package and Python, whether the canary was touched;
- ``auth``: protected paths x spellings x methods, no and wrong credentials, Basic and Digest, with and
  without ``-url_base_prefix``: requests and bypasses;
- ``churn``: pods with a container cgroup each (1,000 cgroups by default), created and removed in
  batches: events received, fds, threads, kernel inotify watches (fdinfo) and those still on removed
  directories, RSS and tracked containers before, at the peak and after;
- ``serving``: the 200-client load (sample-spacing p99, peak RSS) and slowloris (``/healthz`` latency)
  of ``bench/serving.py``, run as it is (:func:`serving_section`).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(REPO, "tests"))

from reliability import scenarios  # noqa: E402
from support.cgroups import TestCgroup  # noqa: E402
from support.procs import ManagedProcess, wait_until  # noqa: E402
from support.services import free_port, http_get  # noqa: E402

FAST = ("-housekeeping_interval=200ms", "-allow_dynamic_housekeeping=false", "-global_housekeeping_interval=1s")
SECTIONS = ("fuzz", "traversal", "auth", "churn", "serving")


class Daemon:
    def __init__(self, proc: ManagedProcess, port: int, prefix: str) -> None:
        self.proc, self.port, self.prefix = proc, port, prefix
        self.url = f"http://127.0.0.1:{port}"
        self.pid = proc.pid


@contextmanager
def daemon(workdir: str, *flags: str) -> Iterator[Daemon]:
    """``python -m pycadvisor`` on a free 127.0.0.1 port, ready; SIGTERM by PID on exit."""
    port = free_port()
    prefix = next((f.split("=", 1)[1].rstrip("/") for f in flags if f.startswith("-url_base_prefix=")), "")
    argv = [sys.executable, "-m", "pycadvisor", "-listen_ip=127.0.0.1", f"-port={port}", *FAST, *flags]
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "src"))
    log = os.path.join(workdir, f"pycadvisor-{port}.log")
    proc = ManagedProcess(argv, what="pycadvisor", log_path=log, env=env, cwd=REPO)
    try:
        wait_until(
            lambda: http_get(f"http://127.0.0.1:{port}{prefix}/healthz", timeout=2) == (200, b"ok"),
            timeout=60,
            what="pycadvisor /healthz",
            proc=proc,
        )
        yield Daemon(proc, port, prefix)
    finally:
        proc.stop()


def fuzz(workdir: str, args: argparse.Namespace) -> dict[str, Any]:
    from pycadvisor.api import openapi

    doc = openapi.load_document()
    with daemon(workdir) as d:
        t0 = time.monotonic()
        r = scenarios.fuzz_api(d.url, doc, max_examples=args.fuzz_examples, derandomize=False)
        alive = http_get(d.url + "/healthz") == (200, b"ok")
    return {
        "operations": r.operations,
        "examples_per_operation_and_mode": args.fuzz_examples,
        "requests": r.requests,
        "5xx": r.server_errors,
        "statuses": dict(sorted(r.statuses.items())),
        "failures": r.failures[:20],
        "daemon_alive_after": alive,
        "seconds": round(time.monotonic() - t0, 1),
    }


def traversal(workdir: str, args: argparse.Namespace) -> dict[str, Any]:
    canary_dir = tempfile.mkdtemp(prefix="pycad-canary-")
    canary = os.path.join(canary_dir, "secret")
    with open(canary, "w") as f:
        f.write("canary\n")
    sockets = os.path.join(workdir, "runtimes")
    with daemon(workdir, *scenarios.no_runtime_flags(sockets)) as d:
        t0 = time.monotonic()
        r = scenarios.traversal(
            d.port, d.pid, canary=canary, repo=REPO, trace_log=os.path.join(workdir, "strace"), also_allowed=[sockets]
        )
        alive = http_get(d.url + "/healthz") == (200, b"ok")
    os.unlink(canary)
    os.rmdir(canary_dir)
    return {**r.figures(), "undocumented_5xx": r.server_errors[:10], "daemon_alive_after": alive,
            "seconds": round(time.monotonic() - t0, 1)}  # fmt: skip


def auth(workdir: str, args: argparse.Namespace) -> dict[str, Any]:
    user, password = "admin", "password1"
    htpasswd = os.path.join(workdir, "test.htpasswd")
    with open(htpasswd, "w") as f:
        f.write(f"{user}:{{SHA}}" + base64.b64encode(hashlib.sha1(password.encode()).digest()).decode() + "\n")
    htdigest = os.path.join(workdir, "test.htdigest")
    with open(htdigest, "w") as f:
        f.write(f"{user}:localhost:" + hashlib.md5(f"{user}:localhost:{password}".encode()).hexdigest() + "\n")
    out: dict[str, Any] = {
        "corpus": f"{len(scenarios.PROTECTED_PATHS)} paths x 33 spellings x {len(scenarios.METHODS)} methods "
        "x (no, wrong Basic, wrong Digest credentials)",
        "runs": [],
    }
    total = bypasses = 0
    t0 = time.monotonic()
    for scheme, cred_flag in (("basic", f"-http_auth_file={htpasswd}"), ("digest", f"-http_digest_file={htdigest}")):
        for prefix in ("", "/cadvisor"):
            flags = [cred_flag, "-auth_protect_api"] + ([f"-url_base_prefix={prefix}"] if prefix else [])
            with daemon(workdir, *flags) as d:
                r = scenarios.auth_bypass(
                    d.port, scheme=scheme, prefix=prefix, user=user, password=password,
                    wrong_credentials_methods=scenarios.METHODS,
                )  # fmt: skip
            total += r.requests
            bypasses += len(r.bypasses)
            out["runs"].append(
                {
                    "scheme": scheme,
                    "prefix": prefix or "(none)",
                    "requests": r.requests,
                    "statuses": dict(sorted(r.statuses.items())),
                    "bypasses": r.bypasses[:10],
                    "exact_spelling_not_401": r.canonical_not_401[:10],
                    "valid_credentials_refused": r.valid_refused[:10],
                }
            )
    out.update(requests=total, bypasses=bypasses, seconds=round(time.monotonic() - t0, 1))
    return out


def churn(workdir: str, args: argparse.Namespace) -> dict[str, Any]:
    no_runtime = scenarios.no_runtime_flags(os.path.join(workdir, "runtimes"))
    with TestCgroup("torture-churn") as parent, daemon(workdir, *scenarios.only_below(parent.name), *no_runtime) as d:
        r = scenarios.churn(
            d.url, d.pid, parent, pods=args.churn_pods, batch=args.churn_batch, settle_timeout=args.settle_timeout
        )
    return {**r.figures(), "missing_creations": r.missing_creations, "missing_deletions": r.missing_deletions}


def serving_section(workdir: str, args: argparse.Namespace) -> dict[str, Any]:
    """The 200-client load (sample-spacing p99, peak RSS), slowloris (``/healthz`` latency), fd-limit and
    failed-login figures: ``bench/serving.py`` run as it is (its own daemons and 100 cgroups); its last
    line is its JSON."""
    script = Path(__file__).with_name("serving.py")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=3600, check=False)
    lines = r.stdout.strip().splitlines()
    try:
        out: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"error": f"bench/serving.py exited {r.returncode}: {r.stderr[-500:]}"}
    return out


RUNNERS: dict[str, Callable[[str, argparse.Namespace], dict[str, Any]]] = {
    "fuzz": fuzz,
    "traversal": traversal,
    "auth": auth,
    "churn": churn,
    "serving": serving_section,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    ap.add_argument("--fuzz-examples", type=int, default=25, help="examples per operation and data mode")
    ap.add_argument("--churn-pods", type=int, default=500, help="pods (x 2 cgroups: pod and container)")
    ap.add_argument("--churn-batch", type=int, default=50)
    ap.add_argument("--settle-timeout", type=float, default=60.0, help="s to wait for the churn to settle")
    ap.add_argument("--save", help="also write the report to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("torture.py needs root (cgroups, strace)", file=sys.stderr)
        return 2
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    lines = [f"# bench/torture.py at {commit.stdout.strip()} on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"]
    print(lines[0], flush=True)
    with tempfile.TemporaryDirectory(prefix="pycad-torture-") as workdir:
        for section in args.only.split(","):
            t0 = time.monotonic()
            figures = RUNNERS[section](workdir, args)
            line = json.dumps({"section": section, **figures, "wall_s": round(time.monotonic() - t0, 1)})
            print(line, flush=True)
            lines.append(line)
    if args.save:
        with open(args.save, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
