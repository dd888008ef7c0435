//! `chaty-load report`: turns a directory of results into markdown tables,
//! one per scenario, servers side by side.
//!
//! Files are named `<scenario>__<server>.json`, each holding one JSON value:
//! a `run --json` line, or for the cold-start scenario
//! `{"cold_start_ms":[…]}`. Scenario letters follow issue #5: a fan-out,
//! b big room, c ramp, d idle, e history, f cold start.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Directory holding `<scenario>__<server>.json` files.
    #[arg(long)]
    pub dir: PathBuf,
    /// Column order; servers not listed follow in name order.
    #[arg(long, value_delimiter = ',', default_value = "chaty,node-ws,bare-rust")]
    pub servers: Vec<String>,
    /// Column heading for a server, as NAME=TEXT (repeatable).
    #[arg(long = "title", value_name = "NAME=TEXT")]
    pub titles: Vec<String>,
}

type Results = BTreeMap<String, BTreeMap<String, Value>>;

/// Load generator CPU from which a ramp step is marked as limited by the generator.
const LOAD_BOUND_PCT: f64 = 90.0;

pub fn main(a: ReportArgs) -> Result<()> {
    let mut results: Results = BTreeMap::new();
    let entries = std::fs::read_dir(&a.dir).with_context(|| format!("cannot read {}", a.dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some((scenario, server)) = name.strip_suffix(".json").and_then(|stem| stem.split_once("__")) else {
            continue;
        };
        let text = std::fs::read_to_string(&path)?;
        let value: Value =
            serde_json::from_str(text.trim()).with_context(|| format!("{} is not JSON", path.display()))?;
        results.entry(scenario.to_string()).or_default().insert(server.to_string(), value);
    }
    let titles: BTreeMap<String, String> =
        a.titles.iter().filter_map(|t| t.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    print!("{}", render(&results, &a.servers, &titles));
    Ok(())
}

fn render(results: &Results, order: &[String], titles: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (scenario, by_server) in results {
        let mut servers: Vec<&String> = order.iter().filter(|s| by_server.contains_key(*s)).collect();
        servers.extend(by_server.keys().filter(|s| !order.contains(s)));
        let columns: Vec<&Value> = servers.iter().map(|s| &by_server[*s]).collect();
        let (title, rows) = match scenario.as_str() {
            "a" => ("(a) fan-out", load_rows(&columns)),
            "b" => ("(b) big room", load_rows(&columns)),
            "c" => ("(c) ramp", ramp_rows(&columns)),
            "d" => ("(d) idle connections", idle_rows(&columns)),
            "e" => ("(e) HISTORY pages under load", history_rows(&columns)),
            "f" => ("(f) cold start", cold_rows(&columns)),
            "w" => ("(w) writes: every client sending, in two-person rooms, all stored", writes_rows(&columns)),
            "o" => {
                ("(o) overload: the writes load at 2×, 4× and 8× the highest sustained rate", overload_rows(&columns))
            }
            _ => ("", load_rows(&columns)),
        };
        let title = if title.is_empty() { scenario.clone() } else { title.to_string() };
        let _ = writeln!(out, "### {title}\n");
        if let Some(plan) = describe(scenario, &columns) {
            let _ = writeln!(out, "{plan}\n");
        }
        let _ = write!(out, "| |");
        for s in &servers {
            let _ = write!(out, " {} |", titles.get(*s).unwrap_or(s));
        }
        let _ = write!(out, "\n|---|");
        for _ in &servers {
            let _ = write!(out, "---:|");
        }
        out.push('\n');
        for (label, cells) in rows {
            let _ = write!(out, "| {label} |");
            for c in cells {
                let _ = write!(out, " {c} |");
            }
            out.push('\n');
        }
        out.push('\n');
        // What went wrong or may have skewed a column.
        for (s, c) in servers.iter().zip(&columns) {
            for note in c["notes"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                let _ = writeln!(out, "- {}: {note}", titles.get(*s).unwrap_or(s));
            }
        }
        if columns.iter().any(|c| c["notes"].as_array().is_some_and(|n| !n.is_empty())) {
            out.push('\n');
        }
    }
    out
}

/// The plan in words, from the first column that has one.
fn describe(scenario: &str, columns: &[&Value]) -> Option<String> {
    if scenario == "f" {
        return columns.iter().find_map(|c| c["note"].as_str()).map(str::to_string);
    }
    let r = columns.iter().find(|c| c["clients"].is_u64())?;
    let step = &r["steps"][0];
    let mut text = format!(
        "{} clients in {} room{}",
        r["clients"],
        r["rooms"],
        if r["rooms"].as_u64() == Some(1) { "" } else { "s" }
    );
    if r["senders"].as_u64().unwrap_or(0) > 0 {
        let rate = if matches!(scenario, "c" | "w" | "o") {
            let rates: Vec<String> =
                r["rates"].as_array().into_iter().flatten().filter_map(Value::as_f64).map(fmt_num).collect();
            let until =
                if scenario == "o" { "each step in turn" } else { "step by step until a step is not sustained" };
            format!("{} msg/s each, {until}", rates.join(", "))
        } else {
            format!("{} msg/s each", fmt_num(step["rate_per_sender"].as_f64().unwrap_or(0.0)))
        };
        let _ = write!(
            text,
            ", {} senders × {rate}, {} B messages; {} s measured after {} s warm-up",
            r["senders"],
            r["payload_bytes"],
            fmt_num(r["duration_s"].as_f64().unwrap_or(0.0)),
            fmt_num(r["warmup_s"].as_f64().unwrap_or(0.0)),
        );
    } else {
        let _ = write!(text, ", nobody sends; held {} s", fmt_num(r["duration_s"].as_f64().unwrap_or(0.0)));
    }
    if r["history_clients"].as_u64().unwrap_or(0) > 0 {
        let h = &step["history"];
        let _ = write!(
            text,
            "; {} of the clients also ask for a HISTORY page {} times a second each",
            r["history_clients"],
            fmt_num(h["rate_per_client"].as_f64().unwrap_or(0.0))
        );
    }
    text.push('.');
    Some(text)
}

fn fmt_num(x: f64) -> String {
    if (x.fract() == 0.0 && x.abs() < 1e15) || x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn thousands(x: f64) -> String {
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn int(v: &Value) -> String {
    v.as_f64().map_or_else(|| "–".into(), thousands)
}

fn ms(v: &Value) -> String {
    v.as_f64().map_or_else(|| "–".into(), fmt_num)
}

fn mib(kib: &Value) -> String {
    kib.as_f64().map_or_else(|| "–".into(), |k| format!("{:.1}", k / 1024.0))
}

type Rows = Vec<(String, Vec<String>)>;

fn row(label: &str, columns: &[&Value], cell: impl Fn(&Value) -> String) -> (String, Vec<String>) {
    (label.to_string(), columns.iter().map(|c| cell(c)).collect())
}

/// `chaty-load show FILE…`: a saved `run --json` result as the human table.
pub fn show(files: &[PathBuf]) -> Result<()> {
    for file in files {
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let value: Value =
            serde_json::from_str(text.trim()).with_context(|| format!("{} is not JSON", file.display()))?;
        print!("{}", crate::run::human(&value));
    }
    Ok(())
}

/// The step a single-step table shows.
fn step(r: &Value) -> &Value {
    &r["steps"][0]
}

fn connections(r: &Value) -> String {
    let errors = r["connect_errors"].as_u64().unwrap_or(0) + r["join_errors"].as_u64().unwrap_or(0);
    let mut s = format!("{} / {}", int(&r["joined"]), int(&r["clients"]));
    if errors > 0 {
        let _ = write!(s, " ({errors} failed)");
    }
    s
}

fn loss(s: &Value) -> String {
    if s.is_null() {
        return "–".into();
    }
    let n = s["loss"].as_u64().unwrap_or(0);
    if n == 0 {
        "0".into()
    } else {
        format!("{} ({:.3} %)", thousands(n as f64), s["loss_pct"].as_f64().unwrap_or(0.0))
    }
}

fn trouble(r: &Value) -> String {
    let d = r["disconnects"].as_u64().unwrap_or(0);
    let e = r["error_frames"].as_u64().unwrap_or(0);
    let mut s = format!("{d} / {e}");
    if r["deadline_hit"].as_bool() == Some(true) {
        s.push_str(" (deadline hit)");
    }
    s
}

fn load_rows(c: &[&Value]) -> Rows {
    let lat = |q: &'static str| move |r: &Value| ms(&step(r)["latency_ms"][q]);
    vec![
        row("clients joined", c, connections),
        row("offered deliveries/s", c, |r| int(&step(r)["offered_per_s"])),
        row("**delivered/s**", c, |r| format!("**{}**", int(&step(r)["deliveries_per_s"]))),
        row("messages sent (window)", c, |r| int(&step(r)["sent"])),
        row("deliveries expected", c, |r| int(&step(r)["expected"])),
        row("deliveries received", c, |r| int(&step(r)["delivered"])),
        row("loss", c, |r| loss(step(r))),
        row("duplicates / reordered", c, |r| {
            format!("{} / {}", int(&step(r)["duplicates"]), int(&step(r)["reorders"]))
        }),
        row("latency p50 (ms)", c, lat("p50")),
        row("latency p90 (ms)", c, lat("p90")),
        row("**latency p99 (ms)**", c, |r| format!("**{}**", ms(&step(r)["latency_ms"]["p99"]))),
        row("latency p99.9 (ms)", c, lat("p999")),
        row("latency max (ms)", c, lat("max")),
        row("server CPU (% of a core)", c, |r| ms(&step(r)["server_cpu_pct"])),
        row("server RSS peak (MiB)", c, |r| mib(&r["server"]["rss_peak_kib"])),
        row("load generator CPU (% of a core)", c, |r| ms(&step(r)["loadgen_cpu_pct"])),
        row("cores busy, all processes (%)", c, |r| crate::run::cores(&step(r)["cores_busy_pct"])),
        row("disconnects / ERROR frames", c, trouble),
    ]
}

fn ramp_rows(c: &[&Value]) -> Rows {
    let mut rows = steps_rows(c, |s| {
        let mark = if s["sustained"].as_bool() == Some(true) { "✓" } else { "✗" };
        let bound = if s["loadgen_cpu_pct"].as_f64().is_some_and(|l| l >= LOAD_BOUND_PCT) { " ⚠" } else { "" };
        format!(
            "{mark} {}/s, p99 {} ms, loss {}; CPU {} % (load {} %{bound})",
            int(&s["deliveries_per_s"]),
            ms(&s["latency_ms"]["p99"]),
            loss(s),
            ms(&s["server_cpu_pct"]),
            ms(&s["loadgen_cpu_pct"])
        )
    });
    rows.push(row("**highest sustained deliveries/s** (p99 ≤ 50 ms, no loss)", c, |r| {
        let best = &r["sustained"];
        if best.is_null() {
            "none".into()
        } else {
            format!("**{}** (p99 {} ms)", int(&best["deliveries_per_s"]), ms(&best["p99_ms"]))
        }
    }));
    rows.push(row("disconnects / ERROR frames", c, trouble));
    rows
}

/// Messages stored (chaty) or relayed (the peers) per second in a step.
fn accepted(s: &Value) -> f64 {
    s["accepted_msgs_per_s"].as_f64().unwrap_or(0.0)
}

fn writes_rows(c: &[&Value]) -> Rows {
    let mut rows = steps_rows(c, |s| {
        let mark = if s["sustained"].as_bool() == Some(true) { "✓" } else { "✗" };
        format!(
            "{mark} {} msg/s, p50 {} / p99 {} ms, loss {}, refused {}; CPU {} %",
            int(&Value::from(accepted(s))),
            ms(&s["latency_ms"]["p50"]),
            ms(&s["latency_ms"]["p99"]),
            loss(s),
            int(&s["refused"]),
            ms(&s["server_cpu_pct"]),
        )
    });
    rows.push(row("**highest sustained messages/s** (p99 ≤ 50 ms, no loss, none refused)", c, |r| {
        let best = r["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["sustained"].as_bool() == Some(true))
            .max_by(|a, b| accepted(a).total_cmp(&accepted(b)));
        match best {
            Some(s) => format!("**{}** (p99 {} ms)", int(&Value::from(accepted(s))), ms(&s["latency_ms"]["p99"])),
            None => "none".into(),
        }
    }));
    rows.push(row("disconnects / ERROR frames", c, trouble));
    rows
}

fn overload_rows(c: &[&Value]) -> Rows {
    let mut rows = steps_rows(c, |s| {
        format!(
            "{} msg/s stored, {} refused/s; accepted p50 {} / p99 {} ms; loss {}; CPU {} %",
            int(&Value::from(accepted(s))),
            int(&s["refused_msgs_per_s"]),
            ms(&s["latency_ms"]["p50"]),
            ms(&s["latency_ms"]["p99"]),
            loss(s),
            ms(&s["server_cpu_pct"]),
        )
    });
    rows.push(row("server RSS peak (MiB)", c, |r| mib(&r["server"]["rss_peak_kib"])));
    rows.push(row("disconnects / ERROR frames (other than overloaded)", c, trouble));
    rows
}

/// One row per rate any column ran, each cell `cell(step)` or "not run".
fn steps_rows(c: &[&Value], cell: impl Fn(&Value) -> String) -> Rows {
    let mut rates: Vec<f64> = Vec::new();
    for r in c {
        for s in r["steps"].as_array().into_iter().flatten() {
            if let Some(x) = s["rate_per_sender"].as_f64() {
                if !rates.contains(&x) {
                    rates.push(x);
                }
            }
        }
    }
    rates.sort_by(f64::total_cmp);
    rates
        .iter()
        .map(|&rate| {
            let offered = c
                .iter()
                .flat_map(|r| r["steps"].as_array().into_iter().flatten())
                .find(|s| s["rate_per_sender"].as_f64() == Some(rate))
                .map(|s| format!("{} msg/s, {} deliveries/s", int(&s["offered_msgs_per_s"]), int(&s["offered_per_s"])))
                .unwrap_or_default();
            let label = format!("{} msg/s per sender (offered {offered})", fmt_num(rate));
            row(&label, c, |r| {
                r["steps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|s| s["rate_per_sender"].as_f64() == Some(rate))
                    .map_or_else(|| "not run".into(), &cell)
            })
        })
        .collect()
}

fn idle_rows(c: &[&Value]) -> Rows {
    vec![
        row("clients joined", c, connections),
        row("time to connect and join all (s)", c, |r| ms(&r["setup_s"])),
        row("joins/s", c, |r| int(&r["connects_per_s"])),
        row("connect + join p50 (ms)", c, |r| ms(&r["connect_ms"]["p50"])),
        row("connect + join p99 (ms)", c, |r| ms(&r["connect_ms"]["p99"])),
        row("connect + join max (ms)", c, |r| ms(&r["connect_ms"]["max"])),
        row("server RSS before (MiB)", c, |r| mib(&r["server"]["rss_before_kib"])),
        row("server RSS connected (MiB)", c, |r| mib(&r["server"]["rss_connected_kib"])),
        row("**RSS per connection (KiB)**", c, |r| format!("**{}**", ms(&r["server"]["rss_per_conn_kib"]))),
        row("server RSS peak (MiB)", c, |r| mib(&r["server"]["rss_peak_kib"])),
        row("server CPU to set up (s)", c, |r| ms(&r["server"]["cpu_setup_s"])),
        row("server CPU while idle (% of a core)", c, |r| ms(&step(r)["server_cpu_pct"])),
        row("disconnects / ERROR frames", c, trouble),
    ]
}

fn history_rows(c: &[&Value]) -> Rows {
    let h = |r: &Value| step(r)["history"].clone();
    vec![
        row("HISTORY pages sent / answered / errors", c, |r| {
            let h = h(r);
            format!("{} / {} / {}", int(&h["sent"]), int(&h["ok"]), int(&h["errors"]))
        }),
        row("**HISTORY p50 (ms)**", c, |r| format!("**{}**", ms(&h(r)["latency_ms"]["p50"]))),
        row("**HISTORY p99 (ms)**", c, |r| format!("**{}**", ms(&h(r)["latency_ms"]["p99"]))),
        row("HISTORY max (ms)", c, |r| ms(&h(r)["latency_ms"]["max"])),
        row("chat delivered/s (offered)", c, |r| {
            format!("{} ({})", int(&step(r)["deliveries_per_s"]), int(&step(r)["offered_per_s"]))
        }),
        row("chat loss", c, |r| loss(step(r))),
        row("chat latency p50 / p99 (ms)", c, |r| {
            format!("{} / {}", ms(&step(r)["latency_ms"]["p50"]), ms(&step(r)["latency_ms"]["p99"]))
        }),
        row("server CPU (% of a core)", c, |r| ms(&step(r)["server_cpu_pct"])),
        row("cores busy, all processes (%)", c, |r| crate::run::cores(&step(r)["cores_busy_pct"])),
        row("server RSS peak (MiB)", c, |r| mib(&r["server"]["rss_peak_kib"])),
        row("disconnects / ERROR frames", c, trouble),
    ]
}

fn cold_rows(c: &[&Value]) -> Rows {
    let values = |r: &Value| -> Vec<f64> {
        r["cold_start_ms"].as_array().into_iter().flatten().filter_map(Value::as_f64).collect()
    };
    vec![
        row("database", c, |r| r["database"].as_str().unwrap_or("–").to_string()),
        row("**launch → first accepted connection, median (ms)**", c, |r| {
            let mut v = values(r);
            if v.is_empty() {
                return "–".into();
            }
            v.sort_by(f64::total_cmp);
            format!("**{}**", fmt_num(v[v.len() / 2]))
        }),
        row("each attempt (ms)", c, |r| {
            let v: Vec<String> = values(r).into_iter().map(fmt_num).collect();
            if v.is_empty() { "–".into() } else { v.join(", ") }
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_side_by_side() {
        let run = serde_json::json!({
            "clients": 10, "rooms": 1, "senders": 2, "history_clients": 0, "payload_bytes": 100,
            "warmup_s": 1.0, "duration_s": 2.0, "joined": 10, "connect_errors": 0, "join_errors": 0,
            "disconnects": 0, "error_frames": 0,
            "steps": [{"rate_per_sender": 20.0, "offered_per_s": 400.0, "deliveries_per_s": 400.0,
                       "sent": 80, "expected": 800, "delivered": 800, "loss": 0, "loss_pct": 0.0,
                       "duplicates": 0, "reorders": 0, "sustained": true,
                       "latency_ms": {"p50": 0.5, "p90": 0.9, "p99": 1.5, "p999": 2.0, "max": 3.0}}],
            "server": {"rss_peak_kib": 10240},
        });
        let mut results: Results = BTreeMap::new();
        let a = results.entry("b".into()).or_default();
        a.insert("node-ws".into(), run.clone());
        a.insert("chaty".into(), run);
        let titles = BTreeMap::from([("chaty".to_string(), "chaty (durable)".to_string())]);
        let md = render(&results, &["chaty".into(), "node-ws".into()], &titles);
        assert!(md.contains("### (b) big room"), "{md}");
        assert!(md.contains("| | chaty (durable) | node-ws |"), "{md}");
        assert!(md.contains("| **delivered/s** | **400** | **400** |"), "{md}");
        assert!(md.contains("| server RSS peak (MiB) | 10.0 | 10.0 |"), "{md}");
        assert_eq!(thousands(1234567.0), "1,234,567");
    }
}
