"""Podman's pure parts: cgroup names, the libpod version, inspect and event documents, layer dirs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pycadvisor.container.engine_api import metadata_from_inspect, parse_event
from pycadvisor.container.ids import podman_id, rootless_uid
from pycadvisor.container.podman import find_layer, layer_dir, libpod_api_version, read_fs_dirs
from pycadvisor.container.runtime_http import split_endpoint

ID = "4cdb19398587dea42229c2897738091081c47ccb39decc95684c2da1f314400a"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (f"/libpod_parent/libpod-{ID}", (ID, False)),  # cgroupfs manager
        (f"/machine.slice/libpod-{ID}.scope", (ID, False)),  # systemd manager
        (f"/machine.slice/libpod-{ID}.scope/container", (ID, True)),  # crun's payload child on v2
        (f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope", (ID, False)),
        (f"/machine.slice/machine-libpod_pod_abc.slice/libpod-{ID}.scope", (ID, False)),  # in a pod
        (f"/machine.slice/libpod-conmon-{ID}.scope", None),  # conmon, not the container
        ("/libpod_parent/conmon", None),
        (f"/docker/{ID}", None),
        (f"/system.slice/docker-{ID}.scope", None),
        (f"/machine.slice/libpod-{ID}.scope/container/extra", None),
        (f"/machine.slice/libpod-{ID[:-1]}.scope", None),
        (f"/machine.slice/libpod-{ID}.scope-x.mount", None),
        ("/container", None),
    ],
)
def test_podman_cgroup_names(name: str, expected: tuple[str, bool] | None) -> None:
    assert podman_id(name) == expected


def test_rootless_uid_from_the_user_manager_component() -> None:
    assert rootless_uid(f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope") == 1000
    assert rootless_uid(f"/user.slice/user-1000.slice/user@1000.service/app.slice/podman-{ID}.scope") == 1000
    assert rootless_uid(f"/machine.slice/libpod-{ID}.scope") is None
    assert rootless_uid("/user.slice/user-1000.slice/user@x.service/a") is None
    assert rootless_uid("/user.slice/user-1000.slice/session-2.scope") is None


def test_endpoints() -> None:
    assert split_endpoint("unix:///run/podman/podman.sock") == ("http://d", "/run/podman/podman.sock")
    assert split_endpoint("/run/crio/crio.sock") == ("http://d", "/run/crio/crio.sock")
    assert split_endpoint("tcp://127.0.0.1:8888") == ("http://127.0.0.1:8888", None)
    for bad in ("unix://relative.sock", "podman.sock", "ftp://x"):
        with pytest.raises(ValueError):
            split_endpoint(bad)


def test_libpod_api_version_from_the_engine_component() -> None:
    doc = {"Components": [{"Name": "Podman Engine", "Version": "4.3.1", "Details": {"APIVersion": "4.3.1"}}]}
    assert libpod_api_version(doc) == "v4.0.0"
    assert libpod_api_version({"Components": [{"Name": "Podman Engine", "Version": "5.2.0"}]}) == "v5.0.0"
    assert libpod_api_version({"Version": "20.10.24"}) == "v4.0.0"  # not Podman: the default


def inspect(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "Id": ID,
        "Created": "2026-11-27T03:36:04.600551435Z",
        "State": {
            "Status": "running",
            "Running": True,
            "Pid": 8257,
            "StartedAt": "2026-11-27T03:36:05.098998337Z",
            "Health": {"Status": "", "FailingStreak": 0, "Log": None},
        },
        "ImageName": "localhost/pycadtest-busybox:1",
        "Name": "pc1",
        "RestartCount": 0,
        "Config": {
            "Env": ["TEST_VAR=1", "OTHER=2", "PATH=/bin"],
            "Image": "localhost/pycadtest-busybox:1",
            "Labels": {"foo": "bar"},
        },
        "HostConfig": {"NetworkMode": "none"},
        "GraphDriver": {"Name": "vfs", "Data": None},
        "StaticDir": f"/var/lib/containers/storage/vfs-containers/{ID}/userdata",
    }
    doc.update(over)
    return doc


def test_metadata_from_a_libpod_inspect_document() -> None:
    md = metadata_from_inspect(inspect(), ["TEST_"], "podman")
    assert md is not None
    assert (md.namespace, md.id, md.aliases) == ("podman", ID, ["pc1", ID])
    assert md.labels == {"foo": "bar"}
    assert md.envs == {"test_var": "1"}
    assert md.image == "localhost/pycadtest-busybox:1"
    assert md.creation_time == 1795750564600551435
    assert md.start_time == 1795750565098998337
    assert md.pid == 8257 and md.has_network is True and md.health == ""


def test_restart_count_old_health_key_shared_netns_and_stopped() -> None:
    state = {"Running": True, "Pid": 9, "Healthcheck": {"Status": "unhealthy"}}  # Podman 3's key
    md = metadata_from_inspect(
        inspect(RestartCount=3, State=state, HostConfig={"NetworkMode": f"container:{ID}"}, Name="/side"), [], "podman"
    )
    assert md is not None
    assert md.labels == {"foo": "bar", "restartcount": "3"}
    assert md.health == "unhealthy"
    assert md.has_network is False
    assert md.aliases[0] == "side"
    assert md.envs == {}  # no allow-list, no envs
    assert metadata_from_inspect(inspect(State={"Running": False, "Pid": 0}), [], "podman") is None


def test_events() -> None:
    died = parse_event(
        json.dumps(
            {
                "status": "died",
                "id": ID,
                "Type": "container",
                "Action": "died",
                "Actor": {"ID": ID, "Attributes": {"containerExitCode": "137", "name": "pc3"}},
                "timeNano": 1795750834566360979,
            }
        ).encode()
    )
    assert died is not None and (died.action, died.id, died.exit_code, died.name) == ("died", ID, 137, "pc3")
    assert died.time_ns == 1795750834566360979
    health = parse_event(
        b'{"Type":"container","Action":"health_status","Actor":{"ID":"x","Attributes":{}},"HealthStatus":"healthy"}'
    )
    assert health is not None and health.health == "healthy" and health.exit_code is None
    assert parse_event(b'{"Type":"image","Action":"pull","Actor":{"ID":""}}') is None
    assert parse_event(b"  \n") is None


def test_layer_dirs_from_containers_json(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    (root / "vfs-containers").mkdir(parents=True)
    (root / "vfs-containers" / "containers.json").write_text(
        json.dumps([{"id": "other", "layer": "l0"}, {"id": ID, "names": ["pc1"], "layer": "3a9f"}])
    )
    assert find_layer((root / "vfs-containers" / "containers.json").read_bytes(), ID) == "3a9f"
    assert find_layer(b"not json", ID) is None
    assert layer_dir("/s", "overlay", "L") == "/s/overlay/L/diff"
    assert layer_dir("/s", "vfs", "L") == "/s/vfs/dir/L"
    assert layer_dir("/s", "zfs", "L") is None
    doc = inspect(StaticDir=f"{root}/vfs-containers/{ID}/userdata")
    assert read_fs_dirs(doc, str(root), "vfs", "/") == [f"{root}/vfs/dir/3a9f", f"{root}/vfs-containers/{ID}/userdata"]
    # The overlay driver reports its upper dir: used as is, under the host rootfs.
    over = inspect(GraphDriver={"Name": "overlay", "Data": {"UpperDir": "/var/lib/containers/storage/overlay/9f/diff"}})
    assert read_fs_dirs(over, "/var/lib/containers/storage", "overlay", "/rootfs")[0] == (
        "/rootfs/var/lib/containers/storage/overlay/9f/diff"
    )
    # Unknown layer: no filesystem stats rather than a wrong directory.
    assert read_fs_dirs(inspect(Id="f" * 64), str(root), "vfs", "/") == []
