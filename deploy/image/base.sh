#!/usr/bin/env bash
# Build the image's base layer offline: a Debian bookworm root with python3 made by debootstrap from the
# machine's own apt mirror (no container registry is needed), packed as a tarball for `docker import`.
# The tarball is cached (default /var/cache/pycadvisor; PYCAD_IMAGE_CACHE overrides) under a name that
# carries a hash of this script, so a changed recipe makes a new one and an unchanged one is reused.
# Prints the tarball's path. Needs root and debootstrap (Debian package).
set -euo pipefail
cd "$(dirname "$0")"
suite=bookworm
cache=${PYCAD_IMAGE_CACHE:-/var/cache/pycadvisor}
# The mirror apt already uses (deb822 sources or a sources.list line), else Debian's own.
mirror=${PYCAD_DEBIAN_MIRROR:-$(
  { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
    grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'; } |
    grep -m1 -v -e security -e nodesource -e google || true
)}
mirror=${mirror:-http://deb.debian.org/debian}
sum=$(sha256sum "$(basename "$0")" | cut -c1-12)
tarball=$cache/base-$suite-$sum.tar
if [[ -s $tarball ]]; then
  echo "$tarball"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "base.sh: debootstrap missing (apt-get install debootstrap)" >&2; exit 1; }
mkdir -p "$cache"
work=$(mktemp -d "$cache/.base.XXXXXX")
trap 'rm -rf "$work"' EXIT
# minbase: dpkg, apt and their essentials; python3 pulls libpython3.11-stdlib (ssl, sqlite, ...).
# ca-certificates: TLS to a remote Docker engine or storage backend.
debootstrap --variant=minbase --include=python3,ca-certificates "$suite" "$work/root" "$mirror" >&2
# Nothing at run time reads apt's lists, the .debs, documentation or locales.
rm -rf "$work"/root/var/cache/apt/archives/*.deb "$work"/root/var/lib/apt/lists/* \
  "$work"/root/usr/share/{doc,man,info,locale}/* "$work"/root/var/log/*.log
tar --numeric-owner -C "$work/root" -cf "$work/base.tar" .
mv "$work/base.tar" "$tarball"
echo "$tarball"
