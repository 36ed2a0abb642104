"""Hostile container names on every endpoint that takes a name (issue 14): no 5xx but the documented
one, the daemon stays up, and it opens or looks at nothing outside cgroupfs, /proc, /sys, /dev, its
package and Python (followed with strace for the whole run)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from reliability.scenarios import NAMED_ENDPOINTS, traversal, traversal_names
from support.ci import require

REPO = str(Path(__file__).resolve().parents[2])


def test_hostile_names_open_nothing_outside_the_allowed_roots(fast_daemon: Any, tmp_path: Path) -> None:
    require(shutil.which("strace") is not None, "strace is not installed (scripts/lib/install.sh installs it)")
    secret = tmp_path / "canary" / "secret"
    secret.parent.mkdir()
    secret.write_text("if the daemon reads this, a name escaped its lookup\n")
    names = traversal_names(str(secret))
    assert len(names) >= 50 and len(NAMED_ENDPOINTS) >= 22

    r = traversal(fast_daemon.port, fast_daemon.pid, canary=str(secret), repo=REPO, trace_log=str(tmp_path / "strace"))

    assert r.requests >= 2 * len(names) * len(NAMED_ENDPOINTS)
    assert not r.server_errors, "\n".join(r.server_errors[:20])
    assert r.files_touched > 0, "strace saw no file syscall: the trace did not work"
    assert not r.canary_touched, r.figures()
    assert not r.outside_roots, r.figures()
    assert os.path.exists(secret)
    assert fast_daemon.get("/healthz") == (200, b"ok")
