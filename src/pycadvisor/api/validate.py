"""``/validate/``: a plain-text self-check of the host, as cAdvisor's ``validate`` page (``validate/validate.go``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pycadvisor.api.rest import ApiContext


async def validate_text(ctx: ApiContext) -> str:
    m = ctx.manager
    facts = ctx.host.validate_facts()
    mounts = m.mounts
    lines = [f"pycadvisor version: {ctx.cadvisor_version}", ""]
    lines.append(f"Kernel version: {facts.kernel_release}")
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
    lines.extend("\t" + ln for ln in facts.proc_cgroups.splitlines())
    lines.append("")
    lines.append(f"Containers tracked: {len(m.containers)}")
    watches = m.inotify_watches
    lines.append(f"Inotify watches: {watches if watches is not None else 'off (periodic rescans only)'}")
    lines.append(f"Inotify max_user_watches: {facts.inotify_max_user_watches}")
    lines.append("")
    lines.append("Block devices and IO schedulers:")
    if facts.io_schedulers is None:
        lines.append("\tunavailable")
    for dev, sched in facts.io_schedulers or ():
        lines.append(f"\t{dev}: {sched}")
    lines.append("")
    docker = next((f for f in m.factories if f.name == "docker"), None)
    if docker is not None:
        ask = getattr(docker, "info", None)  # none while its socket is absent (container/deferred.py)
        try:
            info = await ask() if ask is not None else None
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
        lines.append(f"\t{f.name}: {'ok' if m.runtime_answering(f.name) else 'not answering'}")
    if not m.factories:
        lines.append("\tnone configured (raw cgroups only)")
    return "\n".join(lines) + "\n"
