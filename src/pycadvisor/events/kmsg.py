"""OOM kills from the kernel log (``/dev/kmsg``), as cAdvisor's ``utils/oomparser`` reads them.

Record format (Documentation/ABI/testing/dev-kmsg): ``<prio>,<seq>,<usec since boot>,<flags>[,...];<message>``
then optional ``\\n <KEY>=<value>`` continuation lines. One ``read()`` returns one record.

An OOM report (mm/oom_kill.c ``dump_header`` / ``dump_oom_victim`` / ``__oom_kill_process``) starts
with ``<comm> invoked oom-killer: gfp_mask=…`` and, depending on the kernel, ends with

- modern (Linux >= 4.19; cAdvisor says 5.0): ``oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),
  cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a/b,task=python3,pid=6883,uid=0`` — on a global
  OOM ``global_oom`` stands in place of ``oom_memcg=…`` (``mem_cgroup_print_oom_context``);
- legacy (3.x/4.x): ``Task in /a/b killed as a result of limit of /a`` then
  ``Killed process 13536 (memorymonster) total-vm:…``; without the ``Task in`` line (a global OOM on
  old kernels) both cgroups stay ``/``.

Deliberate differences from cAdvisor: a modern ``global_oom`` line is understood (cAdvisor's regex
misses it and reports the kill against ``/``); a new ``invoked oom-killer:`` line restarts an
unfinished report; records not from the kernel (facility != 0: written by userspace to /dev/kmsg,
which cannot forge facility 0) are ignored.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NamedTuple

from pycadvisor.errors import ParseError
from pycadvisor.host.paths import HostPaths

log = logging.getLogger(__name__)

_START: Final = "invoked oom-killer:"
_MODERN: Final = "oom-kill:"
_LEGACY_TASK: Final = "Task in "
_LEGACY_LIMIT: Final = " killed as a result of limit of "
_KILLED: Final = "Killed process "
_READ_SIZE: Final = 8192  # a record is at most ~1 KiB of text plus its dictionary (printk LOG_LINE_MAX)


@dataclass(frozen=True, slots=True, kw_only=True)
class OomInstance:
    """One OOM kill (cAdvisor ``oomparser.OomInstance``)."""

    container_name: str  # cgroup of the killed task (task_memcg / "Task in X"); cAdvisor ContainerName
    victim_container_name: str  # cgroup whose limit was hit ("/" for a global OOM); cAdvisor VictimContainerName
    pid: int = 0  # 0 when unknown
    process_name: str = ""  # "" when unknown
    constraint: str = ""  # CONSTRAINT_*; "" when unknown (legacy kernels do not print it)
    time_ns: int = 0  # ns since the epoch of the line that finished the report


class KmsgRecord(NamedTuple):
    seq: int
    ts_ns: int  # ns since the epoch
    message: str


def parse_kmsg_record(raw: bytes, boot_time_ns: int, *, kernel_only: bool = True) -> KmsgRecord | None:
    """Parse one /dev/kmsg record; ``None`` for a record written by userspace when ``kernel_only``.

    Raises :class:`ParseError` on a malformed header.
    """
    semi = raw.find(b";")
    if semi < 0:
        raise ParseError("/dev/kmsg", f"record without ';': {raw[:80]!r}")
    fields = raw[:semi].split(b",", 4)
    if len(fields) < 4:
        raise ParseError("/dev/kmsg", f"record header needs 4 fields: {raw[:semi]!r}")
    try:
        prio = int(fields[0])
        seq = int(fields[1])
        usec = int(fields[2])
    except ValueError:
        raise ParseError("/dev/kmsg", f"bad record header {raw[:semi]!r}") from None
    if kernel_only and prio >> 3 != 0:  # facility 0 = kernel (syslog LOG_KERN)
        return None
    end = raw.find(b"\n", semi + 1)
    text = raw[semi + 1 : end if end >= 0 else len(raw)]
    return KmsgRecord(seq, boot_time_ns + usec * 1000, text.decode("utf-8", "replace"))


def _join_root(p: str) -> str:
    # Go path.Join("/", p): clean, absolute.
    parts = [x for x in p.split("/") if x not in ("", ".")]
    out: list[str] = []
    for x in parts:
        if x == "..":
            if out:
                out.pop()
        else:
            out.append(x)
    return "/" + "/".join(out)


def _parse_modern(body: str) -> tuple[str, str, str, int, str] | None:
    """(constraint, oom_memcg or "/", task_memcg, pid, task) from the text after ``oom-kill:``.

    Each value may contain ``,``; like cAdvisor's greedy regex the key markers are located from the right.
    """
    i_uid = body.rfind(",uid=")
    if i_uid < 0:
        return None
    i_pid = body.rfind(",pid=", 0, i_uid)
    i_task = body.rfind(",task=", 0, i_pid) if i_pid >= 0 else -1
    i_tmemcg = body.rfind(",task_memcg=", 0, i_task) if i_task >= 0 else -1
    if i_tmemcg < 0:
        return None
    try:
        pid = int(body[i_pid + 5 : i_uid])
    except ValueError:
        return None
    task = body[i_task + 6 : i_pid]
    task_memcg = body[i_tmemcg + 12 : i_task]
    left = body[:i_tmemcg]
    if left.endswith(",global_oom"):
        victim = "/"
        left = left[: -len(",global_oom")]
    else:
        i_oom = left.rfind(",oom_memcg=")
        if i_oom < 0:
            return None
        victim = left[i_oom + 11 :]
        left = left[:i_oom]
    if not left.startswith("constraint="):
        return None
    i_nodemask = left.rfind(",nodemask=")
    constraint = left[11:i_nodemask] if i_nodemask >= 0 else left[11:]
    return constraint, victim, task_memcg, pid, task


def _parse_killed(message: str) -> tuple[int, str] | None:
    """(pid, name) from ``Killed process <pid> (<name>)…`` (name up to the last ``)``, as cAdvisor's regex)."""
    i = message.find(_KILLED)
    if i < 0:
        return None
    j = i + len(_KILLED)
    k = j
    while k < len(message) and "0" <= message[k] <= "9":
        k += 1
    if k == j or not message.startswith(" (", k):
        return None
    close = message.rfind(")")
    if close <= k + 2:
        return None
    return int(message[j:k]), message[k + 2 : close]


class OomParser:
    """State machine over kernel messages; :meth:`feed` returns an :class:`OomInstance` when a report ends."""

    __slots__ = ("_constraint", "_container", "_in_report", "_pid", "_process", "_victim")

    def __init__(self) -> None:
        self._in_report = False
        self._reset()

    def _reset(self) -> None:
        self._container = "/"
        self._victim = "/"
        self._pid = 0
        self._process = ""
        self._constraint = ""

    def feed(self, message: str, timestamp_ns: int) -> OomInstance | None:
        """Consume one message; returns the kill once its report is complete."""
        if _START in message:
            self._in_report = True
            self._reset()
            return None
        if not self._in_report:
            return None
        i = message.find(_MODERN)
        if i >= 0:
            parsed = _parse_modern(message[i + len(_MODERN) :])
            if parsed is not None:
                self._constraint, self._victim, self._container, self._pid, self._process = parsed
                return self._finish(timestamp_ns)
        i = message.find(_LEGACY_TASK)
        if i >= 0:
            j = message.rfind(_LEGACY_LIMIT)
            if j > i:
                self._container = _join_root(message[i + len(_LEGACY_TASK) : j])
                self._victim = _join_root(message[j + len(_LEGACY_LIMIT) :])
                return None
        killed = _parse_killed(message)
        if killed is not None:
            self._pid, self._process = killed
            return self._finish(timestamp_ns)
        return None

    def _finish(self, timestamp_ns: int) -> OomInstance:
        self._in_report = False
        return OomInstance(
            container_name=self._container,
            victim_container_name=self._victim,
            pid=self._pid,
            process_name=self._process,
            constraint=self._constraint,
            time_ns=timestamp_ns,
        )


def boot_time_ns() -> int:
    """Wall-clock time of boot as kmsg timestamps count it (printk's clock runs with CLOCK_MONOTONIC)."""
    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_MONOTONIC)


class KmsgOomSource:
    """Reads ``<paths.dev>/kmsg`` on the event loop and calls ``on_oom`` for each OOM kill.

    Reading starts at the current end of the log (like cAdvisor, ``SeekEnd``): kills from before
    start-up were already reported by an earlier run or are past history, and replaying them would
    duplicate events and inflate the OOM counters on every restart. If the device cannot be opened
    (no privilege, not mapped into the container) one warning is logged and the source stays off.
    """

    def __init__(
        self,
        paths: HostPaths,
        on_oom: Callable[[OomInstance], None],
        *,
        boot_ns: int | None = None,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self._path = os.path.join(paths.dev, "kmsg")
        self._on_oom = on_oom
        self._on_stop = on_stop  # called when a read error stops the source (not on stop())
        self._boot_ns = boot_ns
        self._parser = OomParser()
        self._fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.lost_records = 0  # records overwritten in the ring before we read them (EPIPE)

    @property
    def active(self) -> bool:
        return self._fd is not None

    def start(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Open the log and start reading; False (after one warning) if it cannot be opened."""
        if self._fd is not None:
            return True
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            log.warning("cannot open %s (%s): OOM kills will be seen through cgroup counters only", self._path, e)
            return False
        try:
            os.lseek(fd, 0, os.SEEK_END)
        except OSError as e:
            if e.errno != errno.ESPIPE:  # a pipe standing in for the device has no history to skip
                os.close(fd)
                log.warning("cannot seek %s (%s): OOM kills will be seen through cgroup counters only", self._path, e)
                return False
        if self._boot_ns is None:
            self._boot_ns = boot_time_ns()
        self._fd = fd
        self._loop = loop
        loop.add_reader(fd, self._on_readable)
        return True

    def stop(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(fd)
        os.close(fd)

    def _on_readable(self) -> None:
        fd = self._fd
        if fd is None:
            return
        boot = self._boot_ns or 0
        while True:
            try:
                raw = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.EPIPE:  # the ring wrapped past our position; go on with the next record
                    self.lost_records += 1
                    continue
                log.warning(
                    "reading %s failed (%s); OOM kills will be seen through cgroup counters only", self._path, e
                )
                self.stop()
                if self._on_stop is not None:
                    self._on_stop()
                return
            if not raw:
                return
            # The device returns one record per read: a header line, then " KEY=value" dictionary
            # lines. Splitting on newlines also copes with a pipe that delivers several at once.
            for line in raw.split(b"\n"):
                if line and line[0] != 0x20:
                    self._feed(line, boot)

    def _feed(self, line: bytes, boot: int) -> None:
        try:
            rec = parse_kmsg_record(line, boot)
        except ParseError as e:
            log.debug("skipping kmsg record: %s", e)
            return
        if rec is None:
            return
        inst = self._parser.feed(rec.message, rec.ts_ns)
        if inst is not None:
            try:
                self._on_oom(inst)
            except Exception:
                log.exception("OOM callback failed for %s", inst)
