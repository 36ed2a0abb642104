"""Issue 17 #6: the README's "Install and deploy" recipes are the ones deploy/ holds and tests/deploy runs."""

from __future__ import annotations

import re
import shlex

from pycadvisor import __version__
from support.deploy import REPO, run_label


def _section() -> str:
    text = (REPO / "README.md").read_text()
    m = re.search(r"^## Install and deploy\n(.*?)^## ", text, re.M | re.S)
    assert m, "README has no 'Install and deploy' section"
    return m.group(1)


def test_docker_run_line_is_the_images_label() -> None:
    lines = [ln for ln in _section().replace("\\\n", "").splitlines() if ln.startswith("docker run ")]
    assert len(lines) == 1
    expected = [{"NAME": "pycadvisor", "IMAGE": f"pycadvisor:{__version__}"}.get(a, a) for a in run_label().argv]
    assert shlex.split(lines[0]) == expected


def test_files_named_exist() -> None:
    section = _section()
    paths = ["deploy/image/wheels.sh", "deploy/image/build.sh", "deploy/image/base.sh", "deploy/Dockerfile"]
    paths += ["deploy/kubernetes/daemonset.yaml", "deploy/systemd/pycadvisor.service", "bench/image.py"]
    for path in paths:
        assert path in section and (REPO / path).exists(), path
