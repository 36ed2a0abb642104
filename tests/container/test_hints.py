"""Container hints (``-container_hints``): cAdvisor's JSON is read, a bad file stops the start naming the file and
the field, and a raw cgroup's hinted veth and mounts give it network and filesystem stats (issue 16 item 4)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pycadvisor.container.hints import HintsError, HintsFile, load_hints, parse_hints, read_veth_stats
from pycadvisor.host.paths import HostPaths
from support.cgroups import TestCgroup
from support.procs import ManagedProcess, run_cli_expecting_exit, wait_until
from support.services import get_json

FIXTURES = Path(__file__).parent.parent / "fixtures"
FAST = ("-housekeeping_interval=200ms", "-allow_dynamic_housekeeping=false", "-global_housekeeping_interval=2s")


def test_cadvisor_hints_file() -> None:
    """cAdvisor's own test file (container/common/test_resources/container_hints.json)."""
    hints = load_hints(str(FIXTURES / "hints" / "container_hints.json"), explicit=True)
    h = hints["18a4585950db428e4d5a65c216a5d708d241254709626f4cb300ee963fb4b144"]
    assert (h.veth_host, h.veth_child, h.interface_name) == ("veth24031eth1", "eth1", "eth1")
    assert [m.host_dir for m in h.mounts] == [
        "/var/run/nm-sdc1",
        "/var/run/nm-sdb3",
        "/var/run/nm-sda3",
        "/var/run/netns/root",
        "/var/run/openvswitch/db.sock",
    ]


def test_missing_default_file_is_no_hints(tmp_path: Path) -> None:
    assert load_hints(str(tmp_path / "absent.json"), explicit=False) == {}
    with pytest.raises(HintsError, match=r"absent\.json: no such file"):
        load_hints(str(tmp_path / "absent.json"), explicit=True)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("{all_hosts: [", "not JSON"),
        ('{"all_hosts": {"full_path": "/a"}}', "all_hosts: want a list"),
        ('{"all_hosts": [{"mounts": []}]}', "all_hosts[0].full_path: missing"),
        ('{"all_hosts": [{"full_path": "/a"}, {"full_path": 7}]}', "all_hosts[1].full_path: want a string"),
        ('{"all_hosts": [{"full_path": "/a", "mounts": [{"host_dir": "rel"}]}]}', "all_hosts[0].mounts[0].host_dir"),
        ('{"all_hosts": [{"full_path": "/a", "network_interface": []}]}', "all_hosts[0].network_interface"),
    ],
)
def test_malformed_hints_name_the_field(text: str, field: str) -> None:
    with pytest.raises(HintsError) as e:
        parse_hints(text.encode(), "/etc/h.json")
    assert str(e.value).startswith("/etc/h.json: ") and field in str(e.value)


def test_daemon_refuses_a_bad_hints_file(tmp_path: Path) -> None:
    bad = tmp_path / "hints.json"
    bad.write_text('{"all_hosts": [{"full_path": "/a", "mounts": "/data"}]}')
    r = run_cli_expecting_exit(f"-container_hints={bad}")
    assert r.returncode == 2, r.stderr
    assert f'invalid value "{bad}" for flag -container_hints: {bad}: all_hosts[0].mounts: want a list' in r.stderr
    r = run_cli_expecting_exit(f"-container_hints={tmp_path / 'none.json'}")
    assert r.returncode == 2 and "no such file" in r.stderr, r.stderr
    r = run_cli_expecting_exit(f"-container_hints={tmp_path}")  # unreadable as a file
    assert r.returncode == 2 and f"-container_hints: {tmp_path}: Is a directory" in r.stderr, r.stderr


def test_the_file_is_read_again_when_it_changes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """cAdvisor reads the file for every new raw container: a hint added later applies to cgroups made later."""
    path = tmp_path / "hints.json"
    path.write_text('{"all_hosts": [{"full_path": "/a", "mounts": [{"host_dir": "/srv"}]}]}')
    f = HintsFile(str(path))
    a = f.get("/a")
    assert a is not None and f.get("/b") is None
    path.write_text(
        '{"all_hosts": [{"full_path": "/a"}, {"full_path": "/b", "network_interface": {"veth_host": "v"}}]}'
    )
    b = f.get("/b")
    assert b is not None and b.veth_host == "v"
    path.write_text('{"all_hosts": [{"full_path": "/b", "mounts": 3}]}')  # broken while running: logged, last kept
    assert f.get("/b") == b
    assert f"{path}: all_hosts[0].mounts: want a list" in caplog.text
    path.unlink()  # gone: no hints, as cAdvisor
    assert f.get("/b") is None


def test_veth_counters_are_the_containers_view(tmp_path: Path) -> None:
    stats = tmp_path / "sys" / "class" / "net" / "vethA" / "statistics"
    stats.mkdir(parents=True)
    for i, name in enumerate(("rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_bytes", "tx_packets")):
        (stats / name).write_text(f"{(i + 1) * 10}\n")
    for name in ("tx_errors", "tx_dropped"):
        (stats / name).write_text("0\n")
    h = parse_hints(b'{"all_hosts": [{"full_path": "/a", "network_interface": {"veth_host": "vethA"}}]}')["/a"]
    s = read_veth_stats(HostPaths(sys=str(tmp_path / "sys")), h)
    assert s is not None and s.name == "vethA"
    assert (s.rx_bytes, s.rx_packets, s.tx_bytes, s.tx_packets, s.tx_errors) == (50, 60, 10, 20, 30)
    assert read_veth_stats(HostPaths(sys=str(tmp_path / "nosys")), h) is None
    (stats / "tx_bytes").write_text("garbage\n")  # fails the network family of that sample, not the daemon
    with pytest.raises(ValueError):
        read_veth_stats(HostPaths(sys=str(tmp_path / "sys")), h)


# ---------------------------------------------------------------- live: a veth into a netns, a tmpfs


_SENDER = r"""
import signal, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[2])):
    s.sendto(b"x" * 1000, (sys.argv[1], 9))
print("sent", flush=True)
while True:
    signal.pause()
"""


@pytest.fixture
def veth_netns() -> Iterator[Callable[[str], str]]:
    """``make(tag) -> netns``: a netns joined to this one by the veth pair ``pch<tag>`` (here, 169.254.77.1/30) and
    ``pcc<tag>`` (inside, .2); deleted after (deleting the netns deletes the pair)."""
    made: list[str] = []

    def make(tag: str) -> str:
        ns, host, child = f"pycad-h-{tag}", f"pch{tag}", f"pcc{tag}"
        subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
        made.append(ns)
        for cmd in (
            ["ip", "link", "add", host, "type", "veth", "peer", "name", child],
            ["ip", "link", "set", child, "netns", ns],
            ["ip", "addr", "add", "169.254.77.1/30", "dev", host],
            ["ip", "link", "set", host, "up"],
            ["ip", "-n", ns, "addr", "add", "169.254.77.2/30", "dev", child],
            ["ip", "-n", ns, "link", "set", child, "up"],
        ):
            subprocess.run(cmd, check=True, capture_output=True)
        return ns

    yield make
    for ns in made:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30, check=False)


@pytest.fixture
def tmpfs_dir(tmp_path: Path) -> Iterator[str]:
    mp = tmp_path / "vol"
    mp.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "pycadtest", str(mp)], check=True, capture_output=True)
    try:
        yield str(mp)
    finally:
        subprocess.run(["umount", "-l", str(mp)], capture_output=True, check=False)


def _last(d: Any, name: str) -> dict[str, Any] | None:
    status, body = d.get("/api/v1.3/containers" + name)
    if status != 200:
        return None
    stats = json.loads(body).get("stats") or []
    return stats[-1] if stats else None


@pytest.mark.root
def test_raw_cgroup_gets_network_and_filesystem_from_its_hints(
    pycadvisor_daemon_factory: Callable[..., Any],
    test_cgroup: TestCgroup,
    veth_netns: Callable[[str], str],
    tmpfs_dir: str,
    tmp_path: Path,
) -> None:
    app_name = test_cgroup.name + "/app"
    tag = uuid.uuid4().hex[:6]  # the names are known before the veth exists: hints are written ahead
    hints = tmp_path / "hints.json"
    # The daemon starts first; the cgroup, then its veth and its process come after, as on a real host.
    hints.write_text(
        json.dumps(
            {
                "all_hosts": [
                    {
                        "full_path": app_name,
                        "network_interface": {"veth_host": f"pch{tag}", "veth_child": f"pcc{tag}"},
                        "mounts": [{"host_dir": tmpfs_dir, "container_dir": "/data"}],
                    }
                ]
            }
        )
    )
    d = pycadvisor_daemon_factory(*FAST, f"-container_hints={hints}")
    app = test_cgroup.child("app")
    first = wait_until(lambda: _last(d, app_name), timeout=10, what="first sample of the hinted cgroup")
    # No veth yet: no network figures (not zeros); the mount's filesystem is there already.
    assert not (first.get("network") or {}).get("interfaces")
    fs = wait_until(lambda: (_last(d, app_name) or {}).get("filesystem"), timeout=10, what="hinted filesystem")
    assert [(f["device"], f["capacity"]) for f in fs] == [(tmpfs_dir, 8 << 20)]
    spec = get_json(d, f"/api/v2.0/spec{app_name}")[app_name]
    assert spec["has_network"] is True and spec["has_filesystem"] is True
    # A sibling without a hint stays without network and filesystem, as cAdvisor's raw containers.
    other = test_cgroup.child("other")
    plain = wait_until(lambda: _last(d, other.name), timeout=10, what="sample of the unhinted cgroup")
    assert not plain.get("filesystem") and not (plain.get("network") or {}).get("interfaces")

    # The veth appears (named as hinted), and a process of the cgroup sends through it from inside its netns.
    ns = veth_netns(tag)
    sender = ManagedProcess(
        ["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-c", _SENDER, "169.254.77.1", "40"],
        what="sender in a netns",
        cgroup_procs=app.procs_files(),
        stdout_pipe=True,
    )
    app.adopt(sender)
    assert sender.read_line(timeout=20).strip() == "sent"

    def sent() -> dict[str, Any] | None:
        s = _last(d, app_name) or {}
        ifaces = (s.get("network") or {}).get("interfaces") or []
        return ifaces[0] if ifaces and ifaces[0]["tx_bytes"] >= 40_000 else None

    iface = wait_until(sent, timeout=10, what="the sender's 40 datagrams counted as transmitted")
    assert iface["name"] == f"pcc{tag}" and iface["tx_packets"] >= 40
    status, body = d.get("/metrics")
    assert status == 200
    text = body.decode()
    tx = _series(text, "container_network_transmit_bytes_total", app_name)
    assert len(tx) == 1 and f'interface="pcc{tag}"' in tx[0][0] and tx[0][1] >= 40_000, tx
    limit = _series(text, "container_fs_limit_bytes", app_name)
    assert len(limit) == 1 and f'device="{tmpfs_dir}"' in limit[0][0] and limit[0][1] == 8 << 20, limit


def _series(text: str, family: str, cid: str) -> list[tuple[str, float]]:
    """(labels, value) of the family's series of container ``cid`` in an exposition."""
    out = []
    for ln in text.splitlines():
        if ln.startswith(family + "{") and f'id="{cid}"' in ln:
            labels, _, rest = ln.partition("} ")
            out.append((labels, float(rest.split()[0])))
    return out
