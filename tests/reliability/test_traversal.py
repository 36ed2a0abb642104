"""Hostile container names on every endpoint that takes a name (issue 14): no 5xx but the documented
one, the daemon stays up, and it opens or looks at nothing outside cgroupfs, /proc, /sys, /dev, its
package and Python (followed with strace for the whole run)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reliability.conftest import FAST_FLAGS
from reliability.scenarios import NAMED_ENDPOINTS, no_runtime_flags, traversal, traversal_names
from support.ci import require

REPO = str(Path(__file__).resolve().parents[2])


def test_hostile_names_open_nothing_outside_the_allowed_roots(
    pycadvisor_daemon_factory: Callable[..., Any], tmp_path: Path
) -> None:
    require(shutil.which("strace") is not None, "strace is not installed (scripts/lib/install.sh installs it)")
    sockets = tmp_path / "runtimes"  # no runtime answers: no runtime's files on the host are looked at
    d = pycadvisor_daemon_factory(*FAST_FLAGS, *no_runtime_flags(str(sockets)))
    secret = tmp_path / "canary" / "secret"
    secret.parent.mkdir()
    secret.write_text("if the daemon reads this, a name escaped its lookup\n")
    names = traversal_names(str(secret))
    assert len(names) >= 50 and len(NAMED_ENDPOINTS) >= 22

    r = traversal(
        d.port, d.pid, canary=str(secret), repo=REPO, trace_log=str(tmp_path / "strace"), also_allowed=[str(sockets)]
    )

    assert r.requests >= 2 * len(names) * len(NAMED_ENDPOINTS)
    assert not r.server_errors, "\n".join(r.server_errors[:20])
    assert r.files_touched > 0, "strace saw no file syscall: the trace did not work"
    assert not r.canary_touched, r.figures()
    assert not r.outside_roots, r.figures()
    assert os.path.exists(secret)
    assert d.get("/healthz") == (200, b"ok")
