# The report of tests/bench/cluster.sh (sourced by it): the helpers its
# runs use to name and read results, and write_report, which renders the
# "## Cluster" section from the results in $RESULTS and puts it into $OUT.

title() {
  case "$1" in
    sqlite) echo "SQLite, 1 node" ;;
    pg1) echo "PostgreSQL + Redis, 1 node" ;;
    pg2) echo "PostgreSQL + Redis, 2 nodes" ;;
    *) echo "$1" ;;
  esac
}
# jq over one setup's result; prints "–" when it is missing.
q() {
  local f="$RESULTS/$1.json"
  if [[ -s "$f" ]]; then jq -r "$2" "$f"; else echo "–"; fi
}
# Helpers every jq program below starts with.
JQ_DEFS='def n0: if . == null then "–" else (. | round | tostring | [while(length>0; .[:-3]) | .[-3:]] | reverse | join(",")) end;
def n2: if . == null then "–" else ((. * 100 | round) / 100 | tostring) end;
def n1: if . == null then "–" else ((. * 10 | round) / 10 | tostring) end;
def best: [.steps[] | select(.sustained)] | max_by(.deliveries_per_s);
def failed: (best.rate_per_sender // 0) as $r | [.steps[] | select((.sustained | not) and .rate_per_sender > $r)] | first;
def others: [.steps[] | ((.cores_busy_pct | add) - (.total_cpu_pct // .server_cpu_pct) - .loadgen_cpu_pct)] | max;
def us(c): if c == null or .delivered == 0 then null else c * 1e6 / .delivered end;'

# row LABEL JQ: one table row, a cell per setup.
row() {
  local line="| $1 |" s
  for s in "${SETUP_LIST[@]}"; do line+=" $(q "$s" "$JQ_DEFS $2") |"; done
  echo "$line"
}
# header: the table's first two lines, a column per setup.
header() {
  local line="| |" sep="|---|" s
  for s in "${SETUP_LIST[@]}"; do line+=" $(title "$s") |"; sep+="---|"; done
  echo "$line"
  echo "$sep"
}

# The issue's target for two nodes: at TARGET_DELIVERIES/s, p99 ≤ 50 ms, nothing lost or doubled.
TARGET_DELIVERIES=${TARGET_DELIVERIES:-50000}
target_line() {
  [[ -s "$RESULTS/pg2.json" ]] || return 0
  jq -r --argjson t "$TARGET_DELIVERIES" "$JQ_DEFS"' [.steps[] | select(.offered_per_s >= $t)] | first
    | if . == null then "**Target** (two nodes, \($t | n0) deliveries/s at p99 ≤ 50 ms, none lost or doubled): not reached by the ramp: **not met**."
      else "**Target** (two nodes, \($t | n0) deliveries/s at p99 ≤ 50 ms, none lost or doubled): \(.deliveries_per_s | n0) deliveries/s"
        + " at \(.rate_per_sender) msg/s per sender, p50 \(.latency_ms.p50 | n1) / p99 \(.latency_ms.p99 | n1) ms, \(.loss) lost, \(.duplicates) duplicates: "
        + (if .latency_ms.p99 <= 50 and .loss == 0 and .duplicates == 0 then "**met**." else "**not met**." end) end' \
    "$RESULTS/pg2.json"
}

# ms(NAME, FIELD): a metric of a step, in ms.
METRIC_DEFS='def m(name; f): if .metrics[name] == null or .metrics[name].count == 0 then "–" else (.metrics[name][f] | n1) end;
def c(name): if .metrics[name] == null then "–" else (.metrics[name] | tostring) end;'

# The nodes' own metrics, per step.
render_metrics() {
  echo "### What the nodes measured, per step"
  echo
  echo "From each node's \`--metrics-listen\` (\`chaty_*\` in docs/deploy.md), scraped before and after each step's run"
  echo "(its warm-up included), summed over the nodes. Per step: **PG**: a post batch's transaction, sent to COMMIT"
  echo "answered, p50 / p99 ms, and posts per batch; **stored**: a message's arrival to its commit, p99 ms (SQLite too);"
  echo "**Redis**: a message published on one node to its hand-over to the hub on the other, p50 / p99 ms;"
  echo "**seq**: messages the sequencer held for an earlier one / delivered from the database instead of Redis."
  echo
  header
  local i
  for i in "${!RATE_LIST[@]}"; do
    row "${RATE_LIST[$i]} msg/s per sender" "$METRIC_DEFS"' .steps['"$i"'] | if . == null then "" else
      (if .metrics.pg_commit.count > 0 then "PG \(m("pg_commit"; "p50_ms")) / \(m("pg_commit"; "p99_ms")), \(m("pg_batch_posts"; "mean_ms")); " else "" end)
      + "stored \(m("commit"; "p99_ms"))"
      + (if .metrics.redis_deliver.count > 0 then "; Redis \(m("redis_deliver"; "p50_ms")) / \(m("redis_deliver"; "p99_ms"))" else "" end)
      + (if .metrics.sequencer_held != null and (.metrics.pg_commit.count > 0) then "; seq \(c("sequencer_held")) / \(c("sequencer_filled"))" else "" end) end'
  done
  echo
}

# PostgreSQL's own view of the two nodes' step nearest the target: CPU by
# kind of process and the statements that took the most time.
render_postgres() {
  [[ -s "$RESULTS/pg2.json" ]] || return 0
  local i
  i=$(jq -r --argjson t "$TARGET_DELIVERIES" '[.steps[] | select(.offered_per_s <= $t)] | last | .step // empty' "$RESULTS/pg2.json")
  [[ -n "$i" && -s "$RESULTS/pg2-step$i.statements.md" ]] || return 0
  echo "### PostgreSQL, two nodes at ${RATE_LIST[$i]} msg/s per sender"
  echo
  echo "Over the whole run of that step (1,000 clients joining included): CPU by kind of PostgreSQL process"
  echo "(% of a core; processes alive at the end): $(cat "$RESULTS/pg2-step$i.pgcpu.txt"). The statements that"
  echo "took the most time (\`pg_stat_statements\`; executing includes waiting for a row lock):"
  echo
  echo "| calls | rows | planning ms | executing ms | mean ms | statement |"
  echo "|---:|---:|---:|---:|---:|---|"
  sed 's/ *| *$/ |/' "$RESULTS/pg2-step$i.statements.md"
  echo
  if [[ -s "$RESULTS/postgres.log" ]]; then
    echo "PostgreSQL's log over all setups: $(grep -c 'duration: ' "$RESULTS/postgres.log") statements over 50 ms"
    echo "($(grep -c 'duration: .* COMMIT' "$RESULTS/postgres.log") of them COMMIT), $(grep -c 'still waiting for' "$RESULTS/postgres.log") lock waits over 50 ms,"
    echo "$(grep -c 'checkpoint complete' "$RESULTS/postgres.log") checkpoints, $(grep -c 'automatic vacuum' "$RESULTS/postgres.log") autovacuums."
    echo
  fi
}

# write_report: the section, printed and written into OUT (replacing its
# "## Cluster" section up to the next "## " heading, or appended).
write_report() {
  local COMMON="" s k section="$RESULTS/cluster.md"
  # The highest step every setup sustained (the ramp's steps are in the same order for all).
  for s in "${SETUP_LIST[@]}"; do
    k=$(q "$s" '[.steps | to_entries[] | select(.value.sustained) | .key] | max // 0')
    [[ "$k" == "–" ]] && k=0
    if [[ -z "$COMMON" ]] || ((k < COMMON)); then COMMON=$k; fi
  done
  {
    echo "## Cluster"
    echo
    echo "<!-- Written by tests/bench/cluster.sh; re-run it rather than editing by hand. -->"
    echo
    if [[ "$QUICK" == 1 ]]; then
      echo "**Quick run** (\`QUICK=1\`: ${RAMP_DURATION} s steps): indicative only."
      echo
    fi
    echo "- **When**: $WHEN; ${CPU_MODEL:-unknown CPU}, $(nproc) cores;"
    echo "  chaty $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown),"
    echo "  $("$PG_BIN/postgres" --version), $(redis-server --version | awk '{print $3}' | sed 's/v=/Redis /')"
    echo "- **Command**: \`$CMD_RAN\`"
    echo "- **Load**: scenario (a)'s fan-out: $CLIENTS clients in $ROOMS rooms, $SENDERS senders, 100 B messages,"
    echo "  the rate per sender ramped over $RATES msg/s (${RAMP_DURATION} s measured after ${RAMP_WARMUP} s warm-up"
    echo "  per step) until $RAMP_MISSES steps in a row lose a message or have p99 > 50 ms; the highest step"
    echo "  without either counts. With two nodes the clients alternate"
    echo "  between them (\`chaty-load --url A,B\`), so every room has members on both and every message"
    echo "  crosses Redis."
    echo "- **Servers**: \`chaty-server --allow-guests\`; SQLite in WAL mode with \`synchronous=FULL\`;"
    echo "  PostgreSQL 15 with its durable defaults (\`fsync\`, \`synchronous_commit\` on) and Redis for"
    echo "  fan-out (no persistence). Every chaty node, the postmaster with all its backends, and redis-server"
    echo "  are pinned to core $SERVER_CORE; chaty-load to core $LOAD_CORE. Each setup starts on a fresh database."
    echo "- **CPU** is utime+stime from \`/proc\` over each measured window: chaty's nodes, PostgreSQL"
    echo "  (the postmaster and every descendant, reaped ones included) and redis-server; per delivery it is"
    echo "  their sum divided by the messages delivered in the window. *CPU of other processes* is both cores'"
    echo "  busy time minus ours and the load generator's: well above 0, something else was running and"
    echo "  the throughput figures of that setup are low; CPU per delivery is unaffected."
    echo
    header
    row "**highest sustained deliveries/s** (p99 ≤ 50 ms, no loss)" \
      'best | if . == null then "**none**" else "**\(.deliveries_per_s | n0)** (\(.rate_per_sender) msg/s per sender)" end'
    row "… p50 / p99 there (ms)" 'best | if . == null then "–" else "\(.latency_ms.p50 | n1) / \(.latency_ms.p99 | n1)" end'
    row "… CPU per delivery there (µs, all processes)" 'best | if . == null then "–" else (.cpu_us_per_delivery | n2) end'
    row "… of a core busy there (chaty + postgres + redis)" \
      'best | if . == null then "–" else "\(.total_cpu_pct | n0) % (\(.server_cpu_pct | n0) + \(if .aux_cpu_s then (100 * .aux_cpu_s.postgres / '"$RAMP_DURATION"' | n0) else "0" end) + \(if .aux_cpu_s then (100 * .aux_cpu_s.redis / '"$RAMP_DURATION"' | n0) else "0" end))" end'
    row "… PostgreSQL batch commit p50 / p99 (ms), posts per batch" "$METRIC_DEFS"' best |
      if . == null or .metrics.pg_commit.count == 0 then "–" else "\(m("pg_commit"; "p50_ms")) / \(m("pg_commit"; "p99_ms")), \(m("pg_batch_posts"; "mean_ms"))" end'
    row "… a message's arrival to its commit, p99 (ms)" "$METRIC_DEFS"' best | if . == null then "–" else m("commit"; "p99_ms") end'
    row "… Redis publish → deliver p50 / p99 (ms)" "$METRIC_DEFS"' best |
      if . == null or .metrics.redis_deliver.count == 0 then "–" else "\(m("redis_deliver"; "p50_ms")) / \(m("redis_deliver"; "p99_ms"))" end'
    row "… sequencer: held / delivered from the database" "$METRIC_DEFS"' best |
      if . == null or .metrics.pg_commit.count == 0 then "–" else "\(c("sequencer_held")) / \(c("sequencer_filled"))" end'
    row "relative to SQLite, 1 node" \
      '(best.deliveries_per_s // 0) as $b | '"$(q sqlite "$JQ_DEFS best.deliveries_per_s // 0" | sed 's/–/0/')"' as $s | if $s > 0 then "\($b / $s * 100 | round) %" else "–" end'
    row "next step (not sustained): deliveries/s, p99, lost" \
      'failed | if . == null then "none failed" else "\(.deliveries_per_s | n0) at \(.rate_per_sender) msg/s: p99 \(.latency_ms.p99 | n1) ms, \(.loss | n0) lost" end'
    row "**messages lost** in sustained steps / whole ramp" \
      '"**\([.steps[] | select(.sustained) | .loss] | add // 0)** / \([.steps[].loss] | add // 0) of \([.steps[].expected] | add // 0 | n0)"'
    row "duplicates / reorders / ERROR frames / disconnects" \
      '"\([.steps[].duplicates] | add // 0) / \([.steps[].reorders] | add // 0) / \(.error_frames) / \(.disconnects)"'
    row "clients joined (of $CLIENTS)" '.joined'
    row "CPU of other processes on the machine, worst step (% of a core)" 'others | n0'
    echo
    target_line
    echo
    if [[ -s "$RESULTS/sqlite.json" && -s "$RESULTS/pg2.json" ]]; then
      local verdict
      verdict=$(jq -r -s "$JQ_DEFS"' (.[0] | best.deliveries_per_s // 0) as $s | (.[1] | best.deliveries_per_s // 0) as $c
        | ([.[1].steps[] | select(.sustained) | .loss] | add // 0) as $lost
        | "**The cluster issue'"'"'s target** (two nodes sustain ≥ ½ of one SQLite node, nothing lost): \($c | n0) vs \($s | n0) deliveries/s"
          + (if $s > 0 then " = \($c / $s * 100 | round) %" else "" end)
          + ", \($lost) lost: " + (if $s > 0 and $c >= $s / 2 and $lost == 0 then "**met**." else "**not met**." end)' \
        "$RESULTS/sqlite.json" "$RESULTS/pg2.json")
      echo "$verdict"
      echo
    fi
    echo "### Where the time goes, at the same load"
    echo
    echo "Step $((COMMON + 1)) of every ramp (${RATE_LIST[$COMMON]} msg/s per sender, the highest rate every setup"
    echo "sustained), CPU seconds per window turned into µs per delivery; \`% core\` is the share of the one"
    echo "server core."
    echo
    header
    row "deliveries/s, p50 / p99 (ms)" '.steps['"$COMMON"'] | "\(.deliveries_per_s | n0), \(.latency_ms.p50 | n1) / \(.latency_ms.p99 | n1)"'
    row "chaty nodes: µs/delivery (% core)" '.steps['"$COMMON"'] | "\(us(.server_cpu_s) | n2) (\(.server_cpu_pct | n0) %)"'
    row "PostgreSQL: µs/delivery (% core)" \
      '.steps['"$COMMON"'] | if .aux_cpu_s then "\(us(.aux_cpu_s.postgres) | n2) (\(100 * .aux_cpu_s.postgres / '"$RAMP_DURATION"' | n0) %)" else "–" end'
    row "Redis: µs/delivery (% core)" \
      '.steps['"$COMMON"'] | if .aux_cpu_s then "\(us(.aux_cpu_s.redis) | n2) (\(100 * .aux_cpu_s.redis / '"$RAMP_DURATION"' | n0) %)" else "–" end'
    row "**total µs/delivery** (% core)" '.steps['"$COMMON"'] | "**\(.cpu_us_per_delivery | n2)** (\(.total_cpu_pct | n0) %)"'
    row "load generator (% of its core)" '.steps['"$COMMON"'] | .loadgen_cpu_pct | n0'
    echo
    echo "### The ramps"
    echo
    echo "Per step: deliveries/s, p99 in ms, messages lost, µs of CPU per delivery (all processes)."
    echo
    header
    for i in "${!RATE_LIST[@]}"; do
      row "${RATE_LIST[$i]} msg/s per sender" \
        ".steps[$i] | if . == null then \"\" else \"\(.deliveries_per_s | n0); \(.latency_ms.p99 | n1); \(.loss); \(.cpu_us_per_delivery | n2)\(if .sustained then \"\" else \" ✗\" end)\" end"
    done
    echo
    echo "✗: not sustained (lost messages or p99 > 50 ms); the ramp stops after $RAMP_MISSES in a row."
    echo
    render_metrics
    render_postgres
    if [[ -s "$RESULTS/perf-comm.txt" ]]; then
      echo "### Profile of the server core"
      echo
      cat "$RESULTS/perf-head.md"
      echo "By process (command) and binary:"
      echo
      echo '```'
      cat "$RESULTS/perf-comm.txt"
      echo '```'
      echo
      echo "Hottest symbols:"
      echo
      echo '```'
      cat "$RESULTS/perf-sym.txt"
      echo '```'
      echo
    fi
    # What the run itself noted (warnings), then chaty-load's notes per setup.
    [[ -s "$RESULTS/notes.md" ]] && printf '### Notes from this run\n\n%s\n\n' "$(cat "$RESULTS/notes.md")"
    for s in "${SETUP_LIST[@]}"; do
      q "$s" '.notes[]? | "- '"$s"': " + .' 2>/dev/null | grep -v '^–$' || true
    done
    echo
    echo "Raw results were in \`${RESULTS#"$ROOT"/}/\` on the machine that ran this."
  } >"$section"
  cat "$section"
  mkdir -p "$(dirname "$OUT")"
  touch "$OUT"
  awk -v section="$section" '
    function emit() { while ((getline line < section) > 0) print line; close(section); done = 1 }
    /^## Cluster[[:space:]]*$/ { if (!done) emit(); skipping = 1; next }
    skipping && /^## / { skipping = 0; print ""; }
    skipping { next }
    { print }
    END { if (!done) { print ""; emit() } }
  ' "$OUT" >"$OUT.tmp"
  mv "$OUT.tmp" "$OUT"
}
