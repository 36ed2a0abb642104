"""Fixtures of the web UI tests: headless Chromium (Debian's, driven by Playwright), the real daemon
under a URL prefix or behind auth, an in-process server of the UI routes, and a page recorder that
collects console errors, failed requests, error responses and requests that left the host.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from support.ci import cannot_run
from support.procs import ManagedProcess, wait_until
from support.services import free_port
from ui.uitools import REPO_ROOT, PageLog, Tab, UiDaemon, http

CHROMIUM = os.environ.get("PYCAD_CHROMIUM") or "/usr/bin/chromium"
# Never let the browser talk to anything but the page's server: Chromium's background fetches, updates,
# sync and pings off (chrome/common/chrome_switches.cc and the components' *_switches.cc name these flags).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--no-pings",
]


# ---------------------------------------------------------------- in-process server of the UI routes


@pytest.fixture
def ui_server() -> Iterator[Callable[[web.Application], str]]:
    """``serve(app) -> base URL``: run an aiohttp app on 127.0.0.1 in a thread until the test ends."""
    stops: list[Callable[[], None]] = []

    def serve(app: web.Application) -> str:
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(app)
        ready = threading.Event()
        box: dict[str, Any] = {}

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
            box["port"] = runner.addresses[0][1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        t = threading.Thread(target=run, daemon=True)
        t.start()
        assert ready.wait(10), "UI test server did not start"

        def stop() -> None:
            loop.call_soon_threadsafe(loop.stop)
            t.join(10)

        stops.append(stop)
        return f"http://127.0.0.1:{box['port']}"

    yield serve
    for stop in stops:
        stop()


# ---------------------------------------------------------------- the real daemon


def _python() -> str:
    venv = REPO_ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


@pytest.fixture
def ui_daemon(tmp_path: Path) -> Iterator[Callable[..., UiDaemon]]:
    """``start(*flags, prefix="") -> UiDaemon``, ready once ``<prefix>/healthz`` answers ``ok``."""
    started: list[UiDaemon] = []

    def start(*flags: str, prefix: str = "") -> UiDaemon:
        port = free_port()
        argv = [_python(), "-m", "pycadvisor", "-listen_ip=127.0.0.1", f"-port={port}", *flags]
        if prefix:
            argv.append(f"-url_base_prefix={prefix}")
        log = str(tmp_path / f"pycadvisor-{port}.log")
        proc = ManagedProcess(argv, what="pycadvisor (UI test)", log_path=log, cwd=str(REPO_ROOT))
        d = UiDaemon(proc, port, prefix)
        try:
            wait_until(
                lambda: http(d.url + "/healthz").body == b"ok",
                timeout=30,
                what=f"pycadvisor {d.url}/healthz",
                proc=proc,
            )
        except BaseException:
            proc.kill()
            raise
        started.append(d)
        return d

    yield start
    failures = []
    for d in started:
        try:
            d.stop()
        except BaseException as e:
            failures.append(str(e))
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


# ---------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, launched by Playwright (never a downloaded browser).

    Module-scoped: Playwright's sync API keeps its event loop running on the main thread while it is
    open, and any later test calling ``asyncio.run`` would fail ("cannot be called from a running
    event loop")."""
    if not os.path.exists(CHROMIUM):
        cannot_run(f"{CHROMIUM} not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        cannot_run("playwright not installed in the venv")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def open_tab(browser: Any) -> Iterator[Callable[..., Tab]]:
    """``open_tab(origin, credentials=None) -> Tab``: a fresh browser context and page, recorded."""
    contexts: list[Any] = []

    def open_(origin: str, credentials: dict[str, str] | None = None) -> Tab:
        ctx = browser.new_context(
            viewport={"width": 1360, "height": 900}, http_credentials=credentials, service_workers="block"
        )
        contexts.append(ctx)
        log = PageLog(origin)
        ctx.on("request", log.on_request)
        ctx.on("requestfailed", log.on_failed)
        ctx.on("response", log.on_response)
        page = ctx.new_page()
        page.on("console", log.on_console)
        page.on("pageerror", lambda e: log.page_errors.append(str(e)))
        page.set_default_timeout(30_000)
        return Tab(page, log, ctx)

    yield open_
    for ctx in contexts:
        ctx.close()
