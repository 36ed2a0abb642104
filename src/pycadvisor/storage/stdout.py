"""``--storage_driver=stdout``: one line per sample (cAdvisor ``cmd/internal/storage/stdout/stdout.go``).

Line: ``cName=<container name> host=<storage_driver_host>`` then `` key=value`` for each series of
:func:`pycadvisor.storage.series.stats_series` (``timestamp`` = when the sample was handed over, ns).
cAdvisor prints ``-storage_driver_host`` as ``host`` (its default ``localhost:8086`` included); kept.

pycadvisor adds, unless ``--storage_driver_include_labels=false``, right after ``host``:
`` image=<image>`` (when known) and `` container_label_<name>=<value>`` per label, the label name
sanitized like Prometheus label names (``[^a-zA-Z0-9_]`` → ``_``). A value that is empty or holds a
blank, ``"`` or ``=`` is written as a JSON string. The series values are unsigned integers.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import BinaryIO

import orjson

from pycadvisor.storage.base import Sample, container_name
from pycadvisor.storage.buffer import BufferedDriver, PartialWrite, encode_batch
from pycadvisor.storage.options import StorageOptions
from pycadvisor.storage.series import stats_series
from pycadvisor.storage.worker import BlockingWorker

_NEEDS_QUOTE = frozenset(' \t\r\n"=')


def sanitize_label_name(name: str) -> str:
    """Every character outside ``[a-zA-Z0-9_]`` becomes ``_`` (cAdvisor's Prometheus label rule)."""
    return "".join(c if (c.isascii() and c.isalnum()) or c == "_" else "_" for c in name)


def _text(v: str) -> str:
    if not v or not _NEEDS_QUOTE.isdisjoint(v):
        return orjson.dumps(v).decode()
    return v


def format_line(
    name: str, host: str, series: dict[str, int], *, image: str = "", labels: dict[str, str] | None = None
) -> str:
    """Render one stdout record (without the newline)."""
    parts = [f"cName={name} host={host}"]
    if image:
        parts.append(f"image={_text(image)}")
    if labels:
        for k in sorted(labels):
            parts.append(f"container_label_{sanitize_label_name(k)}={_text(labels[k])}")
    parts.extend(f"{k}={v}" for k, v in series.items())
    return " ".join(parts)


class StdoutDriver(BufferedDriver):
    name = "stdout"

    def __init__(self, opts: StorageOptions, *, machine_name: str, stream: BinaryIO | None = None) -> None:
        super().__init__(opts, machine_name=machine_name)
        self._host = opts.storage_driver_host
        self._stream = stream
        self._worker = BlockingWorker(self.name)  # a full pipe on stdout must not stall the loop

    def encode(self, sample: Sample) -> str:
        series = stats_series(sample.stats, timestamp_ns=sample.added_ns, load_key="load_average")
        if self.include_labels:
            return format_line(
                container_name(sample.ref), self._host, series, image=sample.spec.image, labels=sample.spec.labels
            )
        return format_line(container_name(sample.ref), self._host, series)

    async def write(self, batch: Sequence[Sample]) -> None:
        lines, index = encode_batch(batch, self.encode, self.log, self.name)
        if lines:
            await self._worker.run(self._emit, ("\n".join(lines) + "\n").encode())
        if len(index) < len(batch):
            raise PartialWrite([], len(batch) - len(index), "samples that could not be encoded")

    def _emit(self, data: bytes) -> None:
        stream = self._stream if self._stream is not None else sys.stdout.buffer
        stream.write(data)
        stream.flush()

    async def close_client(self) -> None:
        self._worker.shutdown()
