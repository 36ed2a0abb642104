"""A container's application metrics on its page, in a real headless browser (see test_browser.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from support.appmetrics import run_app_container
from support.procs import wait_until
from ui.uitools import Tab, UiDaemon, http, screenshot

pytestmark = pytest.mark.root


def test_docker_container_page_shows_its_application_metrics(
    ui_daemon: Callable[..., UiDaemon], open_tab: Callable[..., Tab], docker_engine: Any
) -> None:
    d = ui_daemon(f"-docker={docker_engine.endpoint}")
    ctr = run_app_container(docker_engine, with_failures=False)  # started after the daemon, as on a real host
    try:
        wait_until(
            lambda: http(f"{d.url}/api/v2.0/spec/{ctr.id}?type=docker").status == 200,
            timeout=30,
            what="the daemon to describe the container",
        )
        tab = open_tab(d.origin)
        page = tab.page
        resp = page.goto(f"{d.url}/docker/{ctr.id}", wait_until="load")
        assert resp is not None and resp.status == 200
        page.wait_for_selector("#app-metrics table", state="visible", timeout=60_000)
        page.wait_for_function(
            "() => ['app_queue_depth', 'activeConnections'].every("
            "  (m) => document.querySelector('#app-metrics').innerText.includes(m))",
            timeout=60_000,
        )
        rows = page.locator("#app-metrics tbody tr").all_inner_texts()
        cells = [r.split("\t") for r in rows]
        by_metric = {(c[0], c[1]): c for c in cells}
        assert by_metric[("app_requests_total", 'code="200", method="get"')][2] == "1,027"
        assert by_metric[("app_requests_total", 'code="200", method="get"')][3] == "cumulative"
        assert by_metric[("app_queue_depth", "")][2] == "4.50"
        active = by_metric[("activeConnections", "")]
        assert active[2:5] == ["7", "gauge", "number of active connections"]
        screenshot(page, "docker-container-app-metrics")
        tab.log.assert_clean()
    finally:
        docker_engine.rm(ctr)
