"""Go flag syntax and cAdvisor's flag names on the command line."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pycadvisor import klog
from pycadvisor.config import Config
from pycadvisor.flags import FlagError, flag_defs, parse_args
from pycadvisor.storage.options import StorageOptions
from support.procs import run_cli_expecting_exit, wait_until


def parse(*argv: str) -> Config:
    out, _ = parse_args(list(argv), Config, StorageOptions)
    cfg = out[Config]
    assert isinstance(cfg, Config)
    return cfg


def test_go_syntaxes() -> None:
    cfg = parse("-port=9000", "--listen_ip", "127.0.0.1", "-allow_dynamic_housekeeping=false", "-docker_only")
    assert cfg.port == 9000 and cfg.listen_ip == "127.0.0.1"
    assert cfg.allow_dynamic_housekeeping is False and cfg.docker_only is True


def test_durations_and_dashed_names() -> None:
    cfg = parse("-housekeeping_interval=10s", "--storage_duration", "1m30s", "-containerd-namespace=default")
    assert cfg.housekeeping_interval == 10_000_000_000
    assert cfg.storage_duration == 90_000_000_000
    assert cfg.containerd_namespace == "default"


def test_storage_flags_share_the_command_line() -> None:
    out, _ = parse_args(["-storage_driver=redis", "-storage_driver_buffer_duration=5s"], Config, StorageOptions)
    st = out[StorageOptions]
    assert st.storage_driver == "redis" and st.storage_driver_buffer_duration == 5_000_000_000


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["-nope=1"], "flag provided but not defined: -nope"),
        (["-port=abc"], 'invalid value "abc" for flag -port'),
        (["-housekeeping_interval=10"], 'invalid value "10" for flag -housekeeping_interval'),
        (["-docker_only=maybe"], 'invalid value "maybe" for flag -docker_only'),
        (["-port"], "flag needs an argument: -port"),
    ],
)
def test_errors_name_the_flag(argv: list[str], needle: str) -> None:
    with pytest.raises(FlagError, match=needle):
        parse(*argv)


def test_cli_exits_2_naming_the_flag() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "pycadvisor", "-bogus_flag=1"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2
    assert "-bogus_flag" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "pycadvisor", "-enable_metrics=cpu,warp"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and 'unsupported metric "warp" specified' in r.stderr


def test_version_flag() -> None:
    r = subprocess.run([sys.executable, "-m", "pycadvisor", "-version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("cAdvisor version ")


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("storage_duration", "-5m"),
        ("global_housekeeping_interval", "0s"),
        ("jitter_factor", "-5"),
        ("initial_splay_factor", "NaN"),
        ("url_base_prefix", "../../x"),
        ("url_base_prefix", "/a/../b"),
        ("url_base_prefix", "/a%2fb"),
        ("perf_events_config", "/nonexistent/perf.json"),
    ],
)
def test_bad_values_exit_2_naming_the_flag(flag: str, value: str) -> None:
    """Issue 14 #10: values the flag syntax allows but that cannot mean anything stop the start."""
    r = run_cli_expecting_exit(f"-{flag}={value}")
    assert r.returncode == 2, r.stderr
    assert f"for flag -{flag}:" in r.stderr


def test_perf_events_config_must_be_json(tmp_path: Path) -> None:
    bad = tmp_path / "perf.json"
    bad.write_text("{core: [")
    r = run_cli_expecting_exit(f"-perf_events_config={bad}")
    assert r.returncode == 2 and f'invalid value "{bad}" for flag -perf_events_config' in r.stderr


# Every flag of cAdvisor's binary: cmd/cadvisor.go and the packages it links (google/cadvisor 6a0c4f2), and
# klog v2.130.1's InitFlags (klog.go), which cmd/cadvisor.go calls.
CADVISOR_FLAGS = [
    "allow_dynamic_housekeeping",
    "application_metrics_count_limit",
    "boot_id_file",
    "bq_account",
    "bq_credentials_file",
    "bq_id",
    "bq_project_id",
    "bq_secret",
    "collector_cert",
    "collector_key",
    "container_hints",
    "containerd",
    "containerd-namespace",
    "containerd_env_metadata_whitelist",
    "crio_client_timeout",
    "disable_metrics",
    "disable_root_cgroup_stats",
    "docker",
    "docker-tls",
    "docker-tls-ca",
    "docker-tls-cert",
    "docker-tls-key",
    "docker_env_metadata_whitelist",
    "docker_only",
    "docker_root",
    "enable_load_reader",
    "enable_metrics",
    "env_metadata_whitelist",
    "event_storage_age_limit",
    "event_storage_event_limit",
    "global_housekeeping_interval",
    "housekeeping_interval",
    "http_auth_file",
    "http_auth_realm",
    "http_digest_file",
    "http_digest_realm",
    "initial_splay_factor",
    "jitter_factor",
    "listen_ip",
    "log_cadvisor_usage",
    "machine_id_file",
    "max_housekeeping_interval",
    "max_procs",
    "perf_events_config",
    "podman",
    "port",
    "profiling",
    "prometheus_endpoint",
    "raw_cgroup_prefix_whitelist",
    "referenced_reset_interval",
    "resctrl_interval",
    "storage_driver",
    "storage_driver_buffer_duration",
    "storage_driver_db",
    "storage_driver_es_enable_sniffer",
    "storage_driver_es_host",
    "storage_driver_es_index",
    "storage_driver_es_type",
    "storage_driver_host",
    "storage_driver_influxdb_retention_policy",
    "storage_driver_kafka_broker_list",
    "storage_driver_kafka_ssl_ca",
    "storage_driver_kafka_ssl_cert",
    "storage_driver_kafka_ssl_key",
    "storage_driver_kafka_ssl_verify",
    "storage_driver_kafka_topic",
    "storage_driver_password",
    "storage_driver_secure",
    "storage_driver_table",
    "storage_driver_user",
    "storage_duration",
    "store_container_labels",
    "update_machine_info_interval",
    "url_base_prefix",
    "v",
    "version",
    "whitelisted_container_labels",
]
KLOG_FLAGS = [
    "log_dir",
    "log_file",
    "log_file_max_size",
    "logtostderr",
    "alsologtostderr",
    "v",
    "skip_headers",
    "skip_log_headers",
    "stderrthreshold",
    "vmodule",
    "log_backtrace_at",
    "add_dir_header",
    "one_output",
]


def test_every_flag_of_cadvisors_binary_is_accepted() -> None:
    defs = flag_defs(Config, StorageOptions)
    assert sorted(set(CADVISOR_FLAGS + KLOG_FLAGS) - set(defs)) == []


def test_klog_values_parse_as_klog_parses_them() -> None:
    cfg = parse("-stderrthreshold=warning", "-vmodule=manager=4,rest*=2,", "-log_backtrace_at=server.go:12")
    assert klog.parse_severity(cfg.stderrthreshold) == logging.WARNING
    assert klog.parse_severity("3") == logging.CRITICAL and klog.parse_severity("0") == logging.INFO
    assert klog.parse_vmodule(cfg.vmodule) == [("manager", 4), ("rest*", 2)]


@pytest.mark.parametrize(
    ("flag", "value"),
    [("stderrthreshold", "LOUD"), ("vmodule", "manager"), ("vmodule", "x=-1"), ("log_backtrace_at", "server:1")],
)
def test_bad_klog_values_exit_2(flag: str, value: str) -> None:
    r = run_cli_expecting_exit(f"-{flag}={value}")
    assert r.returncode == 2 and f'invalid value "{value}" for flag -{flag}:' in r.stderr, r.stderr


def test_vmodule_raises_the_verbosity_of_matching_modules_only() -> None:
    f = klog.VerbosityFilter(2, klog.parse_vmodule("re*=4,/x/y/manager=1"))

    def passes(level: int, path: str) -> bool:
        rec = logging.LogRecord("n", level, path, 1, "m", None, None)
        return f.filter(rec)

    assert passes(logging.DEBUG, "/src/pycadvisor/api/rest.py")
    assert not passes(logging.DEBUG, "/src/pycadvisor/manager/manager.py")
    assert passes(logging.INFO, "/src/pycadvisor/manager/manager.py")
    assert klog.VerbosityFilter(4, []).filter(logging.LogRecord("n", logging.DEBUG, "/a/b.py", 1, "m", None, None))


KLOG_EXTRAS = (
    "-log_file_max_size=10",
    "-skip_headers",
    "-skip_log_headers=true",
    "-add_dir_header",
    "-log_backtrace_at=server.go:12",
    "-one_output",
    "-max_procs=2",
)


@pytest.mark.root
def test_cadvisor_logging_flags_start_and_are_named_once(pycadvisor_daemon_factory: Callable[..., Any]) -> None:
    """Issue 13 #6: klog's flags no longer exit 2; those without effect are named once in the log."""
    d = pycadvisor_daemon_factory(*KLOG_EXTRAS)
    log = d.log()
    for flag in KLOG_EXTRAS:
        name = flag.split("=")[0]
        assert log.count(f"{name}=") == 1 and "has no effect here" in log, (name, log)


@pytest.mark.root
def test_log_file_and_log_dir_receive_the_log(pycadvisor_daemon_factory: Callable[..., Any], tmp_path: Path) -> None:
    """-logtostderr=false sends the log to -log_file, or to klog's per-severity files in -log_dir;
    stderr keeps what reaches -stderrthreshold (ERROR by default)."""
    log_file = tmp_path / "pycadvisor.log"
    d = pycadvisor_daemon_factory("-logtostderr=false", f"-log_file={log_file}", "-max_procs=2")
    wait_until(lambda: "listening on" in log_file.read_text(), timeout=10, what="the start in -log_file")
    assert "-max_procs=2 has no effect here" in log_file.read_text()
    assert "listening on" not in d.log() and "max_procs" not in d.log()  # a warning: below the threshold
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    d = pycadvisor_daemon_factory("-logtostderr=false", f"-log_dir={log_dir}", "-stderrthreshold=INFO")
    info = log_dir / "pycadvisor.INFO"
    wait_until(lambda: info.exists() and "listening on" in info.read_text(), timeout=10, what="the INFO file")
    assert info.resolve().name.startswith("pycadvisor.") and ".log.INFO." in info.resolve().name
    assert "listening on" in d.log()  # -stderrthreshold=INFO: stderr gets it too
    r = run_cli_expecting_exit("-logtostderr=false", f"-log_file={tmp_path}/no/such/dir/log")
    assert r.returncode == 2 and "no/such/dir/log" in r.stderr


def test_file_flags_of_klog_are_noted_when_logging_to_stderr() -> None:
    """As in klog, -log_file and -log_dir change nothing while -logtostderr=true: the log says so."""
    from pycadvisor.cli import no_effect_notes

    notes = no_effect_notes(parse("-log_file=/var/log/c.log", "-max_procs=4"), StorageOptions())
    assert notes == [
        "-max_procs=4 has no effect here: pycadvisor collects on one event-loop thread; GOMAXPROCS has no counterpart",
        "-log_file=/var/log/c.log has no effect with -logtostderr=true (as in klog); add -logtostderr=false",
    ]
    assert no_effect_notes(parse("-logtostderr=false", "-log_file=/var/log/c.log"), StorageOptions()) == []


def test_collector_certificate_flags_exit_2_naming_the_flag(tmp_path: Path) -> None:
    """-collector_cert needs -collector_key (cAdvisor exits: klog.Fatal), and both must load as a key pair."""
    cert = tmp_path / "c.pem"
    cert.write_text("not a certificate")
    r = run_cli_expecting_exit(f"-collector_cert={cert}")
    assert r.returncode == 2 and "for flag -collector_key:" in r.stderr
    r = run_cli_expecting_exit(f"-collector_cert={cert}", f"-collector_key={tmp_path}/none.key")
    assert r.returncode == 2 and f'invalid value "{cert}" for flag -collector_cert:' in r.stderr
