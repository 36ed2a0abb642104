# shellcheck shell=bash
# Stop what a test run left behind, by PID only: every process tests/support/procs.py started is
# recorded as $PYCAD_PIDDIR/<pid>.pid ("<pid> <starttime>" then a description) until it is stopped.
# A record whose PID now belongs to another process (different start time) is just dropped.

# Start time of a PID in clock ticks since boot (field 22 of /proc/<pid>/stat), empty if gone.
proc_start_time() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) } # drop "pid (comm) ": comm may hold spaces; field 3 (state) is now first
  # shellcheck disable=SC2086
  set -- $stat
  printf '%s\n' "${20}"
}

kill_recorded_pids() {
  local dir=$1 f pid start what
  [[ -d $dir ]] || return 0
  local -a live=()
  for f in "$dir"/*.pid; do
    [[ -e $f ]] || continue
    { read -r pid start && read -r what; } <"$f" || true
    if [[ -n ${pid:-} && -n ${start:-} && $(proc_start_time "$pid") == "$start" ]]; then
      log "cleanup: stopping leftover ${what:-process} (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      live+=("$pid:$start")
    fi
    rm -f "$f"
  done
  ((${#live[@]})) || return 0
  local i entry
  for i in $(seq 100); do # up to 10 s for SIGTERM, then SIGKILL
    local -a still=()
    for entry in "${live[@]}"; do
      [[ $(proc_start_time "${entry%%:*}") == "${entry#*:}" ]] && still+=("$entry")
    done
    ((${#still[@]})) || return 0
    live=("${still[@]}")
    sleep 0.1
  done
  for entry in "${live[@]}"; do
    log "cleanup: SIGKILL pid ${entry%%:*}"
    kill -KILL "${entry%%:*}" 2>/dev/null || true
  done
}

# Remove pycadtest-* cgroups whose owning test process is gone (tests/support/cgroups.py).
sweep_test_cgroups() {
  [[ $(id -u) == 0 && -x .venv/bin/python ]] || return 0
  PYTHONPATH=tests .venv/bin/python -c '
from support.cgroups import sweep_stale
gone = sweep_stale()
if gone:
    print("cleanup: removed stale test cgroups:", " ".join(gone))
' || true
}
