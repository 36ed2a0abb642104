"""``/validate/``: a plain-text self-check of the host, as cAdvisor's ``validate`` page gives (§1.1)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pycadvisor.host.paths import read_text

if TYPE_CHECKING:
    from pycadvisor.api.rest import ApiContext


def _read(path: str) -> str:
    try:
        return read_text(path).strip()
    except OSError as e:
        return f"unreadable ({e.strerror})"


async def validate_text(ctx: ApiContext) -> str:
    m = ctx.manager
    p = m.paths
    mounts = m.mounts
    lines = [f"pycadvisor version: {ctx.cadvisor_version}", ""]
    lines.append(f"Kernel version: {_read(os.path.join(p.proc, 'sys/kernel/osrelease'))}")
    lines.append("")
    lines.append("Cgroup setup:")
    if mounts is not None:
        lines.append(f"\tmode: {mounts.mode}")
        for ctrl, mp in sorted(mounts.v1.items()):
            lines.append(f"\tv1 {ctrl}: {mp}")
        if mounts.v2:
            lines.append(f"\tv2 (unified): {mounts.v2}")
    lines.append("")
    lines.append("/proc/cgroups:")
    lines.extend("\t" + ln for ln in _read(os.path.join(p.proc, "cgroups")).splitlines())
    lines.append("")
    lines.append(f"Containers tracked: {len(m.containers)}")
    watch = m._watcher
    lines.append(f"Inotify watches: {watch.watch_count if watch else 'off (periodic rescans only)'}")
    lines.append(f"Inotify max_user_watches: {_read(os.path.join(p.proc, 'sys/fs/inotify/max_user_watches'))}")
    lines.append("")
    lines.append("Block devices and IO schedulers:")
    try:
        for dev in sorted(os.listdir(os.path.join(p.sys, "block"))):
            sched = _read(os.path.join(p.sys, "block", dev, "queue", "scheduler"))
            lines.append(f"\t{dev}: {sched}")
    except OSError:
        lines.append("\tunavailable")
    lines.append("")
    docker = next((f for f in m.factories if f.name == "docker"), None)
    if docker is not None:
        try:
            info = await docker.info()  # type: ignore[attr-defined]
        except Exception as e:
            info, err = None, str(e)
        else:
            err = "the engine did not answer"
        if info is None:
            lines.append("Docker driver setup: [Unsupported]")
            lines.append(f"\tDocker setup is invalid: {err}")
        else:
            lines.append(f"Docker version: {info.server_version} (API {info.api_version})")
            lines.append("Docker driver setup: [Recommended]")
            lines.append(f"\tStorage driver is {info.driver}.")
        lines.append("")
    lines.append("Runtimes:")
    for f in m.factories:
        down = m._runtime_down.get(f.name)
        lines.append(f"\t{f.name}: {'not answering' if down else 'ok'}")
    if not m.factories:
        lines.append("\tnone configured (raw cgroups only)")
    return "\n".join(lines) + "\n"
