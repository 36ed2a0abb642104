"""Task counts of a cgroup v1 cgroup from the kernel's taskstats genetlink family (``-enable_load_reader``).

cAdvisor's load reader (utils/cpuload/netlink) asks ``CGROUPSTATS_CMD_GET`` with a descriptor of the
cgroup's directory in the cpu hierarchy; the kernel (kernel/taskstats.c ``cgroupstats_user_cmd``,
kernel/cgroup/cgroup-v1.c ``cgroupstats_build``) walks every task of the cgroup and answers
``struct cgroupstats`` (include/uapi/linux/cgroupstats.h): sleeping, running, stopped,
uninterruptible and io-wait task counts. Only cgroup v1 directories are accepted (EINVAL otherwise).

Message layout (include/uapi/linux/netlink.h, genetlink.h): ``nlmsghdr`` (len u32, type u16, flags
u16, seq u32, pid u32), ``genlmsghdr`` (cmd u8, version u8, reserved u16), then attributes
(len u16, type u16, payload padded to 4 bytes). The parsers are pure; :class:`TaskstatsClient` does I/O.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from typing import NamedTuple

NETLINK_GENERIC = 16
GENL_ID_CTRL = 0x10
NLMSG_ERROR = 2
NLM_F_REQUEST = 1
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
TASKSTATS_GENL_NAME = b"TASKSTATS"
TASKSTATS_GENL_VERSION = 1
# include/uapi/linux/cgroupstats.h: the cgroupstats commands follow the taskstats ones (__TASKSTATS_CMD_MAX = 3).
CGROUPSTATS_CMD_GET = 4
CGROUPSTATS_CMD_ATTR_FD = 1
CGROUPSTATS_TYPE_CGROUP_STATS = 1

_NLMSGHDR = struct.Struct("=IHHII")
_GENLHDR = struct.Struct("=BBH")
_NLATTR = struct.Struct("=HH")
_CGROUPSTATS = struct.Struct("=5Q")
_HDR = _NLMSGHDR.size + _GENLHDR.size


class CgroupTasks(NamedTuple):
    """``struct cgroupstats``: how many of the cgroup's tasks are in each state."""

    nr_sleeping: int
    nr_running: int
    nr_stopped: int
    nr_uninterruptible: int
    nr_io_wait: int


def _attr(atype: int, payload: bytes) -> bytes:
    raw = _NLATTR.pack(_NLATTR.size + len(payload), atype) + payload
    return raw + b"\0" * (-len(raw) % 4)


def _message(msg_type: int, seq: int, cmd: int, version: int, attrs: bytes) -> bytes:
    return _NLMSGHDR.pack(_HDR + len(attrs), msg_type, NLM_F_REQUEST, seq, 0) + _GENLHDR.pack(cmd, version, 0) + attrs


def family_request(seq: int, name: bytes = TASKSTATS_GENL_NAME) -> bytes:
    """``CTRL_CMD_GETFAMILY``: resolve a generic netlink family's id by name."""
    return _message(GENL_ID_CTRL, seq, CTRL_CMD_GETFAMILY, 1, _attr(CTRL_ATTR_FAMILY_NAME, name + b"\0"))


def cgroupstats_request(family_id: int, seq: int, dir_fd: int) -> bytes:
    """``CGROUPSTATS_CMD_GET`` for the cgroup whose directory ``dir_fd`` is open."""
    return _message(
        family_id,
        seq,
        CGROUPSTATS_CMD_GET,
        TASKSTATS_GENL_VERSION,
        _attr(CGROUPSTATS_CMD_ATTR_FD, struct.pack("=I", dir_fd)),
    )


def _attrs(msg: bytes) -> dict[int, bytes]:
    """The attributes of one generic netlink answer; raises OSError for an ``NLMSG_ERROR`` answer."""
    if len(msg) < _NLMSGHDR.size:
        raise ValueError(f"netlink answer of {len(msg)} bytes")
    length, msg_type, _flags, _seq, _pid = _NLMSGHDR.unpack_from(msg)
    if msg_type == NLMSG_ERROR:
        (code,) = struct.unpack_from("=i", msg, _NLMSGHDR.size)
        raise OSError(-code, os.strerror(-code) if code else "netlink error")
    out: dict[int, bytes] = {}
    off, end = _HDR, min(length, len(msg))
    while off + _NLATTR.size <= end:
        alen, atype = _NLATTR.unpack_from(msg, off)
        if alen < _NLATTR.size:
            raise ValueError(f"netlink attribute of length {alen}")
        out[atype & 0x3FFF] = msg[off + _NLATTR.size : off + alen]  # without NLA_F_NESTED/NET_BYTEORDER
        off += (alen + 3) & ~3
    return out


def parse_family_id(msg: bytes) -> int:
    """The family id in a ``CTRL_CMD_NEWFAMILY`` answer."""
    raw = _attrs(msg).get(CTRL_ATTR_FAMILY_ID)
    if raw is None or len(raw) < 2:
        raise ValueError("no family id in the genetlink controller's answer")
    return int(struct.unpack_from("=H", raw)[0])


def parse_cgroupstats(msg: bytes) -> CgroupTasks:
    """The ``struct cgroupstats`` of a ``CGROUPSTATS_CMD_NEW`` answer."""
    raw = _attrs(msg).get(CGROUPSTATS_TYPE_CGROUP_STATS)
    if raw is None or len(raw) < _CGROUPSTATS.size:
        raise ValueError("no cgroupstats in the taskstats answer")
    return CgroupTasks(*_CGROUPSTATS.unpack_from(raw))


class TaskstatsClient:
    """One netlink socket to the taskstats family, asked synchronously (an answer takes microseconds)."""

    def __init__(self) -> None:
        self._seq = 0
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_GENERIC)
        try:
            self._sock.bind((0, 0))
            self.family_id = parse_family_id(self._ask(family_request(self._next())))
        except BaseException:
            self._sock.close()
            raise

    def _next(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        return self._seq

    def _ask(self, request: bytes) -> bytes:
        self._sock.send(request)
        return self._sock.recv(65536)

    def cgroup_tasks(self, dir_fd: int) -> CgroupTasks:
        """Task counts of the v1 cgroup whose directory ``dir_fd`` is open (OSError EINVAL on cgroup2)."""
        return parse_cgroupstats(self._ask(cgroupstats_request(self.family_id, self._next(), dir_fd)))

    def close(self) -> None:
        self._sock.close()


def open_cgroup_dir(path: str) -> int:
    """A descriptor of a cgroup directory, as the load reader needs it (ENOENT when it is gone)."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except NotADirectoryError as e:
        raise OSError(errno.ENOTDIR, f"{path} is not a cgroup directory") from e
