//! `chaty-server`: parses flags and runs the library until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chaty_server::cli::{self, Listen};
use chaty_server::config::LiveConfig;
use chaty_server::{Config, Registration, Store, lifecycle};
use clap::{ArgAction, Parser};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// A self-hosted chat server: WebSocket + JSON, SQLite inside (or PostgreSQL).
/// With no command it serves, as `chaty-server serve` does.
#[derive(Debug, Parser)]
#[command(name = "chaty-server", version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Serve,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(Box<Serve>),
    /// Ask a running server whether it is ready (GET /readyz): exit 0 when it
    /// is, 1 when not. For container health checks, where there is no curl.
    Healthcheck {
        /// The server, or its readiness URL (no path means /readyz).
        #[arg(long, env = "CHATY_HEALTHCHECK_URL", default_value = "http://127.0.0.1:8181/readyz")]
        url: String,
    },
    #[command(flatten)]
    Admin(chaty_server::admin::Command),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// The server's settings.
#[derive(Debug, Clone, clap::Args)]
struct Serve {
    /// Address to listen on, HOST:PORT or :PORT for every interface (HTTP and WebSocket share it).
    #[arg(long, env = "CHATY_LISTEN", default_value = "127.0.0.1:8181", value_name = "HOST:PORT")]
    listen: Listen,
    /// A TOML file with any of these settings, each key named like its flag
    /// in snake_case (rate_limit = 100). Flags and environment variables win
    /// over it; SIGHUP reads it again (see docs/deploy.md).
    #[arg(long, env = "CHATY_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics, on a listener of its
    /// own (keep it off the internet). Off by default.
    #[arg(long, env = "CHATY_METRICS_LISTEN", value_name = "HOST:PORT")]
    metrics_listen: Option<Listen>,
    /// SQLite database file, or a PostgreSQL URL
    /// (postgres://user[:password]@host:port/dbname[?sslmode=require])
    /// [default: <data dir>/chaty/chaty.db].
    #[arg(long, env = "CHATY_DB")]
    db: Option<PathBuf>,
    /// Redis shared by every node of a cluster (redis://host:port/ or
    /// rediss://… for TLS): turns on cross-node fan-out. Needs a PostgreSQL --db.
    #[arg(long, env = "CHATY_REDIS", value_name = "URL", value_parser = redis_url)]
    redis: Option<String>,
    /// CA certificates (PEM) that a rediss:// server's certificate must chain
    /// to, instead of the system's roots.
    #[arg(long, env = "CHATY_REDIS_CA", value_name = "FILE", requires = "redis")]
    redis_ca: Option<PathBuf>,
    /// Let seed-protocol clients chat without an account (JOIN_ROOM with a userId).
    /// (The variable takes 1/0, true/false, yes/no, on/off.)
    #[arg(long, env = "CHATY_ALLOW_GUESTS", action = ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    allow_guests: bool,
    /// Whether anyone may REGISTER an account.
    #[arg(long, env = "CHATY_REGISTRATION", value_enum, default_value = "open")]
    registration: Registration,
    /// Frames one connection may send per second (bursts of four times that).
    #[arg(long, env = "CHATY_RATE_LIMIT", default_value_t = 100, value_name = "FRAMES",
          value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit: u32,
    /// Largest file upload, in MiB.
    #[arg(long, env = "CHATY_MAX_UPLOAD_MIB", default_value_t = 25, value_name = "MIB",
          value_parser = clap::value_parser!(u64).range(1..))]
    max_upload_mib: u64,
    /// Open connections allowed from one address (more get HTTP 429).
    #[arg(long, env = "CHATY_MAX_CONNECTIONS_PER_IP", default_value_t = 1000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    max_connections_per_ip: u64,
    /// A reverse proxy whose X-Forwarded-For header names the
    /// client (an address or CIDR; repeat it, or comma-separate the variable).
    #[arg(long = "trusted-proxy", env = "CHATY_TRUSTED_PROXIES", value_name = "CIDR",
          value_delimiter = ',', value_parser = chaty_server::proxy::parse_cidr)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// PEM certificate chain: serve wss:// and https:// (needs --tls-key).
    #[arg(long, env = "CHATY_TLS_CERT", requires = "tls_key", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "CHATY_TLS_KEY", requires = "tls_cert", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Delete messages older than this many days (0: keep them forever); a
    /// room's own limit (chaty-server room set ROOM --retention-days N) wins.
    #[arg(long, env = "CHATY_RETENTION_DAYS", default_value_t = 0, value_name = "DAYS")]
    retention_days: u32,
    /// Log filter for stderr, e.g. `info` or `chaty_server=debug`.
    #[arg(long, env = "CHATY_LOG", default_value = "info")]
    log: String,
    /// Log lines as plain text, or as one JSON object each (for log shippers).
    #[arg(long, env = "CHATY_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
}

fn main() -> ExitCode {
    let cli = match cli::parse::<Cli>() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let serve = match cli.command {
        None => cli.serve,
        Some(Command::Serve(serve)) => *serve,
        Some(Command::Healthcheck { url }) => return healthcheck(&url),
        Some(Command::Admin(command)) => return chaty_server::admin::run(command),
    };
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    match start(serve, args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chaty-server: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `chaty-server healthcheck`: 0 ready, 1 not, 2 a bad URL.
fn healthcheck(url: &str) -> ExitCode {
    let target = match chaty_server::healthcheck::parse(url) {
        Ok(target) => target,
        Err(e) => {
            eprintln!("chaty-server healthcheck: {e}");
            return ExitCode::from(2);
        }
    };
    let checked = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| runtime.block_on(chaty_server::healthcheck::check(&target)));
    match checked {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chaty-server healthcheck: not ready: {e}");
            ExitCode::from(1)
        }
    }
}

/// Replaces the log filter in use (SIGHUP).
type SetFilter = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

fn log_filter(cli: &Serve) -> anyhow::Result<EnvFilter> {
    EnvFilter::try_new(&cli.log).with_context(|| format!("bad --log value {:?}", cli.log))
}

/// Starts logging to stderr; returns how to change the filter later.
fn start_logs(cli: &Serve) -> anyhow::Result<SetFilter> {
    let logs = tracing_subscriber::fmt().with_env_filter(log_filter(cli)?).with_writer(std::io::stderr);
    Ok(match cli.log_format {
        // Colours for a person at a terminal; plain text for journald and log files.
        LogFormat::Text => {
            let logs = logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).with_filter_reloading();
            let handle = logs.reload_handle();
            logs.init();
            Box::new(move |filter| handle.reload(filter).map_err(|e| e.to_string()))
        }
        // One object per line; a connection's span (id, peer, user) as `span`.
        LogFormat::Json => {
            let logs = logs.json().with_current_span(true).with_span_list(false).with_filter_reloading();
            let handle = logs.reload_handle();
            logs.init();
            Box::new(move |filter| handle.reload(filter).map_err(|e| e.to_string()))
        }
    })
}

/// The settings `cli` gives (reading the TLS certificate and key).
fn settings(cli: &Serve) -> anyhow::Result<Config> {
    let tls = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => Some(chaty_server::tls::server_config(cert, key)?),
        _ => None,
    };
    Ok(Config {
        allow_guests: cli.allow_guests,
        registration: cli.registration,
        max_upload_bytes: cli.max_upload_mib.saturating_mul(1024 * 1024),
        max_connections_per_ip: usize::try_from(cli.max_connections_per_ip).unwrap_or(usize::MAX),
        frames_per_sec: cli.rate_limit,
        frame_burst: cli.rate_limit.saturating_mul(4),
        tls,
        trusted_proxies: cli.trusted_proxies.clone(),
        retention_days: cli.retention_days,
        ..Config::default()
    })
}

/// SIGHUP: the command line and environment as at start, the config file
/// as it is now. What cannot change while running is named, and waits for
/// a restart.
fn reloader(args: Vec<String>, before: Serve, live: Arc<LiveConfig>, set_filter: SetFilter) -> lifecycle::Reload {
    Box::new(move || {
        let now = match cli::parse_from::<Cli>(&args) {
            Ok(Cli { command: None, serve }) => serve,
            Ok(Cli { command: Some(Command::Serve(serve)), .. }) => *serve,
            Ok(_) | Err(cli::Parsed::Shown) => return Err("the command line is not a server's".into()),
            Err(cli::Parsed::Bad(e)) => return Err(e),
        };
        let filter = log_filter(&now).map_err(|e| format!("{e:#}"))?;
        let config = settings(&now).map_err(|e| format!("{e:#}"))?;
        let at_restart: Vec<&str> = [
            ("listen", format!("{:?}", before.listen) != format!("{:?}", now.listen)),
            ("db", before.db != now.db),
            ("redis", before.redis != now.redis || before.redis_ca != now.redis_ca),
            ("metrics_listen", format!("{:?}", before.metrics_listen) != format!("{:?}", now.metrics_listen)),
            ("log_format", before.log_format != now.log_format),
            ("max_connections_per_ip", before.max_connections_per_ip != now.max_connections_per_ip),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect();
        live.set(config);
        set_filter(filter)?;
        let mut what = format!(
            "registration {:?}, rate_limit {}, max_upload_mib {}, retention_days {}, log {:?}, tls {}",
            now.registration,
            now.rate_limit,
            now.max_upload_mib,
            now.retention_days,
            now.log,
            if now.tls_cert.is_some() { "certificate re-read" } else { "off" }
        );
        if !at_restart.is_empty() {
            what.push_str(&format!("; {} take effect at the next restart", at_restart.join(", ")));
        }
        Ok(what)
    })
}

fn start(cli: Serve, args: Vec<String>) -> anyhow::Result<()> {
    let set_filter = start_logs(&cli)?;

    // Everything that can fail without touching the disk comes first: a
    // start that fails creates no database.
    let db = match cli.db.clone() {
        Some(path) => path,
        None => {
            chaty_server::config::default_db_path().context("no home directory to keep the database in; pass --db")?
        }
    };
    if cli.redis.is_some() && !chaty_server::store::postgres::is_url(&db.to_string_lossy()) {
        anyhow::bail!(
            "--redis needs a PostgreSQL --db (postgres://…): the nodes of a cluster share one database, \
             and {} is a SQLite file",
            db.display()
        );
    }
    let config = settings(&cli)?;
    let scheme = if config.tls.is_some() { "wss" } else { "ws" };
    let allow_guests = config.allow_guests;
    let live = LiveConfig::new(config);

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = cli.listen.bind().await.map_err(anyhow::Error::msg)?;
        let addr = listener.local_addr()?;
        let metrics = match &cli.metrics_listen {
            Some(at) => Some(at.bind().await.map_err(|e| anyhow::anyhow!("--metrics-listen: {e}"))?),
            None => None,
        };
        let redis = match &cli.redis {
            Some(url) => Some(
                chaty_server::fanout::redis::Redis::connect(url, cli.redis_ca.as_deref())
                    .await
                    .map_err(anyhow::Error::msg)?,
            ),
            None => None,
        };
        let store = open_store(&db, redis.is_some()).await?;
        let shutdown = CancellationToken::new();
        let reload = reloader(args, cli.clone(), live.clone(), set_filter);
        lifecycle::watch_signals(shutdown.clone(), reload).context("cannot watch signals")?;
        let shown = chaty_server::store::postgres::redact(&db.to_string_lossy());
        println!("chaty-server listening on {scheme}://{addr}/ws (database: {shown})");
        if allow_guests {
            println!("guests allowed: seed-protocol clients may JOIN_ROOM with a userId");
        }
        if let Some(url) = &cli.redis {
            println!("cluster fan-out through Redis at {}", chaty_server::fanout::redis::redact(url));
        }
        if let Some(metrics) = metrics {
            println!("metrics at http://{}/metrics", metrics.local_addr()?);
            tokio::spawn(chaty_server::metrics::serve(metrics, shutdown.clone()));
        }
        lifecycle::ready();
        lifecycle::keep_watchdog(shutdown.clone());
        chaty_server::run_on(listener, store, redis, live, shutdown).await?;
        tracing::info!("stopped cleanly");
        Ok(())
    })
}

/// A `redis://` or `rediss://` URL.
fn redis_url(value: &str) -> Result<String, String> {
    if value.starts_with("redis://") || value.starts_with("rediss://") {
        Ok(value.to_string())
    } else {
        Err("expected redis://host:port/ or rediss://host:port/".to_string())
    }
}

/// Creates the database's directory (private) and opens the database, with
/// one-line errors that name the path once.
async fn open_store(db: &std::path::Path, shared_fanout: bool) -> anyhow::Result<Store> {
    let text = db.to_string_lossy();
    if chaty_server::store::postgres::is_url(&text) {
        let shown = chaty_server::store::postgres::redact(&text);
        return Store::open_url(&text, shared_fanout)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database {shown}: {}", e.reason()));
    }
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        chaty_server::private::create_dir_all(dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the database directory {}: {}",
                dir.display(),
                chaty_server::error::io_reason(&e)
            )
        })?;
    }
    Store::open(db).map_err(|e| anyhow::anyhow!("cannot open the database {}: {}", db.display(), e.reason()))
}
