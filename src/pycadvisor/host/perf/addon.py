"""The perf collector as the daemon starts it: built from ``-perf_events_config`` and checked once.

The daemon imports this module by name only when ``-perf_events_config`` is given (``app.py`` ``ADDONS``), so
a daemon without perf events carries none of ``host/perf`` (about 0.2 MiB of RSS).
"""

from __future__ import annotations

from pycadvisor.host.paths import HostPaths
from pycadvisor.host.perf.collector import PerfManager
from pycadvisor.host.perf.config import PerfConfigError, load_config


def perf_addon(config_path: str, paths: HostPaths) -> PerfManager:
    """The collector of the events the file names, each opened once (``PerfManager.check``)."""
    perf = PerfManager(load_config(config_path), paths)
    perf.check()
    return perf


def config_problem(config_path: str, paths: HostPaths) -> str | None:
    """What makes the file unusable here (the place in the file, or why perf_event_open fails); None if usable.

    cAdvisor perf/manager_libpfm.go NewManager: the file is read and checked at start, whatever the sets; here
    each event is also opened once, so one this host cannot count is named before the daemon serves.
    """
    try:
        PerfManager(load_config(config_path), paths).check()
    except PerfConfigError as e:
        return e.where
    except OSError as e:  # no perf_event_open here at all
        return str(e)
    return None
