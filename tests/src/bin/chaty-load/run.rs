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
//! lateness below [`TIMER_SLACK`] (the timer's granularity) is not charged.
//! Expected deliveries come from the schedule, not from what was sent, so a
//! sender stuck behind a full socket shows up as loss.

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, Stream, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, sleep, sleep_until, timeout_at};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::procfs;
use crate::wire::{self, Payload, Target};

type Ws = WebSocketStream<TcpStream>;

/// Sends later than their schedule by less than this are timer granularity
/// (tokio's timer ticks in milliseconds), not backlog: latency is then
/// measured from the actual send.
const TIMER_SLACK: Duration = Duration::from_millis(2);
/// A core busier than this before a run means something else is running.
pub const BUSY_WARNING_PCT: f64 = 15.0;
/// Error messages kept for the report.
const MAX_NOTES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// The seed protocol: guests, `JOIN_ROOM {roomId, userId}`.
    Seed,
    /// chaty's own: `REGISTER` (or `LOGIN` when taken), then `JOIN_ROOM`.
    Chaty,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Self::Seed => "seed",
            Self::Chaty => "chaty",
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// WebSocket URL of the server (loopback addresses only).
    #[arg(long, env = "CHATY_LOAD_URL", default_value = "ws://127.0.0.1:8181/ws")]
    pub url: String,
    /// Which protocol the clients speak.
    #[arg(long, value_enum, default_value = "seed")]
    pub protocol: Protocol,
    /// Clients (WebSocket connections), one user each.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Rooms; client i joins room i mod R.
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// Clients that send (the first S, so they spread over the rooms).
    #[arg(long, default_value_t = 50)]
    pub senders: usize,
    /// Messages per second per sender.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// A ramp: comma-separated rates per sender, one step each (replaces --rate).
    /// Stops after the first step that loses messages or exceeds --max-p99-ms.
    #[arg(long, value_delimiter = ',')]
    pub rates: Vec<f64>,
    /// Seconds of sending before each measurement window (not counted).
    #[arg(long, default_value_t = 5.0)]
    pub warmup: f64,
    /// Seconds in each measurement window.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Longest wait after a window for outstanding deliveries, seconds; what
    /// has not arrived by then counts as lost.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
    /// New connections per second (0: as fast as --connect-concurrency allows).
    #[arg(long, default_value_t = 500.0)]
    pub connect_rate: f64,
    /// Connections being set up (connect, sign in, join) at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// Longest time one client may take to connect, sign in and join, seconds.
    #[arg(long, default_value_t = 60.0)]
    pub join_timeout: f64,
    /// Longest time for all clients to connect and join, seconds [default: from the plan].
    #[arg(long)]
    pub setup_timeout: Option<f64>,
    /// --protocol chaty: sign-ins (REGISTER/LOGIN) in flight at once. Each
    /// costs the server an argon2 hash (tens of ms, ~19 MiB while it runs).
    #[arg(long, default_value_t = 4)]
    pub auth_concurrency: usize,
    /// Hard deadline for the whole run, seconds [default: the plan's length + 30].
    #[arg(long)]
    pub deadline: Option<f64>,
    /// Message content length in bytes (measurement fields, then padding).
    #[arg(long, default_value_t = 100)]
    pub payload_bytes: usize,
    /// A step is sustained when nothing is lost and p99 is at most this.
    #[arg(long, default_value_t = 50.0)]
    pub max_p99_ms: f64,
    /// Keep ramping after a step that is not sustained.
    #[arg(long)]
    pub ramp_continue: bool,
    /// Clients (the last N, not senders) that also request HISTORY pages.
    #[arg(long, default_value_t = 0)]
    pub history_clients: usize,
    /// HISTORY requests per second per history client.
    #[arg(long, default_value_t = 2.0)]
    pub history_rate: f64,
    /// HISTORY `before` is drawn uniformly from 2..=N (0: always the latest page).
    #[arg(long, default_value_t = 0)]
    pub history_before_max: u64,
    /// HISTORY page size.
    #[arg(long, default_value_t = 50)]
    pub history_limit: u64,
    /// Clients per source address: client i connects from 127.0.x.y, a new
    /// address every N clients, so per-address connection caps (chaty allows
    /// 1,000 per address) see many users rather than one. 0: let the OS pick.
    #[arg(long, default_value_t = 500)]
    pub per_source: usize,
    /// User names are PREFIX<i>.
    #[arg(long, default_value = "u")]
    pub user_prefix: String,
    /// Room ids are PREFIX<j>.
    #[arg(long, default_value = "r")]
    pub room_prefix: String,
    /// Password of --protocol chaty users.
    #[arg(long, default_value = "chaty-load-password")]
    pub password: String,
    /// The server's pid: report its CPU time and RSS.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Clock ticks per second of /proc CPU times (`getconf CLK_TCK`).
    #[arg(long, env = "CLK_TCK", default_value_t = 100)]
    pub clk_tck: u64,
    /// Print one JSON line instead of the human table.
    #[arg(long)]
    pub json: bool,
    /// Free text carried into the report (e.g. scenario and server).
    #[arg(long, default_value = "")]
    pub label: String,
}

impl RunArgs {
    fn rates(&self) -> Vec<f64> {
        if self.rates.is_empty() { vec![self.rate] } else { self.rates.clone() }
    }

    fn check(&self) -> Result<()> {
        let name_ok = |s: &str| s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if self.clients == 0 || self.rooms == 0 {
            bail!("--clients and --rooms must be at least 1");
        }
        if self.senders + self.history_clients > self.clients {
            bail!("--senders plus --history-clients must not exceed --clients");
        }
        if self.rates().iter().any(|r| !(r.is_finite() && *r > 0.0)) {
            bail!("rates must be positive");
        }
        if self.history_clients > 0 && !(self.history_rate.is_finite() && self.history_rate > 0.0) {
            bail!("--history-rate must be positive");
        }
        if self.warmup < 0.0 || self.duration <= 0.0 || self.drain < 0.0 {
            bail!("--warmup and --drain must be >= 0 and --duration > 0");
        }
        if !name_ok(&self.user_prefix) || !name_ok(&self.room_prefix) || self.room_prefix.is_empty() {
            bail!("prefixes must be lowercase letters, digits, _ or -");
        }
        let longest_user = format!("{}{}", self.user_prefix, self.clients);
        if longest_user.len() > 32 {
            bail!("user names must be at most 32 characters: shorten --user-prefix");
        }
        if self.payload_bytes > 4000 {
            bail!("--payload-bytes must be at most 4000");
        }
        Ok(())
    }

    fn setup_timeout(&self) -> f64 {
        if let Some(t) = self.setup_timeout {
            return t;
        }
        let span =
            if self.connect_rate > 0.0 { self.clients as f64 / self.connect_rate } else { self.clients as f64 / 200.0 };
        // Accounts: a password hash costs the server tens of milliseconds each.
        let signing_in = match self.protocol {
            Protocol::Seed => 0.0,
            Protocol::Chaty => self.clients as f64 * 0.15,
        };
        span + signing_in + self.join_timeout + 5.0
    }

    fn planned_seconds(&self) -> f64 {
        let steps = self.rates().len() as f64;
        self.setup_timeout() + steps * (0.25 + self.warmup + self.duration + self.drain + 1.0)
    }
}

/// Maps tokio instants to µs since the UNIX epoch through one base reading,
/// so all times in a run come from the monotonic clock.
struct Clock {
    base: Instant,
    base_epoch_us: u64,
}

impl Clock {
    fn new() -> Self {
        let epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Self { base: Instant::now(), base_epoch_us: u64::try_from(epoch.as_micros()).unwrap_or(u64::MAX) }
    }

    fn us(&self, at: Instant) -> u64 {
        self.base_epoch_us + duration_us(at.saturating_duration_since(self.base))
    }

    fn now_us(&self) -> u64 {
        self.us(Instant::now())
    }
}

fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs .. 1 h at 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

#[derive(Default)]
struct Setup {
    connected: u64,
    joined: u64,
    connect_errors: u64,
    join_errors: u64,
    finished: u64,
    last_joined: Option<Instant>,
}

/// Counters of one step; receipts of other steps are ignored.
struct StepStats {
    idx: u32,
    sent: u64,
    send_errors: u64,
    delivered: u64,
    duplicates: u64,
    reorders: u64,
    latency: Histogram<u64>,
    history_sent: u64,
    history_ok: u64,
    history_errors: u64,
    history_latency: Histogram<u64>,
}

impl StepStats {
    fn new(idx: u32) -> Self {
        Self {
            idx,
            sent: 0,
            send_errors: 0,
            delivered: 0,
            duplicates: 0,
            reorders: 0,
            latency: new_histogram(),
            history_sent: 0,
            history_ok: 0,
            history_errors: 0,
            history_latency: new_histogram(),
        }
    }
}

/// One step's schedule, sent to every writer.
#[derive(Debug, Clone)]
struct Plan {
    idx: u32,
    start: Instant,
    rate: f64,
    warm_ns: u64,
    end_ns: u64,
}

struct Shared {
    args: RunArgs,
    target: Target,
    clock: Clock,
    /// Distinguishes this run's clientIds from earlier runs on the same database.
    nonce: u64,
    /// Joined and still connected clients per room.
    room_alive: RefCell<Vec<u64>>,
    sender_alive: RefCell<Vec<bool>>,
    setup: RefCell<Setup>,
    connect_latency: RefCell<Histogram<u64>>,
    step: RefCell<Option<StepStats>>,
    disconnects: Cell<u64>,
    error_frames: Cell<u64>,
    notes: RefCell<Vec<String>>,
    stopping: Cell<bool>,
    auth_gate: Semaphore,
}

impl Shared {
    fn note(&self, text: String) {
        let mut notes = self.notes.borrow_mut();
        if notes.len() < MAX_NOTES && !notes.contains(&text) {
            notes.push(text);
        }
    }

    fn room_of(&self, i: usize) -> usize {
        i % self.args.rooms
    }

    fn user(&self, i: usize) -> String {
        format!("{}{i}", self.args.user_prefix)
    }

    fn room(&self, i: usize) -> String {
        format!("{}{}", self.args.room_prefix, self.room_of(i))
    }

    fn is_sender(&self, i: usize) -> bool {
        i < self.args.senders
    }

    /// Index among the history clients, if client `i` is one.
    fn history_index(&self, i: usize) -> Option<usize> {
        let first = self.args.clients - self.args.history_clients;
        (i >= first).then(|| i - first)
    }
}

/// Per-sender receipt record of one receiver: which sequence numbers arrived.
#[derive(Default)]
struct Track {
    bits: Vec<u64>,
    /// Highest sequence number seen + 1.
    next: u64,
}

impl Track {
    /// Returns (first time seen, arrived after a later one).
    fn observe(&mut self, seq: u64) -> (bool, bool) {
        let word = usize::try_from(seq / 64).unwrap_or(usize::MAX);
        let bit = 1u64 << (seq % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        let new = self.bits[word] & bit == 0;
        self.bits[word] |= bit;
        let reordered = new && seq + 1 < self.next;
        self.next = self.next.max(seq + 1);
        (new, reordered)
    }
}

/// Runs the load and prints the report; returns the exit code.
pub fn main(args: RunArgs) -> Result<i32> {
    args.check()?;
    let target = Target::parse(&args.url)?;
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
    let report = local.block_on(&runtime, run(args, target, soft))?;
    if json_out {
        println!("{report}");
    } else {
        print!("{}", human(&report));
    }
    let code = if report["joined"].as_u64().unwrap_or(0) == 0 { 1 } else { 0 };
    Ok(code)
}

async fn run(args: RunArgs, target: Target, soft: Duration) -> Result<Value> {
    let began = Instant::now();
    let deadline = began + soft;
    let rooms = args.rooms;
    let senders = args.senders;
    let clients = args.clients;
    let sh = Rc::new(Shared {
        nonce: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0)),
        target,
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
    let pid = args.server_pid;
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
    let server_before = pid.and_then(|p| procfs::sample(Some(p)));
    if pid.is_some() && server_before.is_none() {
        sh.note(format!("cannot read /proc/{} (is the pid right?)", pid.unwrap_or(0)));
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
    let server_connected = pid.and_then(|p| procfs::sample(Some(p)));

    // ----- steps ------------------------------------------------------------
    let mut steps = Vec::new();
    let mut deadline_hit = Instant::now() >= deadline;
    let warm_ns = duration_ns(Duration::from_secs_f64(args.warmup));
    let window_ns = duration_ns(Duration::from_secs_f64(args.duration));
    let joined = sh.setup.borrow().joined;
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
        let server_w0 = pid.and_then(|p| procfs::sample(Some(p)));
        let self_w0 = procfs::sample(None);
        let cores_w0 = procfs::cpu_ticks_per_core();
        sleep_until(end.min(deadline)).await;
        let server_w1 = pid.and_then(|p| procfs::sample(Some(p)));
        let self_w1 = procfs::sample(None);
        let cores_busy = procfs::busy_pct(&cores_w0, &procfs::cpu_ticks_per_core());
        let drain_until = (end + Duration::from_secs_f64(args.drain)).min(deadline);
        loop {
            let done = sh
                .step
                .borrow()
                .as_ref()
                .is_none_or(|st| st.delivered >= expected && st.history_ok + st.history_errors >= st.history_sent);
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
        let loss = expected.saturating_sub(st.delivered);
        let p99_ms = st.latency.value_at_quantile(0.99) as f64 / 1000.0;
        let sustained =
            loss == 0 && expected > 0 && !st.latency.is_empty() && p99_ms <= args.max_p99_ms && !deadline_hit;
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
            "duplicates": st.duplicates,
            "reorders": st.reorders,
            "offered_per_s": round(expected as f64 / window_s, 1),
            "deliveries_per_s": round(st.delivered as f64 / window_s, 1),
            "latency_ms": latency_json(&st.latency),
            "drain_s": round(drained_s, 3),
            "server_cpu_s": server_cpu.map(|c| round(c, 2)),
            "server_cpu_pct": server_cpu.map(|c| round(100.0 * c / window_s, 1)),
            "loadgen_cpu_pct": self_cpu.map(|c| round(100.0 * c / window_s, 1)),
            "cores_busy_pct": cores_busy,
            "history": history,
            "sustained": sustained,
        }));
        if !sustained && args.rates.len() > 1 && !args.ramp_continue {
            break;
        }
    }
    plan_tx.send_replace(None);
    sh.stopping.set(true);

    // ----- report -------------------------------------------------------------
    let server_end = pid.and_then(|p| procfs::sample(Some(p)));
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
    let server = pid.map(|pid| {
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
            "pid": pid,
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
        "url": args.url,
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

fn interval_ns(rate: f64) -> u64 {
    ((1e9 / rate).round() as u64).max(1)
}

/// Sender `j` of `n` starts `j/n` of an interval late, so sends spread evenly.
fn offset_ns(interval: u64, j: usize, n: usize) -> u64 {
    let (j, n) = (j as u128, n.max(1) as u128);
    u64::try_from(u128::from(interval) * j / n).unwrap_or(0)
}

/// How many of `off + k·interval` (k ≥ 0) fall in `[lo, hi)`.
fn in_window(interval: u64, off: u64, lo: u64, hi: u64) -> u64 {
    let first_at_or_after = |t: u64| t.saturating_sub(off).div_ceil(interval);
    first_at_or_after(hi) - first_at_or_after(lo)
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

// ----- one client -----------------------------------------------------------

/// Connects, signs in and joins; counts the outcome.
async fn set_up(sh: &Shared, i: usize) -> Option<Ws> {
    // Sign-ins wait their turn before connecting, so that the wait is not
    // charged to the connection and the server never hashes more than a few
    // passwords at once.
    let _auth = match sh.args.protocol {
        Protocol::Chaty => sh.auth_gate.acquire().await.ok(),
        Protocol::Seed => None,
    };
    let started = Instant::now();
    let limit = started + Duration::from_secs_f64(sh.args.join_timeout);
    let mut connected = false;
    let result = match timeout_at(limit, handshake(sh, i, &mut connected)).await {
        Ok(r) => r,
        Err(_) => Err(anyhow::anyhow!("timed out after {} s", sh.args.join_timeout)),
    };
    let mut setup = sh.setup.borrow_mut();
    setup.finished += 1;
    if connected {
        setup.connected += 1;
    }
    match result {
        Ok(ws) => {
            let now = Instant::now();
            setup.joined += 1;
            setup.last_joined = Some(now);
            sh.connect_latency.borrow_mut().saturating_record(duration_us(now - started).max(1));
            sh.room_alive.borrow_mut()[sh.room_of(i)] += 1;
            if sh.is_sender(i) {
                sh.sender_alive.borrow_mut()[i] = true;
            }
            Some(ws)
        }
        Err(e) => {
            if connected {
                setup.join_errors += 1;
            } else {
                setup.connect_errors += 1;
            }
            drop(setup);
            sh.note(format!("{e:#}"));
            None
        }
    }
}

async fn next_text(ws: &mut Ws) -> Result<String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_string()),
            Some(Ok(Message::Close(frame))) => {
                bail!("server closed the connection: {frame:?}")
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => bail!("read: {e}"),
            None => bail!("connection ended"),
        }
    }
}

fn error_text(frame: &str) -> String {
    let value: Value = serde_json::from_str(frame).unwrap_or(Value::Null);
    format!("ERROR {}: {}", value["code"].as_str().unwrap_or("?"), value["message"].as_str().unwrap_or(frame))
}

async fn handshake(sh: &Shared, i: usize, connected: &mut bool) -> Result<Ws> {
    let tcp = match (sh.target.addr, sh.args.per_source) {
        (SocketAddr::V4(_), n) if n > 0 => {
            let k = i / n;
            let source = Ipv4Addr::new(127, 0, u8::try_from(k / 250).unwrap_or(255), (k % 250) as u8 + 1);
            let socket = TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).with_context(|| format!("bind {source}"))?;
            socket.connect(sh.target.addr).await
        }
        _ => TcpStream::connect(sh.target.addr).await,
    }
    .context("TCP connect")?;
    tcp.set_nodelay(true)?;
    // Small buffers: 10,000 idle clients should not need gigabytes.
    let config = WebSocketConfig::default().read_buffer_size(4 << 10).write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(sh.target.url.as_str(), tcp, Some(config))
        .await
        .context("WebSocket handshake")?;
    *connected = true;
    loop {
        let text = next_text(&mut ws).await?;
        if wire::frame_type(&text).as_deref() == Some("WELCOME") {
            break;
        }
    }
    let (user, room) = (sh.user(i), sh.room(i));
    match sh.args.protocol {
        Protocol::Seed => {
            let join = format!(r#"{{"type":"JOIN_ROOM","roomId":"{room}","userId":"{user}"}}"#);
            ws.send(Message::text(join)).await?;
        }
        Protocol::Chaty => {
            let password = wire::quote(&sh.args.password);
            let register = format!(r#"{{"type":"REGISTER","userName":"{user}","password":{password}}}"#);
            ws.send(Message::text(register)).await?;
            let mut tried_login = false;
            loop {
                let text = next_text(&mut ws).await?;
                match wire::frame_type(&text).as_deref() {
                    Some("AUTH_OK") => break,
                    Some("ERROR") if !tried_login && wire::string_field(&text, wire::CODE) == Some("conflict") => {
                        tried_login = true;
                        let login = format!(r#"{{"type":"LOGIN","userName":"{user}","password":{password}}}"#);
                        ws.send(Message::text(login)).await?;
                    }
                    Some("ERROR") => bail!("sign-in refused: {}", error_text(&text)),
                    _ => {}
                }
            }
            let join = format!(r#"{{"type":"JOIN_ROOM","roomId":"{room}"}}"#);
            ws.send(Message::text(join)).await?;
        }
    }
    loop {
        let text = next_text(&mut ws).await?;
        match wire::frame_type(&text).as_deref() {
            Some("USER_JOINED" | "ROOM_MEMBERS_UPDATE" | "ROOM")
                if wire::string_field(&text, wire::ROOM_ID) == Some(room.as_str()) =>
            {
                return Ok(ws);
            }
            Some("ERROR") => bail!("join refused: {}", error_text(&text)),
            _ => {}
        }
    }
}

/// After joining: a writer for senders and history clients, and the reader.
/// Clients that only read keep the socket whole (no split lock per frame).
async fn serve(sh: Rc<Shared>, i: usize, ws: Ws, plans: watch::Receiver<Option<Plan>>) {
    let reason = if sh.is_sender(i) || sh.history_index(i).is_some() {
        let (sink, stream) = ws.split();
        tokio::task::spawn_local(write_loop(sh.clone(), i, sink, plans));
        read_loop(&sh, stream).await
    } else {
        read_loop(&sh, ws).await
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

async fn read_loop<S>(sh: &Shared, mut stream: S) -> String
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let mut tracks: Vec<(u32, Track)> = Vec::new();
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => on_frame(sh, &mut tracks, text.as_str()),
            Some(Ok(Message::Close(frame))) => return format!("closed by the server: {frame:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return format!("read: {e}"),
            None => return "connection ended".into(),
        }
    }
}

fn on_frame(sh: &Shared, tracks: &mut Vec<(u32, Track)>, text: &str) {
    let Some(kind) = wire::frame_type(text) else {
        return;
    };
    match &*kind {
        "CHAT_MESSAGE" => {
            let Some(p) = wire::chat_payload(text) else {
                return;
            };
            if p.seq > u64::from(u32::MAX) {
                return;
            }
            let now = sh.clock.now_us();
            let at = match tracks.iter().position(|(s, _)| *s == p.sender) {
                Some(at) => at,
                None => {
                    tracks.push((p.sender, Track::default()));
                    tracks.len() - 1
                }
            };
            let (new, reordered) = tracks[at].1.observe(p.seq);
            let mut step = sh.step.borrow_mut();
            let Some(st) = step.as_mut().filter(|st| st.idx == p.step) else {
                return;
            };
            if !new {
                st.duplicates += 1;
                return;
            }
            if reordered {
                st.reorders += 1;
            }
            if p.window {
                st.delivered += 1;
                st.latency.saturating_record(now.saturating_sub(p.t_us).max(1));
            }
        }
        "HISTORY" => {
            let Some((idx, window, t_us)) = wire::reference(text).and_then(wire::parse_history_ref) else {
                return;
            };
            let now = sh.clock.now_us();
            let mut step = sh.step.borrow_mut();
            if let Some(st) = step.as_mut().filter(|st| st.idx == idx && window) {
                st.history_ok += 1;
                st.history_latency.saturating_record(now.saturating_sub(t_us).max(1));
            }
        }
        "ERROR" => {
            sh.error_frames.set(sh.error_frames.get() + 1);
            if let Some((idx, true, _)) = wire::reference(text).and_then(wire::parse_history_ref) {
                if let Some(st) = sh.step.borrow_mut().as_mut().filter(|st| st.idx == idx) {
                    st.history_errors += 1;
                }
            }
            sh.note(error_text(text));
        }
        _ => {}
    }
}

/// xorshift64*: HISTORY `before` values need no better randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

async fn write_loop(
    sh: Rc<Shared>,
    i: usize,
    mut sink: SplitSink<Ws, Message>,
    mut plans: watch::Receiver<Option<Plan>>,
) {
    let args = &sh.args;
    let (user, room) = (sh.user(i), sh.room(i));
    let history = sh.history_index(i);
    let sender = u32::try_from(i).unwrap_or(u32::MAX);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
    let mut seq = 0u64;
    let mut content = String::with_capacity(args.payload_bytes + 64);
    loop {
        if plans.changed().await.is_err() {
            return;
        }
        let Some(plan) = plans.borrow_and_update().clone() else {
            return;
        };
        let (interval, off) = match history {
            Some(h) => {
                let interval = interval_ns(args.history_rate);
                (interval, offset_ns(interval, h, args.history_clients))
            }
            None => {
                let interval = interval_ns(plan.rate);
                (interval, offset_ns(interval, i, args.senders))
            }
        };
        let mut k = 0u64;
        loop {
            let rel = off + k * interval;
            if rel >= plan.end_ns {
                break;
            }
            k += 1;
            let at = plan.start + Duration::from_nanos(rel);
            if at > Instant::now() {
                sleep_until(at).await;
            }
            let now = Instant::now();
            let sent_at = if now.saturating_duration_since(at) < TIMER_SLACK { now } else { at };
            let window = rel >= plan.warm_ns;
            let t_us = sh.clock.us(sent_at);
            let frame = match history {
                Some(_) => {
                    let before = if args.history_before_max >= 2 {
                        format!(",\"before\":{}", 2 + rng.next() % (args.history_before_max - 1))
                    } else {
                        String::new()
                    };
                    format!(
                        r#"{{"type":"HISTORY","roomId":"{room}","limit":{}{before},"ref":"{}"}}"#,
                        args.history_limit,
                        wire::history_ref(plan.idx, window, t_us)
                    )
                }
                None => {
                    content.clear();
                    Payload { sender, seq, step: plan.idx, window, t_us }.write(&mut content, args.payload_bytes);
                    match args.protocol {
                        Protocol::Seed => format!(
                            r#"{{"type":"CHAT_MESSAGE","roomId":"{room}","userId":"{user}","userName":"{user}","content":"{content}"}}"#
                        ),
                        Protocol::Chaty => format!(
                            r#"{{"type":"CHAT_MESSAGE","roomId":"{room}","content":"{content}","clientId":"c{}-{seq}"}}"#,
                            sh.nonce
                        ),
                    }
                }
            };
            seq += u64::from(history.is_none());
            let ok = sink.send(Message::text(frame)).await.is_ok();
            if let Some(st) = sh.step.borrow_mut().as_mut().filter(|st| st.idx == plan.idx) {
                match (ok, window, history.is_some()) {
                    (false, _, _) => st.send_errors += 1,
                    (true, true, false) => st.sent += 1,
                    (true, true, true) => st.history_sent += 1,
                    (true, false, _) => {}
                }
            }
            if !ok {
                return;
            }
        }
    }
}

// ----- the human report -------------------------------------------------------

fn num(v: &Value) -> String {
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

fn mib(v: &Value) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_counts_match_the_sender_loop() {
        for (rate, j, n, warm, end) in [
            (20.0, 0, 50, 2_000_000_000u64, 12_000_000_000u64),
            (20.0, 49, 50, 2_000_000_000, 12_000_000_000),
            (7.0, 3, 10, 0, 1_000_000_000),
            (333.0, 5, 6, 1_500_000_000, 4_000_000_000),
        ] {
            let interval = interval_ns(rate);
            let off = offset_ns(interval, j, n);
            let mut counted = 0;
            let mut k = 0;
            loop {
                let rel = off + k * interval;
                if rel >= end {
                    break;
                }
                k += 1;
                counted += u64::from(rel >= warm);
            }
            assert_eq!(in_window(interval, off, warm, end), counted, "{rate} {j}");
        }
    }

    #[test]
    fn tracks_find_duplicates_and_reordering() {
        let mut t = Track::default();
        assert_eq!(t.observe(0), (true, false));
        assert_eq!(t.observe(2), (true, false));
        assert_eq!(t.observe(1), (true, true));
        assert_eq!(t.observe(2), (false, false));
        assert_eq!(t.observe(200), (true, false));
    }
}
