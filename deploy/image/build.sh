#!/usr/bin/env bash
# Build pycadvisor's image offline: base layer from deploy/image/base.sh (imported once per recipe),
# wheels from deploy/image/wheels.sh, then deploy/Dockerfile. Talks to the engine of DOCKER_HOST.
#   usage: deploy/image/build.sh [TAG]      (default pycadvisor:<version>)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
docker=${DOCKER:-docker}
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$repo/src/pycadvisor/__init__.py")
tag=${1:-pycadvisor:$version}
base_tar=$("$here/base.sh")
base_tag=pycadvisor-base:$(basename "$base_tar" .tar | sed 's/^base-//')
if ! "$docker" image inspect "$base_tag" >/dev/null 2>&1; then
  "$docker" import "$base_tar" "$base_tag" >&2
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
"$here/wheels.sh" "$ctx" docker >/dev/null
rm -f "$ctx"/*.tar.gz
# The legacy builder: it needs no buildx plugin, and nothing here needs BuildKit.
DOCKER_BUILDKIT=0 "$docker" build -q --build-arg "BASE=$base_tag" -f "$repo/deploy/Dockerfile" -t "$tag" "$ctx" >&2
echo "$tag"
