//! The report as a table for people ([`human`], also used by `chaty-load
//! show` and `report`), and [`cores`]. Not here: building the JSON report
//! (`run.rs`).

use serde_json::Value;

pub(super) fn num(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::Number(n) => {
            if let Some(i) = n.as_u64() {
                i.to_string()
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                if f.abs() >= 100.0 { format!("{f:.0}") } else { format!("{f:.2}") }
            }
        }
        other => other.to_string(),
    }
}

/// Per-core percentages as `95 / 91`.
pub fn cores(v: &Value) -> String {
    let list: Vec<String> =
        v.as_array().into_iter().flatten().filter_map(Value::as_f64).map(|x| format!("{x:.0}")).collect();
    if list.is_empty() { "–".into() } else { list.join(" / ") }
}

pub(super) fn mib(v: &Value) -> String {
    v.as_f64().map_or_else(|| "-".into(), |k| format!("{:.1} MiB", k / 1024.0))
}

/// The report as a table for people.
pub fn human(r: &Value) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "chaty-load {} — {} ({} protocol){}",
        env!("CARGO_PKG_VERSION"),
        r["url"].as_str().unwrap_or(""),
        r["protocol"].as_str().unwrap_or(""),
        match r["label"].as_str() {
            Some(l) if !l.is_empty() => format!(" [{l}]"),
            _ => String::new(),
        }
    );
    let _ = writeln!(
        out,
        "{:<22}{} clients in {} rooms, {} senders, {} history clients; {} B payloads",
        "plan", r["clients"], r["rooms"], r["senders"], r["history_clients"], r["payload_bytes"]
    );
    let _ = writeln!(
        out,
        "{:<22}{} connected, {} joined, {} connect errors, {} join errors in {} s ({} joins/s)",
        "connections",
        r["connected"],
        r["joined"],
        r["connect_errors"],
        r["join_errors"],
        num(&r["setup_s"]),
        num(&r["connects_per_s"])
    );
    let c = &r["connect_ms"];
    let _ = writeln!(
        out,
        "{:<22}p50 {}  p99 {}  max {}",
        "connect+join ms",
        num(&c["p50"]),
        num(&c["p99"]),
        num(&c["max"])
    );
    let ramp = r["steps"].as_array().is_some_and(|s| s.len() > 1);
    for s in r["steps"].as_array().into_iter().flatten() {
        if r["senders"].as_u64() == Some(0) && r["history_clients"].as_u64() == Some(0) {
            let _ = writeln!(
                out,
                "{:<22}held {} s: server CPU {} s ({}% of a core); cores busy {}%",
                "idle",
                num(&r["duration_s"]),
                num(&s["server_cpu_s"]),
                num(&s["server_cpu_pct"]),
                cores(&s["cores_busy_pct"])
            );
            continue;
        }
        let _ = writeln!(
            out,
            "step {} — {} msg/s × {} senders, {} s window after {} s warm-up{}",
            s["step"],
            num(&s["rate_per_sender"]),
            s["senders"],
            num(&r["duration_s"]),
            num(&r["warmup_s"]),
            match (ramp, s["sustained"].as_bool()) {
                (false, _) => "",
                (true, Some(true)) => " — sustained",
                (true, _) => " — NOT sustained",
            }
        );
        let _ = writeln!(
            out,
            "  {:<20}sent {}  expected {}  delivered {}  loss {} ({:.3}%)  duplicates {}  reorders {}",
            "messages",
            s["sent"],
            s["expected"],
            s["delivered"],
            s["loss"],
            s["loss_pct"].as_f64().unwrap_or(0.0),
            s["duplicates"],
            s["reorders"]
        );
        if s["refused"].as_u64().unwrap_or(0) > 0 {
            let _ = writeln!(
                out,
                "  {:<20}{} refused (overloaded; {} msg/s accepted, {} msg/s refused)",
                "overload",
                s["refused"],
                num(&s["accepted_msgs_per_s"]),
                num(&s["refused_msgs_per_s"])
            );
        }
        let _ = writeln!(
            out,
            "  {:<20}{} delivered (offered {})",
            "deliveries/s",
            num(&s["deliveries_per_s"]),
            num(&s["offered_per_s"])
        );
        let l = &s["latency_ms"];
        let _ = writeln!(
            out,
            "  {:<20}p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            "latency ms",
            num(&l["p50"]),
            num(&l["p90"]),
            num(&l["p99"]),
            num(&l["p999"]),
            num(&l["max"])
        );
        let _ = writeln!(
            out,
            "  {:<20}server {} s ({}% of a core), load generator {}% of a core; cores busy {}%",
            "CPU in window",
            num(&s["server_cpu_s"]),
            num(&s["server_cpu_pct"]),
            num(&s["loadgen_cpu_pct"]),
            cores(&s["cores_busy_pct"])
        );
        if let Some(aux) = s["aux_cpu_s"].as_object() {
            let parts: Vec<String> = aux.iter().map(|(k, v)| format!("{k} {} s", num(v))).collect();
            let _ = writeln!(
                out,
                "  {:<20}{} s with {} ({}% of a core), {} µs per delivery",
                "CPU, all processes",
                num(&s["total_cpu_s"]),
                parts.join(", "),
                num(&s["total_cpu_pct"]),
                num(&s["cpu_us_per_delivery"])
            );
        }
        let h = &s["history"];
        if !h.is_null() {
            let hl = &h["latency_ms"];
            let _ = writeln!(
                out,
                "  {:<20}{} sent, {} answered, {} errors; p50 {}  p99 {}  max {} ms",
                "HISTORY pages",
                h["sent"],
                h["ok"],
                h["errors"],
                num(&hl["p50"]),
                num(&hl["p99"]),
                num(&hl["max"])
            );
        }
    }
    if let Some(best) = r["sustained"].as_object() {
        if r["steps"].as_array().is_some_and(|s| s.len() > 1) {
            let _ = writeln!(
                out,
                "{:<22}{} deliveries/s at {} msg/s per sender (p99 {} ms)",
                "highest sustained",
                num(&best["deliveries_per_s"]),
                num(&best["rate_per_sender"]),
                num(&best["p99_ms"])
            );
        }
    }
    let s = &r["server"];
    if !s.is_null() {
        let _ = writeln!(
            out,
            "{:<22}pid {}: RSS {} before, {} connected ({} KiB/connection), peak {}; CPU {} s total",
            "server",
            s["pid"],
            mib(&s["rss_before_kib"]),
            mib(&s["rss_connected_kib"]),
            num(&s["rss_per_conn_kib"]),
            mib(&s["rss_peak_kib"]),
            num(&s["cpu_total_s"])
        );
    }
    let _ = writeln!(
        out,
        "{:<22}{} disconnects, {} ERROR frames{}",
        "trouble",
        r["disconnects"],
        r["error_frames"],
        if r["deadline_hit"].as_bool() == Some(true) { ", HARD DEADLINE HIT" } else { "" }
    );
    for note in r["notes"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "  note: {}", note.as_str().unwrap_or(""));
    }
    out
}
