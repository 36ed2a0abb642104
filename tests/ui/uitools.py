"""Helpers of the web UI tests: plain HTTP, the page recorder, chart probes and screenshots."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from support.procs import ManagedProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def http(url: str, headers: dict[str, str] | None = None, *, follow: bool = False) -> Reply:
    """One request with urllib; redirects are returned, not followed, unless ``follow``."""
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
            return Reply(r.status, dict(r.headers.items()), r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, dict(e.headers.items()), e.read())


@dataclass
class PageLog:
    """What a page did that a user would notice as broken, or that would leak off the host."""

    origin: str
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bad_status: list[str] = field(default_factory=list)
    off_host: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def on_request(self, req: Any) -> None:
        url = req.url
        self.requests.append(url)
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            self.off_host.append(url)

    def on_failed(self, req: Any) -> None:
        failure = req.failure or ""
        if "ERR_ABORTED" in failure:  # a poll cut short by leaving the page, not a broken request
            return
        self.failed.append(f"{req.url}: {failure}")

    def on_response(self, resp: Any) -> None:
        if resp.status >= 400:
            self.bad_status.append(f"{resp.status} {resp.url}")

    def on_console(self, msg: Any) -> None:
        if msg.type in ("error", "warning"):
            self.console.append(f"{msg.type}: {msg.text}")

    def problems(self) -> list[str]:
        return [
            *(f"console {c}" for c in self.console),
            *(f"page error {e}" for e in self.page_errors),
            *(f"failed request {f}" for f in self.failed),
            *(f"error response {b}" for b in self.bad_status),
            *(f"off-host request {o}" for o in self.off_host),
        ]

    def assert_clean(self) -> None:
        assert not self.problems(), "\n".join(self.problems())


@dataclass
class Tab:
    page: Any
    log: PageLog
    context: Any


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as ``artifacts/ui-<name>.png``."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"ui-{name}.png"
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar belongs at the top of the picture
    page.screenshot(path=str(path), full_page=True)
    return path


class UiDaemon:
    """``python -m pycadvisor`` on 127.0.0.1, possibly under a URL prefix."""

    def __init__(self, process: ManagedProcess, port: int, prefix: str) -> None:
        self.process = process
        self.port = port
        self.prefix = prefix
        self.origin = f"http://127.0.0.1:{port}"
        self.url = self.origin + prefix

    def stop(self) -> int:
        """SIGTERM; must exit 0 within 10 s."""
        if not self.process.alive():
            code = self.process.stop()
            pytest.fail(f"pycadvisor exited early with {code}\n{self.process.log_tail()}", pytrace=False)
        self.process.signal(signal.SIGTERM)
        try:
            self.process.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"pycadvisor ignored SIGTERM for 10 s\n{self.process.log_tail()}", pytrace=False)
        code = self.process.stop()
        if code != 0:
            pytest.fail(f"pycadvisor exited with {code}\n{self.process.log_tail()}", pytrace=False)
        return code


# ---------------------------------------------------------------- chart probes (see static/charts.js)

_CHART_JS = """id => {
  const f = document.querySelector(`figure[data-chart='${id}']`);
  if (!f) return null;
  return {
    hidden: f.hidden,
    points: Number(f.dataset.points || 0),
    updates: Number(f.dataset.updates || 0),
    latest: f.dataset.latest ? JSON.parse(f.dataset.latest) : null,
    lastTime: f.dataset.lastTime ? Number(f.dataset.lastTime) : null,
    paths: [...f.querySelectorAll("path.line")].map((p) => p.getAttribute("d")),
  };
}"""


def chart(page: Any, chart_id: str) -> dict[str, Any] | None:
    """What a chart shows now: points of its first series, update count, latest values, SVG paths."""
    state: dict[str, Any] | None = page.evaluate(_CHART_JS, chart_id)
    return state


def wait_chart(page: Any, chart_id: str, min_points: int = 3, timeout_ms: int = 60_000) -> dict[str, Any]:
    """Wait until the chart is shown with at least ``min_points`` points drawn; return its state."""
    page.wait_for_function(
        """([id, n]) => {
          const f = document.querySelector(`figure[data-chart='${id}']`);
          return f && !f.hidden && Number(f.dataset.points) >= n && f.querySelector("path.line");
        }""",
        arg=[chart_id, min_points],
        timeout=timeout_ms,
    )
    state = chart(page, chart_id)
    assert state is not None
    return state


def wait_chart_change(page: Any, chart_id: str, before: dict[str, Any], timeout_ms: int = 60_000) -> dict[str, Any]:
    """Wait until the chart was redrawn with different lines than ``before``; return the new state."""
    page.wait_for_function(
        """([id, updates, paths]) => {
          const f = document.querySelector(`figure[data-chart='${id}']`);
          if (!f || Number(f.dataset.updates) <= updates) return false;
          const now = [...f.querySelectorAll("path.line")].map((p) => p.getAttribute("d"));
          return JSON.stringify(now) !== paths;
        }""",
        arg=[chart_id, before["updates"], json.dumps(before["paths"])],
        timeout=timeout_ms,
    )
    state = chart(page, chart_id)
    assert state is not None
    return state
