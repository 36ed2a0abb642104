"""The daemon's configuration: one frozen dataclass whose fields are cAdvisor's flags.

(cAdvisor's ``cmd/cadvisor.go`` and the packages it links define them.)

The CLI (:mod:`pycadvisor.cli`) registers one flag per field generically; a field's metadata
holds its help text, its flag name when that is not the attribute name (``docker-tls``), and
``kind="duration"`` for Go durations held as int ns. This module is the only place that spells
the host's real paths (``/proc``, ``/sys``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from pycadvisor.host.paths import HostPaths

S = 1_000_000_000

DEFAULT_DISABLED_METRICS = (
    "advtcp,cpu_topology,cpuset,hugetlb,memory_numa,process,referenced_memory,resctrl,sched,tcp,udp"
)


def flag(help: str, default: Any = dataclasses.MISSING, *, name: str | None = None, kind: str | None = None) -> Any:
    meta = {"help": help, "flag": name, "kind": kind}
    return field(default=default, metadata=meta)


def duration(help: str, default_ns: int, *, name: str | None = None) -> Any:
    return flag(help, default_ns, name=name, kind="duration")


@dataclass(frozen=True, slots=True)
class Config:
    # --- serving
    port: int = flag("port to listen", 8080)
    listen_ip: str = flag("IP to listen on, defaults to all IPs", "")
    url_base_prefix: str = flag("prefix path that will be prepended to all paths to support some reverse proxies", "")
    prometheus_endpoint: str = flag("Endpoint to expose Prometheus metrics on", "/metrics")
    http_auth_file: str = flag("HTTP auth file for the web UI", "")
    http_auth_realm: str = flag("HTTP auth realm for the web UI", "localhost")
    http_digest_file: str = flag("HTTP digest file for the web UI", "")
    http_digest_realm: str = flag("HTTP digest file for the web UI", "localhost")
    auth_protect_api: bool = flag(
        "pycadvisor: also require the UI's credentials for /api, /metrics and /validate/ (cAdvisor leaves them open)",
        False,
    )
    profiling: bool = flag(
        "Enable profiling via web interface host:port/debug/pprof/ (pycadvisor: profile?seconds=N sampled CPU, "
        "heap allocations)",
        False,
    )
    collector_cert: str = flag(
        "Collector's certificate, exposed to endpoints for certificate based authentication.", ""
    )
    collector_key: str = flag("Key for the collector's certificate", "")
    version: bool = flag("print cAdvisor version and exit", False)
    max_procs: int = flag(
        "max number of CPUs that can be used simultaneously (accepted; pycadvisor runs one event-loop thread)", 0
    )
    # --- collection
    housekeeping_interval: int = duration("Interval between container housekeepings", 1 * S)
    max_housekeeping_interval: int = duration("Largest interval to allow between container housekeepings", 60 * S)
    allow_dynamic_housekeeping: bool = flag("Whether to allow the housekeeping interval to be dynamic", True)
    initial_splay_factor: float = flag("Splay of the first housekeeping as a fraction of the interval", 1.0)
    jitter_factor: float = flag("Jitter added to each housekeeping interval as a fraction of it", 1.0)
    global_housekeeping_interval: int = duration("Interval between global housekeepings", 60 * S)
    update_machine_info_interval: int = duration("Interval between machine info updates.", 300 * S)
    storage_duration: int = duration("How long to keep data stored", 120 * S)
    disable_metrics: str = flag("comma-separated list of metrics to be disabled", DEFAULT_DISABLED_METRICS)
    enable_metrics: str = flag("comma-separated list of metrics to be enabled; replaces the whole set", "")
    raw_cgroup_prefix_whitelist: str = flag(
        "A comma-separated list of cgroup path prefix that needs to be collected even when -docker_only is specified",
        "",
    )
    docker_only: bool = flag("Only report docker containers in addition to root stats", False)
    disable_root_cgroup_stats: bool = flag("Disable collecting root Cgroup stats", False)
    store_container_labels: bool = flag("convert container labels and environment variables into labels", True)
    whitelisted_container_labels: str = flag("comma separated list of container labels to be converted", "")
    env_metadata_whitelist: str = flag("a comma-separated list of environment variable keys matched with "
                                       "specified prefix that needs to be collected for containers", "")  # fmt: skip
    docker_env_metadata_whitelist: str = flag("DEPRECATED: use env_metadata_whitelist", "")
    containerd_env_metadata_whitelist: str = flag("DEPRECATED: use env_metadata_whitelist", "")
    perf_events_config: str = flag("Path to a JSON file containing configuration of perf events to measure", "")
    resctrl_interval: int = duration("Resctrl mon groups updating interval. Zero value disables updating", 0)
    application_metrics_count_limit: int = flag("Max number of application metrics to store (per container)", 100)
    enable_load_reader: bool = flag("Whether to enable cpu load reader", False)
    referenced_reset_interval: int = flag("Reset interval for referenced bytes (0 = never)", 0)
    container_hints: str = flag("location of the container hints file", "/etc/cadvisor/container_hints.json")
    machine_id_file: str = flag("Comma-separated list of files to check for machine-id. Use the first one that exists.",
                                "/etc/machine-id,/var/lib/dbus/machine-id")  # fmt: skip
    boot_id_file: str = flag("Comma-separated list of files to check for boot-id.", "/proc/sys/kernel/random/boot_id")
    log_cadvisor_usage: bool = flag("Whether to log the usage of the cAdvisor container (no effect)", False)
    # --- events
    event_storage_age_limit: str = flag("Max length of time for which to store events (per type).", "default=24h")
    event_storage_event_limit: str = flag("Max number of events to store (per type).", "default=100000")
    # --- runtimes
    docker: str = flag("docker endpoint", "unix:///var/run/docker.sock")
    docker_tls: bool = flag("use TLS to connect to docker", False, name="docker-tls")
    docker_tls_cert: str = flag("path to client certificate", "cert.pem", name="docker-tls-cert")
    docker_tls_key: str = flag("path to private key", "key.pem", name="docker-tls-key")
    docker_tls_ca: str = flag("path to trusted CA", "ca.pem", name="docker-tls-ca")
    docker_root: str = flag("DEPRECATED: docker root is read from docker info (this is a fallback)", "/var/lib/docker")
    podman: str = flag("podman endpoint", "unix:///var/run/podman/podman.sock")
    containerd: str = flag("containerd endpoint", "/run/containerd/containerd.sock")
    containerd_namespace: str = flag("containerd namespace", "k8s.io", name="containerd-namespace")
    crio: str = flag("pycadvisor: CRI-O endpoint (cAdvisor hard-codes it)", "unix:///var/run/crio/crio.sock")
    crio_client_timeout: int = duration("CRI-O client timeout (0 = none)", 0)
    devicemapper_thin_ls_interval: int = duration(
        "pycadvisor: how often thin_ls measures Docker's devicemapper containers (0 = never, as cAdvisor)", 15 * S
    )
    mesos_agent: str = flag("Mesos agent address", "127.0.0.1:5051")
    mesos_agent_timeout: int = duration("Mesos agent timeout", 10 * S)
    runtime_timeout: int = duration(
        "pycadvisor: how long to wait for a runtime API before naming a container raw", 2 * S
    )
    # --- host
    host_root: str = flag("pycadvisor: root of the host filesystem (auto: /rootfs when /rootfs/proc exists)", "auto")
    # --- logging: klog v2.130.1's flags (klog.go InitFlags), mapped onto Python logging by pycadvisor.klog
    v: int = flag("number for the log level verbosity (4 and up: debug)", 2)
    vmodule: str = flag("comma-separated list of pattern=N settings for file-filtered logging", "")
    logtostderr: bool = flag("log to standard error instead of files", True)
    alsologtostderr: bool = flag("log to standard error as well as files (no effect when -logtostderr=true)", False)
    stderrthreshold: str = flag(
        "logs at or above this threshold go to stderr when writing to files and stderr "
        "(no effect when -logtostderr=true or -alsologtostderr=true)",
        "2",
    )
    log_dir: str = flag("If non-empty, write log files in this directory (no effect when -logtostderr=true)", "")
    log_file: str = flag("If non-empty, use this log file (no effect when -logtostderr=true)", "")
    log_file_max_size: int = flag(
        "Defines the maximum size a log file can grow to (no effect when -logtostderr=true). Unit is megabytes. "
        "If the value is 0, the maximum file size is unlimited. (accepted, no effect)",
        1800,
    )
    skip_headers: bool = flag("If true, avoid header prefixes in the log messages (accepted, no effect)", False)
    skip_log_headers: bool = flag(
        "If true, avoid headers when opening log files (no effect when -logtostderr=true) (accepted, no effect)",
        False,
    )
    add_dir_header: bool = flag(
        "If true, adds the file directory to the header of the log messages (accepted, no effect)", False
    )
    log_backtrace_at: str = flag("when logging hits line file:N, emit a stack trace (accepted, no effect)", "")
    one_output: bool = flag(
        "If true, only write logs to their native severity level (vs also writing to each lower severity level; "
        "no effect when -logtostderr=true) (accepted, no effect)",
        False,
    )
    # --- beyond cAdvisor: exposition size (cAdvisor's scrapes are its users' second complaint)
    prometheus_no_empty_labels: bool = flag(
        'pycadvisor: omit label="" padding of labels a container does not have', False
    )
    prometheus_family_allowlist: str = flag("pycadvisor: comma-separated metric families to expose (empty = all)", "")
    prometheus_label_allowlist: str = flag(
        "pycadvisor: comma-separated container labels to expose (empty = all allowed by other flags)", ""
    )
    kubelet_compatible: bool = flag(
        "pycadvisor: label container series as the kubelet's /metrics/cadvisor does (id, name, image, pod, "
        "namespace, container; no container_label_* or container_env_*) and serve them at /metrics/cadvisor too",
        False,
    )

    def host_paths(self) -> HostPaths:
        """The host's kernel interfaces: ``/`` or, inside a container, ``/rootfs`` when it holds a proc."""
        root = self.host_root
        if root == "auto":
            root = "/rootfs" if os.path.isdir("/rootfs/proc") else "/"
        if root in ("", "/"):
            return HostPaths()
        return HostPaths.under(root)


def split_csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]
