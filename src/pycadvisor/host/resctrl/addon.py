"""The resctrl collector as the daemon starts it (cAdvisor ``resctrl/intel/manager.go`` ``NewManager``).

The daemon imports this module by name only when the ``resctrl`` metric set is enabled (``app.py``
``ADDONS``), so a daemon without it carries none of ``host/resctrl``.
"""

from __future__ import annotations

import logging

from pycadvisor.host.paths import HostPaths
from pycadvisor.host.resctrl.collector import ResctrlManager
from pycadvisor.host.resctrl.tree import LLC_OCCUPANCY, MBM_LOCAL, MBM_TOTAL, find_root, read_mon_features

log = logging.getLogger(__name__)


def resctrl_addon(paths: HostPaths, *, docker_only: bool, interval_ns: int) -> ResctrlManager | None:
    """A monitoring group per container, or None (logged) without a mounted tree with monitoring features."""
    root = find_root(paths)
    features = read_mon_features(root) if root is not None else frozenset()
    if root is None or not features & {LLC_OCCUPANCY, MBM_TOTAL, MBM_LOCAL}:
        # resctrl/intel/manager.go NewManager: "there are no monitoring features available".
        log.warning(
            "resctrl metrics will not be collected: %s",
            "resctrl is not mounted (mount -t resctrl resctrl /sys/fs/resctrl)"
            if root is None
            else f"{root}/info/L3_MON/mon_features lists no monitoring feature",
        )
        return None
    if not docker_only:  # as cAdvisor: every raw cgroup would take one of the few RMIDs
        log.warning("--docker_only should be set when collecting Resctrl metrics! See the runtime docs.")
    return ResctrlManager(root, paths, features=features, interval_ns=interval_ns)
