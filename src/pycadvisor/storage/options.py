"""Storage driver settings: one field per command-line flag, named exactly as cAdvisor's flags.

cAdvisor defines these flags in ``lib/storage/common_flags.go`` (shared ones) and in each driver
package (``cmd/internal/storage/<driver>/``); defaults and help texts are copied from there. Fields
below the ``pycadvisor additions`` line are ours. The CLI registers one flag per field, generically:
``metadata["help"]`` is the help text and ``metadata["kind"] == "duration"`` marks a Go-duration flag
(``1m30s``) held as int nanoseconds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

_SECOND = 1_000_000_000


def _flag(default: Any, help: str, *, kind: str | None = None) -> Any:
    meta: dict[str, str] = {"help": help}
    if kind:
        meta["kind"] = kind
    return dataclasses.field(default=default, metadata=meta)


@dataclass(slots=True, kw_only=True)
class StorageOptions:
    """Every storage flag; field name == flag name, defaults == cAdvisor's defaults."""

    # --- cmd/storagedriver.go
    storage_driver: str = _flag(
        "",
        "Storage `driver` to use. Data is always cached shortly in memory, this controls where data is "
        "pushed besides the local cache. Empty means none, multiple separated by commas. Options are: "
        "<empty>, bigquery, elasticsearch, influxdb, kafka, redis, remote_write, statsd, stdout",
    )
    # --- lib/storage/common_flags.go (shared by several backends)
    storage_driver_user: str = _flag("root", "database username")
    storage_driver_password: str = _flag("root", "database password")
    storage_driver_host: str = _flag("localhost:8086", "database host:port")
    storage_driver_db: str = _flag("cadvisor", "database name")
    storage_driver_table: str = _flag("stats", "table name")
    storage_driver_secure: bool = _flag(False, "use secure connection with database")
    storage_driver_buffer_duration: int = _flag(
        60 * _SECOND,
        "Writes in the storage driver will be buffered for this duration, and committed to the non memory "
        "backends as a single transaction",
        kind="duration",
    )
    # --- cmd/internal/storage/influxdb
    storage_driver_influxdb_retention_policy: str = _flag("", "retention policy")
    # --- cmd/internal/storage/elasticsearch
    storage_driver_es_host: str = _flag("http://localhost:9200", "ElasticSearch host:port")
    storage_driver_es_index: str = _flag("cadvisor", "ElasticSearch index name")
    storage_driver_es_type: str = _flag("stats", "ElasticSearch type name")
    storage_driver_es_enable_sniffer: bool = _flag(
        False,
        "ElasticSearch uses a sniffing process to find all nodes of your cluster by default, automatically",
    )
    # --- cmd/internal/storage/kafka
    storage_driver_kafka_broker_list: str = _flag("localhost:9092", "kafka broker(s) csv")
    storage_driver_kafka_topic: str = _flag("stats", "kafka topic")
    storage_driver_kafka_ssl_cert: str = _flag("", "optional certificate file for TLS client authentication")
    storage_driver_kafka_ssl_key: str = _flag("", "optional key file for TLS client authentication")
    storage_driver_kafka_ssl_ca: str = _flag("", "optional certificate authority file for TLS client authentication")
    storage_driver_kafka_ssl_verify: bool = _flag(True, "verify ssl certificate chain")
    # --- cmd/internal/storage/bigquery/client
    bq_id: str = _flag("", "Client ID")
    bq_secret: str = _flag("notasecret", "Client Secret")
    bq_project_id: str = _flag("", "Bigquery project ID")
    bq_account: str = _flag("", "Service account email")
    bq_credentials_file: str = _flag("", "Credential Key file (pem)")

    # --- pycadvisor additions
    storage_driver_include_labels: bool = _flag(
        True,
        "Add the container's labels and image to every record pushed to a storage driver (cAdvisor's drivers "
        "never did); statsd has no place for them",
    )
    storage_driver_buffer_size: int = _flag(
        10_000,
        "Samples each storage driver holds while its backend is slow or down; when full the oldest are "
        "dropped (counted in pycadvisor_storage_dropped_total)",
    )
    storage_driver_batch_size: int = _flag(
        500, "Most samples a storage driver sends in one write (a full batch is sent at once)"
    )
    storage_driver_retry_max_interval: int = _flag(
        30 * _SECOND,
        "Longest wait between retries while a storage backend is down (retries back off from 250ms)",
        kind="duration",
    )
    storage_driver_close_timeout: int = _flag(
        5 * _SECOND,
        "On shutdown, how long storage drivers may keep flushing buffered samples",
        kind="duration",
    )
    storage_driver_remote_write_bearer_token_file: str = _flag(
        "", "File holding the bearer token sent to the remote_write URL (read at each request)"
    )
    storage_driver_remote_write_external_labels: str = _flag(
        "",
        "Labels added to every series pushed by remote_write, name=value[,name=value...] (as Prometheus' "
        "external_labels; e.g. instance=<host> when several hosts push to one Prometheus)",
    )
    storage_driver_remote_write_ca_file: str = _flag(
        "", "CA certificates (PEM) that verify an https remote_write URL (empty: the system's)"
    )
    bq_api_endpoint: str = _flag("", "BigQuery API base URL (empty: Google's; set for an emulator)")
    bq_token_uri: str = _flag("", "OAuth2 token URL for the BigQuery service account (empty: Google's)")

    def driver_names(self) -> list[str]:
        """The comma-separated ``storage_driver`` list, blanks and repeats removed, order kept."""
        out: list[str] = []
        for part in self.storage_driver.split(","):
            name = part.strip()
            if name and name not in out:
                out.append(name)
        return out

    def validate(self) -> None:
        """Raise ``ValueError`` for settings no driver can work with."""
        if self.storage_driver_buffer_size < 1:
            raise ValueError("storage_driver_buffer_size must be at least 1")
        if self.storage_driver_batch_size < 1:
            raise ValueError("storage_driver_batch_size must be at least 1")
        for name in ("storage_driver_buffer_duration", "storage_driver_retry_max_interval"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.storage_driver_close_timeout < 0:
            raise ValueError("storage_driver_close_timeout must not be negative")


def split_host_port(hostport: str, default_port: int) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` too) as Go's ``net.SplitHostPort``; no port → ``default_port``."""
    s = hostport.strip()
    if not s:
        raise ValueError("empty host")
    if s.startswith("["):
        end = s.find("]")
        if end < 0:
            raise ValueError(f"missing ']' in address {hostport!r}")
        host, rest = s[1:end], s[end + 1 :]
        if not rest:
            return host, default_port
        if not rest.startswith(":"):
            raise ValueError(f"bad address {hostport!r}")
        port_s = rest[1:]
    elif s.count(":") == 1:
        host, port_s = s.split(":")
    elif ":" in s:  # a bare IPv6 address
        return s, default_port
    else:
        return s, default_port
    if not port_s.isdigit() or not 0 < int(port_s) < 65536:
        raise ValueError(f"bad port in address {hostport!r}")
    return host or "localhost", int(port_s)
