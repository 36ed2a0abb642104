# shellcheck shell=bash
# The cgroup v2 guest of scripts/test-v2: its initramfs, the two virtiofs daemons and the qemu run.
# The guest's root is the host's own root, shared read-only through virtiofs (the Debian cloud kernel
# has virtiofs but no 9p) under a tmpfs overlay, so it runs this worktree and its .venv unchanged;
# results come back through a second, writable share. The guest has no network device (-nic none):
# only its own loopback.

# v2_initramfs CACHE KVER: CACHE/initramfs-KVER.cpio.gz (static busybox, the modules that mount the
# root, scripts/lib/v2/initramfs-init as /init), rebuilt when one of those changes; prints its path.
v2_initramfs() {
  local cache=$1 kver=$2
  local mods=$cache/kernel/$kver/lib/modules/$kver/kernel
  local files=(
    "$(command -v busybox)" scripts/lib/v2/initramfs-init
    "$mods/drivers/virtio/virtio.ko" "$mods/drivers/virtio/virtio_ring.ko"
    "$mods/drivers/virtio/virtio_pci_modern_dev.ko" "$mods/drivers/virtio/virtio_pci_legacy_dev.ko"
    "$mods/drivers/virtio/virtio_pci.ko" "$mods/fs/fuse/fuse.ko" "$mods/fs/fuse/virtiofs.ko"
    "$mods/fs/overlayfs/overlay.ko"
  )
  local stamp img=$cache/initramfs-$kver.cpio.gz
  stamp=$(sha256sum "${files[@]}" | sha256sum | cut -c1-16)
  if [[ -f $img && -f $img.stamp && $(<"$img.stamp") == "$stamp" ]]; then
    printf '%s\n' "$img"
    return 0
  fi
  local dir
  dir=$(mktemp -d)
  mkdir -p "$dir/bin" "$dir/modules"
  cp "${files[0]}" "$dir/bin/busybox"
  cp "${files[1]}" "$dir/init"
  cp "${files[@]:2}" "$dir/modules/"
  (cd "$dir" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$img.tmp")
  rm -rf "$dir"
  mv "$img.tmp" "$img"
  printf '%s\n' "$stamp" >"$img.stamp"
  printf '%s\n' "$img"
}

# v2_kvm_problem: empty when qemu can use /dev/kvm, else why not (one line).
v2_kvm_problem() {
  [[ -e /dev/kvm ]] || { echo "no /dev/kvm on this host"; return 0; }
  [[ -r /dev/kvm && -w /dev/kvm ]] || { echo "/dev/kvm is not readable and writable by $(id -un)"; return 0; }
  return 0
}

# v2_accel: qemu's accelerator arguments, one per line; says on stderr which and why. KVM with the host's
# CPU when the kernel's KVM is hardware virtualisation (kvm_intel, kvm_amd). A KVM that is PVM
# (kvm_pvm, nested virtualisation without VMX/SVM, as on these build machines) runs only guest kernels
# built for PVM: Debian's kernel stops in its real-mode setup there (seen: "Probing EDD", then a reset
# loop), so the guest runs under qemu's TCG emulation instead, on two host threads.
# PYCAD_V2_ACCEL=kvm|tcg overrides the choice.
v2_accel() {
  local want=${PYCAD_V2_ACCEL:-auto}
  if [[ $want == auto ]]; then
    if [[ -d /sys/module/kvm_intel || -d /sys/module/kvm_amd ]]; then
      want=kvm
    else
      want=tcg
      [[ -d /sys/module/kvm_pvm ]] &&
        log "v2 guest: /dev/kvm is PVM (kvm_pvm), which boots only PVM guest kernels: emulating with TCG"
    fi
  fi
  if [[ $want == kvm ]]; then
    printf '%s\n' -accel kvm -cpu host
  else
    printf '%s\n' -accel tcg,thread=multi -cpu max
  fi
}

# sandbox=chroot: the namespace sandbox pivot_roots into the shared directory, which fails (EBUSY) for /.
# v2_start_virtiofsd SOCKET DIR LOG: one virtiofsd sharing DIR, recorded for kill_recorded_pids; prints
# its pid once the socket exists.
v2_start_virtiofsd() {
  local sock=$1 dir=$2 logf=$3 pid i
  rm -f "$sock"
  /usr/lib/qemu/virtiofsd --socket-path="$sock" -o source="$dir" -o cache=always -o no_posix_lock -o sandbox=chroot \
    </dev/null >"$logf" 2>&1 &
  pid=$!
  printf '%s %s\nvirtiofsd %s\n' "$pid" "$(proc_start_time "$pid")" "$dir" >"$PYCAD_PIDDIR/$pid.pid"
  for i in $(seq 100); do
    [[ -S $sock ]] && { printf '%s\n' "$pid"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  die "virtiofsd for $dir did not start: $(tail -n3 "$logf")"
}
