"""The manager's record of one container: identity, spec, collector, history, schedule."""

from __future__ import annotations

import logging
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pycadvisor.cache import SampleHistory
from pycadvisor.container.base import ContainerMetadata
from pycadvisor.container.hints import ContainerHint
from pycadvisor.host.cgroups.collector import CgroupCollector
from pycadvisor.manager.summary import SummaryTracker
from pycadvisor.model.container import ContainerReference, ContainerSpec

if TYPE_CHECKING:
    from pycadvisor.manager.state import ContainerAddon

log = logging.getLogger("pycadvisor.manager.manager")


@dataclass(slots=True, eq=False)
class ContainerState:
    name: str
    collector: CgroupCollector
    spec: ContainerSpec
    history: SampleHistory
    summary: SummaryTracker = field(default_factory=SummaryTracker)
    metadata: ContainerMetadata | None = None
    handled_by: str = ""  # the runtime factory that claims this cgroup ("" = raw)
    interval_ns: int = 0
    due_ns: int = 0  # monotonic time of its next housekeeping; 0 when not scheduled
    last_error_log_ns: dict[str, int] = field(default_factory=dict)
    scrape_errors: int = 0  # consecutive samples with a failed family
    last_sample_ns: int = 0
    settling: int = 0  # samples left before which missing controller directories are looked for again
    hint: ContainerHint | None = None  # -container_hints entry of its name: used while it is raw (no metadata)
    addons: list[tuple[str, ContainerAddon]] = field(default_factory=list)  # (family, collector): perf, resctrl

    # The application metrics last added to a sample, and their encoding (reused while they are the same object).
    app_encoded: tuple[object, tuple[Any, ...], array[int]] | None = None

    def close_addons(self) -> None:
        for family, addon in self.addons:
            try:
                addon.close()
            except Exception as e:  # a monitoring group that cannot be removed must not stop the removal
                log.warning("container %s: closing its %s collector failed: %s", self.name, family, e)
        self.addons = []

    @property
    def namespace(self) -> str:
        return self.metadata.namespace if self.metadata else ""

    @property
    def id(self) -> str:
        return self.metadata.id if self.metadata else ""

    @property
    def aliases(self) -> list[str]:
        return self.metadata.aliases if self.metadata else []

    def reference(self) -> ContainerReference:
        return ContainerReference(id=self.id, name=self.name, aliases=list(self.aliases), namespace=self.namespace)
