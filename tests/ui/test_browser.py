"""The web UI in a real headless browser (Debian's Chromium via Playwright) against the real daemon.

Each test loads pages as a user would and checks what a user would notice: no console errors, no
failed or error responses, no request leaving the host, charts that draw real data of a cgroup
running a CPU burner and change over time, working navigation, a URL prefix honoured by every link,
asset and API call, and auth that refuses and then accepts. Screenshots go to ``artifacts/``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from pycadvisor.model.codec import parse_time
from support.cgroups import TestCgroup
from support.procs import cpu_burner, sleeper, wait_until
from ui.uitools import Tab, UiDaemon, chart, http, screenshot, wait_chart, wait_chart_change

pytestmark = pytest.mark.root

USER, PASSWORD = "admin", "password1"


def goto(tab: Tab, url: str) -> Any:
    resp = tab.page.goto(url, wait_until="load")
    assert resp is not None
    return resp


def api_cpu_rate(api_url: str, name: str, at_ms: float, headers: dict[str, str] | None = None) -> float:
    """Cores used by ``name`` between its sample at ``at_ms`` and the one before, from the REST API."""
    r = http(api_url + "/api/v1.0/containers" + name, headers)
    assert r.status == 200, r.body
    stats = json.loads(r.body)["stats"]
    times = [parse_time(s["timestamp"]) for s in stats]
    i = min(range(len(times)), key=lambda k: abs(times[k] / 1e6 - at_ms))
    assert abs(times[i] / 1e6 - at_ms) < 0.001, "the chart's newest point is not a sample of the API"
    assert i > 0
    dt = (times[i] - times[i - 1]) / 1e9
    return float(stats[i]["cpu"]["usage"]["total"] - stats[i - 1]["cpu"]["usage"]["total"]) / dt / 1e9


def check_burner_charts(tab: Tab, d: UiDaemon | None = None, name: str = "") -> None:
    """The page of a cgroup with one CPU burner draws its samples, and the charts move.

    A busy loop uses at most one core; on a shared, loaded 2-core machine it may get much less, so
    the bounds only tell "busy" from "idle" (an idle cgroup draws 0), and the exact value is checked
    against the API's own samples when ``d`` is given.
    """
    page = tab.page
    cpu = wait_chart(page, "cpu-total", min_points=4)
    total = cpu["latest"]["total"]
    assert 0.02 < total < 1.3, f"a busy loop uses up to one core, the chart shows {total}"
    assert cpu["paths"][0].count("L") >= cpu["points"] - 1  # every point is on the line
    if d is not None:
        assert api_cpu_rate(d.url, name, cpu["lastTime"]) == pytest.approx(total, rel=1e-5)
    per_core = chart(page, "cpu-per-core")
    assert per_core is not None
    if not per_core["hidden"]:  # cgroup v1 has per-CPU usage: its sum is the total
        assert sum(per_core["latest"].values()) == pytest.approx(total, rel=0.05, abs=0.02)
    mem = wait_chart(page, "memory", min_points=2)
    assert mem["latest"]["usage"] > 0
    later = wait_chart_change(page, "cpu-total", cpu)
    assert later["paths"] != cpu["paths"]
    assert later["lastTime"] > cpu["lastTime"]
    assert 0.02 < later["latest"]["total"] < 1.3


# ---------------------------------------------------------------- pages


def test_root_page_shows_the_machine_and_the_top_containers(
    ui_daemon: Callable[..., UiDaemon], open_tab: Callable[..., Tab], test_cgroup: TestCgroup
) -> None:
    cpu_burner(test_cgroup)
    d = ui_daemon()
    tab = open_tab(d.origin)
    resp = goto(tab, d.url + "/")
    assert resp.status == 200
    assert tab.page.url == d.url + "/containers/"  # "/" leads to the containers page
    page = tab.page
    page.wait_for_selector("#machine")
    tiles = page.inner_text("#machine .tiles")
    assert f"{os.cpu_count()} cores" in tiles
    assert "GiB" in tiles
    assert page.locator("#machine table").count() == 2  # filesystems and network devices
    cpu = wait_chart(page, "cpu-total", min_points=3)
    assert cpu["latest"]["total"] > 0.02  # the burner alone keeps (up to) one core busy
    # The burner's cgroup (or its parent, which holds it) is among the top containers by CPU.
    page.wait_for_selector(f"[data-bars='top-cpu'] a[title^='/{test_cgroup.prefix}']")
    row = page.locator(f"[data-bars='top-cpu'] .bar-row:has(a[title^='/{test_cgroup.prefix}'])").first
    assert float(row.get_attribute("data-value") or 0) > 0.02
    wait_chart_change(page, "memory", wait_chart(page, "memory"))
    screenshot(page, "root")
    tab.log.assert_clean()


def test_container_page_of_a_cpu_burner(
    ui_daemon: Callable[..., UiDaemon], open_tab: Callable[..., Tab], test_cgroup: TestCgroup
) -> None:
    burner = cpu_burner(test_cgroup)
    d = ui_daemon()
    tab = open_tab(d.origin)
    assert goto(tab, d.url + "/containers" + test_cgroup.name).status == 200
    page = tab.page
    assert page.inner_text("#container-name").splitlines()[0] == test_cgroup.name
    assert page.title().startswith(test_cgroup.name)
    check_burner_charts(tab, d, test_cgroup.name)
    # Gauges: one core used.
    gauge = page.locator("[data-gauge='cpu']")
    assert float(gauge.get_attribute("data-value") or 0) > 0
    # The processes table (api/v2.0/ps) lists the burner.
    page.wait_for_selector(f"#processes td:text-is('{burner.pid}')")
    # Breadcrumb: the parent of the test cgroup.
    crumbs = page.locator(".crumbs a")
    assert crumbs.nth(0).get_attribute("href") == "/containers/"
    assert crumbs.nth(1).get_attribute("href") == f"/containers/{test_cgroup.prefix}"
    screenshot(page, "container-burner")
    tab.log.assert_clean()


def test_limits_show_as_gauges_and_limit_lines(
    ui_daemon: Callable[..., UiDaemon], open_tab: Callable[..., Tab], test_cgroup: TestCgroup
) -> None:
    # Half a core and 256 MiB, set before the daemon first sees the cgroup.
    if test_cgroup.version == 1:
        test_cgroup.set("cpu.cfs_period_us", 100000)
        test_cgroup.set("cpu.cfs_quota_us", 50000)
        test_cgroup.set("memory.limit_in_bytes", 256 << 20)
    else:
        test_cgroup.set("cpu.max", "50000 100000")
        test_cgroup.set("memory.max", 256 << 20)
    cpu_burner(test_cgroup)
    d = ui_daemon()
    tab = open_tab(d.origin)
    page = tab.page
    goto(tab, d.url + "/containers" + test_cgroup.name)
    isolation = page.inner_text("#isolation")
    assert "500 millicores (50000 µs every 100000 µs)" in isolation
    assert "256 MiB" in isolation
    cpu = wait_chart(page, "cpu-total", min_points=4)
    assert 0.02 < cpu["latest"]["total"] < 0.65  # throttled to half a core
    assert page.text_content("figure[data-chart='cpu-total'] .limit-label") == "limit 500m"
    assert page.text_content("figure[data-chart='memory'] .limit-label") == "limit 256 MiB"
    page.wait_for_function("() => document.querySelector(\"[data-gauge='cpu']\").dataset.value > 0.04")
    assert "of 500 millicores" in page.inner_text("[data-gauge='cpu']")
    wait_chart(page, "memory", min_points=2)
    # The memory gauge is the newest usage sample over the limit (read in one go: both move each second).
    gauge, usage = page.evaluate(
        """() => [Number(document.querySelector("[data-gauge='memory']").dataset.value),
                  JSON.parse(document.querySelector("figure[data-chart='memory']").dataset.latest).usage]"""
    )
    assert usage > 0
    assert gauge == pytest.approx(usage / (256 << 20), rel=1e-9)
    assert "of 256 MiB" in page.inner_text("[data-gauge='memory']")
    screenshot(page, "limits")
    tab.log.assert_clean()


def test_navigation_to_a_subcontainer_with_search(
    ui_daemon: Callable[..., UiDaemon], open_tab: Callable[..., Tab], test_cgroup: TestCgroup
) -> None:
    busy = test_cgroup.child("busy-one")
    idle = test_cgroup.child("idle-one")
    cpu_burner(busy)
    sleeper(idle)
    d = ui_daemon()
    tab = open_tab(d.origin)
    page = tab.page
    goto(tab, d.url + "/containers" + test_cgroup.name)
    rows = page.locator("#subcontainers tbody tr")
    page.wait_for_selector(f"#subcontainers tr[data-name='{busy.name}']")
    page.wait_for_selector(f"#subcontainers tr[data-name='{idle.name}']")
    assert rows.count() == 2
    # The table fills in CPU usage per subcontainer; the busy one uses about a core.
    page.wait_for_function(
        "n => { const c = document.querySelector(`#subcontainers tr[data-name='${n}'] td.num`);"
        " return c && c.textContent !== '–'; }",
        arg=busy.name,
    )
    page.fill("#subcontainer-search", "busy")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-name") == busy.name
    page.fill("#subcontainer-search", "no-such-thing")
    assert page.inner_text("#subcontainers").count("No subcontainer matches.") == 1
    page.fill("#subcontainer-search", "BUSY")  # case does not matter
    assert rows.count() == 1
    screenshot(page, "subcontainers")
    page.click(f"#subcontainers tr[data-name='{busy.name}'] a")
    page.wait_for_url(d.url + "/containers" + busy.name)
    page.wait_for_function(
        "n => (document.querySelector('#container-name') || {}).textContent?.startsWith(n)", arg=busy.name
    )
    check_burner_charts(tab, d, busy.name)
    # Back up through the breadcrumb.
    page.click(f".crumbs a[href='/containers{test_cgroup.name}']")
    page.wait_for_url(d.url + "/containers" + test_cgroup.name)
    page.wait_for_selector(f"#subcontainers tr[data-name='{idle.name}']")
    tab.log.assert_clean()


def test_everything_works_under_a_url_prefix(
    ui_daemon: Callable[..., UiDaemon], open_tab: Callable[..., Tab], test_cgroup: TestCgroup
) -> None:
    cpu_burner(test_cgroup)
    prefix = "/cadvisor"
    d = ui_daemon(prefix=prefix)
    at_root = http(d.origin + "/containers/")  # answered at the root too (issue 13 #5), its links prefixed
    assert at_root.status == 200 and f'"{prefix}/static/pycadvisor.css"' in at_root.body.decode()
    tab = open_tab(d.origin)
    page = tab.page
    assert goto(tab, d.url + "/").status == 200
    assert page.url == d.url + "/containers/"
    wait_chart(page, "cpu-total", min_points=3)
    # Root page -> test prefix cgroup (a subcontainer of "/") -> the burner's cgroup, by clicking.
    page.click(f"#subcontainers tr[data-name='/{test_cgroup.prefix}'] a")
    page.wait_for_url(f"{d.url}/containers/{test_cgroup.prefix}")
    page.click(f"#subcontainers tr[data-name='{test_cgroup.name}'] a")
    page.wait_for_url(d.url + "/containers" + test_cgroup.name)
    check_burner_charts(tab, d, test_cgroup.name)
    page.click("nav.nav a[data-kind='docker']")
    page.wait_for_url(d.url + "/docker/")
    page.wait_for_selector("#docker-containers table, #docker-containers p:not(.loading)")
    for href in page.eval_on_selector_all(
        "a[href], link[href], script[src], img[src]",
        "els => els.map(e => e.getAttribute('href') || e.getAttribute('src'))",
    ):
        assert href.startswith(prefix + "/"), href
    for url in tab.log.requests:
        assert url.startswith(d.url + "/"), url  # pages, assets and API calls all carry the prefix
    screenshot(page, "prefix-docker-list")
    tab.log.assert_clean()


def test_unknown_container_and_runtime_lists(ui_daemon: Callable[..., UiDaemon], open_tab: Callable[..., Tab]) -> None:
    d = ui_daemon()
    tab = open_tab(d.origin)
    page = tab.page
    goto(tab, d.url + "/containers/no/such/container")
    page.wait_for_selector("#error")
    text = page.inner_text("#error")
    assert "/no/such/container" in text
    assert 'unknown container "/no/such/container"' in text  # the API's own words
    page.click("#error a")
    page.wait_for_url(d.url + "/containers/")
    wait_chart(page, "cpu-total", min_points=2)
    # Without Podman containers the list says so (cAdvisor shows an empty page).
    page.click("nav.nav a[data-kind='podman']")
    page.wait_for_url(d.url + "/podman/")
    page.wait_for_selector("#podman-containers p.muted:not(:text('Loading'))")
    assert "No Podman containers are running." in page.inner_text("#podman-containers")
    assert tab.log.page_errors == []
    assert tab.log.off_host == []
    assert tab.log.failed == []
    assert [b.split()[1].split(d.origin)[1] for b in tab.log.bad_status] == ["/api/v1.0/containers/no/such/container"]


# ---------------------------------------------------------------- auth


def write_htpasswd(path: Path) -> str:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(5)).decode()
    sha = "{SHA}" + base64.b64encode(hashlib.sha1(b"other-secret").digest()).decode()
    path.write_text(f"{USER}:{hashed}\nother:{sha}\n")
    return str(path)


def write_htdigest(path: Path, realm: str) -> str:
    ha1 = hashlib.md5(f"{USER}:{realm}:{PASSWORD}".encode()).hexdigest()
    path.write_text(f"{USER}:{realm}:{ha1}\n")
    return str(path)


def refused(tab: Tab, url: str, scheme: str) -> None:
    """The browser gets nothing of the UI: a 401 page without credentials, or Chromium gives up on
    credentials the server keeps refusing (``ERR_INVALID_AUTH_CREDENTIALS``)."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        resp = goto(tab, url)
    except PlaywrightError as e:
        assert "ERR_INVALID_AUTH_CREDENTIALS" in str(e)
        return
    assert resp.status == 401
    assert resp.headers["www-authenticate"].startswith(scheme + " ")
    assert resp.text() == "401 Unauthorized\n"
    assert tab.page.locator("#app").count() == 0  # nothing of the UI was served


def basic_header(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_auth_refuses_then_accepts(
    ui_daemon: Callable[..., UiDaemon], open_tab: Callable[..., Tab], test_cgroup: TestCgroup, tmp_path: Path
) -> None:
    cpu_burner(test_cgroup)
    d = ui_daemon(f"-http_auth_file={write_htpasswd(tmp_path / 'users.htpasswd')}", "-http_auth_realm=pycad ui")
    page_url = d.url + "/containers" + test_cgroup.name
    refused(open_tab(d.origin), page_url, "Basic")
    refused(open_tab(d.origin, {"username": USER, "password": "wrong"}), page_url, "Basic")
    refused(open_tab(d.origin, {"username": "nobody", "password": PASSWORD}), page_url, "Basic")
    for user, password in ((USER, "wrong"), ("nobody", PASSWORD), ("other", PASSWORD)):
        r = http(page_url, basic_header(user, password))
        assert (r.status, r.body) == (401, b"401 Unauthorized\n")
        assert r.headers["WWW-Authenticate"] == 'Basic realm="pycad ui"'
    assert http(d.url + "/static/app.js").status == 401
    assert http(d.url + "/static/app.js", basic_header(USER, PASSWORD)).status == 200
    # As in cAdvisor, the API stays open unless -auth_protect_api is given.
    assert http(d.url + "/api/v1.0/machine").status == 200
    tab = open_tab(d.origin, {"username": USER, "password": PASSWORD})
    assert goto(tab, page_url).status == 200
    check_burner_charts(tab, d, test_cgroup.name)
    screenshot(tab.page, "basic-auth")
    tab.log.assert_clean()


def test_digest_auth_guarding_ui_and_api(
    ui_daemon: Callable[..., UiDaemon], open_tab: Callable[..., Tab], test_cgroup: TestCgroup, tmp_path: Path
) -> None:
    cpu_burner(test_cgroup)
    realm = "pycadvisor"
    d = ui_daemon(
        f"-http_digest_file={write_htdigest(tmp_path / 'users.htdigest', realm)}",
        f"-http_digest_realm={realm}",
        "-auth_protect_api",
    )
    page_url = d.url + "/containers" + test_cgroup.name
    refused(open_tab(d.origin), page_url, "Digest")
    refused(open_tab(d.origin, {"username": USER, "password": "wrong"}), page_url, "Digest")
    for path in ("/api/v1.0/machine", "/metrics", "/validate/"):
        r = http(d.url + path)
        assert r.status == 401, path
        assert r.body == b"401 Unauthorized\n"
        assert re.match(
            r'Digest realm="pycadvisor", nonce="[0-9a-f]+", opaque="[0-9a-f]+", algorithm="MD5", '
            r'qop="auth"$',
            r.headers["WWW-Authenticate"],
        )
    assert http(d.url + "/healthz").body == b"ok"
    tab = open_tab(d.origin, {"username": USER, "password": PASSWORD})
    assert goto(tab, page_url).status == 200
    check_burner_charts(tab)  # every API call of the page passed digest auth
    tab.log.assert_clean()


# ---------------------------------------------------------------- docker


def test_docker_list_and_container_page(
    ui_daemon: Callable[..., UiDaemon], open_tab: Callable[..., Tab], docker_engine: Any
) -> None:
    ctr = docker_engine.run_busybox("sh", "-c", "while :; do :; done", opts=("--label", "app=ui-test"))
    try:
        d = ui_daemon(f"-docker={docker_engine.endpoint}")
        tab = open_tab(d.origin)
        page = tab.page
        goto(tab, d.url + "/docker/")
        row = f"#docker-containers tr[data-name='{ctr.cgroup}']"
        page.wait_for_selector(row, timeout=60_000)
        assert ctr.name in page.inner_text(row)
        assert "pycad-bb:1" in page.inner_text(row)
        page.fill("#container-search", ctr.name[-6:])
        assert page.locator("#docker-containers tbody tr").count() == 1
        screenshot(page, "docker-list")
        page.click(f"{row} a")
        page.wait_for_url(f"{d.url}/docker/{ctr.id}")
        assert page.inner_text("#container-name").splitlines() == [ctr.name, ctr.cgroup]
        identity = page.inner_text("#identity")
        assert "pycad-bb:1" in identity
        assert "app=ui-test" in identity
        assert "docker" in identity
        check_burner_charts(tab, d, ctr.cgroup)
        screenshot(page, "docker-container")
        # The same container by name.
        goto(tab, f"{d.url}/docker/{ctr.name}")
        wait_chart(page, "cpu-total", min_points=2)
        tab.log.assert_clean()
    finally:
        docker_engine.rm(ctr)


# ---------------------------------------------------------------- podman


def test_podman_list_and_container_page(
    podman_service: Any, busybox_image: Any, ui_daemon: Callable[..., UiDaemon], open_tab: Callable[..., Tab]
) -> None:
    # podman_service first: it is torn down last, after the daemon (its cleanup kills every process
    # naming its work dir, and the daemon's -podman flag does).
    podman_service.podman("load", "-i", busybox_image.docker_archive)
    image = "localhost/" + busybox_image.tag
    name = "pycad-ui-" + os.urandom(3).hex()
    run = ("run", "-d", "--network", "none", "--name", name, "--label", "app=ui-test", image)
    cid = podman_service.podman(*run, "sh", "-c", "while :; do :; done").stdout.strip().splitlines()[-1]
    d = ui_daemon(f"-podman=unix://{podman_service.socket}")
    wait_until(
        lambda: http(f"{d.url}/api/v2.0/spec/{cid}?type=podman").status == 200,
        timeout=30,
        what="the daemon to describe the Podman container",
    )
    tab = open_tab(d.origin)
    page = tab.page
    goto(tab, d.url + "/podman/")
    row = f"#podman-containers tbody tr:has(a[href='/podman/{cid}'])"
    page.wait_for_selector(row)
    assert name in page.inner_text(row)
    assert image in page.inner_text(row)
    screenshot(page, "podman-list")
    page.click(f"{row} a")
    page.wait_for_url(f"{d.url}/podman/{cid}")
    page.wait_for_selector("#identity")
    title = page.inner_text("#container-name").splitlines()
    assert title[0] == name
    assert cid in title[1]
    identity = page.inner_text("#identity")
    assert "podman" in identity
    assert "app=ui-test" in identity
    check_burner_charts(tab, d, title[1])
    screenshot(page, "podman-container")
    tab.log.assert_clean()
