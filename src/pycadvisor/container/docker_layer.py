"""Where Docker keeps a container's writable layer on the host (cAdvisor ``container/docker/handler.go``
``newDockerContainerHandler``): the layer's mount id from the layer database, then the storage driver's
directory for it."""

from __future__ import annotations

import os
from typing import Any


def read_mount_id(root_dir: str, driver: str, container_id: str) -> str | None:
    """The writable layer's id: ``<root>/image/<driver>/layerdb/mounts/<id>/mount-id`` (Docker ≥ 1.10)."""
    path = os.path.join(root_dir, "image", driver, "layerdb", "mounts", container_id, "mount-id")
    try:
        with open(path, "rb") as f:
            text = f.read().decode("ascii", "replace").strip()
    except OSError:
        return None
    return text or None


def writable_layer_dir(doc: dict[str, Any], root_dir: str, default_driver: str) -> str | None:
    """The directory holding the container's writable layer on the host, or None when unknown.

    cAdvisor ``newDockerContainerHandler``: aufs ``aufs/diff/<mount>``, overlay ``overlay/<mount>/upper``,
    overlay2 ``overlay2/<mount>/diff``, vfs ``vfs/dir/<mount>``; btrfs keeps it in
    ``btrfs/subvolumes/<mount>``. Other drivers (zfs, devicemapper, containerd snapshotters) have
    no walkable layer dir unless the engine reports ``GraphDriver.Data.UpperDir``.
    """
    graph = doc.get("GraphDriver") or {}
    driver = str(graph.get("Name") or default_driver)
    data = graph.get("Data") or {}
    cid = str(doc.get("Id", ""))
    mount = read_mount_id(root_dir, driver, cid) if driver else None
    if mount is not None:
        if driver == "overlay2":
            return os.path.join(root_dir, "overlay2", mount, "diff")
        if driver == "overlay":
            return os.path.join(root_dir, "overlay", mount, "upper")
        if driver == "aufs":
            return os.path.join(root_dir, "aufs", "diff", mount)
        if driver == "vfs":
            return os.path.join(root_dir, "vfs", "dir", mount)
        if driver == "btrfs":
            return os.path.join(root_dir, "btrfs", "subvolumes", mount)
    upper = data.get("UpperDir")
    return str(upper) if upper else None
