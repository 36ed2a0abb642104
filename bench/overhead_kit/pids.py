"""Note every process the benchmark starts in ``$PYCAD_PIDDIR`` while it runs (when that is set).

Same record as the test suite's (``<pid> <starttime>`` then a description, one file per PID), so
``scripts/test`` stops by PID whatever a killed smoke run left behind.
"""

from __future__ import annotations

import contextlib
import os

from overhead_kit.procfs import start_time


def record_pid(pid: int, what: str) -> None:
    d = os.environ.get("PYCAD_PIDDIR")
    start = start_time(pid)
    if not d or start is None:
        return
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"{pid}.pid"), "w") as f:
        f.write(f"{pid} {start}\n{what}\n")


def forget_pid(pid: int) -> None:
    d = os.environ.get("PYCAD_PIDDIR")
    if d:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(d, f"{pid}.pid"))
