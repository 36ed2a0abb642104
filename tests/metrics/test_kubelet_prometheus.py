"""kube-prometheus's container recording rules, evaluated by a real Prometheus over ``-kubelet_compatible``.

A private containerd holds, in the CRI plugin's ``k8s.io`` namespace, a pod as the CRI plugin makes it: a
sandbox (a pause-like busybox) and two containers labelled as the plugin labels them, under the cgroupfs
driver's ``/kubepods/burstable/pod<uid>/<id>``; they are started after the daemon, as on a node. Prometheus
scrapes ``/metrics/cadvisor`` as kube-prometheus's kubelet ServiceMonitor does (job ``kubelet``, the
``metrics_path`` label, its metric relabelings) and evaluates the recording rules copied verbatim from
kube-prometheus (``tests/fixtures/kube-prometheus/k8s-container-rules.yaml``); then one container dies and is
removed, and leaves the rules.

Every rule joins with kube-state-metrics' ``kube_pod_info`` (for the ``node`` label), which needs an API
server: a one-line recording rule stands in for that series, and the cAdvisor side of each rule is also
queried alone.
"""

from __future__ import annotations

import contextlib
import functools
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support import services as svc
from support.cgroups import rmdir_everywhere
from support.procs import wait_until

RULES = Path(__file__).resolve().parents[1] / "fixtures" / "kube-prometheus" / "k8s-container-rules.yaml"
RECORDS = (
    "node_namespace_pod_container:container_cpu_usage_seconds_total:sum_rate5m",
    "node_namespace_pod_container:container_cpu_usage_seconds_total:sum_irate",
    "node_namespace_pod_container:container_memory_working_set_bytes",
    "node_namespace_pod_container:container_memory_rss",
    "node_namespace_pod_container:container_memory_cache",
    "node_namespace_pod_container:container_memory_swap",
)
POD, NAMESPACE, NODE = "shop-0", "retail", "node-a"

# The /metrics/cadvisor endpoint of kube-prometheus's kubelet ServiceMonitor
# (manifests/kubernetesControlPlane-serviceMonitorKubelet.yaml at 4d719f1dea8853540b3823ab1fbe6be74a9953b3),
# as the Prometheus Operator writes it into a scrape job; TLS and the bearer token left out.
KUBELET_CADVISOR_JOB: dict[str, Any] = {
    "metrics_path": "/metrics/cadvisor",
    "honor_labels": True,
    "honor_timestamps": False,
    "relabel_configs": [{"action": "replace", "source_labels": ["__metrics_path__"], "target_label": "metrics_path"}],
    "metric_relabel_configs": [
        {
            "action": "drop",
            "regex": "container_(network_tcp_usage_total|network_udp_usage_total|tasks_state|cpu_load_average_10s)",
            "source_labels": ["__name__"],
        },
        {
            "action": "drop",
            "regex": "(container_spec_.*|container_file_descriptors|container_sockets|container_threads_max"
            "|container_threads|container_start_time_seconds|container_last_seen);;",
            "source_labels": ["__name__", "pod", "namespace"],
        },
        {
            "action": "drop",
            "regex": "(container_blkio_device_usage_total);.+",
            "source_labels": ["__name__", "container"],
        },
    ],
}


class Pod:
    """A pod of the CRI plugin in containerd's ``k8s.io`` namespace, made with ``ctr``."""

    def __init__(self, srv: svc.ContainerdServer, image: str) -> None:
        self.srv = srv
        self.image = image
        self.uid = str(uuid.uuid4())
        self.cgroup = f"/kubepods/burstable/pod{self.uid}"
        self.ids: dict[str, str] = {}  # container name ("" for the sandbox) -> id

    def run(self, container: str | None) -> str:
        """The sandbox (``container`` None) or a container, labelled as containerd's CRI plugin labels them
        (``io.cri-containerd.kind``, and the kubelet's ``io.kubernetes.*`` of pkg/kubelet/kuberuntime/labels.go)."""
        cid = uuid.uuid4().hex * 2
        labels = {
            "io.cri-containerd.kind": "sandbox" if container is None else "container",
            "io.kubernetes.pod.name": POD,
            "io.kubernetes.pod.namespace": NAMESPACE,
            "io.kubernetes.pod.uid": self.uid,
        }
        if container is not None:
            labels["io.kubernetes.container.name"] = container
        opts = [a for k, v in labels.items() for a in ("--label", f"{k}={v}")]
        cgroup = f"{self.cgroup}/{cid}"
        self.srv.ctr("run", "-d", "--cgroup", cgroup, *opts, self.image, cid, "sleep", "600", namespace="k8s.io")
        self.ids[container or ""] = cid
        return cid

    def _delete_task(self, cid: str) -> bool:
        return self.srv.ctr("tasks", "delete", cid, namespace="k8s.io", check=False).returncode == 0

    def stop(self, container: str) -> None:
        """Kill and delete one container (its cgroup goes with its task)."""
        cid = self.ids.pop(container)
        self.srv.ctr("tasks", "kill", "-s", "SIGKILL", cid, namespace="k8s.io", check=False)
        wait_until(functools.partial(self._delete_task, cid), timeout=15, what=f"task {cid[:12]} deleted")
        self.srv.ctr("containers", "delete", cid, namespace="k8s.io", check=False)

    def remove(self) -> None:
        for container in list(self.ids):
            self.stop(container)
        rmdir_everywhere(self.cgroup, timeout=10)


@pytest.fixture
def k8s_pod(containerd_server: svc.ContainerdServer, busybox_image: svc.BusyboxImage) -> Iterator[Pod]:
    containerd_server.ctr("images", "import", busybox_image.docker_archive, namespace="k8s.io")
    pod = Pod(containerd_server, "docker.io/library/" + busybox_image.tag)
    try:
        yield pod
    finally:
        with contextlib.suppress(Exception):
            pod.remove()


def _containers(prom: svc.PrometheusServer, promql: str) -> dict[str, dict[str, str]]:
    return {r["metric"].get("container", ""): r["metric"] for r in prom.query_once(promql)}


def _containers_if(prom: svc.PrometheusServer, promql: str, expected: set[str]) -> dict[str, dict[str, str]] | None:
    got = _containers(prom, promql)
    return got if set(got) == expected else None


@pytest.mark.root
@pytest.mark.service
def test_kube_prometheus_container_rules_return_the_pods_containers(
    k8s_pod: Pod,
    pycadvisor_daemon_factory: Callable[..., Any],
    prometheus_factory: Callable[..., svc.PrometheusServer],
    tmp_path: Path,
) -> None:
    daemon = pycadvisor_daemon_factory(
        "-kubelet_compatible",
        f"-containerd={k8s_pod.srv.socket}",
        "-containerd-namespace=k8s.io",
        "-housekeeping_interval=1s",
    )
    sandbox = k8s_pod.run(None)
    web, log = k8s_pod.run("web"), k8s_pod.run("log")

    pairs = (("web", web), ("log", log), ("", sandbox))
    pod_line = f'container_memory_rss{{container="",id="{k8s_pod.cgroup}",image="",name="",namespace="{NAMESPACE}"'

    def named() -> str | None:
        status, body = daemon.get("/metrics/cadvisor")
        text = body.decode()
        # Named, and sampled (a container's first sample may come after its spec families).
        sampled = all(f'container_memory_rss{{container="{c}",id="{k8s_pod.cgroup}/{cid}"' in text for c, cid in pairs)
        # The pod cgroup too, named through the sandbox's labels once the sandbox is known.
        sampled = sampled and pod_line in text
        return text if status == 200 and sampled else None

    text = wait_until(named, timeout=30, what="the pod's containers named in /metrics/cadvisor", proc=daemon.process)
    assert "container_label_" not in text
    web_line = f'container="web",id="{k8s_pod.cgroup}/{web}",image="{k8s_pod.image}",name="{web}",'
    assert f'container_memory_rss{{{web_line}namespace="{NAMESPACE}",pod="{POD}"}}' in text
    # The pod cgroup, through the sandbox's labels.
    assert f'{pod_line},pod="{POD}"}}' in text
    # The kubelet's metric sets: total CPU only (no per-CPU series), the process families.
    total = web_line.replace(",id=", ',cpu="total",id=')
    assert f"container_cpu_usage_seconds_total{{{total}" in text
    assert 'cpu="cpu00"' not in text and f"container_threads{{{web_line}" in text
    status, plain = daemon.get("/metrics")  # the flag labels /metrics too
    assert status == 200 and f'{web_line}namespace="{NAMESPACE}",pod="{POD}"' in plain.decode()

    # kube-state-metrics' kube_pod_info for this pod (it needs an API server): a recording rule stands in.
    ksm = tmp_path / "kube-state-metrics-stand-in.yaml"
    pod_info = {"job": "kube-state-metrics", "namespace": NAMESPACE, "pod": POD, "node": NODE, "uid": k8s_pod.uid}
    ksm.write_text(json.dumps({"groups": [{"name": "ksm", "rules": [
        {"record": "kube_pod_info", "expr": "vector(1)", "labels": pod_info},
    ]}]}))  # fmt: skip
    prom = prometheus_factory(
        [f"127.0.0.1:{daemon.port}"], "1s", KUBELET_CADVISOR_JOB, job="kubelet", rule_files=[str(RULES), str(ksm)]
    )
    expected = {"", "web", "log"}  # the sandbox's series have an image and no container name, as on a node
    for record in RECORDS:
        query = f'{record}{{namespace="{NAMESPACE}",pod="{POD}"}}'
        got = wait_until(
            functools.partial(_containers_if, prom, query, expected),
            timeout=60,
            interval=0.5,
            what=f"{record} for {sorted(expected)}",
            proc=prom.process,
        )
        assert {m["node"] for m in got.values()} == {NODE}, record  # the join with kube_pod_info held
    # The cAdvisor side of the rules alone, without kube-state-metrics.
    for family in ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_memory_rss",
                   "container_memory_cache", "container_memory_swap"):  # fmt: skip
        sel = f'{family}{{job="kubelet", metrics_path="/metrics/cadvisor", image!="", pod="{POD}"}}'
        assert set(_containers(prom, f"sum by (namespace, pod, container) ({sel})")) == expected, family
    (ws,) = prom.query_once(
        f'container_memory_working_set_bytes{{job="kubelet",container="web",namespace="{NAMESPACE}",pod="{POD}"}}'
    )
    assert float(ws["value"][1]) > 0 and ws["metric"]["id"] == f"{k8s_pod.cgroup}/{web}"
    assert ws["metric"]["metrics_path"] == "/metrics/cadvisor" and "instance" in ws["metric"]
    assert sandbox in {
        r["metric"].get("name") for r in prom.query_once(f'container_last_seen{{pod="{POD}",container=""}}')
    }
    # A container that dies and is removed leaves the rules (its series go stale with the next scrape).
    k8s_pod.stop("log")
    record = f'node_namespace_pod_container:container_memory_working_set_bytes{{namespace="{NAMESPACE}",pod="{POD}"}}'
    wait_until(
        functools.partial(_containers_if, prom, record, {"", "web"}),
        timeout=30,
        interval=0.5,
        what="the removed container gone from the working-set rule",
        proc=prom.process,
    )
