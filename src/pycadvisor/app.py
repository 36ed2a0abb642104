"""Composition root: builds every object of the daemon from a :class:`Config` (nothing else constructs them)."""

from __future__ import annotations

import asyncio
import logging
import platform
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from pycadvisor import __version__
from pycadvisor.api.connections import BACKLOG, IDLE_TIMEOUT_S, CappedRunner, http_logger
from pycadvisor.api.events import events_response
from pycadvisor.api.limits import HeavyGate
from pycadvisor.api.prometheus import make_kubelet_metrics_handler, make_metrics_handler
from pycadvisor.api.rest import ApiContext
from pycadvisor.api.server import ServerOptions, build_app
from pycadvisor.appmetrics.fetch import Fetcher, client_tls_context
from pycadvisor.appmetrics.poller import AppMetricsPoller
from pycadvisor.config import DEFAULT_DISABLED_METRICS, Config, split_csv
from pycadvisor.container import registry
from pycadvisor.container.base import Factory, RuntimeOptions
from pycadvisor.container.fsusage import FsUsageTracker
from pycadvisor.events.limits import parse_limits
from pycadvisor.events.service import EventService
from pycadvisor.events.store import EventStore
from pycadvisor.host.addons import load_addon
from pycadvisor.host.malloc import MallocTrim
from pycadvisor.host.paths import HostPaths
from pycadvisor.manager.hostinfo import CrioStorage, HostInfo, RuntimeVersions, StorageRoots
from pycadvisor.manager.manager import Manager, ManagerOptions
from pycadvisor.manager.state import StatsAddon
from pycadvisor.metrics.kubelet import metric_set_flags
from pycadvisor.metrics.options import ExpositionOptions
from pycadvisor.metrics.series import SampleSeries, Series
from pycadvisor.metrics.sets import APP, MetricSets
from pycadvisor.metrics.source import ContainerSnapshot, VersionInfo
from pycadvisor.model.machine import MachineInfo
from pycadvisor.storage.base import Sample, SeriesFn, StorageDriver
from pycadvisor.storage.metrics import storage_families
from pycadvisor.storage.options import StorageOptions
from pycadvisor.storage.registry import build_drivers

log = logging.getLogger("pycadvisor")

# An endpoint's answer must arrive within this and fit this size (cAdvisor's collector client has neither bound:
# a hung endpoint held its container's housekeeping).
_APPMETRICS_TIMEOUT_S = 10.0
_APPMETRICS_MAX_BYTES = 16 << 20


class ManagerMetricsSource:
    """Adapts the manager to what ``/metrics`` reads (``metrics.source.MetricsSource``)."""

    def __init__(self, manager: Manager, host: HostInfo, oom_counts: Callable[[str], int] | None = None) -> None:
        self.m = manager
        self.host = host
        self._oom = oom_counts

    async def snapshot(self, *, namespace: str | None, max_age_ns: int | None) -> list[ContainerSnapshot]:
        states = list(self.m.containers.values())
        if namespace:
            states = [s for s in states if s.namespace == namespace]
        await self.m.ensure_fresh(states, max_age_ns)
        oom = self._oom
        return [
            ContainerSnapshot(
                name=s.name,
                id=s.id,
                aliases=tuple(s.aliases),
                namespace=s.namespace,
                spec=s.spec,
                stats=s.history.latest(),
                oom_kills=oom(s.name) if oom is not None else 0,
            )
            for s in states
        ]

    def machine_info(self) -> MachineInfo | None:
        return self.m.machine_info

    def version_info(self) -> VersionInfo:
        kernel, os_version = self.host.versions()
        return VersionInfo(
            kernel_version=kernel,
            os_version=os_version,
            docker_version="",
            cadvisor_version=__version__,
            cadvisor_revision="",
        )


@dataclass
class Daemon:
    """The running daemon: the manager, its side services and the HTTP server."""

    config: Config
    storage_opts: StorageOptions
    manager: Manager | None = None
    runner: web.AppRunner | None = None
    closers: list[Any] = field(default_factory=list)

    async def start(self) -> None:
        cfg = self.config
        paths = cfg.host_paths()
        enable_metrics = metric_set_flags(
            cfg.kubelet_compatible, cfg.enable_metrics, cfg.disable_metrics, DEFAULT_DISABLED_METRICS
        )
        sets = MetricSets.from_flags(enable_metrics, cfg.disable_metrics)
        env_wl = split_csv(
            cfg.env_metadata_whitelist or cfg.docker_env_metadata_whitelist or cfg.containerd_env_metadata_whitelist
        )
        factories: list[Factory] = build_factories(cfg, env_wl)
        store = EventStore(
            age_limits=parse_limits(cfg.event_storage_age_limit, "age"),
            count_limits=parse_limits(cfg.event_storage_event_limit, "count"),
        )
        events = EventService(store, paths)
        expo = ExpositionOptions.from_flags(
            enable_metrics=enable_metrics,
            disable_metrics=cfg.disable_metrics,
            store_container_labels=cfg.store_container_labels,
            whitelisted_container_labels=cfg.whitelisted_container_labels,
            no_empty_label_padding=cfg.prometheus_no_empty_labels,
            family_allowlist=cfg.prometheus_family_allowlist,
            label_allowlist=cfg.prometheus_label_allowlist,
            kubelet_labels=cfg.kubelet_compatible,
        )
        series = SampleSeries(expo)

        def machine_series() -> list[Series]:  # the manager is built after the drivers it feeds
            if self.manager is None:
                return []
            try:
                machine = self.manager.machine_info
            except RuntimeError:  # not read yet: /metrics has machine_scrape_error 1 then, no machine family
                return []
            return series.machine_series(machine)

        drivers = build_drivers(
            self.storage_opts,
            machine_name=platform.node(),
            series=sample_series(expo, events.store.oom_kill_count, series),
            machine_series=machine_series,
        )
        fs_usage = None
        if any(f.name in ("docker", "podman", "crio") for f in factories):  # runtimes with writable layers
            fs_usage = FsUsageTracker(interval_s=60.0, budget_s_per_round=0.05)
        opts = ManagerOptions(
            housekeeping_interval_ns=cfg.housekeeping_interval,
            max_housekeeping_interval_ns=cfg.max_housekeeping_interval,
            allow_dynamic_housekeeping=cfg.allow_dynamic_housekeeping,
            jitter_factor=cfg.jitter_factor,
            initial_splay_factor=cfg.initial_splay_factor,
            global_housekeeping_interval_ns=cfg.global_housekeeping_interval,
            update_machine_info_interval_ns=cfg.update_machine_info_interval,
            storage_duration_ns=cfg.storage_duration,
            metric_sets=frozenset(sets.enabled),
            raw_cgroup_prefix_whitelist=tuple(split_csv(cfg.raw_cgroup_prefix_whitelist)),
            docker_only=cfg.docker_only,
            disable_root_cgroup_stats=cfg.disable_root_cgroup_stats,
            machine_id_files=tuple(split_csv(cfg.machine_id_file)),
            boot_id_file=cfg.boot_id_file,
            runtime_timeout_s=cfg.runtime_timeout / 1e9,
            referenced_reset_interval=cfg.referenced_reset_interval,
            enable_load_reader=cfg.enable_load_reader,
            container_hints=cfg.container_hints,
        )
        appmetrics = _appmetrics_poller(cfg, sets)
        if appmetrics is not None:
            self.closers.append(appmetrics.close)
        manager = Manager(
            opts,
            paths,
            factories=factories,
            events=events,
            sinks=drivers,
            fs_usage=fs_usage,
            addons=build_addons(cfg, paths, frozenset(sets.enabled)),
            appmetrics=appmetrics,
        )
        self.manager = manager
        await events.start(asyncio.get_running_loop())
        self.closers.append(events.stop)
        for d in drivers:
            await d.start()
            self.closers.append(d.close)
        await manager.start()
        self.closers.insert(0, manager.stop)
        if fs_usage is not None:
            task = asyncio.ensure_future(fs_usage.run())
            self.closers.append(lambda: _cancel(task))
        for f in factories:
            self.closers.append(f.close)

        host = HostInfo(
            manager,
            __version__,
            runtime_versions=_runtime_versions(factories),
            storage_roots=_storage_roots(factories),
        )
        source = ManagerMetricsSource(manager, host, oom_counts=events.store.oom_kill_count)

        async def events_handler(request: web.Request, name: str) -> web.StreamResponse:
            return await events_response(request, events.store, name)

        gate = HeavyGate(on_idle=MallocTrim())  # one bound for the REST API and /metrics together
        ctx = ApiContext(
            manager=manager,
            host=host,
            cadvisor_version=__version__,
            events=events_handler,
            gate=gate,
        )
        app = build_app(
            ctx,
            ServerOptions(
                prefix=cfg.url_base_prefix,
                prometheus_endpoint=cfg.prometheus_endpoint,
                kubelet_endpoint=cfg.kubelet_compatible,
                http_auth_file=cfg.http_auth_file,
                http_auth_realm=cfg.http_auth_realm,
                http_digest_file=cfg.http_digest_file,
                http_digest_realm=cfg.http_digest_realm,
                auth_protect_api=cfg.auth_protect_api,
                profiling=cfg.profiling,
            ),
            metrics_handler=make_metrics_handler(
                source,
                expo,
                extra_families=_extra_families(drivers, appmetrics),
                own_process=host,
                gate=gate,
            ),
            kubelet_metrics_handler=make_kubelet_metrics_handler(source, expo, gate=gate)
            if cfg.kubelet_compatible
            else None,
        )
        self.runner = CappedRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=2.0,
            keepalive_timeout=IDLE_TIMEOUT_S,
            logger=http_logger(),
        )
        await self.runner.setup()
        site = web.TCPSite(self.runner, host=cfg.listen_ip or None, port=cfg.port, reuse_address=True, backlog=BACKLOG)
        await site.start()
        log.info("pycadvisor %s listening on %s:%d", __version__, cfg.listen_ip or "*", cfg.port)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        for close in self.closers:
            try:
                res = close()
                if asyncio.iscoroutine(res):
                    await asyncio.wait_for(res, timeout=10)
            except Exception:
                log.exception("error while stopping")


async def _cancel(task: asyncio.Future[Any]) -> None:
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):
        pass


def _runtime_versions(factories: list[Factory]) -> RuntimeVersions | None:
    docker = next((f for f in factories if f.name == "docker"), None)
    if docker is None:
        return None

    async def extra() -> dict[str, str]:
        ask = getattr(docker, "info", None)  # none while Docker's socket is absent (container/deferred.py)
        info = await ask() if ask is not None else None
        if info is None:
            return {}
        return {"docker_version": info.server_version, "docker_api_version": info.api_version}

    return extra


def _storage_roots(factories: list[Factory]) -> StorageRoots:
    """Where Docker and CRI-O keep images, asked when ``/api/v2.0/storage`` is (cAdvisor reads them once at
    start, ``manager.New``; asking each time also labels a runtime started after pycadvisor)."""
    docker = next((f for f in factories if f.name == "docker"), None)
    crio = next((f for f in factories if f.name == "crio"), None)

    async def docker_root() -> str | None:
        ask = getattr(docker, "info", None)  # none without Docker, or while its socket is absent
        info = await ask() if ask is not None else None
        # cAdvisor labels docker-images only once `docker info` gave a storage driver (fs.go addDockerImagesLabel).
        return info.root_dir if info is not None and info.driver and info.root_dir else None

    async def crio_storage() -> CrioStorage | None:
        ask = getattr(crio, "info", None)
        info = await ask() if ask is not None else None
        if info is None or not (info.storage_root or info.storage_image):
            return None
        return CrioStorage(info.storage_root, info.storage_image, info.storage_driver)

    async def roots() -> tuple[str | None, CrioStorage | None]:
        d, c = await asyncio.gather(docker_root(), crio_storage())
        return d, c

    return roots


def sample_series(
    expo: ExpositionOptions, oom_counts: Callable[[str], int], builder: SampleSeries | None = None
) -> SeriesFn:
    """A stored sample's series as ``/metrics`` exposes them (for ``remote_write``), from the exposition's tables."""
    if builder is None:
        builder = SampleSeries(expo)

    def series(sample: Sample) -> list[Series]:
        ref = sample.ref
        snap = ContainerSnapshot(
            name=ref.name,
            id=ref.id,
            aliases=tuple(ref.aliases),
            namespace=ref.namespace,
            spec=sample.spec,
            stats=sample.stats,
            oom_kills=oom_counts(ref.name),
        )
        return builder.series(snap)

    return series


def _extra_families(
    drivers: list[StorageDriver], appmetrics: AppMetricsPoller | None
) -> Callable[[], list[Any]] | None:
    """The storage drivers' counters and the application-metrics error counter, when there are any."""
    if not drivers and appmetrics is None:
        return None

    def families() -> list[Any]:
        out: list[Any] = list(storage_families(drivers)) if drivers else []
        if appmetrics is not None:
            out.extend(appmetrics.families())
        return out

    return families


def _appmetrics_poller(cfg: Config, sets: MetricSets) -> AppMetricsPoller | None:
    """Polls the endpoints containers declare (``io.cadvisor.metric.*``) unless ``-disable_metrics`` has ``app``."""
    if not sets.has(APP):
        return None
    fetcher = Fetcher(
        proc_root=cfg.host_paths().proc,
        tls=client_tls_context(cfg.collector_cert, cfg.collector_key),
        timeout_s=_APPMETRICS_TIMEOUT_S,
        max_bytes=_APPMETRICS_MAX_BYTES,
    )
    return AppMetricsPoller(fetcher=fetcher, count_limit=cfg.application_metrics_count_limit)


def build_addons(cfg: Config, paths: HostPaths, metric_sets: frozenset[str]) -> list[StatsAddon]:
    """Per-container collectors beside the cgroup files: perf counters (``-perf_events_config``, set
    ``perf_event``) and resctrl monitoring groups (set ``resctrl``, ``-resctrl_interval``); cAdvisor
    manager.go ``New`` and ``createContainerLocked``."""
    addons: list[StatsAddon] = []
    if cfg.perf_events_config and "perf_event" in metric_sets:
        addons.append(load_addon("perf_event")(cfg.perf_events_config, paths))
    if "resctrl" in metric_sets:
        resctrl = load_addon("resctrl")(paths, docker_only=cfg.docker_only, interval_ns=cfg.resctrl_interval)
        if resctrl is not None:
            addons.append(resctrl)
    return addons


def build_factories(cfg: Config, env_whitelist: list[str]) -> list[Factory]:
    """The runtime factories (``container/registry.py`` lists them, most specific first) from the flags."""
    timeout_s = cfg.runtime_timeout / 1e9
    opts = RuntimeOptions(
        env_whitelist=env_whitelist,
        timeout_s=timeout_s,
        host_rootfs=cfg.host_paths().rootfs,
        docker=cfg.docker,
        docker_root=cfg.docker_root,
        docker_tls=(cfg.docker_tls_cert, cfg.docker_tls_key, cfg.docker_tls_ca) if cfg.docker_tls else None,
        podman=cfg.podman,
        containerd=cfg.containerd,
        containerd_namespace=cfg.containerd_namespace,
        crio=cfg.crio,
        crio_timeout_s=cfg.crio_client_timeout / 1e9,
        mesos_agent=cfg.mesos_agent,
        mesos_timeout_s=cfg.mesos_agent_timeout / 1e9,
        thin_ls_interval_s=cfg.devicemapper_thin_ls_interval / 1e9,
    )
    return registry.build_factories(opts)


async def run(cfg: Config, storage_opts: StorageOptions) -> int:
    """Run until SIGTERM/SIGINT; return the process exit code."""
    daemon = Daemon(cfg, storage_opts)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await daemon.start()
    except (OSError, ValueError) as e:
        log.error("cannot start: %s", e)
        await daemon.stop()
        return 1
    await stop.wait()
    log.info("stopping")
    await daemon.stop()
    return 0
