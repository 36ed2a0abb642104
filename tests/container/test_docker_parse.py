"""The Docker factory's pure parts: cgroup-name rule, API negotiation, inspect and event parsing.

Inspect and event documents are trimmed copies of what Docker 20.10.24 (API 1.41) returned here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pycadvisor.container.docker import DockerFactory, negotiate_api_version, parse_info
from pycadvisor.container.docker_layer import writable_layer_dir
from pycadvisor.container.engine_api import filter_envs, metadata_from_inspect, parse_docker_time, parse_event
from pycadvisor.container.ids import docker_id_from_cgroup

CID = "68efbb4f427d5d5405b745d324aa4379c6ee30649ca7ea68a4b066ab968029be"


def inspect_doc(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "Id": CID,
        "Name": "/t1",
        "Created": "2026-11-27T03:19:08.025350026Z",
        "State": {
            "Status": "running",
            "Running": True,
            "Pid": 8919,
            "ExitCode": 0,
            "StartedAt": "2026-11-27T03:19:08.302496819Z",
            "FinishedAt": "0001-01-01T00:00:00Z",
        },
        "RestartCount": 0,
        "GraphDriver": {"Data": None, "Name": "vfs"},
        "HostConfig": {"NetworkMode": "default", "CpuShares": 2048, "Memory": 1073741824},
        "Config": {
            "Env": ["TEST_VAR=FOO", "OTHER=1", "TEST_EMPTY=", "PATH=/bin"],
            "Image": "pycad-bb:1",
            "Labels": {"bar": "baz"},
        },
    }
    doc.update(over)
    return doc


# ---------------------------------------------------------------- cgroup names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (f"/docker/{CID}", CID),  # cgroupfs driver
        (f"/system.slice/docker-{CID}.scope", CID),  # systemd driver
        (f"/kubepods/burstable/pod1234/{CID}", CID),  # cri-dockerd / custom --cgroup-parent
        (f"/system.slice/docker-{CID}.scope/init", None),  # a child of the scope is not the container
        (f"/system.slice/run-docker-runtime\\x2drunc-moby-{CID}.mount", None),  # systemd's, not docker's
        ("/docker", None),
        ("/system.slice/docker.service", None),
        (f"/docker/{CID[:63]}", None),  # too short
        (f"/docker/{CID.upper()}", None),  # cAdvisor's class is [a-z0-9]
        (f"/docker/{CID}ff", CID),  # a longer run: its first 64 characters (leftmost regexp match)
        (f"/custom-parent/x-{CID}-y", CID),  # any other basename holding an id (cAdvisor's rule)
        # Other runtimes' layouts are never Docker's, whatever order the factories are asked in.
        (f"/machine.slice/libpod-{CID}.scope", None),
        (f"/machine.slice/libpod-conmon-{CID}.scope", None),
        (f"/libpod_parent/libpod-{CID}", None),
        (f"/kubepods.slice/kubepods-pod1.slice/cri-containerd-{CID}.scope", None),
        (f"/kubepods.slice/kubepods-pod1.slice/crio-{CID}.scope", None),
        (f"/kubepods/pod1/crio-conmon-{CID}", None),
    ],
)
def test_cgroup_names_docker_handles(name: str, expected: str | None) -> None:
    assert docker_id_from_cgroup(name) == expected


def test_factory_claims_only_container_cgroups_without_io() -> None:
    f = DockerFactory("unix:///nonexistent/docker.sock", env_whitelist=[], docker_root="/x", timeout_s=1)
    assert f.can_handle_and_accept(f"/docker/{CID}") == (True, True)
    assert f.can_handle_and_accept(f"/system.slice/docker-{CID}.scope") == (True, True)
    assert f.can_handle_and_accept("/system.slice/docker.service") == (False, False)
    assert f.can_handle_and_accept(f"/x/{CID}.mount") == (False, False)


@pytest.mark.parametrize("endpoint", ["docker.sock", "unix://relative.sock", "ftp://h:1"])
def test_bad_endpoint_is_rejected_at_construction(endpoint: str) -> None:
    with pytest.raises(ValueError, match="invalid docker endpoint"):
        DockerFactory(endpoint, env_whitelist=[], docker_root="/x", timeout_s=1)


# ---------------------------------------------------------------- API negotiation


@pytest.mark.parametrize(
    ("server", "server_min", "expected"),
    [
        ("1.41", "1.12", "1.41"),  # Debian docker.io 20.10: speak its version
        ("1.52", "1.44", "1.51"),  # Docker 29: our highest known, above its minimum (cadvisor#3749)
        ("1.60", "1.55", "1.55"),  # an engine whose minimum is above ours: its minimum
        ("1.24", None, "1.24"),
    ],
)
def test_api_version_negotiation(server: str, server_min: str | None, expected: str) -> None:
    assert negotiate_api_version(server, server_min) == expected


# ---------------------------------------------------------------- inspect


def test_inspect_of_running_container_gives_reference_labels_image_times() -> None:
    md = metadata_from_inspect(inspect_doc(), ["TEST_VAR"], "docker")
    assert md is not None
    assert md.namespace == "docker"
    assert md.id == CID
    assert md.aliases == ["t1", CID]
    assert md.labels == {"bar": "baz"}
    assert md.envs == {"test_var": "FOO"}
    assert md.image == "pycad-bb:1"
    assert md.creation_time == 1795749548025350026
    assert md.start_time == 1795749548302496819
    assert md.pid == 8919
    assert md.has_network is True
    assert md.health == ""


def test_only_running_containers_are_described() -> None:
    doc = inspect_doc(State={"Status": "exited", "Running": False, "Pid": 0, "ExitCode": 3})
    assert metadata_from_inspect(doc, [], "docker") is None


def test_restart_count_becomes_a_label_only_when_positive() -> None:
    md = metadata_from_inspect(inspect_doc(RestartCount=3), [], "docker")
    assert md is not None and md.labels == {"bar": "baz", "restartcount": "3"}
    md0 = metadata_from_inspect(inspect_doc(RestartCount=0), [], "docker")
    assert md0 is not None and "restartcount" not in md0.labels


def test_labels_are_copied_not_shared_with_the_document() -> None:
    doc = inspect_doc(RestartCount=1)
    md = metadata_from_inspect(doc, [], "docker")
    assert md is not None
    assert doc["Config"]["Labels"] == {"bar": "baz"}


def test_null_labels_and_env() -> None:
    doc = inspect_doc(Config={"Env": None, "Image": "x", "Labels": None})
    md = metadata_from_inspect(doc, ["TEST"], "docker")
    assert md is not None and md.labels == {} and md.envs == {}


def test_env_allow_list_is_by_prefix_and_lower_cases_keys() -> None:
    env = ["TEST_VAR=FOO", "TEST_EMPTY=", "TESTING=a=b", "OTHER=1", "NOEQUALS", "test_lower=x"]
    assert filter_envs(env, ["TEST"]) == {"test_var": "FOO", "test_empty": "", "testing": "a=b"}
    assert filter_envs(env, ["TEST_VAR", "OTHER"]) == {"test_var": "FOO", "other": "1"}
    assert filter_envs(env, [""]) == {}  # cAdvisor: an empty entry (flag unset) exports nothing
    assert filter_envs(env, []) == {}


def test_shared_network_namespace_has_no_network_but_host_mode_does() -> None:
    other = "container:" + "b" * 64
    md = metadata_from_inspect(inspect_doc(HostConfig={"NetworkMode": other}), [], "docker")
    assert md is not None and md.has_network is False
    md_host = metadata_from_inspect(inspect_doc(HostConfig={"NetworkMode": "host"}), [], "docker")
    assert md_host is not None and md_host.has_network is True  # cAdvisor needNet: only container: is off


def test_health_status_is_reported() -> None:
    state = dict(inspect_doc()["State"], Health={"Status": "healthy", "FailingStreak": 0})
    md = metadata_from_inspect(inspect_doc(State=state), [], "docker")
    assert md is not None and md.health == "healthy"


def test_zero_start_time_is_not_collected() -> None:
    assert parse_docker_time("0001-01-01T00:00:00Z") is None
    assert parse_docker_time("") is None
    assert parse_docker_time("2026-11-27T03:19:08Z") == 1795749548 * 10**9
    assert parse_docker_time("2026-11-27T04:19:08.5+01:00") == 1795749548 * 10**9 + 500_000_000


# ---------------------------------------------------------------- writable layer


def _layerdb(root: Path, driver: str, cid: str, mount: str) -> None:
    d = root / "image" / driver / "layerdb" / "mounts" / cid
    d.mkdir(parents=True)
    (d / "mount-id").write_text(mount)


@pytest.mark.parametrize(
    ("driver", "tail"),
    [
        ("overlay2", "overlay2/m1/diff"),
        ("overlay", "overlay/m1/upper"),
        ("vfs", "vfs/dir/m1"),
        ("aufs", "aufs/diff/m1"),
        ("btrfs", "btrfs/subvolumes/m1"),
    ],
)
def test_writable_layer_dir_per_storage_driver(tmp_path: Path, driver: str, tail: str) -> None:
    _layerdb(tmp_path, driver, CID, "m1")
    doc = inspect_doc(GraphDriver={"Name": driver, "Data": None})
    assert writable_layer_dir(doc, str(tmp_path), "") == os.path.join(str(tmp_path), tail)


def test_writable_layer_dir_falls_back_to_upper_dir_then_none(tmp_path: Path) -> None:
    doc = inspect_doc(GraphDriver={"Name": "overlayfs", "Data": {"UpperDir": "/var/lib/x/snap/9/fs"}})
    assert writable_layer_dir(doc, str(tmp_path), "") == "/var/lib/x/snap/9/fs"
    doc = inspect_doc(GraphDriver={"Name": "zfs", "Data": {"Dataset": "pool/x"}})
    assert writable_layer_dir(doc, str(tmp_path), "") is None


def test_writable_layer_uses_info_driver_when_inspect_has_none(tmp_path: Path) -> None:
    _layerdb(tmp_path, "overlay2", CID, "abc\n")
    doc = inspect_doc(GraphDriver=None)
    assert writable_layer_dir(doc, str(tmp_path), "overlay2") == os.path.join(str(tmp_path), "overlay2/abc/diff")


# ---------------------------------------------------------------- events and info


def test_die_event_carries_the_exit_code() -> None:
    line = (
        b'{"status":"die","id":"81ce","from":"pycad-bb:1","Type":"container","Action":"die",'
        b'"Actor":{"ID":"81ce","Attributes":{"exitCode":"3","image":"pycad-bb:1","name":"t2"}},'
        b'"scope":"local","time":1795749689,"timeNano":1795749689234710953}\n'
    )
    ev = parse_event(line)
    assert ev is not None
    assert (ev.action, ev.id, ev.name, ev.exit_code, ev.time_ns) == ("die", "81ce", "t2", 3, 1795749689234710953)


def test_health_event_splits_action_and_status() -> None:
    line = (
        b'{"status":"health_status: healthy","id":"8dae","Type":"container","Action":"health_status: healthy",'
        b'"Actor":{"ID":"8dae","Attributes":{"name":"t3"}},"time":1795749689,"timeNano":1795749689577495078}'
    )
    ev = parse_event(line)
    assert ev is not None and (ev.action, ev.health, ev.exit_code) == ("health_status", "healthy", None)


def test_non_container_events_and_blank_lines_are_skipped() -> None:
    assert parse_event(b"\n") is None
    assert parse_event(b'{"Type":"network","Action":"connect","Actor":{"ID":"n"},"timeNano":1}') is None


def test_info_document() -> None:
    version = {"Version": "20.10.24+dfsg1", "ApiVersion": "1.41", "MinAPIVersion": "1.12"}
    info = {
        "DockerRootDir": "/var/lib/docker",
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": "1",
        "Containers": 3,
        "ContainersRunning": 2,
        "Images": 1,
    }
    di = parse_info(version, info, "1.41")
    assert (di.server_version, di.api_version, di.negotiated_api_version) == ("20.10.24+dfsg1", "1.41", "1.41")
    assert (di.root_dir, di.driver, di.cgroup_driver) == ("/var/lib/docker", "overlay2", "cgroupfs")
    assert di.driver_status == [("Backing Filesystem", "extfs"), ("Supports d_type", "true")]
    assert (di.containers, di.containers_running, di.images) == (3, 2, 1)
