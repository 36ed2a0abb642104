"""Container labels on every series: names, values, padding, the label flags and the caching."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from metrics.expo_fixtures import DOCKER_ID, containerd_snapshot, docker_snapshot, parse_series, root_snapshot
from pycadvisor.metrics.options import ExpositionOptions
from pycadvisor.metrics.render import ExpositionRenderer
from pycadvisor.metrics.source import ContainerSnapshot

DOCKER_NAME = f"/system.slice/docker-{DOCKER_ID}.scope"


def _series(text: str, family: str, cid: str) -> list[dict[str, str]]:
    return [labels for labels, _, _ in parse_series(text)[family] if labels["id"] == cid]


def test_docker_container_carries_id_name_image_labels_and_envs(render: Callable[..., str]) -> None:
    text = render()
    (labels,) = _series(text, "container_memory_usage_bytes", DOCKER_NAME)
    assert labels["id"] == DOCKER_NAME
    assert labels["name"] == "web-1"  # first alias
    assert labels["image"] == "nginx:1.25-alpine"
    assert labels["container_label_com_docker_compose_service"] == "web"
    assert labels["container_label_maintainer"] == 'Jane "JD" Doe \\ ops'  # escaped on the wire, intact here
    assert labels["container_env_test_var"] == "FOO"


def test_every_series_is_padded_with_the_union_of_label_names(render: Callable[..., str]) -> None:
    text = render()
    names = None
    for labels, _, _ in parse_series(text)["container_start_time_seconds"]:
        assert names is None or set(labels) == names
        names = set(labels)
    assert names is not None
    assert {"container_label_io_kubernetes_pod_name", "container_env_test_var", "image", "name"} <= names
    (root,) = _series(text, "container_start_time_seconds", "/")
    assert root["container_label_io_kubernetes_pod_name"] == "" and root["name"] == ""
    assert 'container_label_io_kubernetes_pod_name=""' in text


def test_no_empty_label_padding_drops_label_eq_empty(render: Callable[..., str]) -> None:
    text = render(no_empty_label_padding=True)
    assert '=""' not in text.replace('core_id=""', "").replace('cadvisorRevision=""', "").replace(
        'dockerVersion=""', ""
    )
    (root,) = _series(text, "container_start_time_seconds", "/")
    assert root == {"id": "/"}
    (docker,) = _series(text, "container_start_time_seconds", DOCKER_NAME)
    assert docker["container_label_com_docker_compose_service"] == "web"
    padded = render()
    assert len(text) < len(padded)

    # Prometheus treats label="" as absent: the same series exist either way.
    def strip(t: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
        return {
            (f, tuple(sorted((k, v) for k, v in lab.items() if v)))
            for f, rows in parse_series(t).items()
            for lab, _, _ in rows
        }

    assert strip(text) == strip(padded)


def test_store_container_labels_false_keeps_only_whitelisted_labels_but_all_envs(
    render: Callable[..., str],
) -> None:
    text = render(store_container_labels=False, whitelisted_container_labels=("com.docker.compose.service",))
    (labels,) = _series(text, "container_memory_usage_bytes", DOCKER_NAME)
    assert labels["container_label_com_docker_compose_service"] == "web"
    assert "container_label_maintainer" not in labels
    assert "container_label_io_kubernetes_pod_name" not in text
    assert labels["container_env_test_var"] == "FOO"  # envs are exported either way (cAdvisor)


def test_env_metadata_whitelist_filters_env_labels_by_prefix(render: Callable[..., str]) -> None:
    text = render(env_metadata_whitelist=("TEST_V",))
    (labels,) = _series(text, "container_memory_usage_bytes", DOCKER_NAME)
    assert labels["container_env_test_var"] == "FOO"  # docker lower-cases keys; the prefix still matches
    assert "container_env_test_path" not in labels
    assert "container_env_" not in render(env_metadata_whitelist=())


def test_label_allowlist_keeps_listed_labels_and_id(render: Callable[..., str]) -> None:
    text = render(label_allowlist=("name", "container_label_com_docker_compose_*"))
    (labels,) = _series(text, "container_memory_usage_bytes", DOCKER_NAME)
    assert labels == {"id": DOCKER_NAME, "name": "web-1", "container_label_com_docker_compose_service": "web"}
    text = render(label_allowlist=("nothing",))
    (labels,) = _series(text, "container_memory_usage_bytes", DOCKER_NAME)
    assert labels == {"id": DOCKER_NAME}


def test_colliding_sanitized_names_keep_one_deterministic_label(render: Callable[..., str]) -> None:
    base = docker_snapshot()
    spec = dataclasses.replace(base.spec, labels={"tier.name": "dotted", "tier-name": "dashed"})
    snap = dataclasses.replace(base, spec=spec)
    texts = {render(snapshots=[snap]) for _ in range(3)}
    assert len(texts) == 1
    (labels,) = _series(texts.pop(), "container_memory_usage_bytes", DOCKER_NAME)
    assert labels["container_label_tier_name"] == "dashed"  # first of the sorted raw names wins


def test_labels_follow_a_spec_change_and_stay_cached_otherwise() -> None:
    r = ExpositionRenderer(ExpositionOptions(runtime_metrics=False))
    snaps: list[ContainerSnapshot] = [root_snapshot(), docker_snapshot(), containerd_snapshot()]
    first = r.render(snaps, machine=None, version=None, now_ns=1)
    assert r.render(snaps, machine=None, version=None, now_ns=1) == first
    assert r.cached_containers == 3
    d = snaps[1]
    new_spec = dataclasses.replace(d.spec, labels={**d.spec.labels, "com.docker.compose.service": "api"})
    snaps[1] = dataclasses.replace(d, spec=new_spec)
    text = r.render(snaps, machine=None, version=None, now_ns=1).decode()
    (labels,) = _series(text, "container_memory_usage_bytes", DOCKER_NAME)
    assert labels["container_label_com_docker_compose_service"] == "api"
    # A container that went away takes its labels with it: the union shrinks.
    text = r.render(snaps[:1], machine=None, version=None, now_ns=1).decode()
    assert "container_label_" not in text


def test_label_cache_forgets_containers_that_are_gone() -> None:
    r = ExpositionRenderer(ExpositionOptions(runtime_metrics=False))
    r.render([root_snapshot(), docker_snapshot(), containerd_snapshot()], machine=None, version=None, now_ns=1)
    assert r.cached_containers == 3
    for _ in range(16):
        r.render([root_snapshot()], machine=None, version=None, now_ns=1)
    assert r.cached_containers == 1
