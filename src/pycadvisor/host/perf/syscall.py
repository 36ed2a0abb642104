"""``perf_event_open(2)`` through ctypes, and the group read it answers (include/uapi/linux/perf_event.h).

Every counter is opened as cAdvisor opens it (perf/collector_libpfm.go ``setAttributes``, ``registerEvent``):
``read_format = TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING | GROUP | ID``, ``inherit``, the group leader
``disabled`` until its group is complete, ``PERF_FLAG_FD_CLOEXEC`` and, for a container, the leader opened
with ``PERF_FLAG_PID_CGROUP`` and the descriptor of the container's perf_event cgroup directory as ``pid``.
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import os
import platform
import struct

# include/uapi/linux/perf_event.h
FORMAT_TOTAL_TIME_ENABLED, FORMAT_TOTAL_TIME_RUNNING, FORMAT_ID, FORMAT_GROUP = 1, 2, 4, 8
READ_FORMAT = FORMAT_TOTAL_TIME_ENABLED | FORMAT_TOTAL_TIME_RUNNING | FORMAT_GROUP | FORMAT_ID
SAMPLE_IDENTIFIER = 1 << 16
BIT_DISABLED, BIT_INHERIT = 1 << 0, 1 << 1  # the first bits of the attr's flag word
FLAG_PID_CGROUP, FLAG_FD_CLOEXEC = 1 << 2, 1 << 3
IOC_ENABLE, IOC_RESET = 0x2400, 0x2403  # _IO('$', 0), _IO('$', 3)
ATTR_SIZE_VER5 = 112  # the struct below; accepted by every kernel since 4.1

# arch/x86/entry/syscalls/syscall_64.tbl, include/uapi/asm-generic/unistd.h (arm64, riscv), ...
_SYSCALL_NR = {"x86_64": 298, "aarch64": 241, "riscv64": 241, "ppc64le": 319, "s390x": 331, "i686": 336}


class PerfEventAttr(ctypes.Structure):
    """``struct perf_event_attr`` up to ``PERF_ATTR_SIZE_VER5``."""

    _fields_ = (
        ("type", ctypes.c_uint32),
        ("size", ctypes.c_uint32),
        ("config", ctypes.c_uint64),
        ("sample_period", ctypes.c_uint64),
        ("sample_type", ctypes.c_uint64),
        ("read_format", ctypes.c_uint64),
        ("flags", ctypes.c_uint64),
        ("wakeup_events", ctypes.c_uint32),
        ("bp_type", ctypes.c_uint32),
        ("config1", ctypes.c_uint64),
        ("config2", ctypes.c_uint64),
        ("branch_sample_type", ctypes.c_uint64),
        ("sample_regs_user", ctypes.c_uint64),
        ("sample_stack_user", ctypes.c_uint32),
        ("clockid", ctypes.c_int32),
        ("sample_regs_intr", ctypes.c_uint64),
        ("aux_watermark", ctypes.c_uint32),
        ("sample_max_stack", ctypes.c_uint16),
        ("reserved_2", ctypes.c_uint16),
    )


def make_attr(type_: int, config: tuple[int, int, int], *, leader: bool, inherit: bool = True) -> PerfEventAttr:
    attr = PerfEventAttr()
    attr.type = type_
    attr.size = ATTR_SIZE_VER5
    attr.config, attr.config1, attr.config2 = config
    attr.sample_type = SAMPLE_IDENTIFIER
    attr.read_format = READ_FORMAT
    attr.flags = (BIT_INHERIT if inherit else 0) | (BIT_DISABLED if leader else 0)
    return attr


class PerfOpener:
    """The syscall, bound once (libc's ``syscall(3)``; no work at import)."""

    def __init__(self) -> None:
        nr = _SYSCALL_NR.get(platform.machine())
        if nr is None:
            raise OSError(f"perf_event_open: unknown syscall number on {platform.machine()}")
        self._nr = nr
        self._libc = ctypes.CDLL(None, use_errno=True)

    def open(self, attr: PerfEventAttr, pid: int, cpu: int, group_fd: int, flags: int) -> int:
        """A new counter's descriptor; ``OSError`` with the kernel's errno when refused."""
        fd = int(self._libc.syscall(self._nr, ctypes.byref(attr), pid, cpu, group_fd, flags | FLAG_FD_CLOEXEC))
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"perf_event_open: {os.strerror(err)}")
        return fd


def enable(leader_fd: int) -> None:
    """Reset and start a complete group (perf/collector_libpfm.go setup: RESET then ENABLE)."""
    fcntl.ioctl(leader_fd, IOC_RESET, 0)
    fcntl.ioctl(leader_fd, IOC_ENABLE, 0)


def read_size(n_events: int) -> int:
    """Bytes of a group read: ``nr, time_enabled, time_running`` then ``{value, id}`` per event."""
    return 24 + 16 * n_events


def parse_group_read(buf: bytes, names: tuple[str, ...]) -> list[tuple[str, int, float]]:
    """``(name, scaled value, scaling ratio)`` per event of a group read.

    As perf/collector_libpfm.go ``getPerfValues``: ratio = time_running / time_enabled (1.0 while either is
    0, e.g. the cgroup never ran on that CPU), value = raw / ratio (the multiplexed count extrapolated to
    the whole enabled time, truncated to an integer).
    """
    n = len(names)
    if len(buf) != read_size(n):
        raise ValueError(f"perf group read of {len(buf)} bytes, expected {read_size(n)} for {n} events")
    words = _layout(n).unpack(buf)  # nr, enabled, running, then value and id per event
    if words[0] != n:
        raise ValueError(f"perf group read holds {words[0]} events, expected {n}")
    enabled, running = words[1], words[2]
    ratio = running / enabled if running and enabled else 1.0
    return [(name, int(raw / ratio), ratio) for name, raw in zip(names, words[3::2], strict=True)]


@functools.cache
def _layout(n: int) -> struct.Struct:
    return struct.Struct(f"<{3 + 2 * n}Q")
