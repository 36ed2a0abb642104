"""Issue 17 #1: pycadvisor as a package. ``python -m build`` (through deploy/image/wheels.sh, the README's
recipe) gives an sdist and a wheel that carries the C reader; the wheel installs with its dependencies into a
fresh venv outside the checkout, and that install starts, serves and is scraped. A wheel built from the sdist
where there is no compiler carries the pure-Python twin instead, and works the same."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from pycadvisor import __version__
from support.procs import ManagedProcess, wait_until
from support.services import free_port, http_get

REPO = Path(__file__).resolve().parents[2]
EXTRAS = {"docker", "redis", "influxdb", "kafka", "elasticsearch", "bigquery", "auth", "all"}


def _env() -> dict[str, str]:
    """The environment of an installed program: nothing of the checkout on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/image/wheels.sh's output: sdist, wheel and the dependencies' wheels."""
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run(
        [str(REPO / "deploy/image/wheels.sh"), str(out), "docker"],
        env=dict(os.environ, PYTHON=sys.executable),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def _pip(venv: Path, *args: str) -> None:
    """The test's own pip installing into ``venv`` (``pip --python``): a venv with ensurepip costs 30 s here."""
    r = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "install", "-q", "--no-compile",
         "--disable-pip-version-check", "--no-index", *args],
        capture_output=True, text=True, env=_env(), timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the checkout holding the built wheel and its dependencies (from ``dist`` only)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--clear", "--without-pip", str(venv)], check=True, env=_env())
    _pip(venv, "--find-links", str(dist), "pycadvisor[docker]")  # the README's recipe
    return venv


def _python(venv: Path, code: str) -> str:
    r = subprocess.run([str(venv / "bin/python"), "-c", code], capture_output=True, text=True, env=_env(), cwd=venv)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def _serves(venv: Path) -> str:
    """Start the installed ``pycadvisor`` outside the checkout; return one scrape of /metrics."""
    port = free_port()
    proc = ManagedProcess(
        [str(venv / "bin/pycadvisor"), "-listen_ip=127.0.0.1", f"-port={port}", "-housekeeping_interval=1s"],
        what="installed pycadvisor",
        log_path=str(venv / "daemon.log"),
        env=_env(),
        cwd=str(venv),
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_get(url + "/healthz")[0] == 200, timeout=30, what="/healthz", proc=proc)

        def scraped() -> str | None:
            status, body = http_get(url + "/metrics")
            text = body.decode()
            return text if status == 200 and "container_cpu_usage_seconds_total{" in text else None

        return wait_until(scraped, timeout=30, what="/metrics with the root's CPU", proc=proc)
    finally:
        proc.stop()


def test_wheel_installs_outside_the_checkout_and_serves(dist: Path, venv: Path) -> None:
    sdists = list(dist.glob("pycadvisor-*.tar.gz"))
    wheels = list(dist.glob("pycadvisor-*.whl"))
    assert [p.name for p in sdists] == [f"pycadvisor-{__version__}.tar.gz"]
    assert len(wheels) == 1 and wheels[0].name.startswith(f"pycadvisor-{__version__}-cp3")  # a platform wheel
    _pip(venv, "--no-deps", "--force-reinstall", str(wheels[0]))  # the other test may have put its own there

    where = _python(venv, "import pycadvisor; print(pycadvisor.__file__)")
    assert where.startswith(str(venv)) and not where.startswith(str(REPO))
    # The C reader and the C /metrics writer were built into the wheel.
    assert _python(venv, "from pycadvisor.host.cgroups.fdread import native_reader; print(native_reader())") != "None"
    assert _python(venv, "from pycadvisor.metrics.expfmt import native_writer; print(native_writer())") != "None"
    extras = _python(venv, "import importlib.metadata as m; print(*m.metadata('pycadvisor').get_all('Provides-Extra'))")
    assert set(extras.split()) >= EXTRAS
    version = subprocess.run([str(venv / "bin/pycadvisor"), "--version"], capture_output=True, text=True, env=_env())
    assert version.returncode == 0 and __version__ in version.stdout

    text = _serves(venv)
    assert "container_cpu_usage_seconds_total{" in text and 'id="/"' in text
    assert "machine_cpu_cores" in text


def test_sdist_without_a_compiler_gives_the_python_reader(dist: Path, venv: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    with tarfile.open(next(dist.glob("pycadvisor-*.tar.gz"))) as tar:
        tar.extractall(src, filter="data")
    (tree,) = src.iterdir()
    out = tmp_path / "out"
    # CC=false: every compile fails, as on a machine without gcc; the extension is optional (setup.py).
    r = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(tree)],
        env=dict(_env(), CC="false"), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = out.glob("pycadvisor-*.whl")
    _pip(venv, "--no-deps", "--force-reinstall", str(wheel))
    assert _python(venv, "from pycadvisor.host.cgroups.fdread import native_reader; print(native_reader())") == "None"
    assert _python(venv, "from pycadvisor.metrics.expfmt import native_writer; print(native_writer())") == "None"
    text = _serves(venv)
    assert "container_cpu_usage_seconds_total{" in text and 'id="/"' in text
