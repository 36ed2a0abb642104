"""The image's figures (issue 17): its size, the time from ``docker run`` to the first ``/healthz``, and the
daemon's CPU and RSS inside its container while the host runs N more containers.

Runs the image with its ``LABEL RUN`` line (deploy/Dockerfile) against the engine at ``--docker-host`` (build
it first with deploy/image/build.sh), starts N busybox containers (``--busybox-image``, any image with
``sleep``), then reads the daemon's /proc/<pid>/stat and status from the host. Run as root::

    DOCKER_HOST=unix:///run/docker.sock deploy/image/build.sh pycadvisor:bench
    .venv/bin/python bench/image.py --docker-host unix:///run/docker.sock --image pycadvisor:bench \\
        --busybox-image busybox --containers 30 --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import time
import urllib.request
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[1] / "deploy" / "Dockerfile"
TICKS = os.sysconf("SC_CLK_TCK")


def docker(host: str, *args: str) -> str:
    r = subprocess.run(["docker", "-H", host, *args], capture_output=True, text=True, timeout=120, check=True)
    return r.stdout.strip()


def run_options() -> list[str]:
    """The options of deploy/Dockerfile's LABEL RUN between ``run`` and ``IMAGE``, without -d, --name, -p."""
    text = DOCKERFILE.read_text().replace("\\\n", "")
    m = re.search(r'^LABEL RUN="([^"]*)"', text, re.M)
    assert m
    argv = shlex.split(m.group(1))
    argv = argv[argv.index("run") + 1 : argv.index("IMAGE")]
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--name", "-p"):
            skip = True
        elif a != "-d":
            out.append(a)
    return out


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (proc(5), fields 14 and 15)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        body: bytes = r.read()
        return body


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docker-host", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--busybox-image", required=True)
    ap.add_argument("--containers", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=30.0)
    ap.add_argument("--docker-root", default="/var/lib/docker", help="the engine's data root, mounted there")
    ap.add_argument("--flags", default="", help="extra pycadvisor flags, e.g. -docker=unix:///rootfs/tmp/d.sock")
    a = ap.parse_args()
    h = a.docker_host
    size = int(docker(h, "image", "inspect", "-f", "{{.Size}}", a.image))
    started = time.monotonic()
    opts = [o.replace("/var/lib/docker/:", f"{a.docker_root}:", 1) for o in run_options()]
    cid = docker(h, "run", "-d", "--pull=never", *opts, a.image, *shlex.split(a.flags))
    boxes: list[str] = []
    try:
        ip = docker(h, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", cid)
        base = f"http://{ip}:8080"
        while True:
            try:
                if get(base + "/healthz") == b"ok":
                    break
            except OSError:
                time.sleep(0.05)
        healthz_s = time.monotonic() - started
        pid = int(docker(h, "inspect", "-f", "{{.State.Pid}}", cid))
        for _ in range(a.containers):
            boxes.append(docker(h, "run", "-d", "--pull=never", a.busybox_image, "sleep", "3600"))
        time.sleep(a.warmup)
        seen = len(json.loads(get(base + "/api/v1.3/docker/")))
        t0, c0 = time.monotonic(), cpu_ticks(pid)
        time.sleep(a.seconds)
        cpu = (cpu_ticks(pid) - c0) / TICKS / (time.monotonic() - t0) * 100
        print(json.dumps({
            "image": a.image, "image_size_mb": round(size / 1e6, 1), "first_healthz_s": round(healthz_s, 2),
            "host_containers": a.containers, "docker_containers_seen": seen, "flags": a.flags,
            "cpu_percent_of_a_core": round(cpu, 2), "rss_mib": round(rss_kib(pid) / 1024, 1),
        }))  # fmt: skip
    finally:
        for c in [*boxes, cid]:
            subprocess.run(["docker", "-H", h, "rm", "-f", c], capture_output=True, timeout=60)


if __name__ == "__main__":
    main()
