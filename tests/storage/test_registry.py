"""Driver selection, flags and start-up errors: what a user sees when configuring storage."""

from __future__ import annotations

import dataclasses
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from pycadvisor.storage.options import StorageOptions, split_host_port
from pycadvisor.storage.registry import build_drivers, check_driver_names, list_drivers, storage_families

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable

VALID = "bigquery, elasticsearch, influxdb, kafka, redis, remote_write, statsd, stdout"

# cadvisor-interfaces §3 (lib/storage/common_flags.go and the driver packages): name -> default.
CADVISOR_FLAGS = {
    "storage_driver": "",
    "storage_driver_user": "root",
    "storage_driver_password": "root",
    "storage_driver_host": "localhost:8086",
    "storage_driver_db": "cadvisor",
    "storage_driver_table": "stats",
    "storage_driver_secure": False,
    "storage_driver_buffer_duration": 60 * 10**9,
    "storage_driver_influxdb_retention_policy": "",
    "storage_driver_es_host": "http://localhost:9200",
    "storage_driver_es_index": "cadvisor",
    "storage_driver_es_type": "stats",
    "storage_driver_es_enable_sniffer": False,
    "storage_driver_kafka_broker_list": "localhost:9092",
    "storage_driver_kafka_topic": "stats",
    "storage_driver_kafka_ssl_cert": "",
    "storage_driver_kafka_ssl_key": "",
    "storage_driver_kafka_ssl_ca": "",
    "storage_driver_kafka_ssl_verify": True,
    "bq_id": "",
    "bq_secret": "notasecret",
    "bq_project_id": "",
    "bq_account": "",
    "bq_credentials_file": "",
}


def test_every_cadvisor_storage_flag_exists_with_its_default() -> None:
    fields = {f.name: f for f in dataclasses.fields(StorageOptions)}
    defaults = StorageOptions()
    for name, default in CADVISOR_FLAGS.items():
        assert name in fields, name
        assert getattr(defaults, name) == default, name
    for f in fields.values():
        assert f.metadata.get("help"), f"{f.name} has no help"
    durations = {f.name for f in fields.values() if f.metadata.get("kind") == "duration"}
    assert "storage_driver_buffer_duration" in durations
    assert defaults.storage_driver_include_labels is True


def test_storage_driver_help_lists_every_driver() -> None:
    help_text = next(f for f in dataclasses.fields(StorageOptions) if f.name == "storage_driver").metadata["help"]
    assert help_text.endswith("Options are: <empty>, " + VALID)
    assert ", ".join(list_drivers()) == VALID


def test_unknown_driver_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(ValueError) as e:
        build_drivers(StorageOptions(storage_driver="stdout,influx"), machine_name="h")
    assert str(e.value) == f"unknown backend storage driver: influx (valid: {VALID})"
    check_driver_names(["redis", "stdout"])  # no error


def test_driver_list_ignores_blanks_and_repeats() -> None:
    assert build_drivers(StorageOptions(), machine_name="h") == []
    drivers = build_drivers(StorageOptions(storage_driver=" stdout, ,stdout"), machine_name="h")
    assert [d.name for d in drivers] == ["stdout"]


def test_cli_exits_2_on_an_unknown_driver() -> None:
    r = subprocess.run(
        [PYTHON, "-m", "pycadvisor", "-storage_driver=stdout,nosuch"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert r.returncode == 2
    assert f"unknown backend storage driver: nosuch (valid: {VALID})" in r.stderr


def test_only_the_selected_drivers_modules_are_imported() -> None:
    code = (
        "import sys\n"
        "from pycadvisor.storage.options import StorageOptions\n"
        "from pycadvisor.storage.registry import build_drivers\n"
        "build_drivers(StorageOptions(storage_driver='stdout'), machine_name='h')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('redis', 'influxdb', 'kafka', 'google')"
        " or m.startswith('pycadvisor.storage.')))\n"
    )
    r = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO, check=True)
    loaded = eval(r.stdout)
    assert "pycadvisor.storage.stdout" in loaded
    assert not [m for m in loaded if m.split(".")[0] in ("redis", "influxdb", "kafka", "google")]
    assert "pycadvisor.storage.influxdb" not in loaded and "pycadvisor.storage.kafka" not in loaded


def test_bad_settings_fail_at_start() -> None:
    with pytest.raises(ValueError, match="storage_driver_buffer_size"):
        build_drivers(StorageOptions(storage_driver="stdout", storage_driver_buffer_size=0), machine_name="h")
    with pytest.raises(ValueError, match="bad storage_driver_es_host"):
        build_drivers(
            StorageOptions(storage_driver="elasticsearch", storage_driver_es_host="ftp://x"), machine_name="h"
        )
    with pytest.raises(ValueError, match="bad port"):
        build_drivers(StorageOptions(storage_driver="statsd", storage_driver_host="h:99999"), machine_name="h")


def test_split_host_port() -> None:
    assert split_host_port("localhost:8086", 1) == ("localhost", 8086)
    assert split_host_port("redis.local", 6379) == ("redis.local", 6379)
    assert split_host_port("[::1]:6380", 1) == ("::1", 6380)
    assert split_host_port("::1", 7) == ("::1", 7)
    assert split_host_port(":9000", 1) == ("localhost", 9000)


def test_storage_families_count_per_driver() -> None:
    drivers = build_drivers(StorageOptions(storage_driver="stdout"), machine_name="h")
    fams = {f.name: f for f in storage_families(drivers)}
    assert sorted(fams) == [
        "pycadvisor_storage_buffered_samples",
        "pycadvisor_storage_dropped",
        "pycadvisor_storage_errors",
        "pycadvisor_storage_written",
    ]
    written = fams["pycadvisor_storage_written"]
    assert written.type == "counter"
    assert [(s.name, s.labels, s.value) for s in written.samples] == [
        ("pycadvisor_storage_written_total", {"driver": "stdout"}, 0.0)
    ]
    assert storage_families([]) == []


# ---------------------------------------------------------------- kafka TLS flags


def _self_signed(tmp: Path) -> tuple[str, str]:
    """A self-signed certificate and its key, made with the openssl CLI."""
    cert, key = str(tmp / "cert.pem"), str(tmp / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=pycad-test"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def test_kafka_tls_needs_all_three_files_and_honours_verify(tmp_path: Path) -> None:
    from pycadvisor.storage.kafka import tls_context

    assert tls_context(StorageOptions()) is None
    cert, key = _self_signed(tmp_path)
    with pytest.raises(ValueError, match="together"):
        tls_context(StorageOptions(storage_driver_kafka_ssl_cert=cert, storage_driver_kafka_ssl_key=key))
    with pytest.raises(ValueError, match="kafka TLS files"):
        tls_context(
            StorageOptions(
                storage_driver_kafka_ssl_cert=cert,
                storage_driver_kafka_ssl_key=key,
                storage_driver_kafka_ssl_ca=os.path.join(tmp_path, "missing.pem"),
            )
        )
    tls = StorageOptions(
        storage_driver_kafka_ssl_cert=cert,
        storage_driver_kafka_ssl_key=key,
        storage_driver_kafka_ssl_ca=cert,
    )
    verifying = tls_context(tls)
    assert verifying is not None and verifying.verify_mode == ssl.CERT_REQUIRED and verifying.check_hostname
    lax = tls_context(dataclasses.replace(tls, storage_driver_kafka_ssl_verify=False))
    assert lax is not None and lax.verify_mode == ssl.CERT_NONE and not lax.check_hostname
