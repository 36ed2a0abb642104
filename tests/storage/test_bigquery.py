"""BigQuery driver up to the requests its client library sends.

BigQuery cannot be reached from here. The driver runs the real ``google-cloud-bigquery`` client and
google-auth service-account flow against a local HTTP endpoint (``bq_api_endpoint``, ``bq_token_uri``)
that answers like the BigQuery REST API and Google's token endpoint, and records every request: the
tests check the OAuth JWT grant, the dataset and table the driver creates, the schema, and the rows.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from pycadvisor.model import codec
from pycadvisor.storage.options import StorageOptions
from storage._helpers import IMAGE, LABELS, add_all, burst, cgroup_sample, options, poll, running
from support.cgroups import TestCgroup
from support.services import free_port

bigquery = pytest.importorskip("google.cloud.bigquery", reason="google-cloud-bigquery (extra 'bigquery')")

ACCOUNT = "cadvisor@example-project.iam.gserviceaccount.com"
PROJECT = "example-project"
TOKEN = "ya29.test-token"

CADVISOR_SCHEMA = [
    ("timestamp", "TIMESTAMP", "REQUIRED"),
    ("machine", "STRING", "REQUIRED"),
    ("container_name", "STRING", "REQUIRED"),
    *(
        (name, "INTEGER", "NULLABLE")
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
    ("fs_device", "STRING", "NULLABLE"),
    ("fs_limit", "INTEGER", "NULLABLE"),
    ("fs_usage", "INTEGER", "NULLABLE"),
]


class FakeBigQuery:
    """Google's token endpoint and the BigQuery v2 REST calls the driver makes, on 127.0.0.1."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.grants: list[dict[str, Any]] = []
        self.datasets: list[dict[str, Any]] = []
        self.tables: dict[str, dict[str, Any]] = {}
        self.inserts: list[dict[str, Any]] = []
        self.fail_inserts = 0  # answer 503 to this many insertAll calls
        self.refuse_row: str | None = None  # container_name whose rows are "invalid"
        self._runner: web.AppRunner | None = None

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        claims_b64 = str(form["assertion"]).split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(claims_b64 + "=" * (-len(claims_b64) % 4)))
        self.grants.append({"grant_type": form["grant_type"], **claims})
        return web.json_response({"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"})

    async def create_dataset(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": {"code": 401}}, status=401)
        body = await request.json()
        self.datasets.append(body)
        return web.json_response({**body, "id": f"{PROJECT}:{body['datasetReference']['datasetId']}"})

    async def get_table(self, request: web.Request) -> web.Response:
        table = self.tables.get(request.match_info["table"])
        if table is None:
            return web.json_response({"error": {"code": 404, "message": "Not found: Table"}}, status=404)
        return web.json_response(table)

    async def create_table(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.tables[body["tableReference"]["tableId"]] = body
        return web.json_response(body)

    async def insert_all(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": {"code": 401}}, status=401)
        if self.fail_inserts:
            self.fail_inserts -= 1
            return web.json_response({"error": {"code": 503, "message": "backend down"}}, status=503)
        body = await request.json()
        errors = []
        if self.refuse_row is not None:
            for i, row in enumerate(body["rows"]):
                bad = row["json"]["container_name"] == self.refuse_row
                errors.append({"index": i, "errors": [{"reason": "invalid" if bad else "stopped"}]})
        if errors:
            self.refuse_row = None
            return web.json_response({"kind": "bigquery#tableDataInsertAllResponse", "insertErrors": errors})
        self.inserts.append({"path": request.path, **body})
        return web.json_response({"kind": "bigquery#tableDataInsertAllResponse"})

    async def start(self) -> None:
        app = web.Application()
        base = "/bigquery/v2/projects/{project}/datasets"
        app.router.add_post("/token", self.token)
        app.router.add_post(base, self.create_dataset)
        app.router.add_get(base + "/{dataset}/tables/{table}", self.get_table)
        app.router.add_post(base + "/{dataset}/tables", self.create_table)
        app.router.add_post(base + "/{dataset}/tables/{table}/insertAll", self.insert_all)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def rows(self) -> list[dict[str, Any]]:
        return [r for call in self.inserts for r in call["rows"]]


@pytest.fixture
def pem_key(tmp_path: Path) -> str:
    key = str(tmp_path / "key.pem")
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return key


def bq_options(fake: FakeBigQuery, key: str, **kw: Any) -> StorageOptions:
    return options(
        "bigquery",
        bq_id="client-id.apps.googleusercontent.com",
        bq_account=ACCOUNT,
        bq_project_id=PROJECT,
        bq_credentials_file=key,
        bq_api_endpoint=fake.url,
        bq_token_uri=fake.url + "/token",
        **kw,
    )


def test_rows_of_a_test_cgroup_as_cadvisors_client_sends_them(test_cgroup: TestCgroup, pem_key: str) -> None:
    ref, spec, stats = cgroup_sample(test_cgroup)
    fake = FakeBigQuery()

    async def main() -> None:
        await fake.start()
        try:
            async with running(bq_options(fake, pem_key), "node-a") as driver:
                driver.add_stats(ref, spec, stats)
                await poll(lambda: fake.rows(), timeout=60, what="an insertAll request")
        finally:
            await fake.stop()

    asyncio.run(main())
    # Service-account JWT bearer grant for the BigQuery scope, issued by bq_account.
    [grant] = fake.grants
    assert grant["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert grant["iss"] == ACCOUNT and "https://www.googleapis.com/auth/bigquery" in grant["scope"]
    # cAdvisor's argument order: dataset = -storage_driver_table, table = -storage_driver_db.
    [dataset] = fake.datasets
    assert dataset["datasetReference"] == {"projectId": PROJECT, "datasetId": "stats"}
    [table] = fake.tables.values()
    assert table["tableReference"] == {"projectId": PROJECT, "datasetId": "stats", "tableId": "cadvisor"}
    fields = table["schema"]["fields"]
    assert [(f["name"], f["type"], f.get("mode", "NULLABLE")) for f in fields[:19]] == CADVISOR_SCHEMA
    assert [f["name"] for f in fields[19:]] == ["container_image", "container_labels"]
    [call] = fake.inserts
    assert call["path"] == f"/bigquery/v2/projects/{PROJECT}/datasets/stats/tables/cadvisor/insertAll"
    assert call["ignoreUnknownValues"] is True
    [row] = call["rows"]
    assert row["insertId"] == f"node-a:{test_cgroup.name}:{stats.timestamp}:0"
    assert stats.cpu is not None and stats.memory is not None
    assert row["json"] == {
        "timestamp": codec.format_time(stats.timestamp),
        "machine": "node-a",
        "container_name": test_cgroup.name,
        "container_image": IMAGE,
        "container_labels": [{"key": k, "value": v} for k, v in sorted(LABELS.items())],
        "cpu_cumulative_usage": stats.cpu.usage.total,
        "cpu_cumulative_usage_system": stats.cpu.usage.system,
        "cpu_cumulative_usage_user": stats.cpu.usage.user,
        "memory_usage": stats.memory.usage,
        "memory_working_set": stats.memory.working_set,
        "memory_container_pgfault": stats.memory.container_data.pgfault,
        "memory_container_pgmajfault": stats.memory.container_data.pgmajfault,
        "memory_hierarchical_pgfault": stats.memory.hierarchical_data.pgfault,
        "memory_hierarchical_pgmajfault": stats.memory.hierarchical_data.pgmajfault,
    }


def test_burst_outage_and_refused_rows(test_cgroup: TestCgroup, pem_key: str) -> None:
    samples = burst(cgroup_sample(test_cgroup), 200, distinct_names=True)
    fake = FakeBigQuery()

    async def main() -> tuple[int, int, int]:
        await fake.start()
        try:
            async with running(bq_options(fake, pem_key)) as driver:
                add_all(driver, samples[:100])
                await poll(lambda: len(fake.rows()) == 100, timeout=60, what="100 rows")
                fake.fail_inserts = 3  # BigQuery answers 503 three times (the client library retries those)
                add_all(driver, samples[100:150])
                await poll(lambda: len(fake.rows()) == 150, timeout=60, what="50 rows after the outage")
                assert fake.fail_inserts == 0
                fake.refuse_row = "c0170"  # one invalid row: the others are retried
                add_all(driver, samples[150:])
                await poll(lambda: len(fake.rows()) == 199, timeout=60, what="the valid rows")
        finally:
            await fake.stop()
        s = driver.stats()
        return s.written, s.dropped, s.errors

    written, dropped, errors = asyncio.run(main())
    assert (written, dropped) == (199, 1)
    assert errors == 1  # the insert with the invalid row
    names = [r["json"]["container_name"] for r in fake.rows()]
    assert sorted(names) == sorted(f"c{i:04d}" for i in range(200) if i != 170)  # each exactly once


def test_missing_credentials_fail_at_start_with_cadvisors_messages(pem_key: str) -> None:
    from pycadvisor.storage.registry import build_drivers

    complete = StorageOptions(
        storage_driver="bigquery", bq_id="id", bq_account=ACCOUNT, bq_project_id=PROJECT, bq_credentials_file=pem_key
    )
    for opts, message in [
        (dataclasses.replace(complete, bq_id=""), "no client id specified"),
        (dataclasses.replace(complete, bq_account=""), "no service account specified"),
        (dataclasses.replace(complete, bq_project_id=""), "no project id specified"),
        (dataclasses.replace(complete, bq_credentials_file=""), "no credentials specified"),
    ]:
        with pytest.raises(ValueError, match=message):
            build_drivers(opts, machine_name="n")
    with pytest.raises(ValueError, match="could not access credential file"):
        build_drivers(dataclasses.replace(complete, bq_credentials_file="/nonexistent.pem"), machine_name="n")
