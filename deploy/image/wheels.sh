#!/usr/bin/env bash
# Build pycadvisor's sdist and wheel into OUT (`python -m build --no-isolation`: the build uses the setuptools
# of the Python that runs it, so it needs no index), and put beside them every wheel that
# `pip install --no-index --find-links OUT 'pycadvisor[EXTRAS]'` needs, pip's own included (the image installs
# with it). Those come from the index once and are kept in the cache (PYCAD_IMAGE_CACHE, default
# /var/cache/pycadvisor/wheels); later runs are offline.
#   usage: deploy/image/wheels.sh OUT [EXTRAS]      (EXTRAS default: docker; PYTHON: the Python to build with)
set -euo pipefail
out=$(realpath -m "${1:?usage: wheels.sh OUT [EXTRAS]}")
extras=${2:-docker}
repo=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
[[ -x $python ]] || python=python3
cache=${PYCAD_IMAGE_CACHE:-/var/cache/pycadvisor}/wheels
mkdir -p "$out" "$cache"
"$python" -m build --no-isolation --outdir "$out" "$repo" >&2
wheel=$(ls -t "$out"/pycadvisor-*.whl | head -1)
pip_download() { "$python" -m pip download -q --disable-pip-version-check --dest "$cache" --only-binary=:all: "$@" \
  "$wheel[$extras]" pip; }
pip_download --no-index --find-links "$cache" 2>/dev/null || pip_download --find-links "$cache"
rm -f "$cache"/pycadvisor-*.whl  # pip download copies the requested wheel too: keep only dependencies
cp -p "$cache"/*.whl "$out"/
echo "$wheel"
