"""An endpoint that answers new label values at every poll holds a bounded table, not one that grows for ever.

The poller runs as the daemon runs it (its thread pool, a real HTTP GET from the "container's" network
namespace: this process's own, config read through ``/proc/<pid>/root``) against an endpoint on 127.0.0.1
whose ``request_id`` label takes two new values at each poll, beside a series that never changes.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycadvisor.appmetrics.fetch import Fetcher, client_tls_context
from pycadvisor.appmetrics.labels import LabelTable
from pycadvisor.appmetrics.poller import AppMetricsPoller
from pycadvisor.model.container import MetricVal
from storage._helpers import poll
from support.ci import is_root, require

LIMIT = 3
NAME = "/app"


class _Endless(http.server.BaseHTTPRequestHandler):
    """Answer ``n``: ``app_requests_total{request_id="r<2n>"}`` and ``"r<2n+1>"``, and ``app_up``."""

    served: list[int]

    def do_GET(self) -> None:
        n = len(self.served)
        self.served.append(n)
        lines = [f'app_requests_total{{request_id="r{i}"}} {i}' for i in (2 * n, 2 * n + 1)]
        body = ("# TYPE app_requests_total counter\n" + "\n".join(lines) + "\n# TYPE app_up gauge\napp_up 1\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def endless() -> Iterator[tuple[str, list[int]]]:
    served: list[int] = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Endless,), {"served": served}))
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics", served
    finally:
        server.shutdown()
        server.server_close()


def _errors(poller: AppMetricsPoller) -> float:
    return sum(
        s.value for f in poller.families() for s in f.samples if s.labels == {"id": NAME, "collector": "prometheus"}
    )


def test_new_label_values_at_every_poll_are_refused_past_the_limit_counted_and_logged(
    endless: tuple[str, list[int]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    require(is_root(), "entering a network namespace (setns) needs root")
    url, served = endless
    config = tmp_path / "prom.json"
    config.write_text(json.dumps({"endpoint": url, "polling_frequency": "1s"}))
    fetcher = Fetcher(proc_root="/proc", tls=client_tls_context(), timeout_s=5.0, max_bytes=1 << 20)
    poller = AppMetricsPoller(fetcher=fetcher, count_limit=LIMIT)

    observed: set[str] = set()  # every request_id seen in the latest answer

    def refused_twice() -> dict[str, list[MetricVal]] | None:
        got = poller.latest(NAME)
        if got is None:
            return None
        observed.update(mv.labels["request_id"] for mv in got[1].get("app_requests_total", ()))
        return got[1] if _errors(poller) >= 2 else None

    async def main() -> None:
        poller.watch(NAME, {"io.cadvisor.metric.prometheus": str(config)}, os.getpid())
        try:
            # Answer 0 brings r0 and r1, answer 1 r2 (the third value) and r3 (refused); from answer 2 on every
            # request_id is refused. The steady series goes on, the table stays full.
            latest = await poll(refused_twice, timeout=30, what="two answers with refused series")
            assert set(latest) == {"app_up"} and [mv.float_value for mv in latest["app_up"]] == [1.0]
            assert poller.label_values(NAME) == LIMIT
            assert observed <= {"r0", "r1", "r2"} and len(served) >= 3
        finally:
            await poller.close()

    with caplog.at_level(logging.WARNING, logger="pycadvisor.appmetrics.poller"):
        asyncio.run(main())
    refusal = (
        "series refused: label 'request_id' of metric 'app_requests_total' has taken its 3 values "
        "(-application_metrics_count_limit=3)"
    )
    assert caplog.text.count(refusal) == 1  # logged once, though every answer since refuses


def test_label_table_bounds_metric_names_label_names_and_values() -> None:
    table = LabelTable(2)

    def series(name: str, **labels: str) -> dict[str, list[MetricVal]]:
        return {name: [MetricVal(labels=dict(labels), timestamp=1, float_value=1.0)]}

    kept, refused = table.admit(series("a", x="1", y="1") | series("b"))
    assert set(kept) == {"a", "b"} and refused is None
    kept, refused = table.admit(series("c"))  # a third metric name
    assert kept == {} and refused is not None and (refused.metric, refused.label, refused.series) == ("c", None, 1)
    kept, refused = table.admit(series("a", x="1", z="1"))  # a third label name
    assert kept == {} and refused is not None and refused.label == "z"
    kept, refused = table.admit(series("a", x="2", y="2"))
    assert refused is None and len(table) == 4
    # x="3" is a third value: the series is refused, and none of its values is admitted.
    kept, refused = table.admit(series("a", y="1", x="3"))
    assert kept == {} and refused is not None and refused.label == "x" and len(table) == 4
    # An admitted value is the interned string of its first answer.
    first, later = str(10**30), str(10**30)
    assert first is not later
    table.admit(series("b", v=first))
    kept, _ = table.admit(series("b", v=later))
    assert kept["b"][0].labels["v"] is first
