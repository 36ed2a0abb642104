"""Polls every endpoint of every watched container at the endpoint's own frequency, off the housekeeping path.

cAdvisor runs its collectors inside each container's housekeeping (``manager/container.go``:
``updateStats`` calls ``collectorManager.Collect``), so a slow endpoint delays that container's samples. Here
each endpoint is an asyncio task that waits for its next due time and hands the blocking fetch and parse to
a small thread pool; housekeeping only reads the latest result (:meth:`AppMetricsPoller.latest`), a dict
lookup. An endpoint that is dead, slow (bounded by the fetch timeout) or answers garbage costs an error,
counted and logged at most once a minute, and only its own metrics: they are dropped until it answers again.
What an endpoint answers over its life is bounded by ``-application_metrics_count_limit`` (labels.py).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pycadvisor.appmetrics.config import CollectorConfig, ConfigError, PrometheusConfig, collector_configs, parse_config
from pycadvisor.appmetrics.fetch import Fetcher, FetchError, Target, is_container_local
from pycadvisor.appmetrics.labels import LabelTable
from pycadvisor.appmetrics.parse import ParseError, Result, generic_specs, parse_generic
from pycadvisor.model.container import MetricSpec, MetricVal

log = logging.getLogger(__name__)

_LOG_EVERY_S = 60.0  # as cAdvisor's housekeeping errors (manager/container.go: allowErrorLogging)
_MAX_CONFIG_BYTES = 1 << 20
_RETRY_FIRST_S, _RETRY_MAX_S = 1.0, 60.0  # a config file not there (or not usable) yet
# Prometheus text is read with prometheus_client's parser, whose package costs about 1.1 MiB of RSS: it is
# imported by name on the first poll of a Prometheus endpoint, not with the daemon. Importing a module from a
# "module:callable" entry when the feature is used is the house's accepted exception to "imports at the top
# of modules" (as storage/registry.py and container/registry.py do for drivers and runtimes).
_PROMETHEUS_PARSER = "pycadvisor.appmetrics.promtext:parse_prometheus"

ParsePrometheus = Callable[[str, PrometheusConfig, int, int], Result]


@dataclass(frozen=True, slots=True)
class ErrorSample:
    name: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class ErrorFamily:
    """A counter family with the attributes of a ``prometheus_client`` ``Metric`` (what ``/metrics`` renders)."""

    name: str
    documentation: str
    type: str
    samples: list[ErrorSample]


@dataclass(slots=True)
class _Endpoint:
    cfg: CollectorConfig
    pid: int
    labels: LabelTable  # the metric names and label values it answered (labels.py: capped)
    metrics: dict[str, list[MetricVal]] | None = None  # the last answer's; None: none (yet, or it failed)
    specs: list[MetricSpec] = field(default_factory=list)
    errors: int = 0
    last_error: str = ""
    last_log: float = 0.0


@dataclass(slots=True)
class _Container:
    name: str
    pid: int
    labels: dict[str, str]
    endpoints: list[_Endpoint] = field(default_factory=list)
    config_errors: dict[str, int] = field(default_factory=dict)  # per config name: distinct failures to load it
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    merged: tuple[list[MetricSpec], dict[str, list[MetricVal]]] | None = None  # cached latest()


class AppMetricsPoller:
    """The manager's application-metrics source (:class:`pycadvisor.manager.state.AppMetricsSource`)."""

    def __init__(
        self,
        *,
        fetcher: Fetcher,
        count_limit: int = 100,
        workers: int = 4,
    ) -> None:
        self.fetcher = fetcher
        self.count_limit = count_limit
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._containers: dict[str, _Container] = {}
        self._parse_prometheus: ParsePrometheus | None = None

    # ------------------------------------------------------------------ the manager's side

    def watch(self, name: str, labels: dict[str, str], pid: int | None) -> None:
        """Start polling what ``labels`` declare for container ``name`` (init process ``pid``); idempotent."""
        configs = collector_configs(labels)
        old = self._containers.get(name)
        if old is not None:
            if old.pid == pid and old.labels == labels:
                return
            self.unwatch(name)
        if not configs or pid is None:
            return
        c = _Container(name=name, pid=pid, labels=dict(labels))
        self._containers[name] = c
        for cname, path in sorted(configs.items()):
            self._spawn(c, self._configure(c, cname, path))

    def label_values(self, name: str) -> int:
        """How many label values ``name``'s endpoints hold (bounded: labels.py)."""
        c = self._containers.get(name)
        return 0 if c is None else sum(len(ep.labels) for ep in c.endpoints)

    def unwatch(self, name: str) -> None:
        c = self._containers.pop(name, None)
        if c is not None:
            for t in c.tasks:
                t.cancel()

    def latest(self, name: str) -> tuple[list[MetricSpec], dict[str, list[MetricVal]]] | None:
        """The specs and the latest values of ``name``'s endpoints (None: it declares none)."""
        c = self._containers.get(name)
        if c is None:
            return None
        if c.merged is None:
            specs: list[MetricSpec] = []
            values: dict[str, list[MetricVal]] = {}
            for ep in c.endpoints:
                specs.extend(ep.specs)
                if ep.metrics:
                    for k, v in ep.metrics.items():
                        values.setdefault(k, []).extend(v)
            c.merged = (specs, values)
        return c.merged

    async def close(self) -> None:
        tasks = [t for c in self._containers.values() for t in c.tasks]
        self._containers.clear()
        self.fetcher.abort()
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def families(self) -> Iterable[ErrorFamily]:
        """``pycadvisor_appmetrics_errors_total{id, collector}``: failed polls and unusable config files."""
        fam = ErrorFamily(
            "pycadvisor_appmetrics_errors",
            "Application metrics endpoints that failed: unusable config files, and polls that failed or answered "
            "what could not be read.",
            "counter",
            [],
        )
        for c in sorted(self._containers.values(), key=lambda c: c.name):
            counts = dict(c.config_errors)
            for ep in c.endpoints:
                counts[ep.cfg.name] = counts.get(ep.cfg.name, 0) + ep.errors
            for cname in sorted(counts):
                fam.samples.append(
                    ErrorSample("pycadvisor_appmetrics_errors_total", {"id": c.name, "collector": cname}, counts[cname])
                )
        return [fam]

    # ------------------------------------------------------------------ the tasks

    def _spawn(self, c: _Container, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        c.tasks.append(task)
        task.add_done_callback(lambda t: c.tasks.remove(t) if t in c.tasks else None)

    async def _configure(self, c: _Container, cname: str, path: str) -> None:
        """Load one config, then poll its endpoint. A file that is missing or unusable is tried again, after 1 s
        and then with backoff up to a minute: a container may write its config at start, after the runtime
        reported it (cAdvisor reads it once, when the container is added, and gives up). Each distinct failure
        is counted and logged once."""
        loop = asyncio.get_running_loop()
        delay, last = _RETRY_FIRST_S, ""
        while True:
            try:
                cfg = await loop.run_in_executor(self._executor(), self._load, c.pid, cname, path)
                break
            except ConfigError as e:
                if str(e) != last:
                    last = str(e)
                    c.config_errors[cname] = c.config_errors.get(cname, 0) + 1
                    log.warning("container %s: application metrics %r: %s (tried again)", c.name, cname, e)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_S)
        if last:
            log.info("container %s: application metrics %r: %s is usable now", c.name, cname, path)
        ep = _Endpoint(cfg=cfg, pid=c.pid, labels=LabelTable(self.count_limit))
        if not isinstance(cfg, PrometheusConfig):
            ep.specs = generic_specs(cfg)
        c.endpoints.append(ep)
        c.merged = None
        await self._poll(c, ep)

    def _load(self, pid: int, name: str, path: str) -> CollectorConfig:
        """Read and parse a config file through the container's root (cAdvisor ``containerData.ReadFile``)."""
        full = os.path.join(self.fetcher.proc_root, str(pid), "root", path.lstrip("/"))
        try:
            with open(full, "rb") as f:
                data = f.read(_MAX_CONFIG_BYTES + 1)
        except OSError as e:
            raise ConfigError(path, "", f"cannot read it in the container's root ({e.strerror})") from None
        if len(data) > _MAX_CONFIG_BYTES:
            raise ConfigError(path, "", f"larger than {_MAX_CONFIG_BYTES} bytes")
        return parse_config(name, path, data, self.count_limit)

    async def _poll(self, c: _Container, ep: _Endpoint) -> None:
        loop = asyncio.get_running_loop()
        interval = ep.cfg.polling_ns / 1e9
        target: Target | None = None
        while True:
            started = time.monotonic()
            try:
                if target is None:
                    target = await loop.run_in_executor(self._executor(), self._target, ep)
                result = await loop.run_in_executor(self._executor(), self._poll_once, ep.cfg, target)
            except (FetchError, ParseError) as e:
                self._failed(c, ep, str(e))
            except Exception as e:  # a bug must cost this endpoint's poll, not the others'
                self._failed(c, ep, f"{type(e).__name__}: {e}")
            else:
                ep.metrics, refused = ep.labels.admit(result.metrics)
                if isinstance(ep.cfg, PrometheusConfig):
                    ep.specs = result.specs
                errors = result.errors if refused is None else [*result.errors, refused.message(self.count_limit)]
                if errors:
                    self._failed(c, ep, "; ".join(errors), drop=False)
                elif ep.last_error:
                    log.info("container %s: application metrics %r answer again", c.name, ep.cfg.name)
                    ep.last_error = ""
                c.merged = None
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    def _target(self, ep: _Endpoint) -> Target:
        endpoint = ep.cfg.endpoint
        if endpoint.url:
            host = urlsplit(endpoint.url).hostname or ""
            return Target(endpoint.url, ep.pid if is_container_local(host) else None)
        # Built on the container's address (cAdvisor: GetContainerIPAddress), reached from its namespace.
        return Target(endpoint.resolve(self.fetcher.container_address(ep.pid)), ep.pid)

    def _poll_once(self, cfg: CollectorConfig, target: Target) -> Result:
        # An answer is due before the next poll (as Prometheus bounds scrape_timeout by scrape_interval).
        status, _ctype, body = self.fetcher.get(target, timeout_s=cfg.polling_ns / 1e9)
        if status != 200:
            raise FetchError(f"server returned HTTP status {status}")
        text = body.decode("utf-8", "replace")
        now = time.time_ns()
        if isinstance(cfg, PrometheusConfig):
            return self._prometheus_parser()(text, cfg, now, self.count_limit)
        return parse_generic(text, cfg, now)

    def _prometheus_parser(self) -> ParsePrometheus:
        parse = self._parse_prometheus
        if parse is None:
            module, _, attr = _PROMETHEUS_PARSER.partition(":")
            parse = self._parse_prometheus = getattr(importlib.import_module(module), attr)
        return parse

    def _failed(self, c: _Container, ep: _Endpoint, why: str, *, drop: bool = True) -> None:
        ep.errors += 1
        if drop and ep.metrics is not None:
            ep.metrics = None
            c.merged = None
        now = time.monotonic()
        if why != ep.last_error or now - ep.last_log >= _LOG_EVERY_S:
            ep.last_log = now
            log.warning(
                "container %s: application metrics %r (%s, %s): %s",
                c.name,
                ep.cfg.name,
                ep.cfg.path,
                ep.cfg.endpoint.url or "container address",
                why,
            )
        ep.last_error = why

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="appmetrics")
        return self._pool
