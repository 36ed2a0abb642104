"""Event names to ``perf_event_attr`` ``(type, config)``, as libpfm4's ``perf_events`` PMU and perf(1) spell them.

cAdvisor resolves names through libpfm4 (perf/collector_libpfm.go ``pfm_get_os_event_encoding``), which is not
available here; the generic events have fixed encodings in the kernel's ABI, include/uapi/linux/perf_event.h
(``perf_type_id``, ``perf_hw_id``, ``perf_sw_ids``, ``perf_hw_cache_id``/``_op_id``/``_op_result_id``), and those
are what this table maps. Model-specific names (``instructions_retired``, ``UNC_M_CAS_COUNT:RD``) take a
``custom_events`` entry with their raw ``type``/``config``, as cAdvisor's own examples do.
"""

from __future__ import annotations

# include/uapi/linux/perf_event.h: enum perf_type_id
TYPE_HARDWARE, TYPE_SOFTWARE, TYPE_TRACEPOINT, TYPE_HW_CACHE, TYPE_RAW = 0, 1, 2, 3, 4

# enum perf_hw_id, with perf(1)'s aliases (tools/perf/util/parse-events.c event_symbols_hw)
_HARDWARE = {
    "cpu-cycles": 0, "cycles": 0,
    "instructions": 1,
    "cache-references": 2,
    "cache-misses": 3,
    "branch-instructions": 4, "branches": 4,
    "branch-misses": 5,
    "bus-cycles": 6,
    "stalled-cycles-frontend": 7, "idle-cycles-frontend": 7,
    "stalled-cycles-backend": 8, "idle-cycles-backend": 8,
    "ref-cycles": 9,
}  # fmt: skip

# enum perf_sw_ids, with perf(1)'s aliases (tools/perf/util/parse-events.c event_symbols_sw)
_SOFTWARE = {
    "cpu-clock": 0,
    "task-clock": 1,
    "page-faults": 2, "faults": 2,
    "context-switches": 3, "cs": 3,
    "cpu-migrations": 4, "migrations": 4,
    "minor-faults": 5,
    "major-faults": 6,
    "alignment-faults": 7,
    "emulation-faults": 8,
    "dummy": 9,
    "bpf-output": 10,
    "cgroup-switches": 11,
}  # fmt: skip

# enum perf_hw_cache_id / perf_hw_cache_op_id / perf_hw_cache_op_result_id; names as perf(1) lists them
# (tools/perf/util/evsel.c evsel__hw_cache, evsel__hw_cache_op, evsel__hw_cache_result).
_CACHES = ("L1-dcache", "L1-icache", "LLC", "dTLB", "iTLB", "branch", "node")
_OPS = (("load", "loads"), ("store", "stores"), ("prefetch", "prefetches"))


def _cache_events() -> dict[str, int]:
    out: dict[str, int] = {}
    for cache_id, cache in enumerate(_CACHES):
        for op_id, (op, ops) in enumerate(_OPS):
            out[f"{cache}-{ops}"] = cache_id | op_id << 8  # result 0: access
            out[f"{cache}-{op}-misses"] = cache_id | op_id << 8 | 1 << 16  # result 1: miss
    return out


_TABLE: dict[str, tuple[int, int]] = {
    **{k: (TYPE_HARDWARE, v) for k, v in _HARDWARE.items()},
    **{k: (TYPE_SOFTWARE, v) for k, v in _SOFTWARE.items()},
    **{k.lower(): (TYPE_HW_CACHE, v) for k, v in _cache_events().items()},
}


def lookup(name: str) -> tuple[int, int] | None:
    """``(type, config)`` of a generic event name; case-insensitive, libpfm4's ``perf::`` prefix allowed."""
    key = name.strip().lower()
    key = key.removeprefix("perf::")
    return _TABLE.get(key)


def known_names() -> list[str]:
    """Every name :func:`lookup` resolves (lower case), for error messages and the README."""
    return sorted(_TABLE)
