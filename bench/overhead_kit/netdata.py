"""Netdata (Debian's ``netdata`` 1.37) as the baseline peer: 127.0.0.1 only, 1 s, cgroups plugin only.

The profile (the netdata.conf written below): a private config, cache, lib and log directory; health,
registry, ML, statsd, telemetry and cloud off; every plugin off but ``cgroups`` (``proc`` too
when asked); ``update every = 1``; dbengine as stock. On a v1/hybrid host ``use unified cgroups =
no`` is required: ``auto`` picks the cgroup2 tree, which holds only docker here, and then sees
none of the v1-only cgroups. Netdata forks ``cgroup-name.sh`` for each new cgroup, so it is only
measured once it has charts for every benchmark cgroup. Stopped by PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable

from overhead_kit import httpprobe, procfs
from overhead_kit.daemon import log_tail
from overhead_kit.pids import forget_pid, record_pid

# Plugins of netdata 1.37's [plugins] section (netdata.conf as served by a running 1.37.1).
_PLUGINS = (
    "proc",
    "diskspace",
    "cgroups",
    "tc",
    "idlejitter",
    "timex",
    "statsd",
    "apps",
    "checks",
    "netdata monitoring",
    "slabinfo",
    "fping",
    "ioping",
    "perf",
    "cups",
    "charts.d",
    "nfacct",
    "python.d",
    "go.d",
    "ebpf",
    "freeipmi",
)


def find_binary() -> str | None:
    """``$PYCAD_NETDATA``, then ``netdata`` on PATH, then Debian's /usr/sbin/netdata."""
    env = os.environ.get("PYCAD_NETDATA")
    if env and os.access(env, os.X_OK):
        return env
    found = shutil.which("netdata")
    if found:
        return found
    return "/usr/sbin/netdata" if os.access("/usr/sbin/netdata", os.X_OK) else None


def install() -> str | None:
    """``apt-get install -y netdata`` (its maintainer scripts do not start a service where policy-rc.d says no)."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "netdata"],
    ):
        r = subprocess.run(argv, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"netdata: {' '.join(argv)} failed: {r.stderr.strip()[-300:]}")
            return None
    return find_binary()


def config_text(
    workdir: str, port: int, *, plugins: tuple[str, ...], max_cgroups: int, unified: bool, update_every: int = 1
) -> str:
    """A complete private netdata.conf for the benchmark."""
    on = set(plugins)
    lines = [
        "[global]",
        "  run as user = root",
        "  hostname = pycadbench",
        "[db]",
        f"  update every = {update_every}",
        "  mode = dbengine",
        "[directories]",
        f"  config = {workdir}/etc",
        "  stock config = /usr/lib/netdata/conf.d",
        f"  cache = {workdir}/cache",
        f"  lib = {workdir}/lib",
        f"  log = {workdir}/log",
        f"  lock = {workdir}/lock",
        f"  home = {workdir}",
        "  plugins = /usr/lib/netdata/plugins.d",
        "[logs]",
        "  access = none",
        "  debug = none",
        f"  error = {workdir}/log/error.log",
        f"  health = {workdir}/log/health.log",
        "[web]",
        f"  bind to = 127.0.0.1:{port}",
        "[health]",
        "  enabled = no",
        "[registry]",
        "  enabled = no",
        "[ml]",
        "  enabled = no",
        "[statsd]",
        "  enabled = no",
        "[plugins]",
        "  enable running new plugins = no",
        *(f"  {p} = {'yes' if p in on else 'no'}" for p in _PLUGINS),
        "[plugin:cgroups]",
        f"  update every = {update_every}",
        f"  use unified cgroups = {'yes' if unified else 'no'}",
        f"  max cgroups to allow = {max_cgroups}",
    ]
    return "\n".join(lines) + "\n"


class Netdata:
    """A private netdata on 127.0.0.1:<port>; use start(), wait_for(), stop()."""

    def __init__(
        self,
        binary: str,
        workdir: str,
        port: int,
        *,
        plugins: tuple[str, ...] = ("cgroups",),
        max_cgroups: int = 2000,
        unified: bool = False,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = port
        self.plugins = plugins
        self.label = "netdata"
        self._preexec = preexec
        self._proc: subprocess.Popen[bytes] | None = None
        self.log_path = f"{workdir}/stdout.log"
        for d in ("etc", "cache", "lib/cloud.d", "log", "lock"):
            os.makedirs(f"{workdir}/{d}", exist_ok=True)
        with open(f"{workdir}/etc/netdata.conf", "w") as f:
            f.write(config_text(workdir, port, plugins=plugins, max_cgroups=max_cgroups, unified=unified))
        # Telemetry and cloud off (netdata's anonymous-statistics.sh and ACLK look for these).
        open(f"{workdir}/etc/.opt-out-from-anonymous-statistics", "w").close()
        with open(f"{workdir}/lib/cloud.d/cloud.conf", "w") as f:
            f.write("[global]\n  enabled = no\n")

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        env = dict(os.environ, DO_NOT_TRACK="1", DISABLE_TELEMETRY="1")
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [self.binary, "-D", "-c", f"{self.workdir}/etc/netdata.conf", "-P", f"{self.workdir}/netdata.pid"],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=self._preexec,
                start_new_session=True,
            )
        record_pid(self._proc.pid, "netdata (pycadvisor bench)")

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not httpprobe.ok(self.port, "/api/v1/info"):
            if not self.alive():
                raise RuntimeError(
                    f"netdata exited:\n{log_tail(self.log_path)}{log_tail(self.workdir + '/log/error.log')}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"netdata not ready in {timeout} s")
            time.sleep(0.2)

    def cgroups_charted(self, prefix: str) -> int:
        """How many leaves ``/<prefix>/c<i>`` have charts (chart ids ``cgroup_<prefix>_c<i>.<chart>``)."""
        doc = httpprobe.get_json(self.port, "/api/v1/charts")
        want = f"cgroup_{prefix}_c"
        n = len(want)
        return len(
            {c for cid in doc.get("charts", {}) if (c := cid.split(".", 1)[0]).startswith(want) and c[n:].isdigit()}
        )

    def wait_for(self, prefix: str, n: int, timeout: float) -> int:
        """Wait until netdata charts the ``n`` leaves of the benchmark; returns how many it charts.

        Discovery runs every 10 s, and netdata charts only what is non-zero (``auto``): a leaf whose
        counters are all zero gets no chart, so a count that holds still for 30 s is accepted too.
        """
        deadline = time.monotonic() + timeout
        seen, since = -1, time.monotonic()
        while True:
            with contextlib.suppress(OSError, ValueError):
                now_seen = self.cgroups_charted(prefix)
                if now_seen != seen:
                    seen, since = now_seen, time.monotonic()
                if seen >= n or (seen > 0 and time.monotonic() - since > 30):
                    return seen
            if not self.alive():
                raise RuntimeError(f"netdata exited:\n{log_tail(self.workdir + '/log/error.log')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"netdata charts {seen} of {n} benchmark cgroups after {timeout} s")
            time.sleep(1.0)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (netdata saves its dbengine), SIGKILL after ``timeout``; its spawn server exits with it."""
        p = self._proc
        if p is None:
            return
        table = procfs.scan()
        family = [(pid, table[pid].starttime) for pid in procfs.descendants(p.pid, table) if pid != p.pid]
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        for pid, start in family:  # its spawn server and plugins, if any outlived it
            if procfs.start_time(pid) == start:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        forget_pid(p.pid)
        self._proc = None
