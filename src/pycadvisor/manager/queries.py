"""Queries the API asks of the manager: a container by name or alias, its children and descendants, its
v1 ``ContainerInfo``, and on-demand housekeeping (cAdvisor ``manager/manager.go``: ``GetContainerInfo``,
``SubcontainersInfo``, ``GetContainerInfoV2``)."""

from __future__ import annotations

from collections.abc import Iterable

from pycadvisor.errors import ContainerNotFound
from pycadvisor.manager.container import ContainerState
from pycadvisor.manager.state import ManagerState
from pycadvisor.model.container import ContainerInfo, ContainerReference


class Queries(ManagerState):
    """get, subcontainers, children, find_alias, info, ensure_fresh."""

    def get(self, name: str) -> ContainerState:
        st = self.containers.get(name)
        if st is None:
            raise ContainerNotFound(name)
        return st

    def subcontainers(self, name: str) -> list[ContainerState]:
        """The container itself and all descendants (cAdvisor ``/subcontainers``)."""
        if name == "/":
            return list(self.containers.values())
        prefix = name.rstrip("/") + "/"
        return [st for n, st in self.containers.items() if n == name or n.startswith(prefix)]

    def children(self, name: str) -> list[ContainerReference]:
        """Direct children, sorted by name (an index kept on add/remove: no scan of every container)."""
        kids = self._kids.get(name, ())
        return [self.containers[n].reference() for n in sorted(kids) if n in self.containers]

    def in_namespace(self, namespace: str) -> list[ContainerState]:
        return [st for st in self.containers.values() if st.namespace == namespace]

    def find_alias(self, namespace: str, alias: str) -> ContainerState:
        """Resolve a runtime name, id or unique id prefix, as cAdvisor's ``/api/v1.2/docker/<alias>`` does."""
        candidates = self.in_namespace(namespace)
        for st in candidates:
            if alias in st.aliases or st.id == alias:
                return st
        prefixed = [st for st in candidates if any(a.startswith(alias) for a in st.aliases)] if alias else []
        if len(prefixed) == 1:
            return prefixed[0]
        if len(prefixed) > 1:
            raise ValueError(f'{namespace} container "{alias}" is not unique')
        raise ContainerNotFound(alias)

    async def ensure_fresh(self, states: Iterable[ContainerState], max_age_ns: int | None) -> None:
        """On-demand housekeeping: sample now any container whose last sample is older than ``max_age_ns``."""
        if max_age_ns is None:
            return
        now = self.clock.now_ns()
        for st in states:
            if now - st.last_sample_ns > max_age_ns and self.containers.get(st.name) is st:
                self.collect(st)

    def info(self, st: ContainerState, *, count: int = 60, start_ns: int = 0, end_ns: int = 0) -> ContainerInfo:
        """The v1 ``ContainerInfo`` of a container with its newest ``count`` samples in the window."""
        return ContainerInfo(
            id=st.id,
            name=st.name,
            aliases=list(st.aliases),
            namespace=st.namespace,
            subcontainers=self.children(st.name),
            spec=st.spec,
            stats=st.history.window(start_ns=start_ns, end_ns=end_ns, count=count),
        )
