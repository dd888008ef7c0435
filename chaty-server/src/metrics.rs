//! What the server counts, for `--metrics-listen` (Prometheus text format).
//!
//! One process-wide set of atomic counters, counting only once
//! `--metrics-listen` turned them on ([`enable`]): off, each event costs one
//! relaxed load of a flag; on, a relaxed atomic add (one per delivered frame,
//! a few per message). Nothing is computed until `/metrics` is scraped. Labels are
//! bounded sets only (a frame type, an error code): never a room or a user.
//! The names are documented in docs/deploy.md.

use std::sync::LazyLock;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labelled = Family<[(&'static str, &'static str); 1], Counter>;

pub struct Metrics {
    pub connections: Gauge,
    pub messages_stored: Counter,
    pub deliveries: Counter,
    pub commit_seconds: Histogram,
    frames_received: Labelled,
    errors_sent: Labelled,
    pub slow_consumers: Counter,
    pub rate_limited: Counter,
    pub logins_failed: Counter,
    registry: Registry,
}

impl Metrics {
    fn new() -> Self {
        let mut m = Self {
            connections: Gauge::default(),
            messages_stored: Counter::default(),
            deliveries: Counter::default(),
            // 0.25 ms to about 4 s.
            commit_seconds: Histogram::new(exponential_buckets(0.000_25, 2.0, 15)),
            frames_received: Labelled::default(),
            errors_sent: Labelled::default(),
            slow_consumers: Counter::default(),
            rate_limited: Counter::default(),
            logins_failed: Counter::default(),
            registry: Registry::with_prefix("chaty"),
        };
        let r = &mut m.registry;
        r.register("connections", "Open WebSocket connections", m.connections.clone());
        r.register("messages_stored", "Chat messages committed (retries not counted)", m.messages_stored.clone());
        r.register("deliveries", "Frames queued to connections", m.deliveries.clone());
        r.register("commit_seconds", "From a CHAT_MESSAGE's arrival to its commit", m.commit_seconds.clone());
        r.register(
            "frames_received",
            "Client frames, by type (unknown: a type that is none; unparsed: not JSON with a type)",
            m.frames_received.clone(),
        );
        r.register("errors_sent", "ERROR frames sent, by code", m.errors_sent.clone());
        r.register("slow_consumers", "Connections closed for not reading (1008)", m.slow_consumers.clone());
        r.register("rate_limited", "Refusals for a rate limit or connection cap", m.rate_limited.clone());
        r.register("logins_failed", "LOGIN attempts with a wrong name or password", m.logins_failed.clone());
        m
    }

    pub fn frame_received(&self, kind: &'static str) {
        self.frames_received.get_or_create(&[("type", kind)]).inc();
    }

    pub fn error_sent(&self, code: &'static str) {
        self.errors_sent.get_or_create(&[("code", code)]).inc();
    }

    /// Everything, in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

static ON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Starts counting (`--metrics-listen`).
pub fn enable() {
    ON.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Counts an event, if counting is on.
#[inline]
pub fn count(event: impl FnOnce(&Metrics)) {
    if ON.load(std::sync::atomic::Ordering::Relaxed) {
        event(metrics());
    }
}

/// The `type` label of a client frame that did not parse: its `type` when
/// that names a frame (its fields were wrong), `unknown` for any other
/// `type`, `unparsed` when it is not a JSON object with a string `type`.
/// (A bounded set: never the client's own text.)
pub fn frame_type(text: &str) -> &'static str {
    #[derive(serde::Deserialize)]
    struct Typed<'a> {
        #[serde(borrow, rename = "type")]
        kind: std::borrow::Cow<'a, str>,
    }
    match serde_json::from_str::<Typed<'_>>(text) {
        Ok(t) => chaty_proto::CLIENT_TYPES.iter().find(|name| **name == t.kind).copied().unwrap_or("unknown"),
        Err(_) => "unparsed",
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

/// Serves `GET /metrics` on `listener` until `shutdown` (and turns counting on).
pub async fn serve(listener: tokio::net::TcpListener, shutdown: tokio_util::sync::CancellationToken) {
    enable();
    use axum::routing::get;
    let router = axum::Router::new().route(
        "/metrics",
        get(|| async {
            // What the encoder writes: OpenMetrics text (`# EOF`, counters
            // typed under their name without `_total`).
            (
                [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
                metrics().render(),
            )
        }),
    );
    let served = axum::serve(listener, router).with_graceful_shutdown(async move { shutdown.cancelled().await });
    if let Err(e) = served.await {
        tracing::warn!("the metrics listener stopped: {e}");
    }
}
