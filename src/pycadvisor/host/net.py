"""Pure parsers of a network namespace's procfs files, read through ``/proc/<pid>/net/``.

The collector holds the file descriptors and passes the bytes; nothing here does I/O. Each parser
follows cAdvisor's ``lib/container/libcontainer/handler.go`` (``scanTCPStats``, ``scanUDPStats``,
``scanAdvancedTCPStats``; ``net/dev``, the interfaces, is :mod:`pycadvisor.host.cgroups.network`'s)
and raises :class:`~pycadvisor.errors.ParseError` where cAdvisor returns an error (the caller then leaves
that member at its zero value, as cAdvisor does).
"""

from __future__ import annotations

from collections import Counter

from pycadvisor.errors import ParseError
from pycadvisor.model.container import TCP_STATE_NAMES, UDP_STAT_NAMES

# ``st`` column of /proc/net/tcp{,6}: the kernel prints ``sk_state`` as "%02X" (include/net/tcp_states.h:
# TCP_ESTABLISHED=1 … TCP_CLOSING=11); request sockets print TCP_SYN_RECV (net/ipv4/tcp_ipv4.c).
_TCP_STATE_CODES = {f"{i:02X}".encode(): name for i, name in enumerate(TCP_STATE_NAMES, start=1)}

# cAdvisor's ``TcpAdvancedStat`` (lib/model/container.go): 99 members, Go declaration order.
# Filled from the ``Tcp:`` line pair of /proc/net/snmp and the ``TcpExt:`` pair of /proc/net/netstat.
TCP_ADVANCED_NAMES: tuple[str, ...] = (
    "RtoAlgorithm", "RtoMin", "RtoMax", "MaxConn",
    "ActiveOpens", "PassiveOpens", "AttemptFails", "EstabResets", "CurrEstab",
    "InSegs", "OutSegs", "RetransSegs", "InErrs", "OutRsts", "InCsumErrors", "EmbryonicRsts",
    "SyncookiesSent", "SyncookiesRecv", "SyncookiesFailed",
    "PruneCalled", "RcvPruned", "OfoPruned", "OutOfWindowIcmps", "LockDroppedIcmps",
    "TW", "TWRecycled", "TWKilled", "TCPTimeWaitOverflow",
    "TCPTimeouts", "TCPSpuriousRTOs", "TCPLossProbes", "TCPLossProbeRecovery", "TCPRenoRecoveryFail",
    "TCPSackRecoveryFail", "TCPRenoFailures", "TCPSackFailures", "TCPLossFailures",
    "DelayedACKs", "DelayedACKLocked", "DelayedACKLost", "ListenOverflows", "ListenDrops",
    "TCPHPHits", "TCPPureAcks", "TCPHPAcks", "TCPRenoRecovery", "TCPSackRecovery", "TCPSACKReneging",
    "TCPFACKReorder", "TCPSACKReorder", "TCPRenoReorder", "TCPTSReorder",
    "TCPFullUndo", "TCPPartialUndo", "TCPDSACKUndo", "TCPLossUndo",
    "TCPFastRetrans", "TCPSlowStartRetrans", "TCPLostRetransmit", "TCPRetransFail",
    "TCPRcvCollapsed", "TCPDSACKOldSent", "TCPDSACKOfoSent", "TCPDSACKRecv", "TCPDSACKOfoRecv",
    "TCPAbortOnData", "TCPAbortOnClose", "TCPAbortOnMemory", "TCPAbortOnTimeout", "TCPAbortOnLinger",
    "TCPAbortFailed", "TCPMemoryPressures", "TCPMemoryPressuresChrono",
    "TCPSACKDiscard", "TCPDSACKIgnoredOld", "TCPDSACKIgnoredNoUndo",
    "TCPMD5NotFound", "TCPMD5Unexpected", "TCPMD5Failure",
    "TCPSackShifted", "TCPSackMerged", "TCPSackShiftFallback", "TCPBacklogDrop", "PFMemallocDrop",
    "TCPMinTTLDrop", "TCPDeferAcceptDrop", "IPReversePathFilter",
    "TCPReqQFullDoCookies", "TCPReqQFullDrop",
    "TCPFastOpenActive", "TCPFastOpenActiveFail", "TCPFastOpenPassive", "TCPFastOpenPassiveFail",
    "TCPFastOpenListenOverflow", "TCPFastOpenCookieReqd",
    "TCPSynRetrans", "TCPOrigDataSent", "PAWSActive", "PAWSEstab",
)  # fmt: skip

# The only signed member (Go ``int64``); /proc/net/snmp prints ``MaxConn -1`` (RFC 2012: dynamic).
_TCP_ADVANCED_SIGNED = frozenset({"MaxConn"})

# cAdvisor decodes the kernel's names into the struct through encoding/json, which matches keys to
# fields case-insensitively; keyed here by the lower-cased name.
_TCP_ADVANCED_BY_LOWER = {name.lower(): name for name in TCP_ADVANCED_NAMES}
_TCP_ADVANCED_PROTOCOLS = (b"Tcp:", b"TcpExt:")

_UINT64_MAX = (1 << 64) - 1


def tcp_advanced_zero() -> dict[str, int]:
    """Return ``TcpAdvancedStat`` with every member 0, in Go order (its value when not collected)."""
    return dict.fromkeys(TCP_ADVANCED_NAMES, 0)


def parse_tcp_states(data: bytes, *, source: str = "net/tcp") -> dict[str, int]:
    """Return the number of sockets per TCP state in /proc/<pid>/net/tcp or tcp6, keyed by Go name.

    The header line is skipped; the state is the 4th field (``sl local rem st …``). A state outside
    01..0B is an error, as in cAdvisor's ``scanTCPStats``.
    """
    lines = data.split(b"\n")
    del lines[0]
    if lines and not lines[-1]:
        lines.pop()  # the final newline (cAdvisor's line scanner yields no empty last line)
    try:
        counts = Counter([line.split(None, 4)[3] for line in lines])
    except IndexError:
        bad = next(line for line in lines if len(line.split(None, 4)) < 4)
        raise ParseError(source, f"invalid TCP stats line: {bad!r}") from None
    out = dict.fromkeys(TCP_STATE_NAMES, 0)
    for st, n in counts.items():
        name = _TCP_STATE_CODES.get(st)
        if name is None:
            raise ParseError(source, f"invalid TCP state {st.decode('ascii', 'replace')!r}")
        out[name] = n
    return out


def parse_udp_stats(data: bytes, *, source: str = "net/udp") -> dict[str, int]:
    """Return ``Listen, Dropped, RxQueued, TxQueued`` of /proc/<pid>/net/udp or udp6 (cAdvisor ``scanUDPStats``).

    ``Listen`` counts every socket line. The queue column is ``tx_queue:rx_queue`` (hex, net/ipv4/udp.c
    ``udp4_format_sock``) but cAdvisor scans it as ``rx:tx``, so **RxQueued sums tx_queue and TxQueued sums
    rx_queue**; kept for compatibility. ``Dropped`` sums the 13th field (``drops``). Lines that do not
    hold 13 fields, or whose queue/drops do not parse, are counted in ``Listen`` only.
    """
    listen = dropped = rx_queued = tx_queued = 0
    lines = data.split(b"\n")
    for line in lines[1:]:
        f = line.split()
        if not f:
            continue
        listen += 1
        if len(f) != 13:
            continue
        first, _, second = f[4].partition(b":")
        try:
            rx, tx = int(first, 16), int(second, 16)
        except ValueError:
            continue
        rx_queued += rx
        tx_queued += tx
        try:
            dropped += int(f[12])
        except ValueError:
            continue
    return dict(zip(UDP_STAT_NAMES, (listen, dropped, rx_queued, tx_queued), strict=True))


def _scan_advanced(out: dict[str, int], data: bytes, source: str) -> None:
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    # Lines come in pairs: "<Proto>: Name1 Name2 …" then "<Proto>: v1 v2 …" (net/ipv4/proc.c).
    for i in range(0, len(lines) - 1, 2):
        names = lines[i].split()
        if not names or names[0] not in _TCP_ADVANCED_PROTOCOLS:
            continue
        values = lines[i + 1].split()
        if len(names) != len(values):
            raise ParseError(source, f"field count mismatch in {names[0].decode()} lines")
        for raw_name, raw_value in zip(names[1:], values[1:], strict=True):
            try:
                value = int(raw_value)
            except ValueError:
                raise ParseError(source, f"bad value {raw_value!r} for {raw_name!r}") from None
            key = _TCP_ADVANCED_BY_LOWER.get(raw_name.decode("ascii", "replace").lower())
            if key is None:
                continue  # a counter the Go struct does not have
            # cAdvisor decodes into uint64 members except MaxConn (int64); a negative value for an
            # unsigned member makes encoding/json fail, and cAdvisor then drops all advanced stats.
            if value < 0 and key not in _TCP_ADVANCED_SIGNED:
                raise ParseError(source, f"negative value {value} for unsigned {key}")
            if value > _UINT64_MAX:
                raise ParseError(source, f"value {value} of {key} overflows uint64")
            out[key] = value


def parse_tcp_advanced(netstat: bytes, snmp: bytes) -> dict[str, int]:
    """Return cAdvisor's ``TcpAdvancedStat`` (99 members, Go order) from /proc/<pid>/net/netstat and net/snmp.

    Only the ``TcpExt:`` and ``Tcp:`` line pairs are used; kernel names are matched to members
    case-insensitively; members the kernel does not print stay 0.
    """
    out = tcp_advanced_zero()
    _scan_advanced(out, netstat, "net/netstat")
    _scan_advanced(out, snmp, "net/snmp")
    return out
