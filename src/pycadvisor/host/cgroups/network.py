"""Network interfaces: the network family's slots per interface (``InterfaceStats``' counters), read
from the container's network namespace through its init process's ``<proc>/<pid>/net/dev``, and the
file's parser.

Layout (net/core/net-procfs.c ``dev_seq_printf_stats``): two header lines, then ``%6s: %7llu …`` =
name, 8 receive and 8 transmit counters; a row's key is its column under the header. The same file on
cgroup v1 and v2. What cAdvisor reads of it: container/libcontainer/handler.go ``scanInterfaceStats``.
The tcp, udp and advanced-tcp tables of the same namespace are parsed by :mod:`pycadvisor.host.net`.
"""

from __future__ import annotations

from pycadvisor.errors import ParseError
from pycadvisor.host.cgroups.rows import Row, Table
from pycadvisor.model.container import InterfaceStats
from pycadvisor.model.sample import IFACE_SLOTS

# net/dev's columns after the name, as its header names them ("Receive" and "Transmit" groups).
NET_DEV_COLUMNS = (
    *(f"Receive {c}" for c in ("bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast")),
    *(f"Transmit {c}" for c in ("bytes", "packets", "errs", "drop", "fifo", "colls", "carrier", "compressed")),
)
_SHOW = "net/core/net-procfs.c dev_seq_printf_stats"
ROWS = (
    Row("rx_bytes", "net/dev", "Receive bytes", f"{_SHOW} rx_bytes"),
    Row("rx_packets", "net/dev", "Receive packets", f"{_SHOW} rx_packets"),
    Row("rx_errors", "net/dev", "Receive errs", f"{_SHOW} rx_errors"),
    Row("rx_dropped", "net/dev", "Receive drop", f"{_SHOW} rx_dropped + rx_missed_errors"),
    Row("tx_bytes", "net/dev", "Transmit bytes", f"{_SHOW} tx_bytes"),
    Row("tx_packets", "net/dev", "Transmit packets", f"{_SHOW} tx_packets"),
    Row("tx_errors", "net/dev", "Transmit errs", f"{_SHOW} tx_errors"),
    Row("tx_dropped", "net/dev", "Transmit drop", f"{_SHOW} tx_dropped"),
)
#: Every interface's slots, per cgroup version alike.
NET_DEV = Table(ROWS, ("net/dev",), IFACE_SLOTS)
_COLUMNS = tuple(NET_DEV_COLUMNS.index(r.key) for r in ROWS)

# Interfaces cAdvisor never reports (handler.go ``ignoredDevicePrefixes``), matched on the lower-cased name.
IGNORED_INTERFACE_PREFIXES = ("lo", "veth", "docker", "nerdctl")
_IGNORED_PREFIXES_B = tuple(p.encode() for p in IGNORED_INTERFACE_PREFIXES)


def interface_values(data: bytes, *, source: str = "net/dev") -> list[tuple[str, tuple[int, ...]]]:
    """Each reported interface's name and slots (``IFACE_SLOTS``), in file order.

    cAdvisor rejects the whole file when a line does not hold 17 fields, and leaves out its ignored
    interfaces. It deletes every ``:`` before splitting, which glues name and value where no space
    follows the colon (older kernels printed ``%6s:%8lu``); this splits at the last ``:`` instead, so
    such lines and names like ``ibr10:30`` (node_exporter#902) parse.
    """
    out: list[tuple[str, tuple[int, ...]]] = []
    for line in data.split(b"\n")[2:]:
        if not line:
            continue
        colon = line.rfind(b":")
        f = line[colon + 1 :].split()
        if colon < 0 or len(f) != len(NET_DEV_COLUMNS):
            raise ParseError(source, f"invalid interface stats line: {line!r}")
        name = line[:colon].strip()
        if name.lower().startswith(_IGNORED_PREFIXES_B):
            continue
        try:
            out.append((name.decode("utf-8", "replace"), tuple(int(f[c]) for c in _COLUMNS)))
        except ValueError:
            raise ParseError(source, f"cannot parse interface stats: {line!r}") from None
    return out


def parse_net_dev(data: bytes, *, source: str = "net/dev") -> list[InterfaceStats]:
    """The counters of /proc/<pid>/net/dev in file order, without cAdvisor's ignored interfaces."""
    return [
        InterfaceStats(name=name, **dict(zip(IFACE_SLOTS, values, strict=True)))
        for name, values in interface_values(data, source=source)
    ]
