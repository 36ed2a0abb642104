"""``/metrics/cadvisor`` carries what the kubelet's does, and nothing of the exporter itself.

The kubelet registers only cAdvisor's machine collector and container collector on that path's registry
(kubernetes ``pkg/kubelet/server/server.go`` ``InstallAuthNotRequiredHandlers``); its own process and Go
runtime families are on its ``/metrics``. A real daemon, with a storage driver (whose counters are extra
families of ``/metrics``) and application metrics on (the kubelet's sets include ``app``).
"""

from __future__ import annotations

from collections.abc import Callable

from conftest import Daemon
from support.procs import wait_until

EXPORTER_PREFIXES = ("process_", "python_", "pycadvisor_")
COLLECTOR_FAMILIES = {"cadvisor_version_info", "container_scrape_error", "machine_scrape_error", "machine_cpu_cores"}


def _families(d: Daemon, path: str) -> set[str]:
    status, body = d.get(path)
    assert status == 200, (path, status, body[:200])
    return {line.split()[2] for line in body.decode().splitlines() if line.startswith("# TYPE ")}


def test_metrics_cadvisor_has_the_collectors_families_only(pycadvisor_daemon_factory: Callable[..., Daemon]) -> None:
    d = pycadvisor_daemon_factory("-kubelet_compatible", "-storage_driver=stdout", "-docker_only=true")
    sampled = COLLECTOR_FAMILIES | {"container_cpu_usage_seconds_total", "container_memory_working_set_bytes"}

    def sampled_families() -> set[str] | None:
        fams = _families(d, "/metrics/cadvisor")
        return fams if fams >= sampled else None

    kubelet = wait_until(
        sampled_families,
        timeout=30,
        what="the root cgroup's first sample on /metrics/cadvisor",
        proc=d.process,
    )
    own = _families(d, "/metrics")
    assert not {f for f in kubelet if f.startswith(EXPORTER_PREFIXES)}
    # /metrics keeps the exporter's own families beside the same cAdvisor families (a container found between
    # the two scrapes may add some to the second).
    for prefix in ("process_", "python_", "pycadvisor_exposition_series", "pycadvisor_storage_"):
        assert any(f.startswith(prefix) for f in own), prefix
    assert kubelet <= own
