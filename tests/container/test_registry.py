"""The runtime factories come from one table (container/registry.py), in the order the manager asks
them, built from the flags; a runtime's module is imported only when the factories are built."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from pycadvisor.app import build_factories as factories_from_flags
from pycadvisor.config import Config
from pycadvisor.container.base import Factory, RuntimeOptions
from pycadvisor.container.deferred import DeferredFactory
from pycadvisor.container.registry import RUNTIME_FACTORIES, build_factories, load_factory_class
from pycadvisor.flags import parse_args
from pycadvisor.storage.options import StorageOptions


def _close(factories: list[Factory]) -> None:
    async def close_all() -> None:
        for f in factories:
            await f.close()

    asyncio.run(close_all())


def test_every_runtime_in_the_order_the_manager_asks_them() -> None:
    fs = build_factories(RuntimeOptions())
    try:
        assert (
            [f.name for f in fs]
            == list(RUNTIME_FACTORIES)
            == ["systemd", "podman", "crio", "mesos", "containerd", "docker"]
        )
    finally:
        _close(fs)


def test_flags_reach_the_factories() -> None:
    parsed, _ = parse_args(
        [
            "-docker=unix:///run/t/docker.sock",
            "-podman=unix:///run/t/podman.sock",
            "-crio=unix:///run/t/crio.sock",
            "-containerd=/run/t/containerd.sock",
            "-containerd-namespace=moby",
            "-mesos_agent=10.0.0.7:5051",
        ],
        Config,
        StorageOptions,
    )
    cfg = parsed[Config]
    assert isinstance(cfg, Config)
    fs = factories_from_flags(cfg, ["HOME"])
    try:
        by_name = {f.name: f for f in fs}
        endpoints = {
            n: getattr(by_name[n], "endpoint", None) for n in ("docker", "podman", "crio", "containerd", "mesos")
        }
        assert endpoints == {
            "docker": "unix:///run/t/docker.sock",
            "podman": "unix:///run/t/podman.sock",
            "crio": "unix:///run/t/crio.sock",
            "containerd": "/run/t/containerd.sock",
            "mesos": "10.0.0.7:5051",
        }
        # No socket at that path: containerd is a stand-in until one appears (container/deferred.py).
        ctd = by_name["containerd"]
        assert isinstance(ctd, DeferredFactory) and not ctd.loaded
        assert getattr(ctd.load(), "namespace", None) == "moby"
    finally:
        _close(fs)


def test_docker_tls_files_are_read_when_the_factories_are_built(tmp_path: Path) -> None:
    missing = f"{tmp_path}/none.pem"
    with pytest.raises(OSError):
        build_factories(RuntimeOptions(docker_tls=(missing, missing, missing)))


def test_an_unknown_runtime_is_named_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown container runtime: lxc \(valid: systemd, podman, crio"):
        load_factory_class("lxc")


def test_the_table_imports_no_runtime_module() -> None:
    code = (
        "import sys, pycadvisor.container.registry as r\n"
        "print(sorted(m for m in sys.modules if m.rsplit('.', 1)[-1] in r.RUNTIME_FACTORIES))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_without_a_containerd_socket_grpclib_is_imported_only_once_the_socket_exists(tmp_path: Path) -> None:
    """containerd's client (grpclib, h2...) costs RSS: a host without its socket does not carry it, and the
    socket appearing later loads it at the next describe (what the manager's retries call)."""
    sock = tmp_path / "containerd.sock"
    code = f"""
import asyncio, socket, sys
from pycadvisor.container.base import RuntimeOptions
from pycadvisor.container.registry import build_factories
from pycadvisor.errors import RuntimeUnavailable
ctd = next(f for f in build_factories(RuntimeOptions(containerd={str(sock)!r})) if f.name == "containerd")
cgroup = "/kubepods/besteffort/pod1/" + "a" * 64
print(ctd.can_handle_and_accept(cgroup), ctd.can_handle_and_accept("/docker/" + "a" * 64), "grpclib" in sys.modules)
try:
    asyncio.run(ctd.describe(cgroup))
except RuntimeUnavailable as e:
    print(e, "grpclib" in sys.modules)
srv = socket.socket(socket.AF_UNIX)
srv.bind({str(sock)!r})  # a socket that does not answer gRPC: still unavailable, but now loaded
try:
    asyncio.run(ctd.describe(cgroup))
except RuntimeUnavailable as e:
    print("grpclib" in sys.modules, getattr(ctd, "namespace"))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.splitlines() == [
        "(True, True) (False, False) False",
        f"containerd at {sock} unavailable: no socket False",
        "True k8s.io",
    ]


def test_docker_and_podman_without_a_socket_are_stand_ins_that_answer_as_their_factories(tmp_path: Path) -> None:
    """Docker's and Podman's modules wait for their socket too; until then a root container is "runtime
    unavailable" (asked again later), a rootless one whose user runs no API service is no Podman container,
    as the factories answer; a Docker engine over TCP is built at start, as before."""
    code = f"""
import asyncio, sys
from pycadvisor.container.base import RuntimeOptions
from pycadvisor.container.registry import build_factories
from pycadvisor.errors import RuntimeUnavailable
opts = RuntimeOptions(docker="unix://{tmp_path}/docker.sock", podman="unix://{tmp_path}/podman.sock",
                      host_rootfs={str(tmp_path)!r})
fs = {{f.name: f for f in build_factories(opts)}}
print(type(fs["docker"]).__name__, type(fs["podman"]).__name__, "pycadvisor.container.docker" in sys.modules)
cid = "b" * 64
for name, cgroup in (("docker", "/docker/" + cid), ("podman", "/machine.slice/libpod-" + cid + ".scope"),
                     ("podman", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + cid + ".scope")):
    try:
        print(name, fs[name].can_handle_and_accept(cgroup), asyncio.run(fs[name].describe(cgroup)))
    except RuntimeUnavailable as e:
        print(name, fs[name].can_handle_and_accept(cgroup), e)
print(getattr(fs["docker"], "info", None), "pycadvisor.container.podman" in sys.modules)
tcp = {{f.name: f for f in build_factories(RuntimeOptions(docker="tcp://127.0.0.1:1"))}}
print(type(tcp["docker"]).__name__)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.splitlines() == [
        "DeferredFactory DeferredFactory False",
        f"docker (True, True) docker at unix://{tmp_path}/docker.sock unavailable: no socket",
        f"podman (True, True) podman at unix://{tmp_path}/podman.sock unavailable: no socket",
        "podman (True, True) None",
        "None False",
        "DockerFactory",
    ]
