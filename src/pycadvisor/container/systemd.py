"""systemd units (cAdvisor ``container/systemd``): ``.mount`` cgroups are claimed and ignored.

Mount units come and go with every mount and carry no workload; cAdvisor's systemd factory
handles them without accepting them so that they never become containers. Slices, services
and scopes stay raw containers named by their cgroup path (``/system.slice/ssh.service``).
"""

from __future__ import annotations

from pycadvisor.container.base import ContainerMetadata, RuntimeOptions


class SystemdFactory:
    name = "systemd"

    @classmethod
    def from_options(cls, opts: RuntimeOptions) -> SystemdFactory:
        return cls()

    def can_handle_and_accept(self, cgroup_name: str) -> tuple[bool, bool]:
        if cgroup_name.endswith(".mount"):
            return True, False
        return False, False

    async def describe(self, cgroup_name: str) -> ContainerMetadata | None:
        return None

    async def close(self) -> None:
        return None
