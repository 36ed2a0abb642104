"""``--storage_driver=influxdb``: InfluxDB 1.x points (cAdvisor ``cmd/internal/storage/influxdb``).

One point per value, field ``value`` (integer), time = the sample's timestamp (ns), tags ``machine``
(hostname) and ``container_name``; measurements and their extra tags as in cAdvisor:

- ``cpu_usage_total``, ``cpu_usage_system``, ``cpu_usage_user``, ``load_average``;
  ``cpu_usage_per_cpu`` + ``instance`` (CPU index)
- ``rx_bytes``, ``rx_errors``, ``tx_bytes``, ``tx_errors``, ``referenced_memory``
- ``memory_usage``, ``memory_max_usage``, ``memory_cache``, ``memory_rss``, ``memory_swap``,
  ``memory_mapped_file``, ``memory_working_set``, ``memory_total_active_file``,
  ``memory_total_inactive_file``, ``memory_failcnt``; ``memory_failure`` + ``failure_type``
  (pgfault, pgmajfault) and ``scope`` (container, hierarchical)
- ``hugetlb_usage``, ``hugetlb_max_usage``, ``hugetlb_failcnt`` + ``page_size``
- ``perf_stat`` + ``cpu``, ``name``, ``scaling_ratio``
- ``resctrl_memory_bandwidth_total``, ``resctrl_memory_bandwidth_local``, ``resctrl_llc_occupancy``
  + ``node_id``
- ``fs_usage``, ``fs_limit`` + ``device`` and ``type`` (usage, limit)

Members the sample lacks (``cpu``, ``network``, ``memory`` not collected) give no points.
Differences from cAdvisor: its four ``memory_failure`` points share one Go map of tags, mutated between
points, so all four get ``failure_type=pgmajfault,scope=hierarchical`` and overwrite each other in
InfluxDB; here each keeps its own tags. Labels become tags named as the label (cAdvisor's code does the
same with ``Spec.Labels``, which it never had) plus ``image``, unless
``--storage_driver_include_labels=false``; a label never replaces one of the tags above. Points are
written with the ``influxdb`` client (line protocol, ns precision) from a thread of the driver's own,
database ``storage_driver_db``, retention policy ``storage_driver_influxdb_retention_policy``, https
when ``storage_driver_secure``. As in cAdvisor, points are held for ``storage_driver_buffer_duration``
(or until a batch is full) and the database is not created.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError

from pycadvisor.storage.base import Sample, container_name
from pycadvisor.storage.buffer import BufferedDriver, PartialWrite, encode_batch
from pycadvisor.storage.options import StorageOptions, split_host_port
from pycadvisor.storage.worker import BlockingWorker

TIMEOUT_S = 10
_TAG_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\n"})
_I64 = 1 << 63


def go_float(v: float) -> str:
    """Go's ``fmt.Sprintf("%v", float64)``: shortest digits, exponent form below 1e-4 or from 1e6 up."""
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if str(v).startswith("-") else "0"
    sign, digits, exponent = Decimal(repr(v)).normalize().as_tuple()
    assert isinstance(exponent, int)
    ds = "".join(map(str, digits))
    exp = len(ds) + exponent - 1  # decimal exponent of the first digit
    neg = "-" if sign else ""
    if exp < -4 or exp >= 6:  # strconv 'g' with shortest precision decides with eprec = 6
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{neg}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{neg}0.{'0' * (-exp - 1)}{ds}"
    if len(ds) <= exp + 1:
        return neg + ds + "0" * (exp + 1 - len(ds))
    return f"{neg}{ds[: exp + 1]}.{ds[exp + 1 :]}"


def _i64(v: int) -> int:
    """Go ``int64(uint64)``: values from 2^63 up wrap negative (cAdvisor ``toSignedIfUnsigned``)."""
    return v - (1 << 64) if v >= _I64 else v


def _esc(s: str) -> str:
    """Line-protocol escaping of a tag key or value (most need none: checked first, it is cheaper)."""
    if "," in s or " " in s or "=" in s or "\n" in s:
        return s.translate(_TAG_ESCAPES)
    return s


def _pairs(tags: dict[str, str]) -> list[tuple[str, str]]:
    """``(key, ",k=v")`` sorted by key (InfluxDB's advice); empty keys/values left out (not allowed)."""
    return sorted((k, f",{_esc(k)}={_esc(v)}") for k, v in tags.items() if k and v)


def sample_lines(sample: Sample, machine_name: str, *, include_labels: bool) -> list[str]:
    """The line-protocol points of one sample."""
    stats = sample.stats
    common: dict[str, str] = {}
    if include_labels:
        common.update(sample.spec.labels)
        if sample.spec.image:
            common["image"] = sample.spec.image
    common["machine"] = machine_name
    common["container_name"] = container_name(sample.ref)
    ts = f" {stats.timestamp}" if stats.timestamp else ""
    lines: list[str] = []
    common_pairs = _pairs(common)
    plain_tags = "".join(p for _, p in common_pairs)

    def point(measurement: str, value: int, extra: dict[str, str] | None = None) -> None:
        tags = plain_tags
        if extra:  # a label never replaces a tag of cAdvisor's own
            merged = [c for c in common_pairs if c[0] not in extra] + _pairs(extra)
            merged.sort()
            tags = "".join(p for _, p in merged)
        lines.append(f"{measurement}{tags} value={_i64(value)}i{ts}")

    cpu = stats.cpu
    if cpu is not None:
        point("cpu_usage_total", cpu.usage.total)
        point("cpu_usage_system", cpu.usage.system)
        point("cpu_usage_user", cpu.usage.user)
        for i, v in enumerate(cpu.usage.per_cpu_usage):
            point("cpu_usage_per_cpu", v, {"instance": str(i)})
        point("load_average", cpu.load_average)
    net = stats.network
    if net is not None:
        point("rx_bytes", net.rx_bytes)
        point("rx_errors", net.rx_errors)
        point("tx_bytes", net.tx_bytes)
        point("tx_errors", net.tx_errors)
    point("referenced_memory", stats.referenced_memory)
    mem = stats.memory
    if mem is not None:
        point("memory_usage", mem.usage)
        point("memory_max_usage", mem.max_usage)
        point("memory_cache", mem.cache)
        point("memory_rss", mem.rss)
        point("memory_swap", mem.swap)
        point("memory_mapped_file", mem.mapped_file)
        point("memory_working_set", mem.working_set)
        point("memory_total_active_file", mem.total_active_file)
        point("memory_total_inactive_file", mem.total_inactive_file)
        point("memory_failcnt", mem.failcnt)
        for scope, data in (("container", mem.container_data), ("hierarchical", mem.hierarchical_data)):
            point("memory_failure", data.pgfault, {"failure_type": "pgfault", "scope": scope})
            point("memory_failure", data.pgmajfault, {"failure_type": "pgmajfault", "scope": scope})
    if stats.hugetlb:
        for page_size, h in stats.hugetlb.items():
            point("hugetlb_usage", h.usage, {"page_size": page_size})
            point("hugetlb_max_usage", h.max_usage, {"page_size": page_size})
            point("hugetlb_failcnt", h.failcnt, {"page_size": page_size})
    for p in stats.perf_stats or ():
        tags = {"cpu": str(p.cpu), "name": p.name, "scaling_ratio": go_float(float(p.scaling_ratio))}
        point("perf_stat", p.value, tags)
    for node, bw in enumerate(stats.resctrl.memory_bandwidth):
        point("resctrl_memory_bandwidth_total", bw.mbm_total_bytes, {"node_id": str(node)})
        point("resctrl_memory_bandwidth_local", bw.mbm_local_bytes, {"node_id": str(node)})
    for node, cache in enumerate(stats.resctrl.cache):
        point("resctrl_llc_occupancy", cache.llc_occupancy, {"node_id": str(node)})
    for fs in stats.filesystem or ():
        point("fs_usage", fs.usage, {"device": fs.device, "type": "usage"})
        point("fs_limit", fs.capacity, {"device": fs.device, "type": "limit"})
    return lines


class InfluxDBDriver(BufferedDriver):
    name = "influxdb"
    honours_buffer_duration = True

    def __init__(self, opts: StorageOptions, *, machine_name: str) -> None:
        super().__init__(opts, machine_name=machine_name)
        host, port = split_host_port(opts.storage_driver_host, 8086)
        self._params = {"db": opts.storage_driver_db, "precision": "n"}
        if opts.storage_driver_influxdb_retention_policy:
            self._params["rp"] = opts.storage_driver_influxdb_retention_policy
        self._client = InfluxDBClient(
            host=host,
            port=port,
            username=opts.storage_driver_user,
            password=opts.storage_driver_password,
            database=opts.storage_driver_db,
            ssl=opts.storage_driver_secure,
            verify_ssl=opts.storage_driver_secure,
            timeout=TIMEOUT_S,
            retries=1,  # the buffer retries, with backoff
            headers={"User-Agent": "pycadvisor"},
        )
        self._worker = BlockingWorker(self.name)

    def encode(self, sample: Sample) -> list[str]:
        return sample_lines(sample, self.machine_name, include_labels=self.include_labels)

    async def write(self, batch: Sequence[Sample]) -> None:
        await self._worker.run(self._write_sync, batch)

    def _write_sync(self, batch: Sequence[Sample]) -> None:
        per_sample, index = encode_batch(batch, self.encode, self.log, self.name)
        bad = len(batch) - len(index)
        lines = [line for sample_lines_ in per_sample for line in sample_lines_]
        if lines:
            try:
                self._client.write(lines, params=self._params, protocol="line")
            except InfluxDBClientError as exc:
                if exc.code == 400 and "partial write" in str(exc.content):
                    # Some points refused (e.g. a field type conflict), the rest stored: not retryable.
                    raise PartialWrite([], bad, f"InfluxDB partial write: {exc.content!s}") from exc
                if exc.code == 400:
                    raise PartialWrite([], len(batch), f"InfluxDB refused the batch: {exc.content!s}") from exc
                raise  # 401/403/404 (no database yet), ... : retried
        if bad:
            raise PartialWrite([], bad, "samples that could not be encoded")

    async def close_client(self) -> None:
        self._worker.shutdown()
        self._client.close()
