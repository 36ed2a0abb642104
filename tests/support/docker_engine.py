"""A private Docker engine for tests: its own dockerd in its own network namespace.

The recipe (dockerd's own flags, docs.docker.com/reference/cli/dockerd): ``ip netns add pycad-d-<rand>``, then
``nsenter --net=/run/netns/<ns> dockerd --data-root <tmp>/root --exec-root <tmp>/exec
-H unix://<tmp>/docker.sock --pidfile <tmp>/dockerd.pid --storage-driver=vfs --iptables=false``.
The namespace has no uplink, so container traffic can only reach the test's own namespaces; the
daemon runs beside any other daemon on the machine (own sockets, own managed containerd).
Container cgroups still land in ``/docker/<id>`` (cgroupfs driver): under each v1 controller's hierarchy, or
in the one cgroup2 tree on a v2 only host (scripts/test-v2's guest, where dockerd has no systemd to choose).

The image ``pycad-bb:1`` is built offline: a tar of the static busybox with one symlink per
applet, ``docker import``-ed. Every ``docker run`` passes ``--pull=never``.

Cleanup removes what this engine made and nothing else: its containers, its dockerd (by PID),
processes left in its netns (by PID, from ``ip netns pids``) or in its containers' cgroups, its
mounts, ``/sys/fs/cgroup/*/docker/<id>`` of its own container ids, the netns and the temp dir.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from dataclasses import dataclass
from typing import Any

from support.cgroups import host_layout
from support.ci import cannot_run, is_root, timeout_scale
from support.procs import ManagedProcess, wait_until

IMAGE = "pycad-bb:1"
BUSYBOX = "/bin/busybox"  # Debian busybox-static: one static binary, runs in an empty rootfs
CGROUP_ROOT = "/sys/fs/cgroup"


def missing_requirements() -> str | None:
    """Why a private engine cannot run here (None if it can)."""
    if not is_root():
        return "needs root (dockerd, network namespaces, cgroups)"
    for tool in ("dockerd", "ip", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (apt-get install docker.io iproute2 util-linux)"
    if _docker_cli() is None:
        return "docker CLI not installed (apt-get install docker.io)"
    if not os.path.exists(BUSYBOX):
        return f"{BUSYBOX} missing (apt-get install busybox-static)"
    return None


def require_engine() -> None:
    """Skip (fail under CI=true) when a private engine cannot be started here."""
    reason = missing_requirements()
    if reason is not None:
        cannot_run(reason)


def _docker_cli() -> str | None:
    # Prefer the CLI that came with the engine (docker.io), else whatever is on PATH.
    if os.path.exists("/usr/bin/docker"):
        return "/usr/bin/docker"
    return shutil.which("docker")


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("docker", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


@dataclass(frozen=True, slots=True)
class Container:
    id: str
    name: str

    @property
    def cgroup(self) -> str:
        """The container's cgroup name (cgroupfs driver)."""
        return f"/docker/{self.id}"


class DockerEngine:
    """A dockerd in its own netns (vfs storage unless told); use as a context manager or call :meth:`cleanup`."""

    def __init__(
        self,
        *,
        live_restore: bool = False,
        shutdown_timeout_s: int = 2,
        storage_driver: str = "vfs",
        data_root: str | None = None,
    ) -> None:
        self.tag = secrets.token_hex(3)
        self.netns = f"pycad-d-{self.tag}"
        self.dir = f"/tmp/pycad-d-{self.tag}"  # short: containerd's socket path must fit in sun_path
        self.socket = f"{self.dir}/docker.sock"
        self.endpoint = f"unix://{self.socket}"
        # data_root: images and layers elsewhere than the temp dir (a tmpfs /tmp holds no disk counters).
        self.data_root = data_root or f"{self.dir}/root"
        self.exec_root = f"{self.dir}/exec"
        self.log_path = f"{self.dir}/dockerd.log"
        self.live_restore = live_restore
        self.shutdown_timeout_s = shutdown_timeout_s
        # vfs copies a whole root per layer and per container: overlay2 for images of more than busybox
        # (the legacy builder makes a container for every Dockerfile instruction).
        self.storage_driver = storage_driver
        self._proc: ManagedProcess | None = None
        self._netns_made = False
        self._ids: set[str] = set()
        cli = _docker_cli()
        if cli is None:
            raise RuntimeError("docker CLI not installed")
        self._cli = cli

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> DockerEngine:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.alive()

    @property
    def cli(self) -> str:
        """The docker CLI this engine is driven with."""
        return self._cli

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 60.0) -> None:
        """Start dockerd (creating the netns and the image the first time) and wait until it answers."""
        if self.running:
            return
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(f"{self.dir}/cli", exist_ok=True)
        if not self._netns_made:
            subprocess.run(["ip", "netns", "add", self.netns], check=True, capture_output=True)
            self._netns_made = True
            subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True, capture_output=True)
        argv = [
            "nsenter",
            f"--net=/run/netns/{self.netns}",
            "dockerd",
            "--data-root",
            self.data_root,
            "--exec-root",
            self.exec_root,
            "-H",
            self.endpoint,
            "--pidfile",
            f"{self.dir}/dockerd.pid",
            f"--storage-driver={self.storage_driver}",
            "--iptables=false",
            "--ip-masq=false",
            f"--shutdown-timeout={self.shutdown_timeout_s}",
        ]
        if self.live_restore:
            argv.append("--live-restore")
        # nsenter without --fork execs dockerd: the managed PID is dockerd's own.
        self._proc = ManagedProcess(argv, what=f"dockerd {self.netns}", log_path=self.log_path)
        wait_until(self.ping, timeout=timeout, what="dockerd to answer /_ping", proc=self._proc)
        if not self._image_present():
            self._import_image()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop dockerd (SIGTERM, by PID); with ``live_restore`` its containers keep running."""
        if self._proc is None:
            return
        self._proc.stop(timeout=timeout)
        self._proc = None

    def freeze(self) -> None:
        """SIGSTOP dockerd: it keeps its socket but answers nothing (a hung engine).

        Returns once every thread of dockerd is stopped: the signal is only pending when kill() returns,
        and a thread still running may answer one more request (seen on a loaded host)."""
        assert self._proc is not None
        self._proc.signal(signal.SIGSTOP)
        pid = self._proc.pid

        def all_stopped() -> bool:
            states = []
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                    states.append(f.read().rsplit(b")", 1)[1].split()[0])
            return all(st in (b"T", b"t") for st in states)

        wait_until(all_stopped, timeout=10, what=f"dockerd {pid} stopped")

    def thaw(self) -> None:
        assert self._proc is not None
        self._proc.signal(signal.SIGCONT)

    def cleanup(self) -> None:
        """Remove everything this engine made (idempotent, best effort, errors collected then raised)."""
        errors: list[str] = []
        if self._proc is not None:
            with contextlib.suppress(Exception):
                self.thaw()
            if self.running:
                try:
                    self._remove_all_containers()
                except Exception as e:
                    errors.append(f"removing containers: {e}")
            self.stop()
        self._ids.update(self._ids_on_disk())
        self._kill_leftovers()
        self._unmount_all()
        self._remove_cgroups(errors)
        if self._netns_made:
            r = subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, text=True)
            if r.returncode != 0 and "No such file" not in r.stderr:
                errors.append(f"ip netns del {self.netns}: {r.stderr.strip()}")
            self._netns_made = False
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.data_root, ignore_errors=True)
        if errors:
            raise RuntimeError("docker engine cleanup: " + "; ".join(errors))

    # ------------------------------------------------------------ talking to it

    def ping(self) -> bool:
        try:
            return bool(self.api_get("/_ping", timeout=1.0) == "OK")
        except OSError:
            return False

    def api_get(self, path: str, *, timeout: float = 30.0) -> Any:
        """GET ``path`` on the engine's socket; JSON decoded when the answer is JSON."""
        conn = _UnixHTTPConnection(self.socket, timeout * timeout_scale())
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status >= 400:
                raise OSError(f"GET {path}: {resp.status} {body[:200]!r}")
            if resp.getheader("Content-Type", "").startswith("application/json"):
                return json.loads(body)
            return body.decode("utf-8", "replace")
        finally:
            conn.close()

    def docker(self, *args: str, timeout: float = 60.0, check: bool = True, stdin: bytes | None = None) -> str:
        """Run the docker CLI against this engine; returns stdout (stripped)."""
        env = dict(os.environ, DOCKER_CONFIG=f"{self.dir}/cli")
        env.pop("DOCKER_HOST", None)
        r = subprocess.run(
            [self._cli, "-H", self.endpoint, *args],
            input=stdin,
            capture_output=True,
            timeout=timeout * timeout_scale(),  # an emulated guest (scripts/test-v2) runs runc 30-100x slower
            env=env,
        )
        if check and r.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
        return r.stdout.decode("utf-8", "replace").strip()

    def run(self, *args: str, name: str | None = None) -> Container:
        """``docker run -d --pull=never [--name] <args…>`` (image and command included in ``args``)."""
        name = name or f"pycad-{self.tag}-{secrets.token_hex(3)}"
        cid = self.docker("run", "-d", "--pull=never", "--name", name, *args)
        self._ids.add(cid)
        return Container(id=cid, name=name)

    def run_busybox(self, *cmd: str, opts: tuple[str, ...] = (), name: str | None = None) -> Container:
        """A container of the offline busybox image running ``cmd`` (default: sleep for an hour)."""
        return self.run(*opts, IMAGE, *(cmd or ("sleep", "3600")), name=name)

    def rm(self, container: Container) -> None:
        self.docker("rm", "-f", container.id)

    def exec(self, container: Container, *cmd: str, timeout: float = 60.0) -> str:
        return self.docker("exec", container.id, *cmd, timeout=timeout)

    def inspect(self, container: Container) -> dict[str, Any]:
        doc = self.api_get(f"/containers/{container.id}/json")
        assert isinstance(doc, dict)
        return doc

    def stats(self, container: Container) -> dict[str, Any]:
        """The engine's own one-shot stats (``GET /containers/<id>/stats?stream=false``)."""
        doc = self.api_get(f"/containers/{container.id}/stats?stream=false", timeout=60.0)
        assert isinstance(doc, dict)
        return doc

    def ip_of(self, container: Container) -> str:
        networks = self.inspect(container)["NetworkSettings"]["Networks"]
        return str(next(iter(networks.values()))["IPAddress"])

    def in_netns(self, *argv: str, timeout: float = 60.0) -> str:
        """Run ``argv`` in the engine's network namespace (the bridge's host side)."""
        r = subprocess.run(["nsenter", f"--net=/run/netns/{self.netns}", *argv], capture_output=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"{argv} in {self.netns} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
        return r.stdout.decode("utf-8", "replace")

    # ------------------------------------------------------------ internals

    def _image_present(self) -> bool:
        try:
            self.api_get(f"/images/{IMAGE}/json")
        except OSError:
            return False
        return True

    def _import_image(self) -> None:
        listing = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for d in ("bin", "tmp", "proc", "sys", "dev", "etc", "srv"):
                info = tarfile.TarInfo(d)
                info.type = tarfile.DIRTYPE
                info.mode = 0o1777 if d == "tmp" else 0o755
                tar.addfile(info)
            tar.add(BUSYBOX, arcname="bin/busybox")
            for applet in listing:
                if applet == "busybox":
                    continue
                info = tarfile.TarInfo(f"bin/{applet}")
                info.type = tarfile.SYMTYPE
                info.linkname = "busybox"
                tar.addfile(info)
            page = b"x" * (256 << 10)  # a 256 KiB file httpd can serve for traffic tests
            info = tarfile.TarInfo("srv/blob")
            info.size = len(page)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(page))
        self.docker("import", "-", IMAGE, stdin=buf.getvalue(), timeout=120)

    def _remove_all_containers(self) -> None:
        # A --rm container may be removing itself meanwhile ("removal ... already in progress"):
        # rm -f is allowed to fail; what counts is that none is left.
        for _ in range(50):
            ids = self.docker("ps", "-aq", "--no-trunc", timeout=20).split()
            self._ids.update(ids)
            if not ids:
                return
            self.docker("rm", "-f", *ids, timeout=60, check=False)
            time.sleep(0.1)
        raise RuntimeError(f"containers left: {self.docker('ps', '-aq', timeout=20)}")

    def _ids_on_disk(self) -> set[str]:
        try:
            return {n for n in os.listdir(f"{self.data_root}/containers") if len(n) == 64}
        except OSError:
            return set()

    def _kill_leftovers(self) -> None:
        """SIGKILL, by PID, what this engine left: processes in its netns and in its containers' cgroups."""
        pids: set[int] = set()
        if self._netns_made:
            r = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True, text=True)
            pids.update(int(p) for p in r.stdout.split() if p.isdigit())
        for cid in self._ids:
            for path in self._cgroup_dirs(cid):
                with contextlib.suppress(OSError), open(f"{path}/cgroup.procs") as f:
                    pids.update(int(p) for p in f.read().split())
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pids and time.monotonic() < deadline:
            pids = {p for p in pids if os.path.exists(f"/proc/{p}")}
            time.sleep(0.05)

    def _unmount_all(self) -> None:
        mounts: list[str] = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4].replace("\\040", " ")
                if any(mp == d or mp.startswith(d + "/") for d in (self.dir, self.data_root)):
                    mounts.append(mp)
        for mp in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)

    @staticmethod
    def _cgroup_dirs(cid: str) -> list[str]:
        """The directories of container ``cid``'s cgroup: one per v1 hierarchy, or the one of the cgroup2 tree."""
        layout = host_layout()
        if layout is not None and layout.version == 2:
            return [f"{CGROUP_ROOT}/docker/{cid}"]
        try:
            hierarchies = os.listdir(CGROUP_ROOT)
        except OSError:
            return []
        return [f"{CGROUP_ROOT}/{h}/docker/{cid}" for h in hierarchies]

    def _remove_cgroups(self, errors: list[str]) -> None:
        for cid in self._ids:
            for path in self._cgroup_dirs(cid):
                if not os.path.isdir(path):
                    continue
                for attempt in range(50):
                    try:
                        os.rmdir(path)
                        break
                    except FileNotFoundError:
                        break
                    except OSError as e:  # EBUSY while the last task exits
                        if attempt == 49:
                            errors.append(f"rmdir {path}: {e}")
                        time.sleep(0.1)
