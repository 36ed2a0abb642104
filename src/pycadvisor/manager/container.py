"""The manager's record of one container: identity, spec, collector, history, schedule."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

from pycadvisor.cache import SampleHistory
from pycadvisor.container.base import ContainerMetadata
from pycadvisor.host.cgroups.collector import CgroupCollector
from pycadvisor.manager.summary import SummaryTracker
from pycadvisor.model.container import ContainerReference, ContainerSpec


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
    # The application metrics last added to a sample, and their encoding (reused while they are the same object).
    app_encoded: tuple[object, tuple[Any, ...], array[int]] | None = None

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
