# shellcheck shell=bash
# Shared helpers for scripts/test and scripts/check: logging and step timing.

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# step NAME CMD...: run CMD, log its wall time (figures go to the report).
step() {
  local name=$1; shift
  local t0=$SECONDS
  "$@"
  log "$name: $((SECONDS - t0)) s"
}
