"""Network procfs parsers: fixture files of real format, then a real network namespace."""

from __future__ import annotations

import json
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycadvisor.errors import ParseError
from pycadvisor.host.cgroups.network import parse_net_dev
from pycadvisor.host.net import (
    TCP_ADVANCED_NAMES,
    parse_tcp_advanced,
    parse_tcp_states,
    parse_udp_stats,
    tcp_advanced_zero,
)
from pycadvisor.model.codec import dumps
from pycadvisor.model.container import TCP_STATE_NAMES, UDP_STAT_NAMES, InterfaceStats, NetworkStats
from support.ci import is_root, require
from support.procs import ManagedProcess

NET = Path(__file__).resolve().parent.parent / "fixtures" / "procfs" / "net"


def fixture(name: str) -> bytes:
    return (NET / name).read_bytes()


def states(**nonzero: int) -> dict[str, int]:
    out = dict.fromkeys(TCP_STATE_NAMES, 0)
    out.update(nonzero)
    return out


# ---------------------------------------------------------------- /proc/<pid>/net/dev


def test_net_dev_keeps_real_interfaces_in_file_order_and_drops_cadvisor_ignored_ones() -> None:
    got = parse_net_dev(fixture("dev"))
    assert got == [
        InterfaceStats(
            name="wlp4s0", rx_bytes=1, rx_packets=2, rx_errors=3, rx_dropped=4,
            tx_bytes=9, tx_packets=10, tx_errors=11, tx_dropped=12,
        ),
        InterfaceStats(name="em1", rx_bytes=315849, rx_packets=1172, tx_bytes=315850, tx_packets=1173),
        # no space after the colon: cAdvisor would glue "eth1123456789" and reject the whole file
        InterfaceStats(name="eth1", rx_bytes=123456789, rx_packets=1000, tx_bytes=987654321, tx_packets=900),
    ]  # fmt: skip


def test_net_dev_of_the_host_namespace_with_four_interfaces() -> None:
    got = parse_net_dev(fixture("dev_host4"))
    assert [i.name for i in got] == ["ifb0", "ifb1", "eth0"]  # "lo" is not reported
    assert (got[2].rx_bytes, got[2].rx_packets, got[2].tx_bytes, got[2].tx_packets) == (454496987, 9583, 509224, 5690)


def test_net_dev_rejects_the_file_when_a_line_lacks_counters() -> None:
    bad = fixture("dev") + b"  eth2:       1       2    3    4    5     6          7         8        9\n"
    with pytest.raises(ParseError) as e:
        parse_net_dev(bad, source="/proc/42/net/dev")
    assert e.value.path == "/proc/42/net/dev"
    assert "eth2" in e.value.detail


def test_net_dev_rejects_non_numeric_counters() -> None:
    with pytest.raises(ParseError):
        parse_net_dev(fixture("dev").replace(b"315849", b"3158x9"))


def test_net_dev_with_headers_only_has_no_interfaces() -> None:
    header = b"".join(fixture("dev").splitlines(keepends=True)[:2])
    assert parse_net_dev(header) == []
    assert parse_net_dev(b"") == []


def test_first_interface_is_inlined_in_network_json() -> None:
    ifaces = parse_net_dev(fixture("dev"))
    first = ifaces[0]
    stats = NetworkStats(
        name=first.name, rx_bytes=first.rx_bytes, rx_packets=first.rx_packets, rx_errors=first.rx_errors,
        rx_dropped=first.rx_dropped, tx_bytes=first.tx_bytes, tx_packets=first.tx_packets,
        tx_errors=first.tx_errors, tx_dropped=first.tx_dropped, interfaces=ifaces,
    )  # fmt: skip
    wire = json.loads(dumps(stats))
    assert wire["name"] == "wlp4s0" and wire["tx_dropped"] == 12
    assert [i["name"] for i in wire["interfaces"]] == ["wlp4s0", "em1", "eth1"]


# ---------------------------------------------------------------- tcp, tcp6


def test_tcp_states_are_counted_per_state_with_go_names_in_go_order() -> None:
    got = parse_tcp_states(fixture("tcp"))
    assert list(got) == list(TCP_STATE_NAMES)
    assert got == states(Established=6, FinWait2=1, TimeWait=1, CloseWait=1, Listen=1)


def test_tcp6_states() -> None:
    assert parse_tcp_states(fixture("tcp6"), source="net/tcp6") == states(Established=2, Listen=1)


def test_tcp_header_only_is_all_zero() -> None:
    assert parse_tcp_states(fixture("tcp").splitlines(keepends=True)[0]) == states()


def test_unknown_tcp_state_is_an_error() -> None:
    lines = fixture("tcp").splitlines(keepends=True)
    # 0C is TCP_NEW_SYN_RECV, which the kernel never prints (request sockets show as 03)
    bad = lines[0] + lines[1].replace(b" 0A ", b" 0C ")
    with pytest.raises(ParseError, match="0C"):
        parse_tcp_states(bad)


def test_truncated_tcp_line_is_an_error() -> None:
    with pytest.raises(ParseError):
        parse_tcp_states(fixture("tcp") + b"  10: 0100007F:1F90\n")


# ---------------------------------------------------------------- udp, udp6


def test_udp_stats_copy_cadvisors_swapped_queue_columns() -> None:
    got = parse_udp_stats(fixture("udp"))
    assert list(got) == list(UDP_STAT_NAMES)
    # tx_queue:rx_queue = 4:0x680 and 6:0xB; drops 3 and 1. cAdvisor reads the pair as rx:tx.
    assert got == {"Listen": 2, "Dropped": 4, "RxQueued": 4 + 6, "TxQueued": 0x680 + 0xB}


def test_udp6_stats() -> None:
    assert parse_udp_stats(fixture("udp6")) == {"Listen": 1, "Dropped": 0, "RxQueued": 0, "TxQueued": 0}


def test_udp_short_lines_count_as_sockets_only() -> None:
    data = fixture("udp") + b" 9070: 0100007F:14EF 00000000:0000 07 00000009:00000009\n"
    assert parse_udp_stats(data) == {"Listen": 3, "Dropped": 4, "RxQueued": 10, "TxQueued": 0x680 + 0xB}


# ---------------------------------------------------------------- advanced tcp (netstat + snmp)


def test_tcp_advanced_has_cadvisors_99_members_in_go_order() -> None:
    got = parse_tcp_advanced(fixture("netstat"), fixture("snmp"))
    assert len(TCP_ADVANCED_NAMES) == 99
    assert list(got) == list(TCP_ADVANCED_NAMES)
    assert list(got)[:5] == ["RtoAlgorithm", "RtoMin", "RtoMax", "MaxConn", "ActiveOpens"]
    assert list(got)[-3:] == ["TCPOrigDataSent", "PAWSActive", "PAWSEstab"]


def test_tcp_advanced_values_come_from_tcp_and_tcpext_lines() -> None:
    got = parse_tcp_advanced(fixture("netstat"), fixture("snmp"))
    nonzero = {k: v for k, v in got.items() if v}
    assert nonzero == {
        # snmp "Tcp:" pair
        "RtoAlgorithm": 1, "RtoMin": 200, "RtoMax": 120000, "MaxConn": -1, "ActiveOpens": 6,
        "PassiveOpens": 6, "CurrEstab": 9, "InSegs": 24, "OutSegs": 24,
        # netstat "TcpExt:" pair (its TCPDelivered has no member and is dropped)
        "TW": 2, "DelayedACKs": 2, "TCPPureAcks": 9, "TCPOrigDataSent": 3,
    }  # fmt: skip


def test_tcp_advanced_names_match_case_insensitively_and_other_protocols_are_ignored() -> None:
    netstat = b"TcpExt: tcptimeouts SYNCOOKIESSENT NotAMember\nTcpExt: 7 3 11\nIpExt: InNoRoutes\nIpExt: 5\n"
    snmp = b"Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: ActiveOpens\nTcp: 12\nUdp: InErrors\nUdp: 4\n"
    got = parse_tcp_advanced(netstat, snmp)
    assert {k: v for k, v in got.items() if v} == {"TCPTimeouts": 7, "SyncookiesSent": 3, "ActiveOpens": 12}


def test_tcp_advanced_field_count_mismatch_is_an_error() -> None:
    with pytest.raises(ParseError) as e:
        parse_tcp_advanced(b"TcpExt: TW TWKilled\nTcpExt: 1\n", fixture("snmp"))
    assert e.value.path == "net/netstat"


def test_tcp_advanced_negative_unsigned_value_is_an_error() -> None:
    # encoding/json cannot put -1 into a uint64 member: cAdvisor then reports no advanced stats at all
    with pytest.raises(ParseError):
        parse_tcp_advanced(b"", b"Tcp: MaxConn ActiveOpens\nTcp: -1 -5\n")
    assert parse_tcp_advanced(b"", b"Tcp: MaxConn ActiveOpens\nTcp: -1 5\n")["MaxConn"] == -1


def test_tcp_advanced_json_keys_keep_go_order() -> None:
    stats = NetworkStats(tcp_advanced=parse_tcp_advanced(fixture("netstat"), fixture("snmp")))
    wire = json.loads(dumps(stats))
    assert list(wire["tcp_advanced"]) == list(TCP_ADVANCED_NAMES)
    assert list(json.loads(dumps(NetworkStats(tcp_advanced=tcp_advanced_zero())))["tcp_advanced"]) == list(
        TCP_ADVANCED_NAMES
    )


# ---------------------------------------------------------------- the real kernel


def test_listening_socket_shows_in_the_hosts_tcp_table() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        data = Path("/proc/self/net/tcp").read_bytes()
    ours = [ln for ln in data.splitlines()[1:] if ln.split()[1].endswith(b":%04X" % port)]
    assert len(ours) == 1 and ours[0].split()[3] == b"0A"
    got = parse_tcp_states(data)
    assert got["Listen"] >= 1
    assert sum(got.values()) == len(data.splitlines()) - 1  # every socket counted once


# Runs as ``unshare -n python -c NETNS_CHILD``: a fresh network namespace with lo, one veth pair
# (eth0 <-> veth0, IPv6 off so nothing is sent unasked), then a known set of sockets and packets.
NETNS_CHILD = r"""
import signal, socket, subprocess

def sh(*a):
    subprocess.run(a, check=True)

with open("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w") as f:
    f.write("1")
sh("ip", "link", "set", "lo", "up")
sh("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "veth0")
sh("ip", "addr", "add", "10.77.0.1/24", "dev", "eth0")
sh("ip", "link", "set", "eth0", "up")
sh("ip", "link", "set", "veth0", "up")
sh("ip", "neigh", "add", "10.77.0.9", "lladdr", "02:00:00:00:00:09", "dev", "eth0")
lst = socket.socket(); lst.bind(("127.0.0.1", 8080)); lst.listen()
cli = socket.create_connection(("127.0.0.1", 8080)); srv, _ = lst.accept()
lst6 = socket.socket(socket.AF_INET6); lst6.bind(("::1", 8081)); lst6.listen()
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # the minimum: most datagrams get dropped
a.bind(("127.0.0.1", 5353))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(("127.0.0.1", 5354))
for _ in range(50):
    b.sendto(b"x" * 1000, ("127.0.0.1", 5353))
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5):
    c.sendto(b"y" * 100, ("10.77.0.9", 9))  # out of eth0: 5 frames of 100+8+20+14 bytes
c.close()
print("ready", flush=True)
signal.pause()
"""


@pytest.fixture
def netns_pid(tmp_path: Path) -> Iterator[int]:
    require(is_root(), "needs root to create a network namespace")
    require(shutil.which("unshare") and shutil.which("ip"), "needs unshare(1) and ip(8)")
    p = ManagedProcess(
        ["unshare", "-n", sys.executable, "-c", NETNS_CHILD],
        what="netns socket holder",
        log_path=str(tmp_path / "netns.log"),
        stdout_pipe=True,
    )
    try:
        line = p.read_line(30)
        assert line == "ready", p.log_tail()
        yield p.pid  # unshare execs the interpreter: same pid, inside the new namespace
    finally:
        p.stop()


def test_real_namespace_counters(netns_pid: int) -> None:
    net = Path(f"/proc/{netns_pid}/net")

    assert parse_net_dev((net / "dev").read_bytes()) == [
        InterfaceStats(name="eth0", tx_bytes=5 * 142, tx_packets=5)
    ]  # lo and veth0 are not reported
    assert parse_tcp_states((net / "tcp").read_bytes()) == states(Established=2, Listen=1)
    assert parse_tcp_states((net / "tcp6").read_bytes()) == states(Listen=1)

    udp = parse_udp_stats((net / "udp").read_bytes())
    assert udp["Listen"] == 2
    assert udp["Dropped"] > 0
    # the receiver holds queued datagrams in rx_queue; cAdvisor reports them as TxQueued
    assert udp["TxQueued"] > 0 and udp["RxQueued"] == 0
    assert parse_udp_stats((net / "udp6").read_bytes()) == dict.fromkeys(UDP_STAT_NAMES, 0)

    adv = parse_tcp_advanced((net / "netstat").read_bytes(), (net / "snmp").read_bytes())
    assert (adv["ActiveOpens"], adv["PassiveOpens"], adv["CurrEstab"], adv["MaxConn"]) == (1, 1, 2, -1)
