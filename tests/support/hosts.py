"""The fixture hosts: v1 and v2 host trees in real kernels' formats (tests/fixtures/hosts/README.md)."""

from __future__ import annotations

from pathlib import Path

FIXTURE_HOSTS = Path(__file__).resolve().parents[1] / "fixtures" / "hosts"
