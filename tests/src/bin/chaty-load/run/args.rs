//! `chaty-load run`'s flags ([`RunArgs`]) and what follows from them alone:
//! their checks, the rates of a ramp, and the setup time and length the plan
//! needs. Not here: the run itself (`run.rs`) or the shared state it builds.

use anyhow::{Result, bail};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// The seed protocol: guests, `JOIN_ROOM {roomId, userId}`.
    Seed,
    /// chaty's own: `REGISTER` (or `LOGIN` when taken), then `JOIN_ROOM`.
    Chaty,
}

impl Protocol {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Seed => "seed",
            Self::Chaty => "chaty",
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// WebSocket URL of the server (loopback addresses only). Several servers
    /// (the nodes of a cluster): repeat --url or separate them with commas;
    /// each room's members then alternate over them (client i connects to URL
    /// number (i mod R + i div R) mod U), so consecutive clients alternate and
    /// every room spans every node.
    #[arg(long, env = "CHATY_LOAD_URL", value_delimiter = ',', default_value = "ws://127.0.0.1:8181/ws")]
    pub url: Vec<String>,
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
    /// Stop a ramp after this many steps in a row that are not sustained (1:
    /// at the first; 2 lets one hiccup pass, the highest sustained step counts).
    #[arg(long, default_value_t = 1)]
    pub ramp_misses: usize,
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
    /// The server's pid: report its CPU time and RSS. Several (a cluster's
    /// nodes): repeat it or separate with commas; CPU and RSS are their sums.
    #[arg(long, value_delimiter = ',')]
    pub server_pid: Vec<u32>,
    /// Other processes whose CPU counts per delivery, as NAME=PID (repeatable),
    /// e.g. postgres=<postmaster pid>, redis=<pid>: the process and all its
    /// descendants (utime+stime, plus what reaped children used), per NAME.
    #[arg(long = "aux-pid", value_name = "NAME=PID", value_parser = parse_aux)]
    pub aux_pids: Vec<(String, u32)>,
    /// Clock ticks per second of /proc CPU times (`getconf CLK_TCK`).
    #[arg(long, env = "CLK_TCK", default_value_t = 100)]
    pub clk_tck: u64,
    /// Chat messages also carry a `clientId` and a `ref` (seed frames
    /// included), so a server's `overloaded` refusal of one is counted as
    /// refused, not lost.
    #[arg(long)]
    pub client_ids: bool,
    /// Print one JSON line instead of the human table.
    #[arg(long)]
    pub json: bool,
    /// Free text carried into the report (e.g. scenario and server).
    #[arg(long, default_value = "")]
    pub label: String,
}

fn parse_aux(s: &str) -> Result<(String, u32), String> {
    let (name, pid) = s.split_once('=').ok_or_else(|| format!("{s:?}: expected NAME=PID"))?;
    let pid = pid.parse().map_err(|_| format!("{s:?}: bad pid"))?;
    if name.is_empty() {
        return Err(format!("{s:?}: empty name"));
    }
    Ok((name.to_string(), pid))
}

impl RunArgs {
    pub(super) fn rates(&self) -> Vec<f64> {
        if self.rates.is_empty() { vec![self.rate] } else { self.rates.clone() }
    }

    pub(super) fn check(&self) -> Result<()> {
        let name_ok = |s: &str| s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if self.url.is_empty() {
            bail!("--url: at least one server");
        }
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

    pub(super) fn setup_timeout(&self) -> f64 {
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

    pub(super) fn planned_seconds(&self) -> f64 {
        let steps = self.rates().len() as f64;
        self.setup_timeout() + steps * (0.25 + self.warmup + self.duration + self.drain + 1.0)
    }
}
