"""A private Docker engine for the Docker mode: its own dockerd in its own network namespace.

The recipe (dockerd's own flags, docs.docker.com/reference/cli/dockerd): ``ip netns add``, then
``nsenter --net=… dockerd --data-root --exec-root -H unix://… --pidfile --storage-driver=vfs --iptables=false
--bridge=none``, beside any other engine on the machine (own sockets, own managed containerd). The image is the
static busybox with one symlink per applet, ``docker import``-ed offline; every run passes
``--pull=never``. Container cgroups land in ``/docker/<id>`` (cgroupfs driver).

"The engine" is dockerd + its containerd + every containerd-shim of this engine, without their
workloads (counted per PID, overhead_kit/procfs.py). dockerd starts in a meter cgroup: containerd and the shims inherit
it, runc moves each workload out into ``/docker/<id>``, so the meter counts the engine alone.
Cleanup removes what this engine made and nothing else.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Callable

from overhead_kit import procfs
from overhead_kit.daemon import log_tail
from overhead_kit.pids import forget_pid, record_pid

IMAGE = "pycadbench-bb:1"
CGROUP_ROOT = "/sys/fs/cgroup"


def busybox() -> str | None:
    """A static busybox that runs in an empty rootfs (Debian busybox-static)."""
    for p in (os.environ.get("PYCAD_BUSYBOX", ""), "/bin/busybox", "/usr/bin/busybox"):
        if p and os.access(p, os.X_OK):
            return p
    return None


def missing_requirements() -> str | None:
    """Why a private engine cannot run here (None if it can)."""
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("dockerd", "ip", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (apt-get install docker.io iproute2 util-linux)"
    if _docker_cli() is None:
        return "docker CLI not installed (apt-get install docker.io)"
    if busybox() is None:
        return "busybox not installed (apt-get install busybox-static)"
    return None


def _docker_cli() -> str | None:
    # The CLI that came with the engine (docker.io) first.
    return "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")


class Engine:
    """dockerd in netns ``pycadbench-d-<tag>`` with its files in /tmp/pycadbench-d-<tag>."""

    def __init__(self, *, preexec: Callable[[], None] | None = None) -> None:
        self.tag = secrets.token_hex(3)
        self.netns = f"pycadbench-d-{self.tag}"
        self.dir = f"/tmp/pycadbench-d-{self.tag}"  # short: containerd's socket path must fit in sun_path
        self.socket = f"{self.dir}/docker.sock"
        self.endpoint = f"unix://{self.socket}"
        self._preexec = preexec
        self._proc: subprocess.Popen[bytes] | None = None
        self._netns_made = False
        self._ids: list[str] = []
        cli = _docker_cli()
        if cli is None:
            raise RuntimeError("docker CLI not installed")
        self._cli = cli

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    @property
    def ids(self) -> list[str]:
        return list(self._ids)

    def docker(self, *args: str, stdin: bytes | None = None, timeout: float = 120.0) -> str:
        env = dict(os.environ, DOCKER_CONFIG=f"{self.dir}/cli")
        env.pop("DOCKER_HOST", None)
        r = subprocess.run(
            [self._cli, "-H", self.endpoint, *args], input=stdin, capture_output=True, timeout=timeout, env=env
        )
        if r.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args[:3])}: {r.stderr.decode(errors='replace').strip()}")
        return r.stdout.decode().strip()

    def start(self, timeout: float = 60.0) -> None:
        os.makedirs(f"{self.dir}/cli", exist_ok=True)
        subprocess.run(["ip", "netns", "add", self.netns], check=True, capture_output=True)
        self._netns_made = True
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True, capture_output=True)
        argv = [
            "nsenter",
            f"--net=/run/netns/{self.netns}",  # without --fork nsenter execs dockerd: same PID
            "dockerd",
            "--data-root",
            f"{self.dir}/root",
            "--exec-root",
            f"{self.dir}/exec",
            "-H",
            self.endpoint,
            "--pidfile",
            f"{self.dir}/dockerd.pid",
            "--storage-driver=vfs",
            "--iptables=false",
            "--ip-masq=false",
            "--bridge=none",
            "--shutdown-timeout=2",
        ]
        with open(f"{self.dir}/dockerd.log", "ab") as log:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=self._preexec,
                start_new_session=True,
            )
        record_pid(self._proc.pid, "dockerd (pycadvisor bench)")
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.docker("version", timeout=5)
                break
            except (RuntimeError, subprocess.TimeoutExpired):
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"dockerd did not start:\n{log_tail(self.dir + '/dockerd.log')}") from None
                time.sleep(0.2)
        self._import_image()

    def _import_image(self) -> None:
        bb = busybox()
        assert bb is not None
        applets = subprocess.run([bb, "--list"], capture_output=True, text=True, check=True).stdout.split()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for d in ("bin", "tmp", "proc", "sys", "dev", "etc"):
                info = tarfile.TarInfo(d)
                info.type = tarfile.DIRTYPE
                info.mode = 0o1777 if d == "tmp" else 0o755
                tar.addfile(info)
            tar.add(bb, arcname="bin/busybox")
            for a in applets:
                if a != "busybox":
                    info = tarfile.TarInfo(f"bin/{a}")
                    info.type = tarfile.SYMTYPE
                    info.linkname = "busybox"
                    tar.addfile(info)
        self.docker("import", "-", IMAGE, stdin=buf.getvalue())

    def run_sleepers(self, n: int) -> list[str]:
        """``n`` busybox containers running ``sleep``, without network; returns their full ids."""
        for i in range(n):
            cid = self.docker(
                "run",
                "-d",
                "--pull=never",
                "--network",
                "none",
                "--name",
                f"pycadbench-{self.tag}-{i}",
                IMAGE,
                "sleep",
                "86400",
            )
            self._ids.append(cid)
        return self.ids

    def engine_pids(self, table: dict[int, procfs.ProcStat]) -> list[int]:
        """dockerd, its containerd and this engine's shims, without the containers' processes."""
        if self._proc is None:
            return []
        shims = {
            pid
            for pid, st in table.items()
            if st.comm.startswith("containerd-shim") and any(self.dir in a for a in procfs.read_cmdline(pid))
        }
        workloads: set[int] = set()
        for s in shims:
            workloads.update(p for p in procfs.descendants(s, table) if p != s)
        tree = set(procfs.descendants(self._proc.pid, table)) | shims
        return sorted(tree - workloads)

    def cleanup(self) -> None:
        """Remove containers, stop dockerd by PID, kill leftovers, unmount, drop cgroups, netns and files."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(Exception):
                ids = self.docker("ps", "-aq", "--no-trunc", timeout=30).split()
                self._ids.extend(i for i in ids if i not in self._ids)
                if ids:
                    self.docker("rm", "-f", *ids, timeout=120)
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        if self._proc is not None:
            forget_pid(self._proc.pid)
            self._proc = None
        self._kill_leftovers()
        self._unmount_all()
        self._remove_cgroups()
        if self._netns_made:
            subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
            self._netns_made = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def _kill_leftovers(self) -> None:
        pids: set[int] = set()
        if self._netns_made:
            r = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True, text=True)
            pids.update(int(p) for p in r.stdout.split() if p.isdigit())
        for cid in self._ids:
            for ctrl in ("pids", "memory", "cpu"):
                with contextlib.suppress(OSError), open(f"{CGROUP_ROOT}/{ctrl}/docker/{cid}/cgroup.procs") as f:
                    pids.update(int(p) for p in f.read().split())
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pids and time.monotonic() < deadline:
            pids = {p for p in pids if os.path.exists(f"/proc/{p}")}
            time.sleep(0.05)

    def _unmount_all(self) -> None:
        with open("/proc/self/mountinfo") as f:
            mounts = [mp for line in f if (mp := line.split()[4]) == self.dir or mp.startswith(self.dir + "/")]
        for mp in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)

    def _remove_cgroups(self) -> None:
        if not os.path.isdir(CGROUP_ROOT):
            return
        for ctrl in os.listdir(CGROUP_ROOT):
            for cid in self._ids:
                path = f"{CGROUP_ROOT}/{ctrl}/docker/{cid}"
                for _ in range(50):
                    try:
                        os.rmdir(path)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:  # EBUSY while the last task exits
                        time.sleep(0.1)
