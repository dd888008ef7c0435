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

/// Buckets for the cluster's latencies: 50 µs to about 4 s, each 1.5× the
/// last (fine enough that a p99 read from them is within 25 %).
fn fine_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_05, 1.5, 29)
}

/// What a cluster node counts beyond one node's metrics: PostgreSQL's
/// side of posting, Redis's side of fan-out, and what the sequencer had to
/// do to keep each room in `seq` order. Zero on a node alone.
pub struct Cluster {
    /// A post batch's write transaction, sent to COMMIT answered: the room
    /// row's lock (waiting for other nodes' batches), the inserts and the
    /// WAL flush.
    pub pg_commit_seconds: Histogram,
    /// Posts stored per transaction.
    pub pg_batch_posts: Histogram,
    /// A committed message's publication (queued on the sending node) to
    /// its hand-over to the hub (through the sequencer) on a receiving node.
    pub redis_deliver_seconds: Histogram,
    /// Events dropped because the publish queue was full.
    pub redis_dropped: Counter,
    /// Committed messages that arrived before an earlier `seq` and waited.
    pub sequencer_held: Counter,
    /// How long a held message waited.
    pub sequencer_hold_seconds: Histogram,
    /// Reads of a gap from the database (an early message held past the
    /// hold, or a room behind the database at a sweep).
    pub sequencer_fills: Counter,
    /// Messages delivered from the database instead of Redis.
    pub sequencer_filled: Counter,
    /// Messages that arrived again after being delivered (dropped).
    pub sequencer_duplicates: Counter,
}

impl Default for Cluster {
    fn default() -> Self {
        Self {
            pg_commit_seconds: Histogram::new(fine_buckets()),
            pg_batch_posts: Histogram::new(exponential_buckets(1.0, 2.0, 8)),
            redis_deliver_seconds: Histogram::new(fine_buckets()),
            redis_dropped: Counter::default(),
            sequencer_held: Counter::default(),
            sequencer_hold_seconds: Histogram::new(fine_buckets()),
            sequencer_fills: Counter::default(),
            sequencer_filled: Counter::default(),
            sequencer_duplicates: Counter::default(),
        }
    }
}

impl Cluster {
    fn register(&self, r: &mut Registry) {
        r.register(
            "pg_commit_seconds",
            "A post batch's write transaction on PostgreSQL, sent to COMMIT answered",
            self.pg_commit_seconds.clone(),
        );
        r.register("pg_batch_posts", "Posts stored per PostgreSQL transaction", self.pg_batch_posts.clone());
        r.register(
            "redis_deliver_seconds",
            "From a message's publication on one node to its hand-over to the hub on another",
            self.redis_deliver_seconds.clone(),
        );
        r.register("redis_dropped", "Events not published: the queue to Redis was full", self.redis_dropped.clone());
        r.register(
            "sequencer_held",
            "Messages that arrived before an earlier seq and waited",
            self.sequencer_held.clone(),
        );
        r.register("sequencer_hold_seconds", "How long a held message waited", self.sequencer_hold_seconds.clone());
        r.register("sequencer_fills", "Gaps read from the database", self.sequencer_fills.clone());
        r.register(
            "sequencer_filled",
            "Messages delivered from the database, not Redis",
            self.sequencer_filled.clone(),
        );
        r.register("sequencer_duplicates", "Messages dropped as already delivered", self.sequencer_duplicates.clone());
    }
}

pub struct Metrics {
    pub connections: Gauge,
    pub messages_stored: Counter,
    pub deliveries: Counter,
    pub commit_seconds: Histogram,
    pub cluster: Cluster,
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
            cluster: Cluster::default(),
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
        m.cluster.register(r);
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
