"""ZFS datasets: a dataset's size as a filesystem and its children's use, from ``zfs`` (cAdvisor
``lib/fs/zfs/stats.go`` and the ``zfs`` watcher, ``zfs/watcher.go``).

- ``zfs list -Hp -o used,available,usedbydataset <dataset>``: tab-separated exact bytes, ``-`` for none;
  capacity = used + available + usedbydataset, free = available = available (cAdvisor's arithmetic,
  ``parseZfsListUsage``);
- ``zfs list -Hp -o name,used,available,usedbydataset <dataset>...``: the same for every zfs filesystem mounted
  on the host, in one run (cAdvisor's zfs plugin runs one ``zfs list`` per dataset at each read; here a
  background task refreshes them and the samples read the cache);
- ``zfs get -Hp -r -t filesystem -o name,value used <parent>``: ``<dataset>\\t<bytes>`` for the parent and each
  child (the watcher's ``Children(0)`` and ``Used``). Docker's zfs driver keeps a container's layer in the
  child ``<Parent Dataset>/<layer id>``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from pycadvisor.errors import ParseError
from pycadvisor.host.command import CommandError, Runner

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DatasetUsage:
    capacity: int
    free: int
    available: int


def _uint(text: str, source: str) -> int:
    if text == "-":
        return 0
    if not text.isdigit():
        raise ParseError(source, f"not a byte count: {text!r}")
    return int(text)


def parse_zfs_list_usage(text: str, source: str = "zfs list") -> DatasetUsage:
    """One line of ``zfs list -Hp -o used,available,usedbydataset``."""
    fields = text.split()
    if len(fields) != 3:
        raise ParseError(source, f"want 3 fields (used, available, usedbydataset), got {text.strip()[:200]!r}")
    used, avail, by_dataset = (_uint(f, source) for f in fields)
    return DatasetUsage(used + avail + by_dataset, avail, avail)


def parse_zfs_list_named(text: str, source: str = "zfs list") -> dict[str, DatasetUsage]:
    """Dataset → usage from ``zfs list -Hp -o name,used,available,usedbydataset``."""
    out: dict[str, DatasetUsage] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, rest = line.partition("\t")
        if not sep:
            raise ParseError(source, f"want <dataset>\\t<used>\\t<available>\\t<usedbydataset>, got {line[:200]!r}")
        out[name] = parse_zfs_list_usage(rest, source)
    return out


class ZfsMountStats:
    """The zfs filesystems mounted on the host as ``zfs list`` measures them (cAdvisor ``lib/fs/zfs/plugin.go``:
    capacity, free and available of the dataset, type ``zfs``, no inode counts), refreshed by :meth:`refresh`."""

    def __init__(self, runner: Runner) -> None:
        self._run = runner
        self.by_dataset: dict[str, DatasetUsage] = {}

    async def refresh(self, datasets: list[str]) -> None:
        if not datasets:
            self.by_dataset = {}
            return
        out = await self._run(["zfs", "list", "-Hp", "-o", "name,used,available,usedbydataset", *sorted(set(datasets))])
        self.by_dataset = parse_zfs_list_named(out.decode(errors="replace"))


def parse_zfs_get_used(text: str, source: str = "zfs get") -> dict[str, int]:
    """Dataset → used bytes from ``zfs get -Hp -o name,value used``."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.rpartition("\t")
        if not sep:
            raise ParseError(source, f"want <dataset>\\t<bytes>, got {line[:200]!r}")
        out[name] = _uint(value.strip(), source)
    return out


class ZfsDataset:
    """A parent dataset (Docker's ``Parent Dataset``), read through ``runner``: its size and its children's use."""

    def __init__(self, dataset: str, runner: Runner) -> None:
        self.dataset = dataset
        self._run = runner
        self._used: dict[str, int] = {}
        self._refreshed = False
        self.stats: DatasetUsage | None = None

    def child_usage(self, name: str) -> int | None:
        """Used bytes of dataset ``name`` at the last refresh; None when not known (yet)."""
        return self._used.get(name) if self._refreshed else None

    async def read_stats(self) -> DatasetUsage:
        out = await self._run(["zfs", "list", "-Hp", "-o", "used,available,usedbydataset", self.dataset])
        self.stats = parse_zfs_list_usage(out.decode(errors="replace"))
        return self.stats

    async def refresh_usage(self) -> None:
        out = await self._run(["zfs", "get", "-Hp", "-r", "-t", "filesystem", "-o", "name,value", "used", self.dataset])
        self._used = parse_zfs_get_used(out.decode(errors="replace"))
        self._refreshed = True

    async def run(self, interval_s: float) -> None:
        """Read the dataset now and every ``interval_s`` (cAdvisor's watcher: 15 s); a failed round is logged once
        until one succeeds and keeps the last figures."""
        failing = False
        while True:
            try:
                await self.read_stats()
                await self.refresh_usage()
                if failing:
                    _log.warning("zfs dataset %s is read again", self.dataset)
                failing = False
            except (CommandError, ParseError) as e:
                if not failing:
                    _log.warning("zfs dataset %s: %s; its figures are kept from the last good round", self.dataset, e)
                failing = True
            await asyncio.sleep(interval_s)
