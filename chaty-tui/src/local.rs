//! `--local`: a chaty server on this machine, found or started.
//!
//! If a chaty server already answers on 127.0.0.1:8181 (its `/healthz` says
//! `"status":"ok"`), the client joins it, so that everyone who types
//! `chaty-tui --local` meets on one server. Otherwise the client starts one
//! inside itself, with a database of its own (not `chaty-server`'s default),
//! on 8181 — or, when something that is not chaty holds 8181, on a free port,
//! and says so: the address is always on screen.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Where `--local` looks for, or starts, its server.
pub const LOCAL_ADDR: &str = "127.0.0.1:8181";
/// How long the probe waits for an answer from whatever holds the port.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    /// Where to connect.
    pub url: String,
    /// One line for the screen: which server this is and where.
    pub status: String,
    /// Whether this client runs it (it stops when the client quits).
    pub embedded: bool,
}

/// Joins the chaty server on `addr` or starts one (database `db`), as the
/// module says. The embedded server stops with `shutdown`.
pub async fn find_or_start(addr: SocketAddr, db: &Path, shutdown: CancellationToken) -> Result<Local> {
    let (listener, taken) = match TcpListener::bind(addr).await {
        Ok(listener) => (listener, None),
        Err(bind_error) => match probe(addr, PROBE_TIMEOUT).await {
            Probe::Chaty { version } => {
                tracing::info!("--local: joining the chaty server {version} on {addr}");
                return Ok(Local {
                    url: format!("ws://{addr}/ws"),
                    status: format!("local: the chaty server on {addr}"),
                    embedded: false,
                });
            }
            Probe::Other(why) => {
                tracing::warn!("--local: {addr} is taken ({bind_error}) and not by chaty: {why}");
                let any = SocketAddr::new(addr.ip(), 0);
                let listener =
                    TcpListener::bind(any).await.with_context(|| format!("cannot listen on {}", addr.ip()))?;
                (listener, Some(addr.port()))
            }
        },
    };
    let at = listener.local_addr()?;
    if let Some(dir) = db.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let store = chaty_server::Store::open(db).with_context(|| format!("cannot open {}", db.display()))?;
    tracing::info!("--local: server on {at}, database {}", db.display());
    tokio::spawn(async move {
        if let Err(e) = chaty_server::run(listener, store, chaty_server::Config::default(), shutdown).await {
            tracing::error!("local server stopped: {e}");
        }
    });
    let status = match taken {
        None => format!("local server {at}"),
        Some(port) => format!("local server {at} ({port} is taken, not by chaty)"),
    };
    Ok(Local { url: format!("ws://{at}/ws"), status, embedded: true })
}
