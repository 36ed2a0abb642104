"""Devicemapper thin pools: the pool's size and use (``dmsetup table``/``status``) and each thin device's
exclusive bytes (``thin_ls``), as cAdvisor's ``devicemapper`` and ``fs/devicemapper`` packages.

- ``dmsetup table <pool>``: ``<start> <length> thin-pool <metadata dev> <data dev> <data block size> ...``
  (kernel ``Documentation/admin-guide/device-mapper/thin-provisioning.rst``); the data device's
  major:minor and the block size in 512-byte sectors (cAdvisor ``ParseDMTable``);
- ``dmsetup status <pool>``: ``<start> <length> thin-pool <transaction id> <used>/<total metadata blocks>
  <used>/<total data blocks> <held metadata root> ...``: the pool's capacity and use in data blocks
  (``parseDMStatus``), and whether a metadata snapshot is held (``checkReservation``: ``-`` when none);
- ``thin_ls --no-headers -m -o DEV,EXCLUSIVE_BYTES <metadata device>``: ``<device id> <bytes>`` per thin
  device, read from a metadata snapshot reserved with ``dmsetup message <pool> 0 reserve_metadata_snap`` and
  released after (``ThinPoolWatcher.Refresh``). Docker's ``GraphDriver.Data.DeviceId`` is the device id.

cAdvisor hard-disables ``thin_ls`` (``container/docker/factory.go`` ``disableThinLs``: it costs IOPS); here it
runs on its own interval (``-devicemapper_thin_ls_interval``, 0 turns it off).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from pycadvisor.errors import ParseError
from pycadvisor.host.command import CommandError, Runner

_log = logging.getLogger(__name__)
SECTOR = 512  # dm tables count 512-byte sectors (include/linux/blk_types.h SECTOR_SHIFT)


@dataclass(frozen=True, slots=True)
class PoolTable:
    data_major: int
    data_minor: int
    block_sectors: int  # data block size, in 512-byte sectors


@dataclass(frozen=True, slots=True)
class PoolStatus:
    used_blocks: int
    total_blocks: int
    metadata_snap_held: bool


def parse_dmsetup_table(text: str, source: str = "dmsetup table") -> PoolTable:
    """A thin pool's line of ``dmsetup table``."""
    fields = text.replace(":", " ").split()
    if len(fields) < 8 or fields[2] != "thin-pool":
        raise ParseError(source, f"not a thin-pool table: {text.strip()[:200]!r}")
    try:
        return PoolTable(int(fields[5]), int(fields[6]), int(fields[7]))
    except ValueError:
        raise ParseError(source, f"not a thin-pool table: {text.strip()[:200]!r}") from None


def parse_dmsetup_status(text: str, source: str = "dmsetup status") -> PoolStatus:
    """A thin pool's line of ``dmsetup status``."""
    fields = text.split()
    try:
        if len(fields) < 7 or fields[2] != "thin-pool":
            raise ValueError
        used, _, total = fields[5].partition("/")
        return PoolStatus(int(used), int(total), fields[6] != "-")
    except ValueError:
        raise ParseError(source, f"not a thin-pool status: {text.strip()[:200]!r}") from None


def parse_thin_ls(text: str) -> dict[str, int]:
    """Device id → exclusive bytes from ``thin_ls --no-headers -o DEV,EXCLUSIVE_BYTES``; other lines are skipped
    (cAdvisor ``parseThinLsOutput``)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].isdigit():
            out[fields[0]] = int(fields[1])
    return out


@dataclass(frozen=True, slots=True)
class PoolUsage:
    """A pool as a filesystem (cAdvisor ``GetDMStats``): bytes; free and available are the same."""

    capacity: int
    free: int
    major: int
    minor: int


class ThinPool:
    """One thin pool, read through ``runner``: its size and use, and its thin devices' exclusive bytes."""

    def __init__(self, pool: str, metadata_device: str, runner: Runner) -> None:
        self.pool = pool
        self.metadata_device = metadata_device
        self._run = runner
        self._usage: dict[str, int] = {}
        self._refreshed = False
        self.stats: PoolUsage | None = None  # None until read once

    def device_usage(self, device_id: str) -> int | None:
        """The thin device's exclusive bytes at the last refresh; None when not known (yet)."""
        return self._usage.get(device_id) if self._refreshed else None

    async def read_stats(self) -> PoolUsage:
        """``dmsetup table`` + ``status``: capacity and free space in bytes (cAdvisor ``GetDMStats``)."""
        table = parse_dmsetup_table((await self._run(["dmsetup", "table", self.pool])).decode())
        status = parse_dmsetup_status((await self._run(["dmsetup", "status", self.pool])).decode())
        block = SECTOR * table.block_sectors
        total = status.total_blocks * block
        self.stats = PoolUsage(total, total - status.used_blocks * block, table.data_major, table.data_minor)
        return self.stats

    async def refresh_usage(self) -> None:
        """``thin_ls`` of a reserved metadata snapshot (cAdvisor ``ThinPoolWatcher.Refresh``); a snapshot left
        held by an earlier run is released first, and the one taken here is always released."""
        status = parse_dmsetup_status((await self._run(["dmsetup", "status", self.pool])).decode())
        if status.metadata_snap_held:
            await self._run(["dmsetup", "message", self.pool, "0", "release_metadata_snap"])
        await self._run(["dmsetup", "message", self.pool, "0", "reserve_metadata_snap"])
        try:
            out = await self._run(["thin_ls", "--no-headers", "-m", "-o", "DEV,EXCLUSIVE_BYTES", self.metadata_device])
        finally:
            try:
                await self._run(["dmsetup", "message", self.pool, "0", "release_metadata_snap"])
            except CommandError as e:
                _log.warning("cannot release the metadata snapshot of thin pool %s: %s", self.pool, e)
        self._usage = parse_thin_ls(out.decode(errors="replace"))
        self._refreshed = True

    async def run(self, interval_s: float, usage: bool) -> None:
        """Read the pool's stats, and with ``usage`` its devices' bytes, now and every ``interval_s``; a failed
        round is logged (once until one succeeds) and keeps the last figures."""
        failing = False
        while True:
            try:
                await self.read_stats()
                if usage:
                    await self.refresh_usage()
                if failing:
                    _log.warning("thin pool %s is read again", self.pool)
                failing = False
            except (CommandError, ParseError) as e:
                if not failing:
                    _log.warning("thin pool %s: %s; its figures are kept from the last good round", self.pool, e)
                failing = True
            await asyncio.sleep(interval_s)
