"""The kubelet's cAdvisor label set (``-kubelet_compatible``): what ``/metrics/cadvisor`` of a kubelet carries.

Follows ``containerPrometheusLabelsFunc`` of kubernetes ``pkg/kubelet/server/server.go``: every container
series carries exactly ``id`` (cgroup name), ``name`` (first alias), ``image``, ``pod``, ``namespace`` and
``container``, blank when unknown, the last three from the CRI labels of the container's spec
(``pkg/kubelet/types/labels.go``); no ``container_label_*`` nor ``container_env_*``.

A pod-level cgroup (``/kubepods/<qos>/pod<uid>``) has no labels of its own; the kubelet names its pod through
``GetPodByCgroupfs`` (``pkg/kubelet/kubelet_getters.go``), which reads the uid off the cgroup name as
``IsPodCgroup`` does (``pkg/kubelet/cm/pod_container_manager_linux.go``: a ``pod<uid>`` directory right
below a QoS cgroup) and asks its pod manager. Without a kubelet, the pod manager here is the scrape's own
containers: the sandbox (and every container of the pod) carries ``io.kubernetes.pod.uid`` with the pod's
name and namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pycadvisor.metrics.source import ContainerSnapshot

# pkg/kubelet/types/labels.go
POD_NAME_LABEL = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
POD_UID_LABEL = "io.kubernetes.pod.uid"
CONTAINER_NAME_LABEL = "io.kubernetes.container.name"

# The metric sets of the kubelet's /metrics/cadvisor (server.go InstallAuthNotRequiredHandlers includedMetrics:
# CpuUsage, MemoryUsage, CpuLoad, DiskIO, DiskUsage, NetworkUsage, App, Process, OOM; Pressure with the
# KubeletPSI gate, on by default since Kubernetes 1.34, where the cgroups have PSI files): no per-CPU usage,
# so container_cpu_usage_seconds_total{cpu="total"}.
KUBELET_METRIC_SETS = "cpu,memory,cpuLoad,diskIO,disk,network,app,process,oom_event,pressure"


# pkg/kubelet/cm/qos_container_manager_linux.go: Guaranteed pods sit right under the root "kubepods",
# the others under "kubepods/burstable" and "kubepods/besteffort" (cgroupfs driver, default cgroup root).
_QOS_PARENTS = (("kubepods",), ("kubepods", "burstable"), ("kubepods", "besteffort"))
_POD_PREFIX = "pod"  # podCgroupNamePrefix

Pod = tuple[str, str]  # (name, namespace)


def metric_set_flags(kubelet_compatible: bool, enable_metrics: str, disable_metrics: str, default_disabled: str) -> str:
    """The ``-enable_metrics`` value to use: the kubelet's sets with ``-kubelet_compatible`` when neither
    ``-enable_metrics`` nor ``-disable_metrics`` was changed from its default, else ``enable_metrics``."""
    if kubelet_compatible and not enable_metrics and disable_metrics == default_disabled:
        return KUBELET_METRIC_SETS
    return enable_metrics


def _systemd_components(parts: list[str]) -> list[str]:
    """The kubelet's ``CgroupName`` of a systemd-driver path (``cgroup_manager_linux.go`` ``ParseSystemdToCgroupName``):
    the last ``.slice`` element spelled out, ``-`` separating components and ``_`` standing for ``-``."""
    if not parts or not all(p.endswith(".slice") for p in parts):
        return []
    last = parts[-1][: -len(".slice")]
    return [c.replace("_", "-") for c in last.split("-")]


def pod_cgroup_uid(cgroup_name: str) -> str | None:
    """The pod uid of a pod-level cgroup (``/kubepods/burstable/pod<uid>``,
    ``/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice``), else None."""
    parts = [p for p in cgroup_name.split("/") if p]
    if not parts:
        return None
    if parts[-1].endswith(".slice"):
        parts = _systemd_components(parts)
    base = parts[-1] if parts else ""
    if tuple(parts[:-1]) not in _QOS_PARENTS or not base.startswith(_POD_PREFIX):
        return None
    # IsPodCgroup splits on "pod" and wants exactly two pieces: a uid holding "pod" is no pod cgroup.
    pieces = base.split(_POD_PREFIX)
    return pieces[1] if len(pieces) == 2 and pieces[1] else None


def pods_by_uid(snapshots: Iterable[ContainerSnapshot]) -> dict[str, Pod]:
    """Pod uid -> (name, namespace) from the CRI labels of the containers in ``snapshots``."""
    out: dict[str, Pod] = {}
    for snap in snapshots:
        labels = snap.spec.labels
        if not labels:
            continue
        uid = labels.get(POD_UID_LABEL)
        if uid and uid not in out:
            name, ns = labels.get(POD_NAME_LABEL, ""), labels.get(POD_NAMESPACE_LABEL, "")
            if name or ns:
                out[uid] = (name, ns)
    return out


def pod_of(snap: ContainerSnapshot, pods: Mapping[str, Pod]) -> Pod | None:
    """The pod a pod-level cgroup belongs to, for a container whose spec names no pod; else None."""
    labels = snap.spec.labels
    if labels and (labels.get(POD_NAME_LABEL) or labels.get(POD_NAMESPACE_LABEL)):
        return None
    uid = pod_cgroup_uid(snap.name)
    return None if uid is None else pods.get(uid)


def kubelet_labels(snap: ContainerSnapshot, pod: Pod | None) -> dict[str, str]:
    """``containerPrometheusLabelsFunc``: the six labels, blank where unknown."""
    labels = snap.spec.labels or {}
    pod_name = labels.get(POD_NAME_LABEL, "")
    namespace = labels.get(POD_NAMESPACE_LABEL, "")
    if not pod_name and not namespace and pod is not None:
        pod_name, namespace = pod
    return {
        "id": snap.name,
        "name": snap.aliases[0] if snap.aliases else "",
        "image": snap.spec.image or "",
        "pod": pod_name,
        "namespace": namespace,
        "container": labels.get(CONTAINER_NAME_LABEL, ""),
    }
