#!/usr/bin/env bash
# The benchmark: chaty against the seed-protocol peers in ../shared/bench/peers,
# side by side, written to docs/benchmarks.md. Not a test; takes a while.
#
#   tests/bench/run.sh                        # everything (about 20 minutes)
#   QUICK=1 tests/bench/run.sh                # shorter windows and ramp (about 6 minutes)
#   SCENARIOS=a,b SERVERS=chaty,bare-rust tests/bench/run.sh
#
# Each server starts fresh for every scenario, pinned to core 0; chaty-load
# runs pinned to core 1. Only processes this script started are stopped.
# See tests/bench/README.md for every knob.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

# The knobs a caller set, for the record in the report.
KNOBS="QUICK SCENARIOS SERVERS WARMUP DURATION DRAIN RAMP_RATES RAMP_WARMUP RAMP_DURATION WRITE_RATES IDLE_CLIENTS
IDLE_ROOMS IDLE_HOLD DB_MESSAGES HISTORY_CLIENTS HISTORY_RATE QUIET_WAIT COLD_ATTEMPTS SERVER_CORE LOAD_CORE PEERS_DIR
BENCH_DIR OUT REPORT_ONLY"
CMD=""
for knob in $KNOBS; do
  if [[ -n "${!knob+x}" ]]; then CMD+="$knob=${!knob} "; fi
done
CMD+="tests/bench/run.sh${*:+ $*}"

QUICK=${QUICK:-0}
SCENARIOS=${SCENARIOS:-a,b,c,d,e,f,w}
SERVERS=${SERVERS:-chaty,node-ws,bare-rust}
if [[ "$QUICK" == 1 ]]; then
  WARMUP=${WARMUP:-2}; DURATION=${DURATION:-10}
  RAMP_RATES=${RAMP_RATES:-10,20,40,60}; RAMP_WARMUP=${RAMP_WARMUP:-2}; RAMP_DURATION=${RAMP_DURATION:-5}
  WRITE_RATES=${WRITE_RATES:-5,10,20,30,40}
  IDLE_HOLD=${IDLE_HOLD:-5}; COLD_ATTEMPTS=${COLD_ATTEMPTS:-3}
else
  WARMUP=${WARMUP:-5}; DURATION=${DURATION:-30}
  RAMP_RATES=${RAMP_RATES:-10,15,20,25,30,40,50,60,70,80,90}; RAMP_WARMUP=${RAMP_WARMUP:-3}; RAMP_DURATION=${RAMP_DURATION:-10}
  WRITE_RATES=${WRITE_RATES:-5,7,10,15,20,25,30,40,60,80}
  IDLE_HOLD=${IDLE_HOLD:-10}; COLD_ATTEMPTS=${COLD_ATTEMPTS:-5}
fi
DRAIN=${DRAIN:-5}
IDLE_CLIENTS=${IDLE_CLIENTS:-10000}
IDLE_ROOMS=${IDLE_ROOMS:-$((IDLE_CLIENTS / 10))}
DB_MESSAGES=${DB_MESSAGES:-1000000}
HISTORY_CLIENTS=${HISTORY_CLIENTS:-20}
HISTORY_RATE=${HISTORY_RATE:-5}
QUIET_WAIT=${QUIET_WAIT:-30}
SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
PEERS_DIR=${PEERS_DIR:-$ROOT/../shared/bench/peers}
BENCH_DIR=${BENCH_DIR:-$ROOT/target/bench}
OUT=${OUT:-$ROOT/docs/benchmarks.md}

# REPORT_ONLY=DIR: no runs, only docs/benchmarks.md again from the results in DIR.
REPORT_ONLY=${REPORT_ONLY:-}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=${REPORT_ONLY:-"$BENCH_DIR/results-$STAMP"}
RUN_DIR="$BENCH_DIR/run"
mkdir -p "$RESULTS" "$RUN_DIR"
if [[ -n "$REPORT_ONLY" ]]; then
  [[ -f "$RESULTS/header.md" ]] || { echo "$RESULTS/header.md not found: not a results directory" >&2; exit 2; }
  SCENARIOS=""
  SERVERS=""
fi

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { log "WARNING: $*"; echo "- $*" >>"$RESULTS/notes.md"; }
# has, stop_pid, stop_pids, run_load, notes_section
# shellcheck source=tests/bench/common.sh
source "$ROOT/tests/bench/common.sh"

# ----- only what we started, and all of it, is stopped on the way out ---------
PIDS=()
cleanup() {
  stop_pids
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ----- the machine --------------------------------------------------------------
# jq reads the results (the overload step's rate comes from the writes ramp).
if ! command -v jq >/dev/null && command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
  log "installing jq (apt-get)"
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q jq; } >&2 || true
fi
for tool in cargo timeout date jq awk; do
  command -v "$tool" >/dev/null || { log "needs $tool"; exit 2; }
done
HARD_NOFILE=$(ulimit -Hn)
if [[ "$HARD_NOFILE" == unlimited ]]; then HARD_NOFILE=1048576; fi
ulimit -n "$HARD_NOFILE" 2>/dev/null || warn "could not raise the open-files limit to $HARD_NOFILE"
NOFILE=$(ulimit -n)
if [[ "$NOFILE" != unlimited ]] && ((NOFILE < IDLE_CLIENTS + 200)) && has d "$SCENARIOS"; then
  warn "open-files limit $NOFILE is below $IDLE_CLIENTS idle clients; (d) will fall short"
fi
PIN_SERVER=()
PIN_LOAD=()
if command -v taskset >/dev/null && taskset -c "$SERVER_CORE" true 2>/dev/null && taskset -c "$LOAD_CORE" true 2>/dev/null; then
  PIN_SERVER=(taskset -c "$SERVER_CORE")
  PIN_LOAD=(taskset -c "$LOAD_CORE")
  PINNING="server on core $SERVER_CORE, load generator on core $LOAD_CORE (\`taskset\`)"
else
  warn "taskset is missing or cores $SERVER_CORE/$LOAD_CORE do not exist: nothing is pinned, server and load share the CPUs"
  PINNING="not pinned (no taskset)"
fi
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
CPU_MODEL=${CPU_MODEL:-unknown CPU}
MEM_GIB=$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo 2>/dev/null || echo "?")

# ----- build --------------------------------------------------------------------
log "building chaty-server and chaty-load (release)"
timeout 1800 cargo build --release -p chaty-server -p chaty-tests --bin chaty-server --bin chaty-load >&2
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CHATY="$TARGET_DIR/release/chaty-server"
LOAD="$TARGET_DIR/release/chaty-load"

if [[ -n "$REPORT_ONLY" ]]; then
  log "report only, from $RESULTS"
fi
# drop_server NAME: leave NAME out of this run (the caller says why).
drop_server() { SERVERS=$(echo ",$SERVERS," | sed "s/,$1,/,/; s/^,//; s/,$//"); }
if has node-ws "$SERVERS"; then
  NODE_DIR="$BENCH_DIR/peers/node-ws"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    warn "node/npm not found: node-ws skipped"
    drop_server node-ws
  elif [[ ! -f "$PEERS_DIR/node-ws/server.js" ]]; then
    warn "$PEERS_DIR/node-ws not found: node-ws skipped"
    drop_server node-ws
  else
    log "preparing node-ws in $NODE_DIR"
    mkdir -p "$NODE_DIR"
    cp -a "$PEERS_DIR/node-ws/." "$NODE_DIR/"
    if [[ ! -d "$NODE_DIR/node_modules/ws" ]]; then
      (cd "$NODE_DIR" && timeout 600 npm install --no-audit --no-fund --loglevel=error >&2)
    fi
  fi
fi
if has bare-rust "$SERVERS"; then
  BARE_DIR="$BENCH_DIR/peers/bare-rust"
  if [[ ! -f "$PEERS_DIR/bare-rust/Cargo.toml" ]]; then
    warn "$PEERS_DIR/bare-rust not found: bare-rust skipped"
    drop_server bare-rust
  else
    log "building bare-rust in $BARE_DIR"
    mkdir -p "$BARE_DIR"
    cp -a "$PEERS_DIR/bare-rust/." "$BARE_DIR/"
    # Its own [workspace]; its own target dir whatever the environment says.
    (cd "$BARE_DIR" && CARGO_TARGET_DIR="$BARE_DIR/target" timeout 1800 cargo build --release >&2)
    BARE="$BARE_DIR/target/release/bare-rust"
  fi
fi

# ----- servers ------------------------------------------------------------------
SERVER_PID=""
SERVER_URL=""
READY_MS=""
# start_server NAME [DB]: starts NAME on a free port, waits until it answers.
start_server() {
  local name=$1 db=${2:-} port launch_ns
  port=$("$LOAD" free-port)
  local cmd
  case "$name" in
    chaty) cmd=("$CHATY" --listen "127.0.0.1:$port" --db "$db" --allow-guests --log warn) ;;
    # The same, counting every event for Prometheus (--metrics-listen): what metrics cost.
    chaty-metrics) cmd=("$CHATY" --listen "127.0.0.1:$port" --db "$db" --allow-guests --log warn
      --metrics-listen "127.0.0.1:$("$LOAD" free-port)") ;;
    chaty-accounts) cmd=("$CHATY" --listen "127.0.0.1:$port" --db "$db" --log warn) ;;
    node-ws) cmd=(node "$NODE_DIR/server.js" "$port") ;;
    bare-rust) cmd=("$BARE" "$port") ;;
    *) log "unknown server $name"; return 1 ;;
  esac
  launch_ns=$(date +%s%N)
  "${PIN_SERVER[@]}" "${cmd[@]}" >"$RUN_DIR/$name.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  SERVER_URL="ws://127.0.0.1:$port/ws"
  if ! READY_MS=$(timeout 70 "${PIN_LOAD[@]}" "$LOAD" wait --url "$SERVER_URL" --timeout 60 --since-ns "$launch_ns"); then
    warn "$name did not start; its log ends: $(tail -n 3 "$RUN_DIR/$name.log" | tr '\n' ' ')"
    stop_server
    return 1
  fi
}
stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  stop_pid "$SERVER_PID"
  local keep=() pid
  for pid in "${PIDS[@]}"; do [[ "$pid" == "$SERVER_PID" ]] || keep+=("$pid"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
  SERVER_PID=""
}
fresh_db() { # fresh_db NAME: an empty database path for one run
  local db="$RUN_DIR/$1.db"
  rm -f "$db" "$db-wal" "$db-shm"
  echo "$db"
}

# load SCENARIO NAME STEPS SECONDS_PER_STEP ARGS...: one chaty-load run against
# the running server, its JSON kept as $RESULTS/SCENARIO__NAME.json.
load() {
  local scenario=$1 name=$2 steps=$3 per_step=$4
  shift 4
  local deadline=$((120 + steps * per_step))
  local out="$RESULTS/${scenario}__${name}.json"
  local protocol=seed
  if [[ "$name" == chaty-accounts ]]; then
    # Every user REGISTERs first: an argon2 hash each, a few at a time.
    protocol=chaty
    deadline=$((deadline + 300))
  fi
  if ((QUIET_WAIT > 0)); then
    local busy
    if ! busy=$("$LOAD" quiet --timeout "$QUIET_WAIT"); then
      log "cores still ${busy} % busy after ${QUIET_WAIT}s of waiting for a quiet machine; running anyway"
    fi
  fi
  log "($scenario) $name: chaty-load $* (deadline ${deadline}s)"
  run_load "$out" "($scenario) $name" "$deadline" --url "$SERVER_URL" --protocol "$protocol" \
    --server-pid "$SERVER_PID" --label "$scenario $name" "$@"
}

# with_server SCENARIO NAME DB -- load arguments: start, load, stop.
with_server() {
  local scenario=$1 name=$2 db=$3
  shift 3
  if start_server "$name" "$db"; then
    load "$scenario" "$name" "$@" || true
    stop_server
  fi
}

# ----- the 1M-message database (for e and f) ------------------------------------
# Written afresh by this build (about 15 s), so its schema is the server's own
# and no migration runs inside the cold-start measurement.
SEED_DB="$RUN_DIR/history-$DB_MESSAGES.db"
seed_db() {
  log "writing $DB_MESSAGES messages to $SEED_DB"
  rm -f "$SEED_DB" "$SEED_DB-wal" "$SEED_DB-shm"
  timeout 3600 "$LOAD" seed-db --db "$SEED_DB" --messages "$DB_MESSAGES" --rooms 10 --users 100
}
copy_seed_db() { # copy_seed_db NAME: a private copy of the seeded database
  local db="$RUN_DIR/$1.db" suffix
  rm -f "$db" "$db-wal" "$db-shm"
  cp "$SEED_DB" "$db"
  for suffix in -wal -shm; do [[ -f "$SEED_DB$suffix" ]] && cp "$SEED_DB$suffix" "$db$suffix"; done
  echo "$db"
}

# ----- the report's header, written now so that REPORT_ONLY can reuse it ------------
if [[ -z "$REPORT_ONLY" ]]; then
  GIT_REV=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
  NODE_V=$(node --version 2>/dev/null || echo "not installed")
  RUSTC_V=$(rustc --version 2>/dev/null || echo unknown)
  {
    echo "# Benchmarks"
    echo
    echo "<!-- Written by tests/bench/run.sh; re-run it rather than editing by hand. -->"
    echo
    if [[ "$QUICK" == 1 ]]; then
      echo "**Quick run** (\`QUICK=1\`: short windows, short ramp): indicative only; the full run is \`tests/bench/run.sh\`."
      echo
    fi
    echo "- **When**: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- **Machine**: $CPU_MODEL, $(nproc) cores, ${MEM_GIB} GiB; \`$(uname -a)\`"
    echo "- **Command**: \`$CMD\` (chaty $GIT_REV; $RUSTC_V; node $NODE_V)"
    echo "- **Pinning**: $PINNING; open-files limit $NOFILE"
    echo "- **Servers**: **chaty** \`chaty-server --allow-guests\` with persistence on: SQLite in WAL mode with"
    echo "  \`synchronous=FULL\`, every message committed (group commit, one fsync per batch) before its echo is sent."
    echo "  **node-ws** (Node + \`ws\`, the seed's stack) and **bare-rust** (tokio-tungstenite, the ceiling) keep"
    echo "  everything in memory and store nothing. Every server starts fresh for each scenario."
    echo "- **Clients** speak the seed protocol (guests: \`JOIN_ROOM {roomId, userId}\`, \`CHAT_MESSAGE\`),"
    echo "  from source addresses 127.0.x.y, 500 clients per address."
    echo "- **Method**: each sender sends on a fixed schedule (open loop); latency runs from the scheduled send"
    echo "  time to receipt, so a server that falls behind is charged for it. A message counts once for every"
    echo "  member of its room, the sender included; *loss* is what had not arrived ${DRAIN} s after the window"
    echo "  (or was never sent because the server stopped reading)."
    echo "- **Caveat**: the load generator has one core, and on two cores the kernel's loopback TCP work lands"
    echo "  on both. Where the generator's own CPU nears 100 % (marked ⚠ in the ramp) the latencies include its"
    echo "  queueing, and the server may be able to do more than shown."
  } >"$RESULTS/header.md"
fi

IFS=, read -r -a SERVER_LIST <<<"$SERVERS"
STEP_S=$((WARMUP + DURATION + DRAIN + 2))
log "scenarios $SCENARIOS on $SERVERS; results in $RESULTS"

if has a "$SCENARIOS"; then
  for s in "${SERVER_LIST[@]}"; do
    with_server a "$s" "$(fresh_db "a-$s")" 1 $((STEP_S + 60)) --clients 1000 --rooms 10 --senders 50 --rate 20 \
      --warmup "$WARMUP" --duration "$DURATION" --drain "$DRAIN" --connect-rate 500
  done
fi
if has b "$SCENARIOS"; then
  for s in "${SERVER_LIST[@]}"; do
    with_server b "$s" "$(fresh_db "b-$s")" 1 $((STEP_S + 60)) --clients 500 --rooms 1 --senders 10 --rate 20 \
      --warmup "$WARMUP" --duration "$DURATION" --drain "$DRAIN" --connect-rate 200
  done
fi
if has c "$SCENARIOS"; then
  IFS=, read -r -a RATES <<<"$RAMP_RATES"
  for s in "${SERVER_LIST[@]}"; do
    with_server c "$s" "$(fresh_db "c-$s")" "${#RATES[@]}" $((RAMP_WARMUP + RAMP_DURATION + 3 + 2 + 6)) \
      --clients 1000 --rooms 10 --senders 50 --rates "$RAMP_RATES" \
      --warmup "$RAMP_WARMUP" --duration "$RAMP_DURATION" --drain 3 --connect-rate 500
  done
fi
if has d "$SCENARIOS"; then
  for s in "${SERVER_LIST[@]}"; do
    with_server d "$s" "$(fresh_db "d-$s")" 1 $((IDLE_HOLD + 120)) --clients "$IDLE_CLIENTS" --rooms "$IDLE_ROOMS" \
      --senders 0 --warmup 0 --duration "$IDLE_HOLD" --drain 0 --connect-rate 0 --connect-concurrency 200
  done
fi
if has w "$SCENARIOS"; then
  # (w) writes: 1,000 clients in 500 two-person rooms, every client sending
  # (a team that mostly talks in DMs), chaty storing every message; ramped.
  # Chat messages carry a clientId and a ref, so a refusal is counted as such.
  IFS=, read -r -a WRATES <<<"$WRITE_RATES"
  for s in "${SERVER_LIST[@]}"; do
    ids=()
    [[ "$s" == chaty* ]] && ids=(--client-ids)
    with_server w "$s" "$(fresh_db "w-$s")" "${#WRATES[@]}" $((RAMP_WARMUP + RAMP_DURATION + 3 + 2 + 6)) \
      --clients 1000 --rooms 500 --senders 1000 --rates "$WRITE_RATES" --ramp-misses 2 "${ids[@]}" \
      --warmup "$RAMP_WARMUP" --duration "$RAMP_DURATION" --drain 3 --connect-rate 500
  done
  # (o) overload: chaty at 2×, 4× and 8× the highest rate it sustained in (w),
  # every step run whatever the one before did.
  if has chaty "$SERVERS" && [[ -s "$RESULTS/w__chaty.json" ]]; then
    best=$(jq -r '[.steps[] | select(.sustained) | .rate_per_sender] | max // empty' "$RESULTS/w__chaty.json")
    best=${best:-${WRATES[0]}}
    over=$(awk -v r="$best" 'BEGIN { printf "%g,%g,%g", 2 * r, 4 * r, 8 * r }')
    log "(o) overload: chaty sustained $best msg/s per sender; now $over"
    with_server o chaty "$(fresh_db o-chaty)" 3 $((RAMP_WARMUP + RAMP_DURATION + 3 + 2 + 6)) \
      --clients 1000 --rooms 500 --senders 1000 --rates "$over" --ramp-continue --client-ids \
      --warmup "$RAMP_WARMUP" --duration "$RAMP_DURATION" --drain 3 --connect-rate 500
  fi
fi
if has e "$SCENARIOS" || has f "$SCENARIOS"; then
  if has chaty "$SERVERS"; then
    seed_db
  else
    warn "(e) and (f) measure chaty's database; add chaty to SERVERS"
  fi
fi
if has e "$SCENARIOS" && has chaty "$SERVERS"; then
  with_server e chaty "$(copy_seed_db e-chaty)" 1 $((STEP_S + 60)) --clients 1000 --rooms 10 --senders 50 --rate 20 \
    --warmup "$WARMUP" --duration "$DURATION" --drain "$DRAIN" --connect-rate 500 \
    --history-clients "$HISTORY_CLIENTS" --history-rate "$HISTORY_RATE" \
    --history-before-max $((DB_MESSAGES / 10)) --history-limit 50
fi
if has f "$SCENARIOS"; then
  # cold NAME DB_SOURCE LABEL: launch → first WELCOME, COLD_ATTEMPTS times.
  cold() {
    local name=$1 source=$2 label=$3 key=$4 times=() i db
    for i in $(seq 1 "$COLD_ATTEMPTS"); do
      case "$source" in
        seed) db=$(copy_seed_db "f-$key") ;;
        *) db=$(fresh_db "f-$key") ;;
      esac
      sync
      if start_server "$name" "$db"; then
        times+=("$READY_MS")
        stop_server
      fi
    done
    local joined
    joined=$(IFS=,; echo "${times[*]-}")
    printf '{"database":"%s","cold_start_ms":[%s],"note":"Time from exec of the server to the first WebSocket accepted and answered with its first frame (polled every 2 ms), %s attempts, database files freshly copied (so in the page cache)."}\n' \
      "$label" "$joined" "$COLD_ATTEMPTS" >"$RESULTS/f__$key.json"
  }
  for s in "${SERVER_LIST[@]}"; do
    case "$s" in
      chaty)
        cold chaty seed "$(echo "$DB_MESSAGES" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta') messages" chaty
        cold chaty empty "empty" chaty-empty
        ;;
      chaty-accounts) ;;
      *) cold "$s" none "none (in memory)" "$s" ;;
    esac
  done
fi

# ----- the report -------------------------------------------------------------------
log "writing $OUT"
TABLES=$("$LOAD" report --dir "$RESULTS" --servers "chaty,chaty-metrics,chaty-empty,chaty-accounts,node-ws,bare-rust" \
  --title "chaty=chaty (durable)" --title "chaty-metrics=chaty (durable, metrics on)" \
  --title "chaty-empty=chaty (durable, empty db)" \
  --title "chaty-accounts=chaty (accounts, durable)")
{
  cat "$RESULTS/header.md"
  echo
  echo "$TABLES"
  echo
  notes_section "$RESULTS"
  # The issue's targets and where chaty stands, kept by hand next to this script.
  if [[ -s "$ROOT/tests/bench/targets.md" ]]; then
    cat "$ROOT/tests/bench/targets.md"
    echo
  fi
  echo "Raw results (one JSON per run) were in \`${RESULTS#"$ROOT"/}/\` on the machine that ran this."
  # tests/bench/cluster.sh's section, kept as it was.
  if [[ -f "$OUT" ]] && grep -q '^## Cluster[[:space:]]*$' "$OUT"; then
    echo
    awk '/^## Cluster[[:space:]]*$/ { on = 1; print; next } on && /^## / { on = 0 } on' "$OUT"
  fi
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "done: $OUT"
