"""``--storage_driver=bigquery``: streaming inserts (cAdvisor ``cmd/internal/storage/bigquery``).

Connection as cAdvisor's ``bigquery/client``: a service account (``bq_account``) whose private key is
the PEM file ``bq_credentials_file`` gets an OAuth2 token (JWT bearer grant) for project
``bq_project_id``; ``bq_id`` must be set too (cAdvisor refuses to start without it) and ``bq_secret`` is
accepted but has no use in this flow. A JSON service-account key file is accepted as well.

Dataset and table: cAdvisor calls ``newStorage(hostname, *ArgDbTable, *ArgDbName)`` against the
signature ``newStorage(machineName, datasetID, tableName)``, so the **dataset is
``storage_driver_table``** ("stats") and the **table is ``storage_driver_db``** ("cadvisor"); kept, so
an existing deployment finds its table. Both are created when missing, the table with :data:`SCHEMA`
(cAdvisor's 19 columns, plus ``container_image`` and ``container_labels``, ours); an existing table's
schema is not changed, and unknown columns are ignored on insert so older tables keep working.

Rows: one per sample (members the sample lacks are left NULL), plus one per filesystem with
``fs_device``, ``fs_limit``, ``fs_usage``. cAdvisor's filesystem rows lack the REQUIRED ``timestamp``,
``machine`` and ``container_name`` and so are always refused; ours carry them. Rows are inserted in
batches (cAdvisor: one request per row) with insert ids ``<machine>:<container>:<time ns>:<n>``, which
BigQuery uses to drop duplicates of a retried batch.

``bq_api_endpoint`` and ``bq_token_uri`` (ours) point the client at another server, e.g. an emulator.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from google.api_core.exceptions import GoogleAPICallError, NotFound
from google.auth import crypt as _crypt
from google.cloud import bigquery
from google.oauth2 import service_account as _service_account

from pycadvisor.model.codec import format_time
from pycadvisor.storage.base import Sample, container_name
from pycadvisor.storage.buffer import BufferedDriver, PartialWrite, encode_batch
from pycadvisor.storage.options import StorageOptions
from pycadvisor.storage.worker import BlockingWorker

# google-auth's constructors are untyped: reach them through Any.
_Credentials: Any = _service_account.Credentials
_RSASigner: Any = _crypt.RSASigner

SCOPE = "https://www.googleapis.com/auth/bigquery"
TOKEN_URI = "https://oauth2.googleapis.com/token"
TIMEOUT_S = 15.0

_INT = "INTEGER"
# cAdvisor's GetSchema(), column order kept; then ours.
SCHEMA: list[bigquery.SchemaField] = [
    bigquery.SchemaField("timestamp", "TIMESTAMP", mode="REQUIRED"),
    bigquery.SchemaField("machine", "STRING", mode="REQUIRED"),
    bigquery.SchemaField("container_name", "STRING", mode="REQUIRED"),
    *(
        bigquery.SchemaField(name, _INT)
        for name in (
            "cpu_cumulative_usage",
            "cpu_cumulative_usage_system",
            "cpu_cumulative_usage_user",
            "memory_usage",
            "memory_working_set",
            "memory_container_pgfault",
            "memory_container_pgmajfault",
            "memory_hierarchical_pgfault",
            "memory_hierarchical_pgmajfault",
            "rx_bytes",
            "rx_errors",
            "tx_bytes",
            "tx_errors",
        )
    ),
    bigquery.SchemaField("fs_device", "STRING"),
    bigquery.SchemaField("fs_limit", _INT),
    bigquery.SchemaField("fs_usage", _INT),
    bigquery.SchemaField("container_image", "STRING"),
    bigquery.SchemaField(
        "container_labels",
        "RECORD",
        mode="REPEATED",
        fields=[bigquery.SchemaField("key", "STRING"), bigquery.SchemaField("value", "STRING")],
    ),
]


def sample_rows(sample: Sample, machine_name: str, *, include_labels: bool) -> list[dict[str, Any]]:
    """The rows of one sample: the stats row, then one row per filesystem."""
    stats = sample.stats
    base: dict[str, Any] = {
        "timestamp": format_time(stats.timestamp),
        "machine": machine_name,
        "container_name": container_name(sample.ref),
    }
    if include_labels:
        if sample.spec.image:
            base["container_image"] = sample.spec.image
        if sample.spec.labels:
            base["container_labels"] = [{"key": k, "value": v} for k, v in sorted(sample.spec.labels.items())]
    row = dict(base)
    if stats.cpu is not None:
        row["cpu_cumulative_usage"] = stats.cpu.usage.total
        row["cpu_cumulative_usage_system"] = stats.cpu.usage.system
        row["cpu_cumulative_usage_user"] = stats.cpu.usage.user
    if stats.memory is not None:
        m = stats.memory
        row["memory_usage"] = m.usage
        row["memory_working_set"] = m.working_set
        row["memory_container_pgfault"] = m.container_data.pgfault
        row["memory_container_pgmajfault"] = m.container_data.pgmajfault
        row["memory_hierarchical_pgfault"] = m.hierarchical_data.pgfault
        row["memory_hierarchical_pgmajfault"] = m.hierarchical_data.pgmajfault
    if stats.network is not None:
        n = stats.network
        row["rx_bytes"] = n.rx_bytes
        row["rx_errors"] = n.rx_errors
        row["tx_bytes"] = n.tx_bytes
        row["tx_errors"] = n.tx_errors
    rows = [row]
    for fs in stats.filesystem or ():
        rows.append({**base, "fs_device": fs.device, "fs_limit": fs.capacity, "fs_usage": fs.usage})
    return rows


def load_credentials(opts: StorageOptions) -> Any:
    """Service-account credentials from the bq_* flags; ``ValueError`` with cAdvisor's messages."""
    if not opts.bq_id:
        raise ValueError("bigquery: no client id specified")
    if not opts.bq_account:
        raise ValueError("bigquery: no service account specified")
    if not opts.bq_project_id:
        raise ValueError("bigquery: no project id specified")
    if not opts.bq_credentials_file:
        raise ValueError("bigquery: no credentials specified")
    try:
        with open(opts.bq_credentials_file, "rb") as f:
            key = f.read()
    except OSError as exc:
        raise ValueError(f"bigquery: could not access credential file {opts.bq_credentials_file} - {exc}") from exc
    token_uri = opts.bq_token_uri or TOKEN_URI
    try:
        if key.lstrip().startswith(b"{"):  # a JSON key file
            info = json.loads(key)
            info["token_uri"] = opts.bq_token_uri or info.get("token_uri") or TOKEN_URI
            info.setdefault("client_email", opts.bq_account)
            return _Credentials.from_service_account_info(info, scopes=[SCOPE])
        signer = _RSASigner.from_string(key)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"bigquery: bad credential file {opts.bq_credentials_file}: {exc}") from exc
    return _Credentials(signer, opts.bq_account, token_uri, scopes=[SCOPE], project_id=opts.bq_project_id)


class BigQueryDriver(BufferedDriver):
    name = "bigquery"

    def __init__(self, opts: StorageOptions, *, machine_name: str) -> None:
        super().__init__(opts, machine_name=machine_name)
        self._credentials = load_credentials(opts)
        self._project = opts.bq_project_id
        self._dataset = opts.storage_driver_table  # sic: cAdvisor's argument order, see the module doc
        self._table_name = opts.storage_driver_db
        self._endpoint = opts.bq_api_endpoint
        self._client: Any = None
        self._table: Any = None
        self._retry = bigquery.DEFAULT_RETRY.with_timeout(TIMEOUT_S)
        self._worker = BlockingWorker(self.name)

    def encode(self, sample: Sample) -> list[dict[str, Any]]:
        return sample_rows(sample, self.machine_name, include_labels=self.include_labels)

    def _prepare(self) -> Any:
        """Create the client, the dataset and the table, once (BigQuery ``client.CreateDataset/Table``)."""
        if self._client is None:
            options = {"api_endpoint": self._endpoint} if self._endpoint else None
            self._client = bigquery.Client(project=self._project, credentials=self._credentials, client_options=options)
        if self._table is None:
            client = self._client
            dataset = bigquery.DatasetReference(self._project, self._dataset)
            client.create_dataset(bigquery.Dataset(dataset), exists_ok=True, retry=self._retry, timeout=TIMEOUT_S)
            ref = dataset.table(self._table_name)
            try:
                table = client.get_table(ref, retry=self._retry, timeout=TIMEOUT_S)
            except NotFound:
                table = client.create_table(
                    bigquery.Table(ref, schema=SCHEMA), exists_ok=True, retry=self._retry, timeout=TIMEOUT_S
                )
            self._table = table
        return self._table

    async def write(self, batch: Sequence[Sample]) -> None:
        await self._worker.run(self._write_sync, batch)

    def _write_sync(self, batch: Sequence[Sample]) -> None:
        per_sample, index = encode_batch(batch, self.encode, self.log, self.name)
        bad = len(batch) - len(index)
        rows: list[dict[str, Any]] = []
        ids: list[str] = []
        owner: list[int] = []  # batch index of each row
        for rows_of_sample, i in zip(per_sample, index, strict=True):
            s = batch[i]
            stem = f"{self.machine_name}:{container_name(s.ref)}:{s.stats.timestamp}"
            for n, row in enumerate(rows_of_sample):
                rows.append(row)
                ids.append(f"{stem}:{n}")
                owner.append(i)
        if rows:
            table = self._prepare()
            try:
                errors = self._client.insert_rows_json(
                    table, rows, row_ids=ids, ignore_unknown_values=True, retry=self._retry, timeout=TIMEOUT_S
                )
            except NotFound:
                self._table = None  # dropped behind our back: recreate on the next attempt
                raise
            except GoogleAPICallError:
                raise
            if errors:
                retry: set[int] = set()
                refused: set[int] = set()
                for e in errors:
                    reasons = {str(x.get("reason", "")) for x in e.get("errors", ())}
                    sample_i = owner[int(e.get("index", 0))]
                    (refused if "invalid" in reasons else retry).add(sample_i)
                retry -= refused
                worst = next(
                    (e for e in errors if any(x.get("reason") == "invalid" for x in e.get("errors", ()))), None
                )
                detail = f"{len(errors)} rows not inserted: {worst or errors[0]}"
                raise PartialWrite(sorted(retry), len(refused) + bad, detail)
        if bad:
            raise PartialWrite([], bad, "samples that could not be encoded")

    async def close_client(self) -> None:
        self._worker.shutdown()
        if self._client is not None:
            self._client.close()
            self._client = None
