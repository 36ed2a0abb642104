"""The network family of a container's samples, read in its network namespace through the init
process's ``<proc>/<pid>/net`` files (:mod:`pycadvisor.host.cgroups.network` names and parses the
interfaces' counters, :mod:`pycadvisor.host.net` the tcp and udp tables).

cAdvisor reads each of the network, tcp, udp and advtcp sets on its own from the init process's netns
(container/libcontainer/handler.go ``GetStats``): tcp alone is collected without network.
"""

from __future__ import annotations

from pycadvisor.host.cgroups.files import ContainerGone, FileSet
from pycadvisor.host.cgroups.network import interface_values
from pycadvisor.host.net import parse_tcp_advanced, parse_tcp_states, parse_udp_stats
from pycadvisor.host.paths import HostPaths
from pycadvisor.model.sample import Token

NET_FILES = ("dev", "tcp", "tcp6", "udp", "udp6", "netstat", "snmp")
NET_SETS = frozenset({"network", "tcp", "udp", "advtcp"})  # the sets read from <proc>/<pid>/net


class NetGone(Exception):
    """The process whose network namespace was read went away (not the cgroup)."""


class NetnsFamily:
    """One container's network family, through its collector's held files."""

    __slots__ = ("_files", "_net_pid", "_proc", "_sets")

    def __init__(self, files: FileSet, paths: HostPaths, metric_sets: frozenset[str]) -> None:
        self._files, self._proc, self._sets = files, paths.proc, metric_sets
        self._net_pid: int | None = None  # whose <proc>/<pid>/net files are held

    def sample(self, pid: int, tokens: list[Token], vals: list[int]) -> None:
        """Append the family's token and values as seen by ``pid``; :class:`NetGone` once it exited."""
        proc = self._proc
        if self._net_pid != pid:
            if self._net_pid is not None:
                for f in NET_FILES:
                    self._files.forget(f"{proc}/{self._net_pid}/net/{f}")
            self._net_pid = pid
        base = f"{proc}/{pid}/net/"
        read = self._files.read
        sets = self._sets
        tcp = tcp6 = udp = udp6 = adv = None
        ifaces: list[tuple[str, tuple[int, ...]]] = []
        try:
            if "network" in sets:
                raw = read(base + "dev")
                if raw is None:
                    return
                ifaces = interface_values(raw, source=base + "dev")
            for _name, counters in ifaces:
                vals += counters
            if "tcp" in sets:
                tcp = parse_tcp_states(read(base + "tcp") or b"", source=base + "tcp")
                tcp6 = parse_tcp_states(read(base + "tcp6") or b"", source=base + "tcp6")
            if "udp" in sets:
                udp = parse_udp_stats(read(base + "udp") or b"", source=base + "udp")
                udp6 = parse_udp_stats(read(base + "udp6") or b"", source=base + "udp6")
            if "advtcp" in sets:
                adv = parse_tcp_advanced(read(base + "netstat") or b"", read(base + "snmp") or b"")
        except ContainerGone:  # the process went away, not the cgroup
            for f in NET_FILES:
                self._files.forget(base + f)
            self._net_pid = None
            raise NetGone from None
        keys: list[tuple[str, ...] | None] = []
        for table in (tcp, tcp6, udp, udp6, adv):
            if table is None:
                keys.append(None)
            else:
                keys.append(tuple(table))
                vals += table.values()
        tokens.append(("net", tuple(name for name, _ in ifaces), *keys))
