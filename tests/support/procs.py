"""Processes the tests start: a managed subprocess that is always stopped by PID, and the
workloads that load a :class:`~support.cgroups.TestCgroup` (CPU, memory, disk, idle).

Every managed process is recorded in ``$PYCAD_PIDDIR/<pid>.pid`` (``<pid> <starttime>`` and a
description) while it runs, so ``scripts/test`` can stop by PID whatever a crashed test run left
behind, without killing a reused PID (the start time from ``/proc/<pid>/stat`` must match).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, TypeVar

from pycadvisor.errors import RuntimeUnavailable
from support.ci import timeout_scale

if TYPE_CHECKING:
    from support.cgroups import TestCgroup

T = TypeVar("T")

# Moves itself into every cgroup.procs file given before "--", then execs the command, so the
# workload never runs outside its cgroup (no race with a later add_pid()).
_CG_TRAMPOLINE = 'p=$$; while [ "$1" != -- ]; do echo "$p" > "$1" || exit 126; shift; done; shift; exec "$@"'


def run_cli_expecting_exit(
    *argv: str, env: Mapping[str, str] | None = None, timeout: float = 20.0
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pycadvisor <argv>`` on 127.0.0.1 expecting it to stop by itself (a refused
    flag, ``-version``); a daemon that starts instead is killed after ``timeout`` and fails the test."""
    import pytest

    cmd = [sys.executable, "-m", "pycadvisor", "-listen_ip=127.0.0.1", "-port=0", *argv]
    try:
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=None if env is None else dict(env)
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{list(argv)} started a daemon instead of stopping with an error")


def pid_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/<pid>/stat), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The comm field may contain spaces and parentheses: split after the last ')'.
    fields = data[data.rfind(b")") + 2 :].split()
    return int(fields[19])


def _pid_dir() -> str | None:
    d = os.environ.get("PYCAD_PIDDIR")
    if not d:
        return None
    os.makedirs(d, exist_ok=True)
    return d


def record_pid(pid: int, what: str) -> None:
    """Note ``pid`` in $PYCAD_PIDDIR so scripts/test can stop it if this run dies first."""
    d = _pid_dir()
    start = pid_start_time(pid)
    if d is None or start is None:
        return
    with open(os.path.join(d, f"{pid}.pid"), "w") as f:
        f.write(f"{pid} {start}\n{what}\n")


def forget_pid(pid: int) -> None:
    d = _pid_dir()
    if d is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(d, f"{pid}.pid"))


def wait_until(
    predicate: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    proc: ManagedProcess | None = None,
) -> T:
    """Poll ``predicate`` until it returns a truthy value (returned), for at most ``timeout`` s.

    Exceptions from ``predicate`` count as "not yet". If ``proc`` exits meanwhile, fail at once
    with the tail of its log instead of waiting out the timeout. ``timeout`` is scaled by
    :func:`support.ci.timeout_scale` (an emulated guest).
    """
    timeout *= timeout_scale()
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
        except Exception as e:
            value, last_exc = None, e
        if value:
            return value
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.what} exited with {proc.returncode} while waiting for {what}\n{proc.log_tail()}")
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            tail = f"\n{proc.log_tail()}" if proc is not None else ""
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}{detail}{tail}")
        time.sleep(interval)


async def eventually(fn: Callable[[], Awaitable[T | None]], *, timeout: float, what: str) -> T:
    """Await ``fn()`` until it returns something truthy (at most ``timeout`` s); a runtime that does not
    answer yet (:class:`RuntimeUnavailable`) counts as "not yet". The coroutine twin of :func:`wait_until`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = await fn()
        except RuntimeUnavailable:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


class ManagedProcess:
    """A subprocess that is stopped by PID: SIGTERM, wait, SIGKILL after a timeout."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        what: str,
        log_path: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        cgroup_procs: Sequence[str] = (),
        stdout_pipe: bool = False,
    ) -> None:
        self.what = what
        self.log_path = log_path
        self.argv = list(argv)
        cmd = self.argv
        if cgroup_procs:
            cmd = ["/bin/sh", "-c", _CG_TRAMPOLINE, "pycad-cg", *cgroup_procs, "--", *self.argv]
        self._log: IO[bytes] | None = open(log_path, "ab") if log_path else None  # noqa: SIM115
        stdout: int | IO[bytes] = subprocess.PIPE if stdout_pipe else (self._log or subprocess.DEVNULL)
        stderr: int | IO[bytes] = self._log or subprocess.DEVNULL
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,  # our own session: a ^C to pytest does not hit it twice
            close_fds=True,
        )
        self.pid = self.proc.pid
        record_pid(self.pid, what)

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                text = f.read()[-16384:].decode("utf-8", "replace")
        except OSError:
            return ""
        return f"--- last lines of {self.log_path} ---\n" + "\n".join(text.splitlines()[-lines:])

    def read_line(self, timeout: float) -> str:
        """Next line of the process's stdout (needs ``stdout_pipe=True``), waiting at most ``timeout`` s."""
        out = self.proc.stdout
        assert out is not None, "started without stdout_pipe"
        timeout *= timeout_scale()
        r, _, _ = select.select([out], [], [], timeout)
        if not r:
            raise TimeoutError(f"{self.what}: no output within {timeout} s")
        line = out.readline().decode("utf-8", "replace")
        if not line:
            raise RuntimeError(f"{self.what} exited ({self.proc.wait()}) before writing a line")
        return line.rstrip("\n")

    def signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL; returns the exit code (negative: signal)."""
        try:
            if self.alive():
                self.signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.signal(signal.SIGKILL)
                    self.proc.wait(10)
            return self.proc.wait()
        finally:
            forget_pid(self.pid)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            if self._log is not None:
                self._log.close()
                self._log = None

    def kill(self) -> int:
        """SIGKILL at once and reap."""
        self.signal(signal.SIGKILL)
        return self.stop(timeout=10.0)


# ---------------------------------------------------------------- cgroup workloads


def _start_in(cg: TestCgroup, argv: Sequence[str], what: str, *, stdout_pipe: bool = False) -> ManagedProcess:
    p = ManagedProcess(argv, what=f"{what} in {cg.name}", cgroup_procs=cg.procs_files(), stdout_pipe=stdout_pipe)
    cg.adopt(p)
    # The trampoline joins the cgroup before exec (exit 126 if it cannot); wait until the kernel
    # shows it there, or until it finished cleanly (a short non-holding workload).
    wait_until(
        lambda: p.pid in cg.pids() or p.returncode == 0,
        timeout=10,
        what=f"{p.what} to join its cgroup",
        proc=p,
    )
    return p


def cpu_burner(cg: TestCgroup) -> ManagedProcess:
    """One busy core in ``cg`` (a shell spin loop: no syscalls, all user time)."""
    return _start_in(cg, ["/bin/sh", "-c", "while :; do :; done"], "cpu burner")


def sleeper(cg: TestCgroup) -> ManagedProcess:
    """An idle process in ``cg``, so the cgroup has a live task."""
    return _start_in(cg, ["sleep", "infinity"], "sleeper")


_MEMORY_HOLDER = r"""
import signal, sys
n = int(sys.argv[1]) << 20
# bytes repetition writes every page, so all of it is resident and charged (calloc'd pages would not be)
buf = b"\x01" * n
sys.stdout.write("ready %d\n" % len(buf))
sys.stdout.flush()
while True:
    signal.pause()
"""


def memory_holder(cg: TestCgroup, mib: int, *, timeout: float = 30.0) -> ManagedProcess:
    """A process in ``cg`` holding ``mib`` MiB of touched anonymous memory; returns once it is resident."""
    p = _start_in(cg, [sys.executable, "-c", _MEMORY_HOLDER, str(mib)], f"memory holder {mib} MiB", stdout_pipe=True)
    line = p.read_line(timeout)
    if not line.startswith("ready "):
        raise RuntimeError(f"{p.what}: unexpected output {line!r}")
    return p


_DISK_WRITER = r"""
import mmap, os, signal, sys
path, mib, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
chunk = 1 << 20
buf = mmap.mmap(-1, chunk)  # page-aligned, as O_DIRECT requires
buf.write(b"\xa5" * chunk)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o600)
written = 0
try:
    for _ in range(mib):
        written += os.write(fd, buf)
    os.fsync(fd)
finally:
    os.close(fd)
    os.unlink(path)
sys.stdout.write("done %d\n" % written)
sys.stdout.flush()
while hold:
    signal.pause()
"""


def block_device_of(path: str) -> tuple[int, int]:
    """(major, minor) of the whole disk holding ``path`` (blk-throttle rules reject partitions)."""
    st = os.stat(path)
    major, minor = os.major(st.st_dev), os.minor(st.st_dev)
    if major == 0:
        raise ValueError(f"{path} is not on a block device (st_dev {major}:{minor}); O_DIRECT I/O needs one")
    sysdir = os.path.realpath(f"/sys/dev/block/{major}:{minor}")
    if os.path.exists(os.path.join(sysdir, "partition")):
        with open(os.path.join(os.path.dirname(sysdir), "dev")) as f:
            major_s, minor_s = f.read().strip().split(":")
        major, minor = int(major_s), int(minor_s)
    return major, minor


def disk_writer(cg: TestCgroup, mib: int, path: str, *, hold: bool = True, timeout: float = 60.0) -> ManagedProcess:
    """Write ``mib`` MiB with O_DIRECT to ``path`` (then deleted) from inside ``cg``; returns when done.

    On cgroup v1, blkio.throttle.io_service_bytes stays 0 unless the cgroup has a throttle rule
    (block/blk-throttle.h ``blk_should_throtl`` charges them only once the queue has a throttle rule),
    so a rule far too high to matter (1 TiB/s) is set on the disk first.
    On v2, io.stat counts without one. With ``hold`` the process stays alive afterwards.
    """
    major, minor = block_device_of(os.path.dirname(os.path.abspath(path)))
    if cg.version == 1:
        cg.set("blkio.throttle.write_bps_device", f"{major}:{minor} 1099511627776")
    argv = [sys.executable, "-c", _DISK_WRITER, path, str(mib), "1" if hold else "0"]
    p = _start_in(cg, argv, f"disk writer {mib} MiB", stdout_pipe=True)
    line = p.read_line(timeout)
    if line != f"done {mib << 20}":
        raise RuntimeError(f"{p.what}: unexpected output {line!r}")
    return p
