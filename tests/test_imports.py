"""A daemon started with the defaults loads no client library it has no use for (issue 18, item 5: its RSS).

Each of these is imported once its feature is configured or used: containerd's gRPC client (grpclib, h2,
hpack, hyperframe) and Docker's and Podman's handlers once their socket exists (container/deferred.py),
prometheus_client's parser on the first Prometheus application-metrics endpoint (appmetrics/poller.py),
bcrypt for an htpasswd file with a bcrypt entry (api/authfiles.py), the perf and resctrl collectors with
their flag or metric set (host/addons.py). ``PYTHONPROFILEIMPORTTIME`` makes the daemon log every module it
imports.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pycadvisor.interpreter import KEEP_DOCSTRINGS_ENV, optimized_argv

UNUSED_BY_DEFAULT = {"grpclib", "h2", "hpack", "hyperframe", "prometheus_client", "bcrypt"}
# Per-container collectors of flags left at their defaults (host/addons.py), runtimes without a socket.
UNUSED_MODULES = {
    "pycadvisor.host.perf",
    "pycadvisor.host.resctrl",
    "pycadvisor.container.docker",
    "pycadvisor.container.podman",
    "pycadvisor.container.containerd",
}


def imported_modules(log: str) -> set[str]:
    """The modules of the ``import time: self | cumulative | name`` lines of ``-X importtime``."""
    return {m.group(1) for m in re.finditer(r"^import time:.*\| +([\w.]+)", log, re.M)}


def test_a_default_daemon_loads_no_unused_client_library(
    pycadvisor_daemon_factory: Callable[..., Any], tmp_path: Path
) -> None:
    # Runtime sockets that cannot exist here, so that a host running these runtimes gives the same answer.
    d = pycadvisor_daemon_factory(
        f"-containerd={tmp_path}/containerd.sock",
        f"-docker=unix://{tmp_path}/docker.sock",
        f"-podman=unix://{tmp_path}/podman.sock",
        env={"PYTHONPROFILEIMPORTTIME": "1"},
    )
    for path in ("/metrics", "/api/v2.0/machine", "/api/v1.3/containers/", "/containers/"):
        assert d.get(path)[0] == 200, path
    modules = imported_modules(Path(d.process.log_path).read_text())
    packages = {m.split(".")[0] for m in modules}
    assert {"aiohttp", "pycadvisor"} <= packages  # the log does list what is imported
    assert packages & UNUSED_BY_DEFAULT == set()
    assert {m for m in modules if m.startswith(tuple(UNUSED_MODULES))} == set()


def test_the_daemon_drops_docstrings_under_the_pid_it_was_started_with(
    pycadvisor_daemon_factory: Callable[..., Any],
) -> None:
    """``python -m pycadvisor`` replaces itself with the same command under ``-OO`` (interpreter.py): about
    1.3 MiB of docstrings never loaded."""
    d = pycadvisor_daemon_factory()
    argv = Path(f"/proc/{d.pid}/cmdline").read_bytes().split(b"\0")
    assert argv[1:4] == [b"-OO", b"-m", b"pycadvisor"]
    assert argv[4:6] == [b"-listen_ip=127.0.0.1", f"-port={d.port}".encode()]
    assert d.get("/healthz") == (200, b"ok")
    # frozenlist's pure-Python list (interpreter.py LEAN_ENV): its C++ extension would map libstdc++ too.
    assert "libstdc++" not in Path(f"/proc/{d.pid}/maps").read_text()


def test_docstrings_are_kept_on_request_or_when_already_dropped() -> None:
    assert optimized_argv({KEEP_DOCSTRINGS_ENV: "1"}) is None
    argv = optimized_argv({})
    assert argv is not None and argv[:2] == [sys.executable, "-OO"] and argv[2:] == sys.orig_argv[1:]
    code = "import os; from pycadvisor.interpreter import optimized_argv; print(optimized_argv(os.environ))"
    out = subprocess.run([sys.executable, "-OO", "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "None"
