"""Docker's storage drivers without a walkable layer: devicemapper (a thin pool) and zfs (a dataset per layer).

cAdvisor ``container/docker/factory.go`` starts a ``ThinPoolWatcher`` (devicemapper) or a ``ZfsWatcher`` (zfs)
from ``docker info``'s ``DriverStatus`` (``Pool Name``, ``Metadata file``, ``Parent Dataset``,
``container/docker/utils/docker.go``), and ``container/docker/fs.go`` ``FsStats`` reports a container's
``filesystem`` entry on the pool (device = the pool name) or the parent dataset (device = its name), with the
machine filesystem's capacity and the watcher's figure for the container as ``base_usage`` and ``usage``:
the thin device's exclusive bytes (``GraphDriver.Data.DeviceId``) or the layer dataset's ``used``
(``<Parent Dataset>/<mount id>``). Both are read by a background task on their own interval
(:mod:`pycadvisor.host.devicemapper`, :mod:`pycadvisor.host.zfs`), never on the sampling path.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

from pycadvisor.container.docker_layer import read_mount_id
from pycadvisor.container.watch import cancel_and_wait
from pycadvisor.host.command import Runner, subprocess_runner
from pycadvisor.host.devicemapper import ThinPool
from pycadvisor.host.zfs import ZfsDataset
from pycadvisor.model.container import FsStats

_log = logging.getLogger(__name__)

LayerStats = Callable[[], FsStats | None]


def driver_status(status: list[tuple[str, str]], key: str) -> str:
    """A ``DriverStatus`` value by name, case-insensitively (cAdvisor ``DriverStatusValue``)."""
    return next((v for k, v in status if k.lower() == key.lower()), "")


class DockerLayerStorage:
    """The thin pool or parent dataset of the engine's storage driver, read in the background."""

    def __init__(self, *, thin_ls_interval_s: float = 15.0, zfs_interval_s: float = 15.0, runner: Runner | None = None):
        self._thin_ls_interval_s = thin_ls_interval_s  # 0: no thin_ls (cAdvisor's disableThinLs), pool stats only
        self._zfs_interval_s = zfs_interval_s
        self._run = runner or subprocess_runner()
        self.pool: ThinPool | None = None
        self.dataset: ZfsDataset | None = None
        self._task: asyncio.Task[None] | None = None
        self._configured = ""
        self._root_dir = ""

    def configure(self, driver: str, status: list[tuple[str, str]], root_dir: str) -> None:
        """Start reading the driver's pool or dataset (once per driver and pool the engine reports)."""
        self._root_dir = root_dir
        if driver == "devicemapper":
            pool = driver_status(status, "Pool Name")
            if not pool or self._configured == f"dm:{pool}":
                return
            meta = driver_status(status, "Metadata file") or f"/dev/mapper/{pool}_tmeta"
            self._replace(f"dm:{pool}")
            self.pool = ThinPool(pool, meta, self._run)
            interval = self._thin_ls_interval_s or 15.0
            self._start(self.pool.run(interval, usage=self._thin_ls_interval_s > 0))
        elif driver == "zfs":
            parent = driver_status(status, "Parent Dataset")
            if not parent or self._configured == f"zfs:{parent}":
                return
            self._replace(f"zfs:{parent}")
            self.dataset = ZfsDataset(parent, self._run)
            self._start(self.dataset.run(self._zfs_interval_s or 15.0))
        elif self._configured:  # the engine came back with another driver
            self._replace("")
            self._task = None

    def layer_stats(self, doc: dict[str, Any]) -> LayerStats | None:
        """A container's ``filesystem`` entry from its inspect document, or None when its driver has a layer dir."""
        graph = doc.get("GraphDriver") or {}
        data = graph.get("Data") or {}
        name = str(graph.get("Name") or "")
        pool = self.pool
        if name == "devicemapper" and pool is not None:
            device_id = str(data.get("DeviceId") or "")
            return lambda: _pool_stats(pool, device_id)
        ds = self.dataset
        if name == "zfs" and ds is not None:
            cid = str(doc.get("Id") or "")
            mount = read_mount_id(self._root_dir, "zfs", cid) if cid else None
            dataset = str(data.get("Dataset") or "") or (os.path.join(ds.dataset, mount) if mount else "")
            return lambda: _dataset_stats(ds, dataset)
        return None

    def filesystems(self) -> list[FsStats]:
        """The thin pool as a machine filesystem once measured (cAdvisor ``addDockerImagesLabel``: the pool is a
        partition of type devicemapper labelled ``docker-images``); zfs datasets are mounts, found there."""
        pool = self.pool
        if pool is None or pool.stats is None:
            return []
        s = pool.stats
        return [
            FsStats(
                device=pool.pool, type="devicemapper", capacity=s.capacity, usage=s.capacity - s.free,
                available=s.free,
            )
        ]  # fmt: skip

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    def _replace(self, what: str) -> None:
        if self._task is not None:
            self._task.cancel()
        self.pool = self.dataset = None
        self._configured = what

    def _start(self, coro: Any) -> None:
        self._task = asyncio.get_running_loop().create_task(coro, name=f"docker-storage-{self._configured}")


def _pool_stats(pool: ThinPool, device_id: str) -> FsStats | None:
    """None until both the pool and the device's bytes are known (with thin_ls off: never, where cAdvisor
    reports a zero usage)."""
    stats, usage = pool.stats, pool.device_usage(device_id) if device_id else None
    if stats is None or usage is None:
        return None
    return FsStats(
        device=pool.pool, type="devicemapper", capacity=stats.capacity, usage=usage, base_usage=usage,
        available=stats.free,
    )  # fmt: skip


def _dataset_stats(ds: ZfsDataset, dataset: str) -> FsStats | None:
    stats, usage = ds.stats, ds.child_usage(dataset) if dataset else None
    if stats is None or usage is None:
        return None
    return FsStats(
        device=ds.dataset, type="zfs", capacity=stats.capacity, usage=usage, base_usage=usage,
        available=stats.available,
    )  # fmt: skip
