# The server's own metrics (`--metrics-listen`), for cluster.sh: scraped from
# every node before and after each step, and the difference as JSON.

# scrape OUT URL...: every node's /metrics, one after another, into OUT
# (a node that does not answer adds nothing).
scrape() {
  local out=$1 url
  shift
  : >"$out"
  for url in "$@"; do
    curl -s --max-time 5 "$url" >>"$out" || true
  done
}

# metrics_delta BEFORE AFTER: what the nodes counted between two scrapes,
# summed over the nodes, as one JSON object:
#   {"<histogram>": {"count": N, "mean_ms": x, "p50_ms": x, "p99_ms": x, "max_le_ms": x}, ...,
#    "<counter>": N, ...}
# with the `chaty_` prefix and the `_seconds`/`_total` suffixes dropped.
# Quantiles are interpolated within their bucket, as Prometheus's
# histogram_quantile does; max_le_ms is the upper bound of the highest
# non-empty bucket. A histogram whose values are not seconds (a count per
# batch) keeps its unit: its "_ms" fields are then plain values.
metrics_delta() {
  awk '
    function num(s) { return s == "+Inf" ? 1e300 : s + 0 }
    /^#/ || NF < 2 { next }
    {
      sign = (FILENAME == before) ? -1 : 1
      name = $1; value = $NF + 0
      if (name ~ /_bucket\{/) {
        base = name; sub(/_bucket\{.*/, "", base)
        le = name; sub(/.*le="/, "", le); sub(/".*/, "", le)
        key = base SUBSEP le
        if (!(key in bucket)) { nles[base]++; les[base, nles[base]] = le }
        bucket[key] += sign * value
        hist[base] = 1
      } else if (name ~ /_sum$/) {
        base = name; sub(/_sum$/, "", base); sum[base] += sign * value
      } else if (name ~ /_count$/) {
        base = name; sub(/_count$/, "", base); count[base] += sign * value
      } else if (name ~ /_total$/) {
        base = name; sub(/_total$/, "", base); counter[base] += sign * value
      }
    }
    function quantile(base, q,    n, i, j, t, rank, prev, lo, hi, c) {
      n = nles[base]
      if (count[base] <= 0) return "null"
      rank = q * count[base]; prev = 0; lo = 0
      for (i = 1; i <= n; i++) {
        c = bucket[base, sorted[i]]; hi = num(sorted[i])
        if (c >= rank) {
          if (hi >= 1e300) return lo
          if (c == prev) return hi
          return lo + (hi - lo) * (rank - prev) / (c - prev)
        }
        prev = c; lo = hi
      }
      return lo
    }
    function short(base,    s) {
      s = base; sub(/^chaty_/, "", s); sub(/_seconds$/, "", s); return s
    }
    END {
      out = ""
      for (base in hist) {
        n = nles[base]
        for (i = 1; i <= n; i++) sorted[i] = les[base, i]
        for (i = 2; i <= n; i++) {
          t = sorted[i]
          for (j = i - 1; j >= 1 && num(sorted[j]) > num(t); j--) sorted[j + 1] = sorted[j]
          sorted[j + 1] = t
        }
        scale = (base ~ /_seconds$/) ? 1000 : 1
        top = "null"
        for (i = n; i >= 1; i--) {
          below = (i > 1) ? bucket[base, sorted[i - 1]] : 0
          if (bucket[base, sorted[i]] > below) { top = num(sorted[i]) < 1e300 ? num(sorted[i]) * scale : "null"; break }
        }
        p50 = quantile(base, 0.5); p99 = quantile(base, 0.99)
        out = out sprintf("%s\"%s\": {\"count\": %d, \"mean_ms\": %s, \"p50_ms\": %s, \"p99_ms\": %s, \"max_le_ms\": %s}",
          (out == "" ? "" : ", "), short(base), count[base],
          (count[base] > 0 ? sprintf("%.4f", sum[base] / count[base] * scale) : "null"),
          (p50 == "null" ? p50 : sprintf("%.4f", p50 * scale)),
          (p99 == "null" ? p99 : sprintf("%.4f", p99 * scale)), top)
      }
      for (base in counter) {
        out = out sprintf("%s\"%s\": %d", (out == "" ? "" : ", "), short(base), counter[base])
      }
      print "{" out "}"
    }
  ' before="$1" "$1" "$2"
}

# PostgreSQL's side (the bench's private instance, with pg_stat_statements
# loaded): pg_reset before a step, pg_report after it.
# pg_reset PORT DB: forgets the statement statistics.
pg_reset() {
  psql -X -q -t -h 127.0.0.1 -p "$1" -U postgres -d "$2" -c "SELECT pg_stat_statements_reset()" >/dev/null 2>&1 || true
}

# pg_report PORT DB OUT: the statements that took the most time since
# pg_reset (calls, rows, ms planning and executing in all, the latter's
# mean; lock waits count as executing), as markdown table rows.
pg_report() {
  psql -X -q -A -F ' | ' -t -h 127.0.0.1 -p "$1" -U postgres -d "$2" -c "
    SELECT calls, rows, round(total_plan_time::numeric, 1), round(total_exec_time::numeric, 1),
           round(mean_exec_time::numeric, 3), left(regexp_replace(query, '\s+', ' ', 'g'), 60)
    FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
    ORDER BY total_plan_time + total_exec_time DESC LIMIT 8" 2>/dev/null | sed 's/^/| /; s/$/ |/' >"$3" || true
}

# pg_cpu PID: every process under the postmaster PID (itself included), one
# line each: its kind (backend, walwriter, autovacuum worker, ...) and its
# utime+stime in clock ticks, for pg_cpu_delta.
pg_cpu() {
  local pid kids
  kids=$(ps -o pid= --ppid "$1" 2>/dev/null || true)
  for pid in "$1" $kids; do
    [[ -r /proc/$pid/stat ]] || continue
    awk -v kind="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | sed -E 's/^postgres: *//; s/^postgres [a-z_0-9]+ [0-9.]+\([0-9]+\).*/backend/; s/ *$//; s/^\/.*/postmaster/')" \
      '{ sub(/^.*\) /, ""); print kind "\t" $12 + $13 }' "/proc/$pid/stat" 2>/dev/null || true
  done
}

# pg_cpu_delta BEFORE AFTER CLK_TCK SECONDS: % of a core per kind of
# PostgreSQL process over the window, busiest first, as "kind N %, ...".
pg_cpu_delta() {
  awk -F '\t' -v tck="$3" -v secs="$4" '
    FILENAME == ARGV[1] { before[$1] += $2; next }
    { after[$1] += $2 }
    END {
      for (k in after) { d = (after[k] - before[k]) / tck / secs * 100; if (d >= 0.5) printf "%s\t%.0f\n", k, d }
    }' "$1" "$2" | sort -t "$(printf '\t')" -k2 -rn | awk -F '\t' '{ printf "%s%s %s %%", (NR > 1 ? ", " : ""), $1, $2 }'
}
