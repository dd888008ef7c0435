#!/usr/bin/env bash
# Cluster benchmark: scenario (a)'s fan-out load (1,000 clients, 10 rooms, 50
# senders), ramped over rates, against
#   sqlite  one chaty node on SQLite (as in run.sh),
#   pg1     one node on PostgreSQL + Redis,
#   pg2     two nodes on PostgreSQL + Redis, the clients split between them.
# Prints the figures and writes/replaces the "## Cluster" section of
# docs/benchmarks.md (the rest of the file is kept). Not a test; takes minutes.
#
#   tests/bench/cluster.sh                  # full (about 15 minutes)
#   QUICK=1 tests/bench/cluster.sh          # short steps (about 5 minutes)
#   SETUPS=pg2 PERF=0 OUT=/tmp/c.md tests/bench/cluster.sh
#
# chaty's nodes, PostgreSQL (postmaster and all its children) and Redis all run
# pinned to one core (SERVER_CORE), chaty-load to the other, as in run.sh.
# PostgreSQL and Redis are private instances in a temp dir on free loopback
# ports, stopped by pid at the end. See tests/bench/README.md for every knob.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

KNOBS="QUICK SETUPS RATES RAMP_MISSES RAMP_WARMUP RAMP_DURATION DRAIN CLIENTS ROOMS SENDERS PERF PERF_RATE PERF_SECONDS
QUIET_WAIT SERVER_CORE LOAD_CORE PG_BIN BENCH_DIR OUT REPORT_ONLY CHATY_BIN"
CMD=""
for knob in $KNOBS; do
  if [[ -n "${!knob+x}" ]]; then CMD+="$knob=${!knob} "; fi
done
CMD+="tests/bench/cluster.sh"

QUICK=${QUICK:-0}
SETUPS=${SETUPS:-sqlite,pg1,pg2}
if [[ "$QUICK" == 1 ]]; then
  RATES=${RATES:-2,4,6,8,10,15,20,30,40}; RAMP_WARMUP=${RAMP_WARMUP:-2}; RAMP_DURATION=${RAMP_DURATION:-5}
  PERF_SECONDS=${PERF_SECONDS:-5}
else
  RATES=${RATES:-2,4,6,8,10,15,20,25,30,35,40,50,60}; RAMP_WARMUP=${RAMP_WARMUP:-3}; RAMP_DURATION=${RAMP_DURATION:-10}
  PERF_SECONDS=${PERF_SECONDS:-10}
fi
DRAIN=${DRAIN:-3}
RAMP_MISSES=${RAMP_MISSES:-2}
CLIENTS=${CLIENTS:-1000}
ROOMS=${ROOMS:-10}
SENDERS=${SENDERS:-50}
PERF=${PERF:-1}
PERF_RATE=${PERF_RATE:-}
QUIET_WAIT=${QUIET_WAIT:-30}
SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
BENCH_DIR=${BENCH_DIR:-$ROOT/target/bench}
OUT=${OUT:-$ROOT/docs/benchmarks.md}

# REPORT_ONLY=DIR: no runs, only the section again from the results in DIR.
REPORT_ONLY=${REPORT_ONLY:-}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=${REPORT_ONLY:-"$BENCH_DIR/cluster-$STAMP"}
mkdir -p "$RESULTS"
if [[ -n "$REPORT_ONLY" ]]; then
  [[ -f "$RESULTS/settings.sh" ]] || { echo "$RESULTS/settings.sh not found: not a results directory" >&2; exit 2; }
  # The run's own settings.
  # shellcheck disable=SC1091
  source "$RESULTS/settings.sh"
else
  CMD_RAN=$CMD
  WHEN=$(date -u '+%Y-%m-%d %H:%M UTC')
  : >"$RESULTS/notes.md"
fi

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { log "WARNING: $*"; echo "- $*" >>"$RESULTS/notes.md"; }
# has, stop_pid, stop_pids, run_load
# shellcheck source=tests/bench/common.sh
source "$ROOT/tests/bench/common.sh"
# scrape, metrics_delta
# shellcheck source=tests/bench/metrics.sh
source "$ROOT/tests/bench/metrics.sh"
# title, q, JQ_DEFS, write_report
# shellcheck source=tests/bench/cluster-report.sh
source "$ROOT/tests/bench/cluster-report.sh"

# ----- only what we started is stopped, by pid --------------------------------
PIDS=()
PG_DATA=""
TMP=""
forget_pid() {
  local keep=() p
  for p in "${PIDS[@]}"; do [[ "$p" == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
}
PG_PID=""
stop_postgres() {
  [[ -n "$PG_PID" ]] || return 0
  # SIGINT to the postmaster is PostgreSQL's "fast" shutdown.
  kill -INT "$PG_PID" 2>/dev/null || true
  local i
  for i in $(seq 1 150); do
    kill -0 "$PG_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$PG_PID" 2>/dev/null; then
    log "postgres $PG_PID still up after 15 s; SIGQUIT"
    kill -QUIT "$PG_PID" 2>/dev/null || true
    sleep 2
  fi
  PG_PID=""
}
cleanup() {
  stop_pids
  stop_postgres
  [[ -n "$PG_DATA" && -f "$PG_DATA/postgres.log" ]] && cp "$PG_DATA/postgres.log" "$RESULTS/postgres.log"
  [[ -n "$TMP" && -d "$TMP" ]] && rm -rf "$TMP"
  return 0
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ----- the machine ----------------------------------------------------------------
for tool in cargo timeout jq curl bc taskset runuser redis-server "$PG_BIN/initdb" psql; do
  command -v "$tool" >/dev/null || { log "needs $tool"; exit 2; }
done
HARD_NOFILE=$(ulimit -Hn)
if [[ "$HARD_NOFILE" == unlimited ]]; then HARD_NOFILE=1048576; fi
ulimit -n "$HARD_NOFILE" 2>/dev/null || warn "could not raise the open-files limit to $HARD_NOFILE"
if taskset -c "$SERVER_CORE" true 2>/dev/null && taskset -c "$LOAD_CORE" true 2>/dev/null; then
  PIN_SERVER=(taskset -c "$SERVER_CORE")
  PIN_LOAD=(taskset -c "$LOAD_CORE")
else
  warn "cores $SERVER_CORE/$LOAD_CORE do not exist: nothing is pinned"
  PIN_SERVER=()
  PIN_LOAD=()
fi
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
if [[ "$PERF" == 1 ]] && ! command -v perf >/dev/null; then
  warn "perf not found: no profile"
  PERF=0
fi

# ----- build ------------------------------------------------------------------------
if [[ -z "$REPORT_ONLY" ]]; then
log "building chaty-server and chaty-load (release)"
timeout 1800 cargo build --release -p chaty-server -p chaty-tests --bin chaty-server --bin chaty-load >&2
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# CHATY_BIN=path: that chaty-server instead of this tree's (an A/B comparison).
CHATY=${CHATY_BIN:-"$TARGET_DIR/release/chaty-server"}
LOAD="$TARGET_DIR/release/chaty-load"

# A temp dir PostgreSQL (running as the postgres user when we are root) can use.
TMP=$(mktemp -d /tmp/chaty-cluster-bench.XXXXXX)
chmod 755 "$TMP"
fi

# ----- PostgreSQL and Redis, started when a setup first needs them ------------------------
PG_PORT=""
SETUP_DB=""
REDIS_PID=""
REDIS_URL=""
as_pg() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
start_postgres() {
  [[ -z "$PG_PID" ]] || return 0
  PG_PORT=$("$LOAD" free-port)
  PG_DATA="$TMP/pg"
  mkdir -p "$PG_DATA"
  [[ $(id -u) == 0 ]] && chown postgres: "$PG_DATA"
  log "initdb and start PostgreSQL on 127.0.0.1:$PG_PORT (pinned to core $SERVER_CORE)"
  (cd "$TMP" && as_pg "$PG_BIN/initdb" -D "$PG_DATA/data" --auth=trust -U postgres --encoding=UTF8 --locale=C) >"$RESULTS/initdb.log" 2>&1
  # Durable like the SQLite node (fsync and synchronous_commit on, the defaults).
  cat >>"$PG_DATA/data/postgresql.conf" <<EOF
# tests/bench/cluster.sh
port = $PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DATA'
max_connections = 200
# Evidence for the report: slow statements, checkpoints, autovacuum.
log_min_duration_statement = 50
log_checkpoints = on
log_autovacuum_min_duration = 0
log_lock_waits = on
deadlock_timeout = 50ms
log_line_prefix = '%m [%p] '
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
pg_stat_statements.track_planning = on
EOF
  (cd "$TMP" && timeout 60 "${PIN_SERVER[@]}" runuser -u postgres -- \
    "$PG_BIN/pg_ctl" -D "$PG_DATA/data" -l "$PG_DATA/postgres.log" -w -t 50 start >&2)
  PG_PID=$(head -n1 "$PG_DATA/data/postmaster.pid")
  log "postgres postmaster pid $PG_PID"
}
start_redis() {
  [[ -z "$REDIS_PID" ]] || return 0
  local port
  port=$("$LOAD" free-port)
  mkdir -p "$TMP/redis"
  "${PIN_SERVER[@]}" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$TMP/redis" --logfile "$TMP/redis/redis.log" --daemonize no &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  REDIS_URL="redis://127.0.0.1:$port/"
  local i
  for i in $(seq 1 100); do
    redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
  log "redis pid $REDIS_PID on $REDIS_URL"
}
new_database() { # new_database NAME: a fresh, empty database; prints its URL
  psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $1" >&2
  psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$1" -c "CREATE EXTENSION pg_stat_statements" >&2 || true
  echo "postgres://postgres@127.0.0.1:$PG_PORT/$1"
}

# ----- chaty nodes --------------------------------------------------------------------
NODE_PIDS=()
NODE_URLS=()
NODE_LOGS=()
NODE_METRICS=()
start_node() { # start_node SETUP INDEX DB [REDIS]
  local setup=$1 index=$2 db=$3 redis=${4:-} port metrics launch_ns log
  port=$("$LOAD" free-port)
  metrics=$("$LOAD" free-port)
  log="$RESULTS/$setup-node$index.log"
  local cmd=("$CHATY" --listen "127.0.0.1:$port" --db "$db" --allow-guests --log warn
    --metrics-listen "127.0.0.1:$metrics")
  [[ -n "$redis" ]] && cmd+=(--redis "$redis")
  launch_ns=$(date +%s%N)
  "${PIN_SERVER[@]}" "${cmd[@]}" >"$log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  NODE_PIDS+=("$pid")
  NODE_LOGS+=("$log")
  NODE_URLS+=("ws://127.0.0.1:$port/ws")
  NODE_METRICS+=("http://127.0.0.1:$metrics/metrics")
  if ! timeout 70 "${PIN_LOAD[@]}" "$LOAD" wait --url "ws://127.0.0.1:$port/ws" --timeout 60 --since-ns "$launch_ns" >/dev/null; then
    warn "$setup node $index did not start; its log ends: $(tail -n 3 "$log" | tr '\n' ' ')"
    return 1
  fi
}
stop_nodes() {
  local pid
  for pid in "${NODE_PIDS[@]+"${NODE_PIDS[@]}"}"; do
    stop_pid "$pid"
    forget_pid "$pid"
  done
  NODE_PIDS=()
  NODE_URLS=()
  NODE_LOGS=()
  NODE_METRICS=()
}
# start_setup SETUP: its nodes (and the database and Redis it needs).
start_setup() {
  local setup=$1 db
  case "$setup" in
    sqlite)
      db="$RESULTS/sqlite.db"
      start_node sqlite 1 "$db"
      ;;
    pg1 | pg2)
      start_postgres
      start_redis
      db=$(new_database "chaty_${setup}_$RANDOM")
      SETUP_DB=${db##*/}
      start_node "$setup" 1 "$db" "$REDIS_URL"
      # The second node after the first has migrated the schema.
      if [[ "$setup" == pg2 ]]; then start_node "$setup" 2 "$db" "$REDIS_URL"; fi
      ;;
    *) log "unknown setup $setup"; return 1 ;;
  esac
}
aux_args() { # the processes besides chaty that do the setup's work
  case "$1" in
    pg1 | pg2) echo "--aux-pid postgres=$PG_PID --aux-pid redis=$REDIS_PID" ;;
  esac
}

# load SETUP FILE DEADLINE ARGS...: chaty-load against the setup's nodes.
load() {
  local setup=$1 out=$2 deadline=$3
  shift 3
  if ((QUIET_WAIT > 0)); then
    local busy
    if ! busy=$("$LOAD" quiet --timeout "$QUIET_WAIT"); then
      log "cores still ${busy} % busy after ${QUIET_WAIT}s; running anyway"
    fi
  fi
  local urls pids
  urls=$(IFS=,; echo "${NODE_URLS[*]}")
  pids=$(IFS=,; echo "${NODE_PIDS[*]}")
  # shellcheck disable=SC2046
  log "$setup: chaty-load --url $urls $* (deadline ${deadline}s)"
  run_load "$out" "$setup" "$deadline" --url "$urls" --server-pid "$pids" $(aux_args "$setup") \
    --label "cluster $setup" --clients "$CLIENTS" --rooms "$ROOMS" --senders "$SENDERS" --connect-rate 500 "$@"
}

# settle: waits (up to 30 s) until the setup's own processes (nodes,
# PostgreSQL, Redis) are idle, below 5 % of a core over a second: a step's
# 1,000 clients leaving (guests' memberships ended, presence told) is work
# the next step must not measure.
own_ticks() {
  local pid total=0 t
  for pid in "${NODE_PIDS[@]+"${NODE_PIDS[@]}"}" $REDIS_PID; do
    t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  if [[ -n "$PG_PID" ]]; then
    t=$(pg_cpu "$PG_PID" | awk -F '\t' '{ s += $2 } END { print s + 0 }')
    total=$((total + t))
  fi
  echo "$total"
}
settle() {
  local i before after
  for i in $(seq 1 30); do
    before=$(own_ticks)
    sleep 1
    after=$(own_ticks)
    if (((after - before) * 100 < 5 * CLK_TCK)); then return 0; fi
  done
  log "the nodes, PostgreSQL and Redis were still busy after 30 s; measuring anyway"
}

# ramp SETUP OUT: one chaty-load run per rate, on fresh connections, the
# nodes' metrics scraped before and after each (so each step has its own
# PostgreSQL and Redis figures, warm-up included), until RAMP_MISSES steps
# in a row are not sustained; OUT gets every step in one run's shape.
ramp() {
  local setup=$1 out=$2 i step began misses=0 wait=$QUIET_WAIT
  local parts=()
  for i in "${!RATE_LIST[@]}"; do
    step="$RESULTS/$setup-step$i"
    settle
    scrape "$step.before.prom" "${NODE_METRICS[@]}"
    if [[ "$setup" == pg* ]]; then
      pg_reset "$PG_PORT" "$SETUP_DB"
      pg_cpu "$PG_PID" >"$step.pgcpu.before"
    fi
    began=$(date +%s.%N)
    QUIET_WAIT=$wait load "$setup" "$step.json" $((120 + STEP_S)) --rate "${RATE_LIST[$i]}" \
      --warmup "$RAMP_WARMUP" --duration "$RAMP_DURATION" --drain "$DRAIN"
    scrape "$step.after.prom" "${NODE_METRICS[@]}"
    if [[ "$setup" == pg* ]]; then
      pg_report "$PG_PORT" "$SETUP_DB" "$step.statements.md"
      pg_cpu "$PG_PID" >"$step.pgcpu.after"
      pg_cpu_delta "$step.pgcpu.before" "$step.pgcpu.after" "$CLK_TCK" "$(echo "$(date +%s.%N) - $began" | bc)" \
        >"$step.pgcpu.txt"
    fi
    # Only the first step waits for a quiet machine: the others follow at once, as in one ramp.
    wait=0
    [[ -s "$step.json" ]] && jq -e '.steps[0]' "$step.json" >/dev/null || break
    jq -c --argjson i "$i" --argjson m "$(metrics_delta "$step.before.prom" "$step.after.prom")" \
      '.steps[0] += {step: $i, metrics: $m}' "$step.json" >"$step.full.json"
    parts+=("$step.full.json")
    if [[ $(jq -r '.steps[0].sustained' "$step.json") == true ]]; then misses=0; else misses=$((misses + 1)); fi
    ((misses < RAMP_MISSES)) || break
  done
  ((${#parts[@]} > 0)) || return 0
  jq -s '{steps: [.[].steps[0]], joined: ([.[].joined] | min), error_frames: ([.[].error_frames] | add),
      disconnects: ([.[].disconnects] | add), notes: ([.[].notes[]?] | unique),
      sustained: ([.[].steps[0] | select(.sustained)] | max_by(.deliveries_per_s)
        | if . == null then null else {rate_per_sender, deliveries_per_s, p99_ms: .latency_ms.p99} end)}' \
    "${parts[@]}" >"$out"
}

# The nodes' stderr: anything at WARN or above is a finding.
check_logs() {
  local setup=$1 f n
  for f in "${NODE_LOGS[@]}"; do
    n=$(grep -c -E 'WARN|ERROR' "$f" || true)
    if ((n > 0)); then
      warn "$setup $(basename "$f" .log): $n WARN/ERROR lines in chaty's stderr, first: \`$(grep -m1 -E 'WARN|ERROR' "$f" | cut -c1-300)\`"
    fi
  done
}

# ----- the runs ---------------------------------------------------------------------------
if [[ -z "$REPORT_ONLY" ]]; then
  declare -p CMD_RAN WHEN QUICK SETUPS RATES RAMP_MISSES RAMP_WARMUP RAMP_DURATION DRAIN CLIENTS ROOMS SENDERS \
    SERVER_CORE LOAD_CORE >"$RESULTS/settings.sh"
fi
IFS=, read -r -a RATE_LIST <<<"$RATES"
IFS=, read -r -a SETUP_LIST <<<"$SETUPS"
STEP_S=$((RAMP_WARMUP + RAMP_DURATION + DRAIN + 2))
log "setups $SETUPS, rates $RATES msg/s per sender; results in $RESULTS"
for setup in "${SETUP_LIST[@]}"; do
  [[ -z "$REPORT_ONLY" ]] || break
  if start_setup "$setup"; then
    ramp "$setup" "$RESULTS/$setup.json"
  fi
  check_logs "$setup"
  stop_nodes
done

# ----- where the time goes: perf on the server core, at one fixed rate, two nodes ----------
PERF_SETUP=pg2
if [[ "$PERF" == 1 ]] && ! has pg2 "$SETUPS"; then PERF_SETUP=${SETUP_LIST[0]}; fi
if [[ "$PERF" == 1 && -z "$REPORT_ONLY" ]]; then
  # By default the highest rate the profiled setup sustained: its steady state.
  if [[ -z "$PERF_RATE" ]]; then
    PERF_RATE=$(jq -r --arg r "${RATE_LIST[0]}" '.sustained.rate_per_sender // ($r | tonumber)' "$RESULTS/$PERF_SETUP.json" 2>/dev/null || echo "${RATE_LIST[0]}")
  fi
  if start_setup "$PERF_SETUP"; then
    # Clients join at about 150/s on PostgreSQL (each join is a few transactions).
    connect_s=$(((CLIENTS + 149) / 150 + 2))
    log "perf: $PERF_SETUP at $PERF_RATE msg/s per sender, recording core $SERVER_CORE for ${PERF_SECONDS}s"
    "$LOAD" quiet --timeout "$QUIET_WAIT" >/dev/null || true
    QUIET_WAIT=0 load "$PERF_SETUP" "$RESULTS/perf-run.json" $((120 + PERF_SECONDS + 20)) --rate "$PERF_RATE" \
      --warmup $((connect_s + 3)) --duration $((PERF_SECONDS + 4)) --drain "$DRAIN" &
    load_pid=$!
    PIDS+=("$load_pid")
    # Setup (joins) plus half the warm-up, then the window.
    sleep $((connect_s + 4))
    timeout $((PERF_SECONDS + 30)) perf record -q -e cpu-clock -F 999 -C "$SERVER_CORE" -o "$RESULTS/perf.data" \
      -- sleep "$PERF_SECONDS" >/dev/null 2>&1 || warn "perf record failed"
    wait "$load_pid" || true
    forget_pid "$load_pid"
    {
      echo "\`perf record -e cpu-clock -C $SERVER_CORE\` for ${PERF_SECONDS} s while $(title "$PERF_SETUP") carried"
      echo "$PERF_RATE msg/s per sender ($(jq -r "$JQ_DEFS"' .steps[0] | "\(.deliveries_per_s | n0) deliveries/s, p99 \(.latency_ms.p99 | n1) ms, \(.loss) lost"' "$RESULTS/perf-run.json" 2>/dev/null || echo '?'))."
    } >"$RESULTS/perf-head.md"
    if [[ -s "$RESULTS/perf.data" ]]; then
      perf report -i "$RESULTS/perf.data" --stdio --no-children --sort comm,dso 2>/dev/null |
        grep -E '^ +[0-9]' | head -n 12 >"$RESULTS/perf-comm.txt" || true
      perf report -i "$RESULTS/perf.data" --stdio --no-children --sort dso,sym 2>/dev/null |
        grep -E '^ +[0-9]' | head -n 25 >"$RESULTS/perf-sym.txt" || true
    fi
  fi
  check_logs "perf-$PERF_SETUP"
  stop_nodes
fi
cleanup

write_report
log "done: the Cluster section of $OUT"
