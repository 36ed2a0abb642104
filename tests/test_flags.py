"""Go flag syntax and cAdvisor's flag names on the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pycadvisor.config import Config
from pycadvisor.flags import FlagError, parse_args
from pycadvisor.storage.options import StorageOptions
from support.procs import run_cli_expecting_exit


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
