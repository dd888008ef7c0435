# What tests/bench/run.sh and tests/bench/cluster.sh share. Sourced after the
# script defines log(); uses the script's PIDS array.

# has ITEM LIST: whether the comma-separated LIST holds ITEM.
has() { [[ ",$2," == *",$1,"* ]]; }

# stop_pid PID: SIGTERM, up to 10 s to exit, then SIGKILL; reaped either way.
stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid ignored SIGTERM for 10 s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# stop_pids: stops every process in PIDS (only what the script started).
stop_pids() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  PIDS=()
}

# run_load OUT WHAT DEADLINE ARGS...: `chaty-load run ARGS` pinned to the load
# core and bounded by DEADLINE (+30 s), its JSON in OUT and its summary on
# stderr. A failure is a warning naming WHAT; whatever it wrote is kept.
run_load() {
  local out=$1 what=$2 deadline=$3
  shift 3
  if timeout $((deadline + 30)) "${PIN_LOAD[@]}" "$LOAD" run --clk-tck "$CLK_TCK" --deadline "$deadline" --json \
    "$@" >"$out.tmp"; then
    mv "$out.tmp" "$out"
    "$LOAD" show "$out" >&2 || true
  else
    warn "$what: chaty-load failed (exit $?)"
    [[ -s "$out.tmp" ]] && mv "$out.tmp" "$out"
  fi
}

# notes_section DIR: the run's notes ($DIR/notes.md) as a report section, if any.
notes_section() {
  if [[ -s "$1/notes.md" ]]; then
    echo "### Notes from this run"
    echo
    cat "$1/notes.md"
    echo
  fi
}
