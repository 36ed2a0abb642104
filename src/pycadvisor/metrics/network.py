"""Network families: metric sets ``network``, ``tcp``, ``advtcp``, ``udp`` (lib/metrics/prometheus.go).

Samples come from ``network.interfaces`` (not the inlined first interface); tcp/udp maps are keyed by
Go field names (``Established``, ``RxQueued``), exported lower-cased in ``tcp_state``/``udp_state``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pycadvisor.metrics.spec import COUNTER, GAUGE, MetricSpec, Sample
from pycadvisor.model.container import TCP_STATE_NAMES, UDP_STAT_NAMES, ContainerStats


def _iface(name: str, help: str, field: str) -> MetricSpec:
    # Declared (spec.py `each`): a sample per network.interfaces entry; no network member, no series.
    return MetricSpec(
        name=name,
        help=help,
        type=COUNTER,
        extra_labels=("interface",),
        each=("network", "interfaces"),
        each_labels=("name",),
        path=(field,),
    )


NETWORK_METRICS = (
    _iface("container_network_receive_bytes_total", "Cumulative count of bytes received", "rx_bytes"),
    _iface("container_network_receive_packets_total", "Cumulative count of packets received", "rx_packets"),
    _iface(
        "container_network_receive_packets_dropped_total",
        "Cumulative count of packets dropped while receiving",
        "rx_dropped",
    ),
    _iface(
        "container_network_receive_errors_total",
        "Cumulative count of errors encountered while receiving",
        "rx_errors",
    ),
    _iface("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", "tx_bytes"),
    _iface("container_network_transmit_packets_total", "Cumulative count of packets transmitted", "tx_packets"),
    _iface(
        "container_network_transmit_packets_dropped_total",
        "Cumulative count of packets dropped while transmitting",
        "tx_dropped",
    ),
    _iface(
        "container_network_transmit_errors_total",
        "Cumulative count of errors encountered while transmitting",
        "tx_errors",
    ),
)


def _states(
    names: tuple[str, ...], member: Callable[[ContainerStats], dict[str, int] | None]
) -> Callable[[ContainerStats], Sequence[Sample]]:
    keyed = sorted((n.lower(), n) for n in names)  # emitted in label order

    def values(s: ContainerStats) -> Sequence[Sample]:
        m = member(s)
        if m is None:
            return ()
        get = m.get
        return [((label,), get(go_name, 0)) for label, go_name in keyed]

    return values


def _tcp(s: ContainerStats) -> dict[str, int] | None:
    return None if s.network is None else s.network.tcp


def _tcp6(s: ContainerStats) -> dict[str, int] | None:
    return None if s.network is None else s.network.tcp6


def _udp(s: ContainerStats) -> dict[str, int] | None:
    return None if s.network is None else s.network.udp


def _udp6(s: ContainerStats) -> dict[str, int] | None:
    return None if s.network is None else s.network.udp6


def _tcp_advanced(s: ContainerStats) -> dict[str, int] | None:
    return None if s.network is None else s.network.tcp_advanced


TCP_METRICS = (
    MetricSpec(
        name="container_network_tcp_usage_total",
        help="tcp connection usage statistic for container",
        type=GAUGE,
        extra_labels=("tcp_state",),
        values=_states(TCP_STATE_NAMES, _tcp),
        safe_labels=True,
    ),
    MetricSpec(
        name="container_network_tcp6_usage_total",
        help="tcp6 connection usage statistic for container",
        type=GAUGE,
        extra_labels=("tcp_state",),
        values=_states(TCP_STATE_NAMES, _tcp6),
        safe_labels=True,
    ),
)

UDP_METRICS = (
    MetricSpec(
        name="container_network_udp_usage_total",
        help="udp connection usage statistic for container",
        type=GAUGE,
        extra_labels=("udp_state",),
        values=_states(UDP_STAT_NAMES, _udp),
        safe_labels=True,
    ),
    MetricSpec(
        name="container_network_udp6_usage_total",
        help="udp6 connection usage statistic for container",
        type=GAUGE,
        extra_labels=("udp_state",),
        values=_states(UDP_STAT_NAMES, _udp6),
        safe_labels=True,
    ),
)

# The TcpAdvancedStat fields cAdvisor exports, in lib/metrics/prometheus.go order (Go names;
# /proc/<pid>/net/netstat TcpExt: and /proc/<pid>/net/snmp Tcp: counters).
TCP_ADVANCED_NAMES = (
    "RtoAlgorithm", "RtoMin", "RtoMax", "MaxConn", "ActiveOpens", "PassiveOpens", "AttemptFails",
    "EstabResets", "CurrEstab", "InSegs", "OutSegs", "RetransSegs", "InErrs", "OutRsts", "InCsumErrors",
    "EmbryonicRsts", "SyncookiesSent", "SyncookiesRecv", "SyncookiesFailed", "PruneCalled", "RcvPruned",
    "OfoPruned", "OutOfWindowIcmps", "LockDroppedIcmps", "TW", "TWRecycled", "TWKilled",
    "TCPTimeWaitOverflow", "TCPTimeouts", "TCPSpuriousRTOs", "TCPLossProbes", "TCPLossProbeRecovery",
    "TCPRenoRecoveryFail", "TCPSackRecoveryFail", "TCPRenoFailures", "TCPSackFailures", "TCPLossFailures",
    "DelayedACKs", "DelayedACKLocked", "DelayedACKLost", "ListenOverflows", "ListenDrops", "TCPHPHits",
    "TCPPureAcks", "TCPHPAcks", "TCPRenoRecovery", "TCPSackRecovery", "TCPSACKReneging", "TCPFACKReorder",
    "TCPSACKReorder", "TCPRenoReorder", "TCPTSReorder", "TCPFullUndo", "TCPPartialUndo", "TCPDSACKUndo",
    "TCPLossUndo", "TCPFastRetrans", "TCPSlowStartRetrans", "TCPLostRetransmit", "TCPRetransFail",
    "TCPRcvCollapsed", "TCPDSACKOldSent", "TCPDSACKOfoSent", "TCPDSACKRecv", "TCPDSACKOfoRecv",
    "TCPAbortOnData", "TCPAbortOnClose", "TCPAbortOnMemory", "TCPAbortOnTimeout", "TCPAbortOnLinger",
    "TCPAbortFailed", "TCPMemoryPressures", "TCPMemoryPressuresChrono", "TCPSACKDiscard",
    "TCPDSACKIgnoredOld", "TCPDSACKIgnoredNoUndo", "TCPMD5NotFound", "TCPMD5Unexpected", "TCPMD5Failure",
    "TCPSackShifted", "TCPSackMerged", "TCPSackShiftFallback", "TCPBacklogDrop", "PFMemallocDrop",
    "TCPMinTTLDrop", "TCPDeferAcceptDrop", "IPReversePathFilter", "TCPReqQFullDoCookies", "TCPReqQFullDrop",
    "TCPFastOpenActive", "TCPFastOpenActiveFail", "TCPFastOpenPassive", "TCPFastOpenPassiveFail",
    "TCPFastOpenListenOverflow", "TCPFastOpenCookieReqd", "TCPSynRetrans", "TCPOrigDataSent", "PAWSActive",
    "PAWSEstab",
)  # fmt: skip

ADVTCP_METRICS = (
    MetricSpec(
        name="container_network_advance_tcp_stats_total",
        help="advance tcp connections statistic for container",
        type=GAUGE,
        extra_labels=("tcp_state",),
        values=_states(TCP_ADVANCED_NAMES, _tcp_advanced),
        safe_labels=True,
    ),
)
