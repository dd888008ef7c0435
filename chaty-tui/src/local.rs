//! `--local`: a chaty server on this machine, found or started.
//!
//! Everyone who types `chaty-tui --local` (as the same user, whatever the
//! profile) must meet on one server. In order, the client:
//!
//! 1. joins the chaty server on 127.0.0.1:8181 if one answers there (its
//!    `/healthz` says `"status":"ok"`);
//! 2. joins the server another `chaty-tui --local` started inside itself:
//!    that client holds a lock on `<data dir>/local/server.lock` for as long
//!    as its server runs and records the server's address in
//!    `<data dir>/local/server.json` (private, 0600). The address is used only
//!    while the lock is held and a chaty answers its `/healthz` there; a file
//!    left by a client that is gone (the lock is free) is stale and replaced;
//! 3. otherwise starts one inside itself, with a database of its own
//!    (`<data dir>/local/chaty.db`, not `chaty-server`'s default), on 8181 —
//!    or, when something that is not chaty holds 8181, on a free port, and
//!    says so: the address is always on screen.
//!
//! The lock also means two embedded servers never open the local database at
//! once. The host removes `server.json` when it stops ([`Host::stop`]).

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Where `--local` looks for, or starts, its server.
pub const LOCAL_ADDR: &str = "127.0.0.1:8181";
/// How long the probe waits for an answer from whatever holds the port.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a client waits for the server another client is starting (it
/// holds the lock but has not recorded an answering address yet).
pub const HOST_WAIT: Duration = Duration::from_secs(10);
/// How long [`Host::stop`] waits for the embedded server to close its database.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// What answers on an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A chaty server, of this version.
    Chaty { version: String },
    /// Something else: it says why it is not taken for chaty.
    Other(String),
}

/// Asks `addr` for `GET /healthz`: a chaty server answers JSON with
/// `"status": "ok"` and its `version`; anything else, or no answer within
/// `timeout`, is something else.
pub async fn probe(addr: SocketAddr, timeout: Duration) -> Probe {
    match tokio::time::timeout(timeout, healthz(addr)).await {
        Ok(Ok(version)) => Probe::Chaty { version },
        Ok(Err(e)) => Probe::Other(format!("{e:#}")),
        Err(_) => Probe::Other(format!("no answer to GET /healthz within {} s", timeout.as_secs())),
    }
}

async fn healthz(addr: SocketAddr) -> Result<String> {
    let tcp = tokio::net::TcpStream::connect(addr).await.with_context(|| format!("cannot reach {addr}"))?;
    let request = hyper::Request::get("/healthz").header("Host", addr.to_string()).body(Empty::<Bytes>::new())?;
    let response = crate::transfer::exchange(tcp, request).await.context("not HTTP")?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "GET /healthz answered HTTP {status}");
    let body = Limited::new(response.into_body(), 64 * 1024)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading /healthz: {e}"))?
        .to_bytes();
    let health: serde_json::Value = serde_json::from_slice(&body).context("/healthz is not JSON")?;
    anyhow::ensure!(health["status"] == "ok", "/healthz does not say \"status\":\"ok\"");
    let version = health["version"].as_str().context("/healthz has no version")?;
    Ok(version.to_string())
}

/// The server `--local` ended up with.
#[derive(Debug)]
pub struct Local {
    /// Where to connect.
    pub url: String,
    /// One line for the screen: which server this is and where.
    pub status: String,
    /// Set when this client runs the server (it stops when the client quits).
    pub host: Option<Host>,
}

impl Local {
    /// Whether this client runs the server.
    pub fn embedded(&self) -> bool {
        self.host.is_some()
    }
}

/// What `server.json` says: where the embedded server listens, and which
/// process runs it (for people reading the file).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub url: String,
    pub pid: u32,
}

/// The files next to the local database.
fn record_file(db: &Path) -> PathBuf {
    db.with_file_name("server.json")
}

fn lock_file(db: &Path) -> PathBuf {
    db.with_file_name("server.lock")
}

/// The embedded server this client runs: while it lives, it holds the lock
/// and its address is in `server.json`.
#[derive(Debug)]
pub struct Host {
    record: PathBuf,
    url: String,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Held (locked) until dropped.
    _lock: File,
}

impl Host {
    /// Stops the server, waits (a bounded time) for it to close its
    /// database, then removes `server.json` and frees the lock.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            if tokio::time::timeout(STOP_TIMEOUT, task).await.is_err() {
                tracing::warn!("--local: the server did not stop within {} s", STOP_TIMEOUT.as_secs());
            }
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.shutdown.cancel();
        // Only our own record: never one a later host wrote.
        if read_record(&self.record).is_some_and(|r| r.url == self.url) {
            let _ = std::fs::remove_file(&self.record);
        }
    }
}

/// `server.json`, if it is there and readable.
pub fn read_record(path: &Path) -> Option<Record> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// The address in a `ws://ADDR/ws` URL.
fn url_addr(url: &str) -> Option<SocketAddr> {
    url.strip_prefix("ws://")?.strip_suffix("/ws")?.parse().ok()
}

/// Opens (creating it private) and tries to lock the lock file: `None`
/// when another process holds it. The lock (flock) goes with the process:
/// a client that dies frees it.
fn try_lock(path: &Path) -> Result<Option<File>> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, chaty_server::private::FILE_MODE);
    let file = options.open(path).with_context(|| format!("cannot open {}", path.display()))?;
    #[cfg(unix)]
    {
        use rustix::fs::{FlockOperation, flock};
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(file)),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(std::io::Error::from(e)).with_context(|| format!("cannot lock {}", path.display())),
        }
    }
    // Elsewhere there is no lock: the recorded address alone finds the host.
    #[cfg(not(unix))]
    Ok(Some(file))
}

/// The recorded server, if a chaty answers at its address.
async fn recorded_chaty(record: &Path) -> Option<(SocketAddr, String)> {
    let addr = url_addr(&read_record(record)?.url)?;
    match probe(addr, PROBE_TIMEOUT).await {
        Probe::Chaty { version } => Some((addr, version)),
        Probe::Other(why) => {
            tracing::info!("--local: {} names {addr}, where no chaty answers: {why}", record.display());
            None
        }
    }
}

/// Joins the chaty server on `addr`, or the one another client runs on the
/// database `db`, or starts one there, as the module says. The embedded
/// server stops with `shutdown` or [`Host::stop`].
pub async fn find_or_start(addr: SocketAddr, db: &Path, shutdown: CancellationToken) -> Result<Local> {
    // Private whatever the umask: it holds the database and the server's address.
    let dir = db.parent().context("the local database has no directory")?;
    chaty_server::private::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (listener, taken) = match TcpListener::bind(addr).await {
        Ok(listener) => (Some(listener), None),
        Err(bind_error) => match probe(addr, PROBE_TIMEOUT).await {
            Probe::Chaty { version } => {
                tracing::info!("--local: joining the chaty server {version} on {addr}");
                return Ok(Local {
                    url: format!("ws://{addr}/ws"),
                    status: format!("local: the chaty server on {addr}"),
                    host: None,
                });
            }
            Probe::Other(why) => {
                tracing::warn!("--local: {addr} is taken ({bind_error}) and not by chaty: {why}");
                (None, Some(addr.port()))
            }
        },
    };
    let (record, lock) = (record_file(db), lock_file(db));
    let deadline = tokio::time::Instant::now() + HOST_WAIT;
    let lock = loop {
        let mut locked = try_lock(&lock)?;
        if cfg!(unix) {
            // Free: no other client runs a server here, whatever the record says.
            if let Some(file) = locked.take() {
                break file;
            }
        }
        // Another client runs the server: join it once it answers.
        if let Some((at, version)) = recorded_chaty(&record).await {
            tracing::info!("--local: joining the chaty server {version} another chaty-tui runs on {at}");
            return Ok(Local {
                url: format!("ws://{at}/ws"),
                status: format!("local: the chaty server on {at} (another chaty-tui runs it)"),
                host: None,
            });
        }
        if let Some(file) = locked {
            // Not unix, so no lock: an address that does not answer is stale.
            break file;
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "another chaty-tui --local runs the local server (it holds {}), but it does not answer at the \
                 address in {}; quit that client, or wait and try again",
                lock.display(),
                record.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let listener = match listener {
        Some(listener) => listener,
        None => {
            let any = SocketAddr::new(addr.ip(), 0);
            TcpListener::bind(any).await.with_context(|| format!("cannot listen on {}", addr.ip()))?
        }
    };
    let at = listener.local_addr()?;
    let store = chaty_server::Store::open(db).with_context(|| format!("cannot open {}", db.display()))?;
    tracing::info!("--local: server on {at}, database {}", db.display());
    let server = shutdown.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = chaty_server::run(listener, store, chaty_server::Config::default(), server).await {
            tracing::error!("local server stopped: {e}");
        }
    });
    let url = format!("ws://{at}/ws");
    // From here on, dropping the host stops the server and removes the record.
    let host = Host { record: record.clone(), url: url.clone(), shutdown, task: Some(task), _lock: lock };
    let json = serde_json::to_string_pretty(&Record { url: url.clone(), pid: std::process::id() })?;
    crate::config::write_private(&record, &json)?;
    let status = match taken {
        None => format!("local server {at}"),
        Some(port) => format!("local server {at} ({port} is taken, not by chaty)"),
    };
    Ok(Local { url, status, host: Some(host) })
}
