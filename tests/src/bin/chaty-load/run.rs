//! `chaty-load run`: N clients over R rooms, S of them sending on a fixed
//! schedule (open loop), receivers measuring latency, loss, duplicates and
//! reordering; optionally a ramp of rates, and HISTORY requests alongside.
//!
//! Everything runs on one current-thread runtime (pin it with `taskset`), so
//! the shared state is `Rc<RefCell<…>>`. Each connection has a reader task,
//! and senders and history clients a writer task. A sender's k-th message of
//! a step is scheduled at `start + offset + k·interval` and is sent then even
//! when the sender is behind; its latency is measured from that scheduled time
//! (so a slow server cannot hide behind coordinated omission), except that
//! lateness below [`send::TIMER_SLACK`] (the timer's granularity) is not
//! charged. Expected deliveries come from the schedule, not from what was
//! sent, so a sender stuck behind a full socket shows up as loss.
//!
//! One concern per module: `args.rs` (flags), `shared.rs` (state all tasks
//! share, the clock), `schedule.rs` (the open-loop arithmetic), `client.rs`
//! (connect, sign in, join), `send.rs` and `receive.rs` (the two halves of a
//! joined client), `human.rs` (the table). This file runs the phases (set up,
//! steps, report) and builds the JSON report.

mod args;
mod client;
mod human;
mod receive;
mod schedule;
mod send;
mod shared;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, sleep, sleep_until, timeout_at};

pub use args::RunArgs;
pub use human::{cores, human};

use crate::procfs;
use crate::wire::Target;
use client::{Ws, set_up};
use receive::read_loop;
use schedule::{Plan, in_window, interval_ns, offset_ns};
use send::write_loop;
use shared::{Clock, Setup, Shared, StepStats, duration_ns, new_histogram};

/// A core busier than this before a run means something else is running.
pub const BUSY_WARNING_PCT: f64 = 15.0;

/// Runs the load and prints the report; returns the exit code.
pub fn main(args: RunArgs) -> Result<i32> {
    args.check()?;
    let targets = args.url.iter().map(|u| Target::parse(u)).collect::<Result<Vec<_>>>()?;
    let hard = args.deadline.unwrap_or_else(|| args.planned_seconds() + 30.0);
    if !(hard.is_finite() && hard > 0.0) {
        bail!("--deadline must be positive");
    }
    let hard = Duration::from_secs_f64(hard);
    // The backstop: whatever state the runtime is in, the process ends.
    std::thread::Builder::new()
        .name("deadline".into())
        .spawn(move || {
            std::thread::sleep(hard);
            eprintln!("chaty-load: hard deadline of {:.0} s reached; exiting", hard.as_secs_f64());
            std::process::exit(3);
        })
        .context("cannot start the deadline thread")?;
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the runtime")?;
    let local = tokio::task::LocalSet::new();
    // The run itself stops a little before the backstop so it can report.
    let soft = hard.saturating_sub(Duration::from_secs(3));
    let json_out = args.json;
    let report = local.block_on(&runtime, run(args, targets, soft))?;
    if json_out {
        println!("{report}");
    } else {
        print!("{}", human(&report));
    }
    let code = if report["joined"].as_u64().unwrap_or(0) == 0 { 1 } else { 0 };
    Ok(code)
}

async fn run(args: RunArgs, targets: Vec<Target>, soft: Duration) -> Result<Value> {
    let began = Instant::now();
    let deadline = began + soft;
    let rooms = args.rooms;
    let senders = args.senders;
    let clients = args.clients;
    let sh = Rc::new(Shared {
        nonce: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0)),
        targets,
        clock: Clock::new(),
        room_alive: RefCell::new(vec![0; rooms]),
        sender_alive: RefCell::new(vec![false; senders]),
        setup: RefCell::new(Setup::default()),
        connect_latency: RefCell::new(new_histogram()),
        step: RefCell::new(None),
        disconnects: Cell::new(0),
        error_frames: Cell::new(0),
        notes: RefCell::new(Vec::new()),
        stopping: Cell::new(false),
        auth_gate: Semaphore::new(args.auth_concurrency.max(1)),
        args,
    });
    let args = &sh.args;
    let pids = args.server_pid.clone();
    let has_server = !pids.is_empty();
    let sample_server = || procfs::sample_sum(&pids);
    let sample_aux = || -> Vec<Option<u64>> { args.aux_pids.iter().map(|&(_, p)| procfs::tree_ticks(p)).collect() };
    let clk = args.clk_tck.max(1) as f64;
    // How busy the machine is before we start: other processes skew everything.
    let cores_before = procfs::cpu_ticks_per_core();
    sleep(Duration::from_millis(500)).await;
    let busy_before = procfs::busy_pct(&cores_before, &procfs::cpu_ticks_per_core());
    if busy_before.iter().any(|&b| b > BUSY_WARNING_PCT) {
        sh.note(format!(
            "cores were {} % busy before the run started: other processes are using the machine",
            cores(&json!(busy_before))
        ));
    }
    let server_before = sample_server();
    if has_server && server_before.is_none() {
        sh.note(format!("cannot read /proc/PID for one of the server pids {pids:?} (is the pid right?)"));
    }
    for ((name, p), ticks) in args.aux_pids.iter().zip(sample_aux()) {
        if ticks.is_none() {
            sh.note(format!("cannot read /proc/{p} ({name}): is the pid right?"));
        }
    }

    // ----- connect, sign in, join ------------------------------------------
    let (plan_tx, plan_rx) = watch::channel::<Option<Plan>>(None);
    let setup_deadline = (began + Duration::from_secs_f64(args.setup_timeout())).min(deadline);
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let setup_start = Instant::now();
    let mut spawned = 0u64;
    for i in 0..clients {
        if args.connect_rate > 0.0 {
            let at = setup_start + Duration::from_secs_f64(i as f64 / args.connect_rate);
            if at >= setup_deadline {
                break;
            }
            sleep_until(at).await;
        }
        let Ok(Ok(permit)) = timeout_at(setup_deadline, gate.clone().acquire_owned()).await else {
            break;
        };
        let (sh2, rx) = (sh.clone(), plan_rx.clone());
        tokio::task::spawn_local(async move {
            let ws = set_up(&sh2, i).await;
            drop(permit);
            if let Some(ws) = ws {
                serve(sh2, i, ws, rx).await;
            }
        });
        spawned += 1;
    }
    while sh.setup.borrow().finished < spawned && Instant::now() < setup_deadline {
        sleep(Duration::from_millis(10)).await;
    }
    let setup_s = {
        let setup = sh.setup.borrow();
        setup.last_joined.unwrap_or_else(Instant::now).saturating_duration_since(setup_start).as_secs_f64()
    };
    // Let the last join announcements settle before measuring memory.
    sleep(Duration::from_millis(200)).await;
    let server_connected = sample_server();

    // ----- steps ------------------------------------------------------------
    let mut steps = Vec::new();
    let mut deadline_hit = Instant::now() >= deadline;
    let warm_ns = duration_ns(Duration::from_secs_f64(args.warmup));
    let window_ns = duration_ns(Duration::from_secs_f64(args.duration));
    let joined = sh.setup.borrow().joined;
    let mut misses = 0;
    for (idx, rate) in args.rates().into_iter().enumerate() {
        if joined == 0 || deadline_hit {
            break;
        }
        let idx = u32::try_from(idx).unwrap_or(u32::MAX);
        let start = Instant::now() + Duration::from_millis(250);
        let plan = Plan { idx, start, rate, warm_ns, end_ns: warm_ns + window_ns };
        // What the schedule promises: every message in the window, to every
        // member of its room (the sender included).
        let interval = interval_ns(rate);
        let senders_alive: Vec<usize> = {
            let alive = sh.sender_alive.borrow();
            (0..senders).filter(|&j| alive[j]).collect()
        };
        let expected: u64 = {
            let room_alive = sh.room_alive.borrow();
            senders_alive
                .iter()
                .map(|&j| {
                    let off = offset_ns(interval, j, senders);
                    in_window(interval, off, plan.warm_ns, plan.end_ns) * room_alive[sh.room_of(j)]
                })
                .sum()
        };
        *sh.step.borrow_mut() = Some(StepStats::new(idx));
        plan_tx.send_replace(Some(plan.clone()));

        let warm_end = start + Duration::from_nanos(plan.warm_ns);
        let end = start + Duration::from_nanos(plan.end_ns);
        if warm_end >= deadline {
            deadline_hit = true;
        }
        sleep_until(warm_end.min(deadline)).await;
        let server_w0 = sample_server();
        let aux_w0 = sample_aux();
        let self_w0 = procfs::sample(None);
        let cores_w0 = procfs::cpu_ticks_per_core();
        sleep_until(end.min(deadline)).await;
        let server_w1 = sample_server();
        let aux_w1 = sample_aux();
        let self_w1 = procfs::sample(None);
        let cores_busy = procfs::busy_pct(&cores_w0, &procfs::cpu_ticks_per_core());
        let drain_until = (end + Duration::from_secs_f64(args.drain)).min(deadline);
        loop {
            let done = sh.step.borrow().as_ref().is_none_or(|st| {
                st.delivered + st.refused_deliveries >= expected && st.history_ok + st.history_errors >= st.history_sent
            });
            if done || Instant::now() >= drain_until {
                break;
            }
            sleep(Duration::from_millis(20)).await;
        }
        let drained_s = Instant::now().saturating_duration_since(end).as_secs_f64();
        if Instant::now() >= deadline {
            deadline_hit = true;
        }
        let Some(st) = sh.step.borrow_mut().take() else {
            break;
        };
        let window_s = args.duration;
        let cpu = |a: Option<procfs::Sample>, b: Option<procfs::Sample>| {
            a.zip(b).map(|(a, b)| b.cpu_ticks.saturating_sub(a.cpu_ticks) as f64 / clk)
        };
        let server_cpu = cpu(server_w0, server_w1);
        let self_cpu = cpu(self_w0, self_w1);
        // Other processes doing the server's work (a cluster's database and
        // Redis): CPU per name, and everything per delivery.
        let mut aux_cpu = serde_json::Map::new();
        let mut aux_total = Some(0.0);
        for ((name, _), (a, b)) in args.aux_pids.iter().zip(aux_w0.iter().zip(&aux_w1)) {
            let secs = a.zip(*b).map(|(a, b)| b.saturating_sub(a) as f64 / clk);
            aux_total = aux_total.zip(secs).map(|(t, s)| t + s);
            aux_cpu.insert(name.clone(), json!(secs.map(|c| round(c, 2))));
        }
        let total_cpu = server_cpu.zip(aux_total).map(|(s, a)| s + a);
        // Refused with `overloaded` is told at once: not carried, but not lost.
        let loss = expected.saturating_sub(st.delivered + st.refused_deliveries);
        let p99_ms = st.latency.value_at_quantile(0.99) as f64 / 1000.0;
        let sustained = loss == 0
            && st.refused == 0
            && expected > 0
            && !st.latency.is_empty()
            && p99_ms <= args.max_p99_ms
            && !deadline_hit;
        let history = (args.history_clients > 0).then(|| {
            json!({
                "clients": args.history_clients,
                "rate_per_client": args.history_rate,
                "sent": st.history_sent,
                "ok": st.history_ok,
                "errors": st.history_errors,
                "unanswered": st.history_sent.saturating_sub(st.history_ok + st.history_errors),
                "latency_ms": latency_json(&st.history_latency),
            })
        });
        steps.push(json!({
            "step": idx,
            "rate_per_sender": rate,
            "senders": senders_alive.len(),
            "offered_msgs_per_s": senders_alive.len() as f64 * rate,
            "sent": st.sent,
            "send_errors": st.send_errors,
            "expected": expected,
            "delivered": st.delivered,
            "loss": loss,
            "loss_pct": if expected > 0 { 100.0 * loss as f64 / expected as f64 } else { 0.0 },
            "refused": st.refused,
            // Stored and acknowledged: the sender got its own message back.
            "accepted_msgs_per_s": round(st.echoed as f64 / window_s, 1),
            "refused_msgs_per_s": round(st.refused as f64 / window_s, 1),
            "duplicates": st.duplicates,
            "reorders": st.reorders,
            "offered_per_s": round(expected as f64 / window_s, 1),
            "deliveries_per_s": round(st.delivered as f64 / window_s, 1),
            "latency_ms": latency_json(&st.latency),
            "drain_s": round(drained_s, 3),
            "server_cpu_s": server_cpu.map(|c| round(c, 2)),
            "server_cpu_pct": server_cpu.map(|c| round(100.0 * c / window_s, 1)),
            "aux_cpu_s": (!aux_cpu.is_empty()).then_some(Value::Object(aux_cpu)),
            "total_cpu_s": total_cpu.map(|c| round(c, 2)),
            "total_cpu_pct": total_cpu.map(|c| round(100.0 * c / window_s, 1)),
            "cpu_us_per_delivery": total_cpu
                .filter(|_| st.delivered > 0)
                .map(|c| round(c * 1e6 / st.delivered as f64, 2)),
            "loadgen_cpu_pct": self_cpu.map(|c| round(100.0 * c / window_s, 1)),
            "cores_busy_pct": cores_busy,
            "history": history,
            "sustained": sustained,
        }));
        misses = if sustained { 0 } else { misses + 1 };
        if misses >= args.ramp_misses.max(1) && args.rates.len() > 1 && !args.ramp_continue {
            break;
        }
    }
    plan_tx.send_replace(None);
    sh.stopping.set(true);

    // ----- report -------------------------------------------------------------
    let server_end = sample_server();
    let self_end = procfs::sample(None);
    let setup = sh.setup.borrow();
    let best = steps
        .iter()
        .filter(|s| s["sustained"].as_bool() == Some(true))
        .max_by(|a, b| {
            let key = |s: &Value| s["deliveries_per_s"].as_f64().unwrap_or(0.0);
            key(a).total_cmp(&key(b))
        })
        .map(|s| {
            json!({
                "rate_per_sender": s["rate_per_sender"],
                "offered_per_s": s["offered_per_s"],
                "deliveries_per_s": s["deliveries_per_s"],
                "p99_ms": s["latency_ms"]["p99"],
            })
        });
    let server = has_server.then(|| {
        let kib = |s: Option<procfs::Sample>, f: fn(&procfs::Sample) -> u64| s.map(|s| f(&s));
        let before = kib(server_before, |s| s.rss_kib);
        let connected = kib(server_connected, |s| s.rss_kib);
        let per_conn = before
            .zip(connected)
            .filter(|_| setup.joined > 0)
            .map(|(b, c)| round(c.saturating_sub(b) as f64 / setup.joined as f64, 2));
        let peak = kib(server_end, |s| s.hwm_kib);
        let peak_per_conn = before
            .zip(peak)
            .filter(|_| setup.joined > 0)
            .map(|(b, p)| round(p.saturating_sub(b) as f64 / setup.joined as f64, 2));
        let cpu = |a: Option<procfs::Sample>, b: Option<procfs::Sample>| {
            a.zip(b).map(|(a, b)| round(b.cpu_ticks.saturating_sub(a.cpu_ticks) as f64 / clk, 2))
        };
        json!({
            "pid": pids[0],
            "pids": pids,
            "rss_before_kib": before,
            "rss_connected_kib": connected,
            "rss_per_conn_kib": per_conn,
            "rss_end_kib": kib(server_end, |s| s.rss_kib),
            "rss_peak_kib": peak,
            "rss_peak_per_conn_kib": peak_per_conn,
            "cpu_setup_s": cpu(server_before, server_connected),
            "cpu_total_s": cpu(server_before, server_end),
        })
    });
    let connect = sh.connect_latency.borrow();
    Ok(json!({
        "label": args.label,
        "url": args.url.join(","),
        "protocol": args.protocol.name(),
        "clients": clients,
        "rooms": rooms,
        "senders": senders,
        "rates": args.rates(),
        "history_clients": args.history_clients,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "payload_bytes": args.payload_bytes,
        "connected": setup.connected,
        "joined": setup.joined,
        "connect_errors": setup.connect_errors,
        "join_errors": setup.join_errors,
        "setup_s": round(setup_s, 3),
        "connects_per_s": if setup_s > 0.0 { round(setup.joined as f64 / setup_s, 1) } else { 0.0 },
        "connect_ms": latency_json(&connect),
        "disconnects": sh.disconnects.get(),
        "error_frames": sh.error_frames.get(),
        "notes": sh.notes.borrow().clone(),
        "steps": steps,
        "sustained": best,
        "server": server,
        "loadgen": {
            "rss_peak_kib": self_end.map(|s| s.hwm_kib),
            "cpu_s": self_end.map(|s| round(s.cpu_ticks as f64 / clk, 2)),
        },
        "cores_busy_before_pct": busy_before,
        "elapsed_s": round(began.elapsed().as_secs_f64(), 2),
        "deadline_hit": deadline_hit,
    }))
}

fn round(x: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    (x * m).round() / m
}

fn latency_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    let ms = |us: u64| round(us as f64 / 1000.0, 3);
    json!({
        "count": h.len(),
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p999": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
    })
}

/// After joining: a writer for senders and history clients, and the reader.
/// Clients that only read keep the socket whole (no split lock per frame).
async fn serve(sh: Rc<Shared>, i: usize, ws: Ws, plans: watch::Receiver<Option<Plan>>) {
    let reason = if sh.is_sender(i) || sh.history_index(i).is_some() {
        let (sink, stream) = ws.split();
        tokio::task::spawn_local(write_loop(sh.clone(), i, sink, plans));
        read_loop(&sh, i, stream).await
    } else {
        read_loop(&sh, i, ws).await
    };
    if !sh.stopping.get() {
        sh.disconnects.set(sh.disconnects.get() + 1);
        sh.room_alive.borrow_mut()[sh.room_of(i)] -= 1;
        if sh.is_sender(i) {
            sh.sender_alive.borrow_mut()[i] = false;
        }
        sh.note(format!("client {i} lost its connection: {reason}"));
    }
}
