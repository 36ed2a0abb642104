"""Elasticsearch driver against Elasticsearch-API emulators on 127.0.0.1.

No real Elasticsearch or OpenSearch can be installed here (scripts/lib/install.sh installs what can be).
The tests use the two emulators that ship in PyPI wheels: noida-db (reports Elasticsearch 8.15.3) and
osmem-server (reports OpenSearch 3.8). They implement ``/``, ``_bulk``, ``_refresh``, ``_search`` and ``/_nodes/http``
as the real servers do, which is all the driver uses.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from pycadvisor.model import codec
from pycadvisor.storage.options import StorageOptions
from storage._helpers import IMAGE, add_all, burst, cgroup_sample, crash, options, poll, revive, running
from support.cgroups import TestCgroup
from support.procs import memory_holder
from support.services import ESServer, http_json

INDEX = "pycad-stats"
MIB = 1 << 20


def driver_opts(srv: ESServer, **kw: Any) -> StorageOptions:
    return options("elasticsearch", storage_driver_es_host=srv.url, storage_driver_es_index=INDEX, **kw)


def sources(srv: ESServer) -> list[dict[str, Any]]:
    return [h["_source"] for h in srv.search(INDEX)]


def hits(srv: ESServer) -> int:
    try:
        return len(srv.search(INDEX))
    except RuntimeError:  # index not created yet
        return 0


@pytest.mark.parametrize("flavor", ["noida", "osmem"])
def test_documents_of_a_test_cgroup_arrive_with_cadvisors_shape(
    flavor: str, test_cgroup: TestCgroup, es_server_factory: Callable[[str], ESServer]
) -> None:
    srv = es_server_factory(flavor)
    memory_holder(test_cgroup, 16)
    ref, spec, stats = cgroup_sample(test_cgroup)

    async def main() -> None:
        async with running(driver_opts(srv), "node-a") as driver:
            driver.add_stats(ref, spec, stats)
            await poll(lambda: driver.stats().written == 1, timeout=30, what="the document indexed")

    asyncio.run(main())
    [hit] = srv.search(INDEX)
    assert hit["_id"] == f"node-a:{test_cgroup.name}:{stats.timestamp}"
    doc = hit["_source"]
    assert set(doc) == {
        "timestamp",
        "machine_name",
        "container_Name",
        "container_labels",
        "container_image",
        "container_stats",
    }
    assert doc["timestamp"] == stats.timestamp // 1000
    assert doc["machine_name"] == "node-a" and doc["container_Name"] == test_cgroup.name
    assert doc["container_labels"] == {"com_example_team": "storage tests", "tier": "backend"}  # de-dotted
    assert doc["container_image"] == IMAGE
    assert doc["container_stats"] == json.loads(codec.dumps(stats))
    assert doc["container_stats"]["memory"]["usage"] >= 16 * MIB


def test_every_sample_of_a_burst_is_indexed_once(
    test_cgroup: TestCgroup, es_server_factory: Callable[[str], ESServer]
) -> None:
    srv = es_server_factory("osmem")
    samples = burst(cgroup_sample(test_cgroup), 300)

    async def main() -> tuple[int, int]:
        async with running(driver_opts(srv, storage_driver_es_enable_sniffer=True)) as driver:
            add_all(driver, samples)
            await poll(lambda: driver.stats().written == 300, timeout=60, what="300 indexed")
            add_all(driver, samples[:10])  # the same samples again (a resent batch): overwritten, not duplicated
            await poll(lambda: driver.stats().written == 310, timeout=60, what="10 more indexed")
        return driver.stats().written, driver.stats().dropped

    assert asyncio.run(main()) == (310, 0)
    got = sorted(d["timestamp"] for d in sources(srv))
    assert got == [st.timestamp // 1000 for _, _, st in samples]


def test_server_killed_mid_run_then_back_gets_everything_buffered(
    test_cgroup: TestCgroup, es_server_factory: Callable[[str], ESServer]
) -> None:
    srv = es_server_factory("noida")
    samples = burst(cgroup_sample(test_cgroup), 100)
    during = {st.timestamp // 1000 for _, _, st in samples[50:]}

    def indexed() -> set[int]:
        try:
            return {d["timestamp"] for d in sources(srv)}
        except RuntimeError:  # no index yet
            return set()

    async def main() -> None:
        async with running(driver_opts(srv)) as driver:
            add_all(driver, samples[:50])
            await poll(lambda: hits(srv) == 50, timeout=30, what="first 50")
            await poll(lambda: driver.stats().written == 50, timeout=30, what="first 50 acknowledged")
            crash(srv)
            add_all(driver, samples[50:])
            await poll(lambda: driver.stats().errors >= 2, timeout=60, what="failed attempts while the server is down")
            await asyncio.to_thread(revive, srv, lambda: "version" in http_json("GET", srv.url + "/", timeout=2))
            # noida-db loses what it had not yet saved when killed; the 50 sent meanwhile must all arrive.
            await poll(lambda: during <= indexed(), timeout=60, what="the 50 buffered documents")
        s = driver.stats()
        assert (s.written, s.dropped, s.buffered) == (100, 0, 0)

    asyncio.run(main())
