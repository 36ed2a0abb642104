"""The flat ``key → uint`` view of a sample written by the stdout and statsd drivers.

Keys and their order follow ``cmd/internal/storage/stdout/stdout.go`` (cAdvisor HEAD): ``containerStatsToValues``,
then filesystem, memory, hugetlb, perf, resctrl. Go iterates the map in random order, so any order is
compatible; ours is the code's order. The statsd driver (``statsd/statsd.go``) uses the same keys
without ``timestamp`` and with ``cpu_load_average`` for the load.
"""

from __future__ import annotations

from pycadvisor.model.container import ContainerStats

_U64 = (1 << 64) - 1


def _uint(v: object) -> int:
    """Go's ``uint64(x)`` of an integer stat (a negative load average wraps, as in Go)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return 0
    return int(v) & _U64


def stats_series(stats: ContainerStats, *, timestamp_ns: int | None, load_key: str) -> dict[str, int]:
    """Return the sample's series; ``timestamp`` is included (first) when ``timestamp_ns`` is given."""
    series: dict[str, int] = {}
    if timestamp_ns is not None:
        series["timestamp"] = timestamp_ns
    cpu = stats.cpu
    if cpu is not None:
        usage = cpu.usage
        series["cpu_usage_total"] = usage.total
        series["cpu_cumulative_usage"] = usage.total  # "to be deprecated in 0.39" (cadvisor#2637), still sent
        series["cpu_usage_system"] = usage.system
        series["cpu_usage_user"] = usage.user
        for i, v in enumerate(usage.per_cpu_usage):
            series[f"cpu_usage_per_cpu.{i}"] = v
        series[load_key] = _uint(cpu.load_average)
    net = stats.network
    if net is not None:
        series["rx_bytes"] = net.rx_bytes
        series["rx_errors"] = net.rx_errors
        series["tx_bytes"] = net.tx_bytes
        series["tx_errors"] = net.tx_errors
    series["referenced_memory"] = stats.referenced_memory
    if stats.filesystem:
        limit_sum = usage_sum = 0
        for fs in stats.filesystem:
            limit_sum += fs.capacity
            usage_sum += fs.usage
            series[fs.device + ".fs_limit"] = fs.capacity  # FsStats.Limit is JSON "capacity"
            series[fs.device + ".fs_usage"] = fs.usage
        series["fs_summary.fs_limit"] = limit_sum & _U64
        series["fs_summary.fs_usage"] = usage_sum & _U64
    mem = stats.memory
    if mem is not None:
        series["memory_usage"] = mem.usage
        series["memory_max_usage"] = mem.max_usage
        series["memory_cache"] = mem.cache
        series["memory_rss"] = mem.rss
        series["memory_swap"] = mem.swap
        series["memory_mapped_file"] = mem.mapped_file
        series["memory_working_set"] = mem.working_set
        series["memory_total_active_file"] = mem.total_active_file
        series["memory_total_inactive_file"] = mem.total_inactive_file
        series["memory_failcnt"] = mem.failcnt
        series["memory_failure.container.pgfault"] = mem.container_data.pgfault
        series["memory_failure.container.pgmajfault"] = mem.container_data.pgmajfault
        series["memory_failure.hierarchical.pgfault"] = mem.hierarchical_data.pgfault
        series["memory_failure.hierarchical.pgmajfault"] = mem.hierarchical_data.pgmajfault
    if stats.hugetlb:
        for page_size, h in stats.hugetlb.items():
            series["hugetlb_usage." + page_size] = h.usage
            series["hugetlb_max_usage." + page_size] = h.max_usage
            series["hugetlb_failcnt." + page_size] = h.failcnt
    if stats.perf_stats:
        for p in stats.perf_stats:
            series[f"perf_stat.{p.name}.{p.cpu}"] = _uint(p.value)
    for node, bw in enumerate(stats.resctrl.memory_bandwidth):
        series[f"resctrl_memory_bandwidth_total.{node}"] = _uint(bw.mbm_total_bytes)
        series[f"resctrl_memory_bandwidth_local.{node}"] = _uint(bw.mbm_local_bytes)
    for node, cache in enumerate(stats.resctrl.cache):
        series[f"resctrl_llc_occupancy.{node}"] = _uint(cache.llc_occupancy)
    return series
