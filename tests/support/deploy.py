"""What deploy/ says about running pycadvisor, read from the files themselves so that tests run exactly that.

The image's ``LABEL RUN`` (deploy/Dockerfile) is the one ``docker run`` line: the image test runs it, the
README shows it, and the DaemonSet and systemd unit are checked against its mounts.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "Dockerfile"


@dataclass(frozen=True, slots=True)
class Volume:
    host: str
    container: str
    read_only: bool


@dataclass(frozen=True, slots=True)
class RunLine:
    argv: list[str]  # the label, split as a shell would: docker run ... IMAGE [flags]

    @property
    def volumes(self) -> list[Volume]:
        out = []
        for opt, value in zip(self.argv, self.argv[1:], strict=False):
            if opt in ("-v", "--volume"):
                host, container, *mode = value.split(":")
                out.append(Volume(host.rstrip("/") or "/", container.rstrip("/") or "/", mode == ["ro"]))
        return out

    def options(self, *, drop: tuple[str, ...] = ("-d", "--name")) -> list[str]:
        """The options between ``run`` and ``IMAGE``, without those in ``drop`` (and their values)."""
        start, end = self.argv.index("run") + 1, self.argv.index("IMAGE")
        out: list[str] = []
        skip = False
        for i, a in enumerate(self.argv[start:end]):
            if skip:
                skip = False
                continue
            if a in drop:
                nxt = self.argv[start + i + 1] if start + i + 1 < end else ""
                skip = a != "-d" and not nxt.startswith("-")
                continue
            out.append(a)
        return out


def run_label() -> RunLine:
    """deploy/Dockerfile's ``LABEL RUN="..."`` (continuation lines joined, as the builder does)."""
    text = DOCKERFILE.read_text().replace("\\\n", "")
    m = re.search(r'^LABEL RUN="([^"]*)"', text, re.M)
    assert m, f"no LABEL RUN in {DOCKERFILE}"
    return RunLine(shlex.split(m.group(1)))
