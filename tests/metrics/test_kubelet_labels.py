"""``-kubelet_compatible``: container series labelled as the kubelet's ``/metrics/cadvisor`` labels them
(kubernetes ``pkg/kubelet/server/server.go`` ``containerPrometheusLabelsFunc``), and served at that path."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import cast

import bcrypt
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from metrics.expo_fixtures import containerd_snapshot, docker_snapshot, parse_series, root_snapshot, slice_snapshot
from pycadvisor.api.prometheus import make_kubelet_metrics_handler, make_metrics_handler
from pycadvisor.api.rest import ApiContext
from pycadvisor.api.server import ServerOptions, build_app
from pycadvisor.config import DEFAULT_DISABLED_METRICS
from pycadvisor.manager.hostinfo import HostInfo
from pycadvisor.manager.manager import Manager
from pycadvisor.metrics.kubelet import KUBELET_METRIC_SETS, metric_set_flags, pod_cgroup_uid
from pycadvisor.metrics.options import ExpositionOptions
from pycadvisor.metrics.render import ExpositionRenderer
from pycadvisor.metrics.sets import MetricSets
from pycadvisor.metrics.source import ContainerSnapshot, MachineInfoLike, VersionInfo

UID = "3e1f6c52-8a4b-4f0e-9d7c-0b2a5c6d7e8f"
POD_CGROUP = f"/kubepods/burstable/pod{UID}"
SANDBOX_ID = "5a" * 32
WEB_ID = "6b" * 32
SIDECAR_ID = "7c" * 32
KUBELET_NAMES = ["container", "id", "image", "name", "namespace", "pod"]  # sorted, as client_golang writes them


def _cri(cid: str, kind: str, container: str | None, image: str) -> ContainerSnapshot:
    """A container of the pod as containerd's CRI plugin labels it (sandbox: no container name)."""
    labels = {
        "io.cri-containerd.kind": kind,
        "io.kubernetes.pod.name": "shop-0",
        "io.kubernetes.pod.namespace": "retail",
        "io.kubernetes.pod.uid": UID,
        "app": "shop",
    }
    if container is not None:
        labels["io.kubernetes.container.name"] = container
    base = docker_snapshot()  # a sample with every family
    spec = dataclasses.replace(base.spec, labels=labels, envs={"TEST_VAR": "x"}, image=image)
    return dataclasses.replace(
        base,
        name=f"{POD_CGROUP}/{cid}",
        id=cid,
        aliases=(cid, f"{POD_CGROUP}/{cid}"),
        namespace="containerd",
        spec=spec,
    )


def _pod_cgroup() -> ContainerSnapshot:
    base = slice_snapshot()
    return dataclasses.replace(base, name=POD_CGROUP)


def pod_snapshots(*, with_sandbox: bool = True) -> list[ContainerSnapshot]:
    out = [root_snapshot(), slice_snapshot(), _pod_cgroup()]
    if with_sandbox:
        out.append(_cri(SANDBOX_ID, "sandbox", None, "registry.k8s.io/pause:3.9"))
    out += [_cri(WEB_ID, "container", "web", "shop:1"), _cri(SIDECAR_ID, "container", "log", "fluent-bit:3")]
    return out


def _by_id(text: str, family: str) -> dict[str, dict[str, str]]:
    return {labels["id"]: labels for labels, _, _ in parse_series(text)[family]}


def test_every_container_series_carries_exactly_the_kubelet_label_names(render: Callable[..., str]) -> None:
    text = render(snapshots=pod_snapshots(), kubelet_labels=True)
    assert "container_label_" not in text and "container_env_" not in text
    families = parse_series(text)
    container_families = [f for f in families if f.startswith("container_") and f != "container_scrape_error"]
    assert len(container_families) > 30
    cadvisors = parse_series(render(snapshots=pod_snapshots()))
    for fam in container_families:
        # A family's own labels (cpu, device, interface, ...) are as without the flag.
        (own,) = {frozenset(k for k in lab if k not in ("id", "name", "image") and not k.startswith("container_"))
                  for lab, _, _ in cadvisors[fam]}  # fmt: skip
        for labels, _, _ in families[fam]:
            base = [k for k in labels if k in KUBELET_NAMES]
            assert base == KUBELET_NAMES, (fam, labels)  # all six, in the order the kubelet writes them
            assert set(labels) - set(KUBELET_NAMES) == own, fam
    # The wire order too: container before id before image (Go's sorted label pairs).
    line = next(ln for ln in text.splitlines() if ln.startswith("container_memory_rss{") and WEB_ID in ln)
    assert line.startswith(f'container_memory_rss{{container="web",id="{POD_CGROUP}/{WEB_ID}",image="shop:1",')
    assert f'name="{WEB_ID}",namespace="retail",pod="shop-0"}}' in line


def test_values_come_from_the_cri_labels_and_the_pod_cgroup_from_its_sandbox(render: Callable[..., str]) -> None:
    series = _by_id(render(snapshots=pod_snapshots(), kubelet_labels=True), "container_memory_working_set_bytes")
    web = series[f"{POD_CGROUP}/{WEB_ID}"]
    assert web == {"container": "web", "id": f"{POD_CGROUP}/{WEB_ID}", "image": "shop:1", "name": WEB_ID,
                   "namespace": "retail", "pod": "shop-0"}  # fmt: skip
    assert series[f"{POD_CGROUP}/{SIDECAR_ID}"]["container"] == "log"
    sandbox = series[f"{POD_CGROUP}/{SANDBOX_ID}"]
    assert (sandbox["pod"], sandbox["namespace"], sandbox["container"]) == ("shop-0", "retail", "")
    assert sandbox["image"] == "registry.k8s.io/pause:3.9"
    # The pod-level cgroup: no labels of its own, the pod through its uid, no container, no image.
    pod = series[POD_CGROUP]
    assert pod == {"container": "", "id": POD_CGROUP, "image": "", "name": "", "namespace": "retail", "pod": "shop-0"}
    # Cgroups outside Kubernetes: blanks, not absent labels.
    assert series["/system.slice"] == {"container": "", "id": "/system.slice", "image": "", "name": "",
                                       "namespace": "", "pod": ""}  # fmt: skip


def test_a_pod_cgroup_seen_before_its_sandbox_gets_its_pod_once_the_sandbox_appears(
    render: Callable[..., str],
) -> None:
    # Real order on a node: the kubelet makes pod<uid> first, the sandbox's cgroup comes with its task. The
    # renderer (and its label cache) lives across the scrapes, as in the daemon.
    renderer = ExpositionRenderer(ExpositionOptions(kubelet_labels=True, runtime_metrics=False))
    before = renderer.render(pod_snapshots(with_sandbox=False)[:3], machine=None, version=None).decode()
    assert _by_id(before, "container_memory_usage_bytes")[POD_CGROUP]["pod"] == ""
    after = renderer.render(pod_snapshots(), machine=None, version=None).decode()
    assert _by_id(after, "container_memory_usage_bytes")[POD_CGROUP]["pod"] == "shop-0"
    # ... and when the pod's containers are gone, the pod cgroup (being torn down) is unnamed again.
    gone = renderer.render(pod_snapshots()[:3], machine=None, version=None).decode()
    assert _by_id(gone, "container_memory_usage_bytes")[POD_CGROUP]["pod"] == ""


def test_a_container_labelled_by_its_runtime_keeps_its_own_pod(render: Callable[..., str]) -> None:
    # The fixture's containerd container names its pod only (no namespace label), under another pod cgroup.
    text = render(snapshots=[root_snapshot(), containerd_snapshot()], kubelet_labels=True)
    (labels,) = [lab for lab, _, _ in parse_series(text)["container_spec_memory_limit_bytes"] if lab["pod"]]
    assert (labels["pod"], labels["namespace"], labels["container"], labels["image"]) == (
        "api-0", "", "", "registry.local/api:3",
    )  # fmt: skip


def test_pod_cgroup_uid_follows_the_kubelets_cgroup_names() -> None:
    assert pod_cgroup_uid(f"/kubepods/burstable/pod{UID}") == UID
    assert pod_cgroup_uid(f"/kubepods/besteffort/pod{UID}") == UID
    assert pod_cgroup_uid(f"/kubepods/pod{UID}") == UID  # Guaranteed: right under kubepods
    systemd_uid = UID.replace("-", "_")
    assert pod_cgroup_uid(f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{systemd_uid}.slice") == UID
    assert pod_cgroup_uid(f"/kubepods.slice/kubepods-pod{systemd_uid}.slice") == UID
    # Not pod cgroups: a container below one, the QoS cgroups, other trees, a second "pod" in the name.
    for name in (f"/kubepods/burstable/pod{UID}/{WEB_ID}", "/kubepods/burstable", "/kubepods", "/",
                 f"/system.slice/pod{UID}", f"/kubepods/burstable/pod{UID}pod", "/kubepods/burstable/pod",
                 f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{systemd_uid}.slice/"
                 f"cri-containerd-{WEB_ID}.scope"):  # fmt: skip
        assert pod_cgroup_uid(name) is None, name


def test_without_the_flag_labels_are_cadvisors(render: Callable[..., str]) -> None:
    text = render(snapshots=pod_snapshots())
    web = _by_id(text, "container_memory_rss")[f"{POD_CGROUP}/{WEB_ID}"]
    assert "pod" not in web and "container" not in web
    assert web["container_label_io_kubernetes_pod_name"] == "shop-0"
    assert web["container_env_TEST_VAR"] == "x"


def test_the_kubelets_metric_sets_unless_the_metric_flags_are_given() -> None:
    default = DEFAULT_DISABLED_METRICS
    kubelet = MetricSets.from_flags(metric_set_flags(True, "", default, default), default)
    assert kubelet.flag_value() == "cpu,memory,cpuLoad,diskIO,disk,network,app,process,oom_event,pressure"
    assert metric_set_flags(True, "", default, default) == KUBELET_METRIC_SETS
    assert metric_set_flags(False, "", default, default) == ""  # cAdvisor's defaults without the flag
    assert metric_set_flags(True, "cpu,memory", default, default) == "cpu,memory"  # given flags win
    assert metric_set_flags(True, "", "percpu", default) == ""


# ---------------------------------------------------------------- the endpoint


class _Source:
    async def snapshot(self, *, namespace: str | None, max_age_ns: int | None) -> list[ContainerSnapshot]:
        return pod_snapshots()

    def machine_info(self) -> MachineInfoLike | None:
        return None

    def version_info(self) -> VersionInfo:
        return VersionInfo("k", "o", "", "v", "")


def _get_all(opts: ServerOptions, paths: list[str], auth: str | None = None) -> list[tuple[int, str]]:
    async def main() -> list[tuple[int, str]]:
        expo = ExpositionOptions(kubelet_labels=opts.kubelet_endpoint)
        handler = make_metrics_handler(_Source(), expo)
        kubelet = make_kubelet_metrics_handler(_Source(), expo) if opts.kubelet_endpoint else None
        ctx = ApiContext(manager=cast(Manager, None), host=cast(HostInfo, None), cadvisor_version="test")
        app: web.Application = build_app(ctx, opts, metrics_handler=handler, kubelet_metrics_handler=kubelet)
        out = []
        headers = {"Authorization": auth} if auth else {}
        async with TestClient(TestServer(app)) as client:
            for p in paths:
                r = await client.get(p, allow_redirects=False, headers=headers)
                out.append((r.status, await r.text()))
        return out

    return asyncio.run(main())


def test_metrics_cadvisor_serves_the_same_exposition_with_the_flag_only() -> None:
    (m, mc) = _get_all(ServerOptions(kubelet_endpoint=True), ["/metrics", "/metrics/cadvisor"])
    assert m[0] == mc[0] == 200
    assert 'pod="shop-0"' in mc[1]
    assert parse_series(m[1])["container_memory_rss"] == parse_series(mc[1])["container_memory_rss"]
    # Under -url_base_prefix and with another -prometheus_endpoint, too.
    (p, own) = _get_all(
        ServerOptions(kubelet_endpoint=True, prefix="/cadvisor", prometheus_endpoint="/prom"),
        ["/cadvisor/metrics/cadvisor", "/prom"],
    )
    assert p[0] == own[0] == 200 and 'container="web"' in p[1]
    # Without the flag the path is not the exposition (Go's mux leads unknown paths to the UI).
    ((status, _),) = _get_all(ServerOptions(), ["/metrics/cadvisor"])
    assert status == 307


def test_metrics_cadvisor_stays_the_kubelets_when_the_prometheus_endpoint_is_that_path() -> None:
    ((status, own), (_, kubelet)) = _get_all(ServerOptions(kubelet_endpoint=True), ["/metrics", "/metrics/cadvisor"])
    assert "python_info" in own and "pycadvisor_exposition_series" in own
    assert "python_info" not in kubelet and "pycadvisor_" not in kubelet
    ((status, same),) = _get_all(
        ServerOptions(kubelet_endpoint=True, prometheus_endpoint="/metrics/cadvisor"), ["/metrics/cadvisor"]
    )
    assert status == 200 and 'pod="shop-0"' in same and "python_info" not in same


def test_metrics_cadvisor_is_guarded_like_the_metrics_endpoint(tmp_path: Path) -> None:
    users = tmp_path / "htpasswd"
    users.write_text(f"ops:{bcrypt.hashpw(b'pw', bcrypt.gensalt(4)).decode()}\n")
    opts = ServerOptions(
        kubelet_endpoint=True, prometheus_endpoint="/prom", http_auth_file=str(users), auth_protect_api=True
    )
    (anon,) = _get_all(opts, ["/metrics/cadvisor"])
    assert anon[0] == 401
    good = "Basic " + base64.b64encode(b"ops:pw").decode()
    (ok,) = _get_all(opts, ["/metrics/cadvisor"], auth=good)
    assert ok[0] == 200
