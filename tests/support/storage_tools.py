"""Storage tools (``dmsetup``, ``thin_ls``, ``zfs``) answered from their fixture outputs, for code that takes a
:data:`pycadvisor.host.command.Runner` (tests/fixtures/devicemapper, tests/fixtures/zfs)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DM = FIXTURES / "devicemapper"
ZFS = FIXTURES / "zfs"

POOL = "docker-253:1-1048897-pool"
TMETA = f"/dev/mapper/{POOL}_tmeta"
TABLE = ("dmsetup", "table", POOL)
STATUS = ("dmsetup", "status", POOL)
RESERVE = ("dmsetup", "message", POOL, "0", "reserve_metadata_snap")
RELEASE = ("dmsetup", "message", POOL, "0", "release_metadata_snap")
THIN_LS = ("thin_ls", "--no-headers", "-m", "-o", "DEV,EXCLUSIVE_BYTES", TMETA)

DATASET = "tank/docker"
ZFS_LIST = ("zfs", "list", "-Hp", "-o", "used,available,usedbydataset", DATASET)
ZFS_GET = ("zfs", "get", "-Hp", "-r", "-t", "filesystem", "-o", "name,value", "used", DATASET)


class FakeTools:
    """A runner answering each command with a fixture file (by name), bytes, or an exception to raise; records
    the commands in order. A command it does not know answers nothing (empty output)."""

    def __init__(self, answers: dict[tuple[str, ...], str | bytes | Exception]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, ...]] = []

    async def __call__(self, argv: Sequence[str]) -> bytes:
        key = tuple(argv)
        self.calls.append(key)
        answer = self.answers.get(key, b"")
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, str):
            return (DM / answer).read_bytes() if (DM / answer).exists() else (ZFS / answer).read_bytes()
        return answer


def thin_pool_tools() -> FakeTools:
    """A healthy pool: 100 GiB of 64 KiB blocks, 1.5 GiB used; device 2 owns 1 MiB, device 3 2 MiB."""
    return FakeTools({TABLE: "dmsetup-table.txt", STATUS: "dmsetup-status.txt", THIN_LS: "thin_ls.txt"})


def zfs_tools() -> FakeTools:
    return FakeTools({ZFS_LIST: "zfs-list-usage.txt", ZFS_GET: "zfs-get-used.txt"})
