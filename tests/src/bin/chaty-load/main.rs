//! `chaty-load`: a load generator for chaty and for any server speaking the
//! seed Chaty protocol. Loopback only; every run stops by itself by a hard
//! deadline. See `tests/bench/README.md` and `tests/bench/run.sh`.
//!
//! - `run`: N clients, R rooms, S senders at a fixed rate (open loop); reports
//!   deliveries, loss, duplicates, reordering, latency percentiles and the
//!   server's CPU and memory. `--rates` ramps; `--history-clients` adds
//!   HISTORY requests.
//! - `seed-db`: a chaty database with many messages, through chaty's `Store`.
//! - `wait`: polls until a server accepts a WebSocket and sends its first
//!   frame; prints how long that took (readiness and cold start).
//! - `free-port`: a free loopback TCP port.
//! - `quiet`: waits until the machine's cores are (nearly) idle.
//! - `report`: results directory → markdown tables, servers side by side.
//! - `show`: a saved `run --json` result as the human table.

mod procfs;
mod report;
mod run;
mod seed;
mod wire;

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Parser)]
#[command(
    name = "chaty-load",
    version,
    about = "Load generator for chaty and seed-protocol chat servers (loopback only)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run a load against a server and report what it delivered.
    Run(Box<run::RunArgs>),
    /// Write a chaty database with many messages (for HISTORY and cold-start runs).
    SeedDb(seed::SeedArgs),
    /// Wait until a server accepts a WebSocket and says WELCOME; print the time taken.
    Wait(WaitArgs),
    /// Print a free TCP port on 127.0.0.1.
    FreePort,
    /// Wait until no core is busier than --max-busy percent for a second (exit 1 on timeout).
    Quiet {
        #[arg(long, default_value_t = run::BUSY_WARNING_PCT)]
        max_busy: f64,
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
    },
    /// Render a directory of results as markdown tables.
    Report(report::ReportArgs),
    /// Print saved `run --json` results as the human table.
    Show { files: Vec<std::path::PathBuf> },
}

#[derive(Debug, clap::Args)]
struct WaitArgs {
    /// WebSocket URL (loopback only).
    #[arg(long)]
    url: String,
    /// Give up after this many seconds (exit 1).
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// When the server was launched, ns since the UNIX epoch (`date +%s%N`):
    /// the time printed is measured from then instead of from our own start.
    #[arg(long)]
    since_ns: Option<u128>,
    /// Pause between attempts, ms.
    #[arg(long, default_value_t = 2)]
    interval_ms: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Run(args) => run::main(*args),
        Cmd::SeedDb(args) => seed::main(args).map(|()| 0),
        Cmd::Wait(args) => wait(args),
        Cmd::FreePort => free_port().map(|()| 0),
        Cmd::Quiet { max_busy, timeout } => Ok(quiet(max_busy, timeout)),
        Cmd::Report(args) => report::main(args).map(|()| 0),
        Cmd::Show { files } => report::show(&files).map(|()| 0),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("chaty-load: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn epoch_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos()
}

fn wait(a: WaitArgs) -> Result<i32> {
    let target = wire::Target::parse(&a.url)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let started = Instant::now();
    let limit = Duration::from_secs_f64(a.timeout.max(0.0));
    let mut last_error = String::from("no attempt made");
    let ready = runtime.block_on(async {
        while started.elapsed() < limit {
            let attempt = async {
                let tcp = tokio::net::TcpStream::connect(target.addr).await?;
                let (mut ws, _) = tokio_tungstenite::client_async(target.url.as_str(), tcp).await?;
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Text(_))) => return Ok::<_, anyhow::Error>(()),
                        Some(Ok(_)) => {}
                        Some(Err(e)) => bail!("read: {e}"),
                        None => bail!("closed before the first frame"),
                    }
                }
            };
            match tokio::time::timeout(Duration::from_secs(5), attempt).await {
                Ok(Ok(())) => return true,
                Ok(Err(e)) => last_error = format!("{e:#}"),
                Err(_) => last_error = "no first frame within 5 s".into(),
            }
            tokio::time::sleep(Duration::from_millis(a.interval_ms)).await;
        }
        false
    });
    if !ready {
        eprintln!("chaty-load wait: {} not ready after {} s: {last_error}", a.url, a.timeout);
        return Ok(1);
    }
    let ms = match a.since_ns {
        Some(since) => epoch_ns().saturating_sub(since) as f64 / 1e6,
        None => started.elapsed().as_secs_f64() * 1000.0,
    };
    println!("{ms:.1}");
    Ok(0)
}

fn quiet(max_busy: f64, timeout: f64) -> i32 {
    let started = Instant::now();
    let mut busy = Vec::new();
    while started.elapsed().as_secs_f64() < timeout.max(1.0) {
        let before = procfs::cpu_ticks_per_core();
        std::thread::sleep(Duration::from_secs(1));
        busy = procfs::busy_pct(&before, &procfs::cpu_ticks_per_core());
        if busy.iter().all(|&b| b <= max_busy) {
            return 0;
        }
    }
    let busy: Vec<String> = busy.iter().map(|b| format!("{b:.0}")).collect();
    println!("{}", busy.join(" / "));
    1
}

fn free_port() -> Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0")?;
    println!("{}", listener.local_addr()?.port());
    Ok(())
}
