"""The fixture hosts: v1 and v2 host trees in real kernels' formats (tests/fixtures/hosts/README.md)."""

from __future__ import annotations

from pathlib import Path

FIXTURE_HOSTS = Path(__file__).resolve().parents[1] / "fixtures" / "hosts"
#: procfs files in real formats, and a procfs host tree (``host/``) of processes (tests/host/conftest.py).
PROCFS_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "procfs"
