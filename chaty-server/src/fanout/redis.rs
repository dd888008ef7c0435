//! The Redis side of a cluster: one connection publishing this node's
//! events in order, one subscribed to everyone's, and the timers that keep
//! delivery whole when Redis drops something (the sequencer's filler and
//! sweep) and presence current (snapshots with a TTL).
//!
//! Redis is never the source of truth: while it is down, messages still
//! commit, and other nodes deliver them from the database at their next
//! sweep; on reconnecting, every room catches up from the database.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::event::{CHANNEL, Envelope, Event, PRESENCE_KEY};
use super::presence::{FORGET_AFTER, Remote, SNAPSHOT_EVERY};
use super::sequencer::{SWEEP_EVERY, Sequencer};
use crate::hub::Hub;
use crate::store::Store;

/// Events queued for publishing; past this, new ones are dropped (the
/// sweep and the snapshots repair what that loses).
const OUTGOING: usize = 65_536;
/// Events published per round trip.
const PUBLISH_BATCH: usize = 256;
/// How long a Redis command may take before it counts as failed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the filler looks again while something is missing.
const FILL_POLL: Duration = Duration::from_millis(20);

/// Presence changes this node learnt only from snapshots (their events were
/// lost), and whether it missed events altogether (it re-subscribed).
#[derive(Default)]
pub struct Repairs {
    pub appeared: Vec<super::event::Online>,
    pub vanished: Vec<super::event::Online>,
    pub resubscribed: bool,
}

impl Repairs {
    pub fn is_empty(&self) -> bool {
        self.appeared.is_empty() && self.vanished.is_empty() && !self.resubscribed
    }
}

pub struct Redis {
    /// This node's id in the database's `nodes` table, and the cluster's
    /// key prefix (see [`event::prefix`]); set by [`Redis::start`].
    names: std::sync::OnceLock<(String, String)>,
    url: String,
    client: redis::Client,
    outgoing: mpsc::Sender<String>,
    queue: std::sync::Mutex<Option<mpsc::Receiver<String>>>,
    manager: ConnectionManager,
    pub remote: Remote,
    pub sequencer: Sequencer,
    filler: Notify,
    /// What this node's clients were not told because events were lost.
    repairs: std::sync::Mutex<Repairs>,
    /// Held while a presence change is made and published, and while a
    /// snapshot is taken and published, so a snapshot never goes out before
    /// an event it already reflects (or after one it does not).
    order: std::sync::Mutex<()>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    crate::store::postgres::redact(url)
}

fn reason(e: &redis::RedisError) -> String {
    e.to_string()
}

impl Redis {
    /// Connects (or fails with a one-line reason naming the URL without its
    /// password). A `rediss://` server's certificate is verified against the
    /// platform's roots, or only the PEM certificates in `ca` when given.
    pub async fn connect(url: &str, ca: Option<&std::path::Path>) -> Result<Arc<Self>, String> {
        let shown = redact(url);
        let bad_url = |e: redis::RedisError| format!("bad Redis URL {shown}: {}", reason(&e));
        let client = match ca {
            None => redis::Client::open(url).map_err(bad_url)?,
            Some(ca) => {
                let pem = std::fs::read(ca)
                    .map_err(|e| format!("cannot read --redis-ca {}: {}", ca.display(), crate::error::io_reason(&e)))?;
                let certs = redis::TlsCertificates { client_tls: None, root_cert: Some(pem) };
                redis::Client::build_with_tls(url, certs).map_err(bad_url)?
            }
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let unreachable = |e: &dyn std::fmt::Display| format!("cannot reach Redis at {shown}: {e}");
        let mut manager = tokio::time::timeout(COMMAND_TIMEOUT * 2, client.get_connection_manager_with_config(config))
            .await
            .map_err(|_| unreachable(&"no answer within 4 s"))?
            .map_err(|e| unreachable(&reason(&e)))?;
        let _: String = tokio::time::timeout(COMMAND_TIMEOUT, redis::cmd("PING").query_async(&mut manager))
            .await
            .map_err(|_| unreachable(&"no answer within 2 s"))?
            .map_err(|e| unreachable(&reason(&e)))?;
        let (outgoing, queue) = mpsc::channel(OUTGOING);
        Ok(Arc::new(Self {
            names: std::sync::OnceLock::new(),
            url: url.to_string(),
            client: client.clone(),
            outgoing,
            queue: std::sync::Mutex::new(Some(queue)),
            manager,
            remote: Remote::default(),
            sequencer: Sequencer::default(),
            filler: Notify::new(),
            repairs: std::sync::Mutex::default(),
            order: std::sync::Mutex::default(),
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }))
    }

    /// A connection for other shared state (the login throttle).
    pub fn manager(&self) -> ConnectionManager {
        self.manager.clone()
    }

    fn node(&self) -> &str {
        self.names.get().map_or("", |(node, _)| node.as_str())
    }

    /// What every key and channel of this cluster starts with.
    pub fn prefix(&self) -> &str {
        self.names.get().map_or("chaty:", |(_, prefix)| prefix.as_str())
    }

    fn channel(&self) -> String {
        format!("{}{CHANNEL}", self.prefix())
    }

    fn presence_key(&self, node: &str) -> String {
        format!("{}{PRESENCE_KEY}{node}", self.prefix())
    }

    /// Queues `event` for the other nodes. Never waits.
    pub fn publish(&self, event: Event) {
        let envelope = Envelope { node: self.node().to_string(), sent_us: super::event::now_us(), event }.encode();
        if self.outgoing.try_send(envelope).is_err() {
            crate::metrics::count(|m| {
                m.cluster.redis_dropped.inc();
            });
            tracing::debug!("the Redis publish queue is full: dropping an event (the sweep repairs it)");
        }
    }

    /// Runs `change` (a presence change and its publication) in the order
    /// snapshots see.
    pub fn in_order<R>(&self, change: impl FnOnce() -> R) -> R {
        let _order = self.order.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        change()
    }

    /// What was learnt from snapshots since the last call.
    pub fn take_repairs(&self) -> Repairs {
        std::mem::take(&mut *self.repairs.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn repair(&self, node: &str, users: Vec<super::event::Online>) {
        let (appeared, vanished) = self.remote.snapshot(node, users);
        let mut repairs = self.repairs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        repairs.appeared.extend(appeared);
        repairs.vanished.extend(vanished);
    }

    /// Something is held: the filler should look soon.
    pub fn wake_filler(&self) {
        self.filler.notify_one();
    }

    /// Starts the tasks: publisher, subscriber, filler, sweep and snapshots.
    /// `node` is this node's id in the database.
    pub fn start(self: &Arc<Self>, node: &str, hub: Arc<Hub>, store: Store) {
        let _ = self.names.set((node.to_string(), super::event::prefix(store.epoch())));
        let queue = self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(queue) = queue {
            self.tasks.spawn(self.clone().publisher(queue));
        }
        self.tasks.spawn(self.clone().subscriber(hub.clone()));
        self.tasks.spawn(self.clone().filler(hub.clone(), store.clone()));
        self.tasks.spawn(self.clone().ticker(hub, store));
        self.tasks.close();
    }

    /// Stops every task (at shutdown, after connections closed).
    pub async fn close(&self) {
        self.stop.cancel();
        self.tasks.wait().await;
        let mut manager = self.manager.clone();
        let key = self.presence_key(self.node());
        let _ = tokio::time::timeout(COMMAND_TIMEOUT, manager.del::<_, ()>(key)).await;
    }

    async fn publisher(self: Arc<Self>, mut queue: mpsc::Receiver<String>) {
        let mut manager = self.manager.clone();
        let mut failing = false;
        let mut batch = Vec::with_capacity(PUBLISH_BATCH);
        let channel = self.channel();
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                n = queue.recv_many(&mut batch, PUBLISH_BATCH) => if n == 0 { return },
            }
            let mut pipe = redis::pipe();
            for event in batch.drain(..) {
                pipe.publish(&channel, event).ignore();
            }
            let sent = tokio::time::timeout(COMMAND_TIMEOUT, pipe.query_async::<()>(&mut manager)).await;
            match sent {
                Ok(Ok(())) if failing => {
                    failing = false;
                    tracing::info!("publishing to Redis again");
                }
                Ok(Ok(())) => {}
                Ok(Err(e)) if !failing => {
                    failing = true;
                    tracing::warn!(
                        "cannot publish to Redis ({e}): other nodes deliver from the database until it is back"
                    );
                }
                Err(_) if !failing => {
                    failing = true;
                    tracing::warn!("Redis did not answer a publish within 2 s: other nodes deliver from the database");
                }
                _ => {}
            }
        }
    }

    async fn subscriber(self: Arc<Self>, hub: Arc<Hub>) {
        let mut first = true;
        let shown = redact(&self.url);
        let channel = self.channel();
        loop {
            let subscribed = async {
                let mut pubsub = self.client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            let pubsub = tokio::select! {
                () = self.stop.cancelled() => return,
                r = tokio::time::timeout(COMMAND_TIMEOUT, subscribed) => r,
            };
            let mut pubsub = match pubsub {
                Ok(Ok(pubsub)) => pubsub,
                failed => {
                    if first {
                        let why = match failed {
                            Ok(Err(e)) => e.to_string(),
                            _ => "no answer within 2 s".to_string(),
                        };
                        tracing::warn!("cannot subscribe to Redis at {shown}: {why}");
                    }
                    first = false;
                    tokio::select! {
                        () = self.stop.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    }
                }
            };
            if !first {
                tracing::info!("back on Redis at {shown}: every room catches up from the database");
                self.repairs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).resubscribed = true;
            }
            first = false;
            // Whatever was published while this node was not listening is
            // in the database (messages) or in the snapshots (presence).
            self.sequencer.catch_up_all();
            self.filler.notify_one();
            self.load_snapshots().await;
            self.publish_snapshot(&hub).await;
            let mut messages = pubsub.on_message();
            loop {
                let message = tokio::select! {
                    () = self.stop.cancelled() => return,
                    m = messages.next() => m,
                };
                let Some(message) = message else { break };
                match serde_json::from_slice::<Envelope>(message.get_payload_bytes()) {
                    Ok(envelope) if envelope.node == self.node() => {}
                    Ok(envelope) => {
                        if let (Event::Message { .. }, Some(age)) = (&envelope.event, envelope.age()) {
                            crate::metrics::count(|m| m.cluster.redis_deliver_seconds.observe(age.as_secs_f64()));
                        }
                        self.handle(&hub, &envelope.node, envelope.event)
                    }
                    Err(e) => tracing::warn!("an event on {channel} that is not chaty's: {e}"),
                }
            }
            tracing::warn!(
                "lost the Redis subscription at {shown}: messages from other nodes arrive from the database \
                 every {} s until it is back",
                SWEEP_EVERY.as_secs()
            );
        }
    }

    /// Acts on another node's event, for this node's connections.
    fn handle(&self, hub: &Hub, node: &str, event: Event) {
        match event {
            Event::Message { room, seq, frame } => {
                if self.sequencer.offer(hub, &room, seq, frame.into()) {
                    self.filler.notify_one();
                }
            }
            Event::Room { room, except: None, frame } => hub.broadcast(&room, &frame.into()),
            Event::Room { room, except: Some(user), frame } => hub.broadcast_except(&room, user, &frame.into()),
            Event::User { user, frame } => hub.send_user(user, &frame.into()),
            Event::Peers { user, rooms, frame } => {
                let frame = Utf8Bytes::from(frame);
                for outbox in hub.peers_in(user, &rooms) {
                    outbox.send(frame.clone());
                }
            }
            Event::Enter { room, user, greeting } => {
                if let Some(greeting) = greeting.filter(|_| !hub.is_present(&room, user)) {
                    hub.send_user(user, &greeting.into());
                }
                hub.enter_user(&room, user);
            }
            Event::Leave { room, user } => hub.leave_user(&room, user),
            Event::SignOut { family } => hub.sign_out_family(&family),
            Event::Here { user } => self.remote.here(node, user),
            Event::Away { user, away } => {
                self.remote.set_away(user, away);
                hub.set_away(user, away);
            }
            Event::Gone { user } => self.remote.gone(node, user),
            Event::Snapshot { users } => self.repair(node, users),
        }
    }

    async fn filler(self: Arc<Self>, hub: Arc<Hub>, store: Store) {
        loop {
            if self.sequencer.missing() {
                tokio::select! {
                    () = self.stop.cancelled() => return,
                    () = tokio::time::sleep(FILL_POLL) => {}
                }
                self.sequencer.fill(&hub, &store).await;
            } else {
                tokio::select! {
                    () = self.stop.cancelled() => return,
                    () = self.filler.notified() => {}
                }
            }
        }
    }

    async fn ticker(self: Arc<Self>, hub: Arc<Hub>, store: Store) {
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        let mut snapshot = tokio::time::interval(SNAPSHOT_EVERY);
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                _ = sweep.tick() => {
                    self.sequencer.sweep(&hub, &store).await;
                    if self.sequencer.missing() {
                        self.filler.notify_one();
                    }
                }
                _ = snapshot.tick() => self.publish_snapshot(&hub).await,
            }
        }
    }

    /// Tells the others (and Redis, with a TTL) who is online here.
    async fn publish_snapshot(&self, hub: &Hub) {
        let users = self.in_order(|| {
            let users = hub.online_users();
            self.publish(Event::Snapshot { users: users.clone() });
            users
        });
        let key = self.presence_key(self.node());
        let stored = serde_json::to_string(&users).unwrap_or_default();
        let mut manager = self.manager.clone();
        let ttl = FORGET_AFTER.as_secs();
        let _ = tokio::time::timeout(COMMAND_TIMEOUT, manager.set_ex::<_, _, ()>(key, stored, ttl)).await;
    }

    /// Reads every other node's stored snapshot (after (re)subscribing).
    async fn load_snapshots(&self) {
        let mut manager = self.manager.clone();
        let load = async {
            let mine = self.presence_key("");
            let keys: Vec<String> = manager.keys(format!("{mine}*")).await?;
            for key in keys {
                let Some(node) = key.strip_prefix(&mine).filter(|n| *n != self.node()) else { continue };
                let stored: Option<String> = manager.get(&key).await?;
                if let Some(users) = stored.and_then(|s| serde_json::from_str(&s).ok()) {
                    self.repair(node, users);
                }
            }
            Ok::<_, redis::RedisError>(())
        };
        if let Ok(Err(e)) = tokio::time::timeout(COMMAND_TIMEOUT * 2, load).await {
            tracing::warn!("reading other nodes' presence from Redis: {e}");
        }
    }
}
