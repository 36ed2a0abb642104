"""Container hints (``-container_hints``): what a raw cgroup's network interface and mounts are, for cgroups made
outside any runtime (cAdvisor ``container/common/container_hints.go``, used by ``container/raw/handler.go``).

The file is cAdvisor's JSON::

    {"all_hosts": [{"full_path": "/mygroup",
                    "network_interface": {"veth_host": "veth24031eth1", "veth_child": "eth1"},
                    "mounts": [{"host_dir": "/var/run/nm-sdc1", "container_dir": "/var/run/nm-sdc1"}]}]}

- ``full_path`` is the container's name (its cgroup path), matched exactly;
- ``mounts``: each ``host_dir`` gives the container a ``filesystem`` entry for the filesystem holding it
  (cAdvisor ``GetFsInfoForPath`` takes only directories that are themselves mount points of a global
  filesystem; a mount point holds itself, so every file cAdvisor accepts gives the same entry here);
- ``network_interface``: cAdvisor parses it and has ignored it since libcontainer dropped ``VethHost``
  (``raw/handler.go`` sets ``hasNetwork = false``); here the host end's counters become the container's one
  interface, named ``veth_child`` (else ``veth_host``), with receive and transmit swapped as libcontainer's
  ``network.GetStats`` did: what the host end transmits, the container receives.

A default file that does not exist means no hints, as in cAdvisor; one given with the flag that does not
exist, and any file that is unreadable or malformed, is an error naming the file and the field at start
(cAdvisor fails the creation of every raw container instead). cAdvisor reads the file again for every new raw
container; :class:`HintsFile` reads it again when it changed, so a hint added later applies to cgroups made
after it, and a file broken while the daemon runs is logged and its last good hints kept.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import orjson

from pycadvisor.host.paths import HostPaths, read_int
from pycadvisor.model.container import InterfaceStats

DEFAULT_PATH = "/etc/cadvisor/container_hints.json"
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HintMount:
    host_dir: str
    container_dir: str = ""


@dataclass(frozen=True, slots=True)
class ContainerHint:
    """One entry of ``all_hosts``."""

    full_path: str
    veth_host: str = ""
    veth_child: str = ""
    mounts: tuple[HintMount, ...] = ()

    @property
    def interface_name(self) -> str:
        return self.veth_child or self.veth_host


class HintsError(ValueError):
    """The hints file cannot be used; the message names the file and the field."""


def _str(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise HintsError(f"{where}.{key}: want a string, got {type(value).__name__}")
    return value


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise HintsError(f"{where}: want an object, got {type(value).__name__}")
    return value


def parse_hints(data: bytes, source: str = "container hints") -> dict[str, ContainerHint]:
    """``full_path`` → hint, from the file's bytes; :class:`HintsError` names ``source`` and the bad field."""
    try:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise HintsError(f"not JSON: {e}") from None
        hosts = _obj(doc, "top level").get("all_hosts")
        hosts = [] if hosts is None else hosts
        if not isinstance(hosts, list):
            raise HintsError(f"all_hosts: want a list, got {type(hosts).__name__}")
        out: dict[str, ContainerHint] = {}
        for i, raw in enumerate(hosts):
            where = f"all_hosts[{i}]"
            entry = _obj(raw, where)
            full_path = _str(entry, "full_path", where)
            if not full_path:
                raise HintsError(f"{where}.full_path: missing")
            iface_raw = entry.get("network_interface")
            iface = _obj({} if iface_raw is None else iface_raw, f"{where}.network_interface")
            mounts_raw = entry.get("mounts")
            mounts_raw = [] if mounts_raw is None else mounts_raw
            if not isinstance(mounts_raw, list):
                raise HintsError(f"{where}.mounts: want a list, got {type(mounts_raw).__name__}")
            mounts = []
            for j, m in enumerate(mounts_raw):
                mw = f"{where}.mounts[{j}]"
                mount = _obj(m, mw)
                host_dir = _str(mount, "host_dir", mw)
                if not host_dir.startswith("/"):
                    raise HintsError(f"{mw}.host_dir: want an absolute path, got {host_dir!r}")
                mounts.append(HintMount(host_dir, _str(mount, "container_dir", mw)))
            nw = f"{where}.network_interface"
            # cAdvisor matches the first entry of a name (raw/handler.go breaks at it).
            out.setdefault(
                full_path,
                ContainerHint(full_path, _str(iface, "veth_host", nw), _str(iface, "veth_child", nw), tuple(mounts)),
            )
        return out
    except HintsError as e:
        raise HintsError(f"{source}: {e}") from None


def load_hints(path: str, *, explicit: bool) -> dict[str, ContainerHint]:
    """The hints of file ``path``; ``{}`` when it is absent and was not asked for (``explicit``: given by flag)."""
    if not path:
        return {}
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        if explicit:
            raise HintsError(f"{path}: no such file") from None
        return {}
    except OSError as e:
        raise HintsError(f"{path}: {e.strerror or e}") from None
    return parse_hints(data, path)


class HintsFile:
    """The hints of file ``path``, read again when its size, inode or mtime changed (one ``stat`` per lookup)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._sig: tuple[int, int, int] | None = None
        self._hints: dict[str, ContainerHint] = {}

    def get(self, name: str) -> ContainerHint | None:
        """The hint of container ``name``, from the file as it is now."""
        try:
            st = os.stat(self.path)
            sig: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            sig = None
        if sig != self._sig:
            self._sig = sig
            try:
                self._hints = load_hints(self.path, explicit=False) if sig is not None else {}
            except HintsError as e:
                _log.error("container hints not read again: %s; the hints read before are kept", e)
        return self._hints.get(name)


def read_veth_stats(paths: HostPaths, hint: ContainerHint) -> InterfaceStats | None:
    """The container's side of its hinted veth, from the host end's ``/sys/class/net/<veth_host>/statistics``
    (drivers/net/veth.c); None while that interface does not exist."""
    base = os.path.join(paths.sys, "class", "net", hint.veth_host, "statistics")

    def rd(name: str) -> int:
        return read_int(os.path.join(base, name))

    try:
        return InterfaceStats(
            name=hint.interface_name,
            rx_bytes=rd("tx_bytes"),
            rx_packets=rd("tx_packets"),
            rx_errors=rd("tx_errors"),
            rx_dropped=rd("tx_dropped"),
            tx_bytes=rd("rx_bytes"),
            tx_packets=rd("rx_packets"),
            tx_errors=rd("rx_errors"),
            tx_dropped=rd("rx_dropped"),
        )
    except FileNotFoundError:
        return None
