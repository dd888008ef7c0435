//! The listener: HTTP/1.1 and WebSocket on one port (hyper + axum), the
//! accept loop with its handshake timeout, and graceful shutdown.
//!
//! Shutdown: stop accepting, tell every connection (close 1001), wait for
//! them, then let the store writer commit what it holds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chaty_proto::{ErrorCode, MAX_FRAME_BYTES, ServerFrame};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, LiveConfig};
use crate::connection::{self, Context, PreAuth};
use crate::fanout::{Fanout, redis::Redis};
use crate::limits::IpCaps;
use crate::store::Store;

/// Per-connection WebSocket buffers: small, because most connections are
/// idle most of the time; frames are small and writes are batched anyway.
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = 2 * 1024;

/// Largest HTTP request head accepted (the upgrade request), bytes.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// What the listener keeps: the connections' shared [`Context`], and the
/// listener's own counters and limits.
pub struct Shared {
    pub ctx: Arc<Context>,
    ip_caps: Arc<IpCaps>,
    started: Instant,
    open: AtomicUsize,
    tracker: TaskTracker,
}

impl Shared {
    pub fn new(store: Store, fanout: Fanout, config: Arc<LiveConfig>, shutdown: CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            ip_caps: IpCaps::new(config.get().max_connections_per_ip),
            ctx: Context::new(store, fanout, config, shutdown),
            started: Instant::now(),
            open: AtomicUsize::new(0),
            tracker: TaskTracker::new(),
        })
    }
}

/// Serves `listener` until `shutdown` is cancelled, then closes every
/// connection and the store. The caller binds the listener, so tests can use
/// port 0.
pub async fn run(
    listener: TcpListener,
    store: Store,
    config: Config,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    run_on(listener, store, None, LiveConfig::new(config), shutdown).await
}

/// [`run`] as one node of a cluster when `redis` is given (the store is
/// then the shared PostgreSQL database).
pub async fn run_on(
    listener: TcpListener,
    store: Store,
    redis: Option<Arc<Redis>>,
    config: Arc<LiveConfig>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let fanout = match redis {
        None => Fanout::local(),
        Some(redis) => Fanout::clustered(redis, store.clone(), shutdown.clone()),
    };
    let clustered = fanout.cluster().is_some();
    let shared = Shared::new(store, fanout, config.clone(), shutdown.clone());
    if clustered {
        shared.tracker.spawn(connection::departures(shared.ctx.clone()));
    }
    shared.tracker.spawn(connection::admin_events(shared.ctx.clone()));
    shared.tracker.spawn(shared.ctx.busy.clone().watch(shutdown.clone()));
    shared.tracker.spawn(crate::retention::run(shared.ctx.store.clone(), config.clone(), shutdown.clone()));
    let router = Router::new()
        .route("/", get(upgrade))
        .route("/ws", get(upgrade))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/files", axum::routing::put(crate::files::upload))
        .route("/files/{id}", get(crate::files::download))
        .with_state(shared.clone());

    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone().layer(axum::Extension(Peer(peer))));
        let shared = shared.clone();
        match shared.ctx.config().tls.clone() {
            None => shared.tracker.clone().spawn(serve_http(stream, peer, service, shared)),
            Some(tls) => shared.tracker.clone().spawn(async move {
                // The TLS handshake counts against the handshake timeout too.
                let accept = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
                match tokio::time::timeout(shared.ctx.config().handshake_timeout, accept).await {
                    Ok(Ok(tls_stream)) => serve_http(tls_stream, peer, service, shared).await,
                    Ok(Err(e)) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
                    Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
                }
            }),
        };
    }

    drop(listener);
    shared.tracker.close();
    shared.tracker.wait().await;
    shared.ctx.fanout.close().await;
    let store = shared.ctx.store.clone();
    drop(shared);
    store.close().await;
    Ok(())
}

async fn serve_http<I>(stream: I, peer: SocketAddr, service: TowerToHyperService<Router>, shared: Arc<Shared>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.ctx.config().handshake_timeout)
        .max_buf_size(MAX_REQUEST_HEAD);
    let conn = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!("http connection from {peer}: {e}");
            }
        }
        () = shared.ctx.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// The client's address, attached to every request of its connection.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

#[derive(serde::Deserialize)]
pub struct TokenQuery {
    pub token: Option<String>,
}

/// The token of a request: `Authorization: Bearer …`, else `?token=`.
fn request_token(headers: &HeaderMap, query: Option<String>) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .or(query)
}

/// The sign-in a request's token proves, or the 401 to answer with.
pub async fn signed_in(
    shared: &Shared,
    headers: &HeaderMap,
    query: Option<String>,
) -> Result<crate::store::User, Response> {
    let Some(token) = request_token(headers, query) else {
        return Err(json_error(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, "send a bearer token"));
    };
    match shared.ctx.store.check_access(token).await {
        Ok(access) => Ok(access.user),
        Err(e) => {
            let refusal = e.to_refusal();
            Err(json_error(StatusCode::UNAUTHORIZED, refusal.code, &refusal.message))
        }
    }
}

pub fn json_error(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let body = ServerFrame::error(code, message).to_json(None);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    axum::Extension(Peer(peer)): axum::Extension<Peer>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(ws) = ws else {
        return (
            StatusCode::UPGRADE_REQUIRED,
            "chaty: this is a WebSocket endpoint; connect with a WebSocket client, e.g. websocat ws://HOST:PORT/ws\n",
        )
            .into_response();
    };
    if shared.ctx.shutdown.is_cancelled() {
        return json_error(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unsupported, "server is shutting down");
    }
    if shared.open.load(Ordering::Relaxed) >= shared.ctx.config().max_connections {
        crate::metrics::count(|m| {
            m.rate_limited.inc();
        });
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::RateLimited,
            "server is at its connection limit",
        );
    }
    // Behind a trusted proxy, the client is who the proxy says.
    let client = crate::proxy::client_ip(peer.ip(), &headers, &shared.ctx.config().trusted_proxies);
    let peer = if client == peer.ip() { peer } else { SocketAddr::new(client, 0) };
    let Some(slot) = shared.ip_caps.try_open(peer.ip()) else {
        crate::metrics::count(|m| {
            m.rate_limited.inc();
        });
        return json_error(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "too many connections from your address",
        );
    };
    let pre_auth = match request_token(&headers, query.token) {
        None => None,
        Some(token) => match shared.ctx.store.check_access(token.clone()).await {
            Ok(access) => Some(PreAuth { access, token }),
            Err(e) => {
                let refusal = e.to_refusal();
                return json_error(StatusCode::UNAUTHORIZED, refusal.code, &refusal.message);
            }
        },
    };
    let tracker = shared.tracker.clone();
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        // Small buffers: frames are small, and idle connections should cost little.
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| {
            tracker.track_future(async move {
                shared.open.fetch_add(1, Ordering::Relaxed);
                crate::metrics::count(|m| {
                    m.connections.inc();
                });
                connection::serve(socket, shared.ctx.clone(), pre_auth, peer).await;
                drop(slot);
                shared.open.fetch_sub(1, Ordering::Relaxed);
                crate::metrics::count(|m| {
                    m.connections.dec();
                });
            })
        })
}

/// Readiness for load balancers and container health checks: 200 when
/// writes go through, 503 (with the reason) when they do not.
async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let (status, body) = match shared.ctx.store.ready().await {
        Ok(()) => (StatusCode::OK, serde_json::json!({"status": "ready"})),
        Err(e) => {
            tracing::debug!("readiness: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, serde_json::json!({"status": "not ready", "reason": e.reason()}))
        }
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Liveness, and whether the database answers: 503 while it does not (a
/// load balancer then sends clients to another node).
async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    if let Err(e) = shared.ctx.store.ping().await {
        // Debug, not warn: load balancers ask every second or so, and the
        // failed writes meanwhile are logged as errors already.
        tracing::debug!("health check: the database does not answer: {e}");
        let body = serde_json::json!({
            "status": "unavailable",
            "reason": "the database does not answer",
            "version": env!("CARGO_PKG_VERSION"),
        });
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "application/json")], body.to_string())
            .into_response();
    }
    let body = serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSeconds": shared.started.elapsed().as_secs(),
        "connections": shared.open.load(Ordering::Relaxed),
        "epoch": shared.ctx.store.epoch(),
        "storeBehindMs": u64::try_from(shared.ctx.store.behind().as_millis()).unwrap_or(u64::MAX),
        "runtimeLagMs": u64::try_from(shared.ctx.busy.lag().as_millis()).unwrap_or(u64::MAX),
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}
