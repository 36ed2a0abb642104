"""Issue 17 #3 (deploy half): deploy/kubernetes/daemonset.yaml runs the image as its ``LABEL RUN`` does (same
host mounts, read-only, port, capability, read-only root), with flags that pycadvisor's own parser accepts
(config.py), probes on /healthz and resource requests, and needs no RBAC."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from pycadvisor import __version__
from pycadvisor.config import Config
from pycadvisor.flags import parse_args
from pycadvisor.storage.options import StorageOptions
from support.deploy import DOCKERFILE, REPO, run_label

MANIFEST = REPO / "deploy" / "kubernetes" / "daemonset.yaml"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _daemonset() -> dict[str, Any]:
    (ds,) = [d for d in _docs(MANIFEST) if d["kind"] == "DaemonSet"]
    assert isinstance(ds, dict)
    return ds


def _container() -> dict[str, Any]:
    (c,) = _daemonset()["spec"]["template"]["spec"]["containers"]
    assert isinstance(c, dict)
    return c


def test_mounts_are_the_images() -> None:
    pod = _daemonset()["spec"]["template"]["spec"]
    host_paths = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    mounts = {
        (host_paths[m["name"]].rstrip("/") or "/", m["mountPath"], bool(m.get("readOnly")))
        for m in _container()["volumeMounts"]
    }
    assert mounts == {(v.host, v.container, v.read_only) for v in run_label().volumes}
    assert all(read_only for *_, read_only in mounts)


def test_flags_are_pycadvisors() -> None:
    args = _container()["args"]
    parsed, rest = parse_args(args, Config, StorageOptions)  # FlagError names a flag pycadvisor does not have
    assert rest == []
    cfg = parsed[Config]
    assert cfg.housekeeping_interval == 10 * 10**9
    # The kubelet's label set and /metrics/cadvisor (issue 17 #3, the other half).
    assert cfg.kubelet_compatible is True  # type: ignore[attr-defined,unused-ignore]


def test_port_probes_and_resources() -> None:
    c = _container()
    (port,) = c["ports"]
    exposed = re.search(r"^EXPOSE (\d+)$", DOCKERFILE.read_text(), re.M)
    assert exposed and port["containerPort"] == int(exposed.group(1)) == 8080
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    requests = c["resources"]["requests"]
    assert set(requests) == {"cpu", "memory"}
    assert "memory" in c["resources"]["limits"]
    assert c["image"] == f"pycadvisor:{__version__}"  # deploy/image/build.sh's default tag


def test_security_is_the_images_and_needs_no_rbac() -> None:
    label = run_label().argv
    sc = _container()["securityContext"]
    caps = [a.removeprefix("--cap-add=") for a in label if a.startswith("--cap-add=")]
    assert sc["capabilities"]["add"] == caps == ["SYSLOG"]
    assert sc["readOnlyRootFilesystem"] is ("--read-only" in label) is True
    assert sc["allowPrivilegeEscalation"] is False
    assert "--privileged" not in label and "privileged" not in sc
    pod = _daemonset()["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and "serviceAccountName" not in pod
    assert {d["kind"] for d in _docs(MANIFEST)} == {"Namespace", "DaemonSet"}
