//! Fan-out: getting frames to the connections they are for, on this node
//! and, in a cluster, on every other node. This is the seam between the
//! connections and how far a frame travels:
//! - alone (SQLite, or PostgreSQL without `--redis`), [`Fanout`] is the
//!   local [`Hub`] and nothing else;
//! - with `--redis` ([`redis`]), every send also goes to Redis, every node
//!   delivers what the others publish to its own connections, committed
//!   messages pass through a per-room [`sequencer`] that keeps them in `seq`
//!   order and fills what Redis dropped from the database, and presence
//!   merges what the other nodes say ([`presence`]).
//!
//! Connections call the same methods either way and never learn which.

pub mod event;
pub mod presence;
pub mod redis;
pub mod sequencer;

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;

use crate::hub::{Hub, Outbox};
use crate::store::{Member, Store};
use event::{Event, Online};

pub struct Fanout {
    hub: Arc<Hub>,
    cluster: Option<Arc<redis::Redis>>,
    /// Cancelled when this node begins to stop (see [`Fanout::detach`]).
    stopping: tokio_util::sync::CancellationToken,
}

/// Who to tell that a user went offline, taken before their last connection
/// leaves the hub (which hides their rooms), used after.
pub struct Peers {
    outboxes: Vec<Outbox>,
    user: i64,
    rooms: Vec<String>,
}

impl Fanout {
    /// One node on its own.
    pub fn local() -> Self {
        Self { hub: Arc::new(Hub::new()), cluster: None, stopping: Default::default() }
    }

    /// One node of a cluster sharing `cluster`; starts its tasks. The
    /// store must be the shared PostgreSQL database (it names the node);
    /// `stopping` is cancelled when this node begins to stop.
    pub fn clustered(cluster: Arc<redis::Redis>, store: Store, stopping: tokio_util::sync::CancellationToken) -> Self {
        let hub = Arc::new(Hub::new());
        let node = store.node_id().unwrap_or_default().to_string();
        cluster.start(&node, hub.clone(), store);
        Self { hub, cluster: Some(cluster), stopping }
    }

    /// This node's connections: what only concerns them (ids, their own rooms).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The shared Redis, in a cluster.
    pub fn cluster(&self) -> Option<&Arc<redis::Redis>> {
        self.cluster.as_ref()
    }

    fn publish(&self, event: impl FnOnce() -> Event) {
        if let Some(cluster) = &self.cluster {
            cluster.publish(event());
        }
    }

    /// Runs a presence change and its publication in the order snapshots see.
    fn in_order<R>(&self, change: impl FnOnce() -> R) -> R {
        match &self.cluster {
            Some(cluster) => cluster.in_order(change),
            None => change(),
        }
    }

    /// Presence changes that reached this node only through snapshots, for
    /// its clients to be told (see `connection/departed.rs`).
    pub fn take_repairs(&self) -> Option<redis::Repairs> {
        self.cluster.as_ref().map(|c| c.take_repairs()).filter(|r| !r.is_empty())
    }

    /// Stops the cluster's tasks (after the connections closed).
    pub async fn close(&self) {
        if let Some(cluster) = &self.cluster {
            cluster.close().await;
        }
    }

    // ----- sending ----------------------------------------------------------

    /// A committed message, to every connection in its room, in `seq` order.
    pub fn message(&self, room: &str, seq: u64, frame: Utf8Bytes) {
        match &self.cluster {
            None => self.hub.broadcast(room, &frame),
            Some(cluster) => {
                cluster.publish(Event::Message { room: room.to_string(), seq, frame: frame.to_string() });
                if cluster.sequencer.offer(&self.hub, room, seq, frame) {
                    cluster.wake_filler();
                }
            }
        }
    }

    /// Any other frame to every connection in `room`.
    pub fn room(&self, room: &str, frame: &Utf8Bytes) {
        self.hub.broadcast(room, frame);
        self.publish(|| Event::Room { room: room.to_string(), except: None, frame: frame.to_string() });
    }

    /// To every connection in `room` but `user`'s.
    pub fn room_except(&self, room: &str, user: i64, frame: &Utf8Bytes) {
        self.hub.broadcast_except(room, user, frame);
        self.publish(|| Event::Room { room: room.to_string(), except: Some(user), frame: frame.to_string() });
    }

    /// To every connection of `user`.
    pub fn user(&self, user: i64, frame: &Utf8Bytes) {
        self.hub.send_user(user, frame);
        self.publish(|| Event::User { user, frame: frame.to_string() });
    }

    /// To every connection of `user` but this node's `skip` (one answered directly).
    pub fn user_except(&self, user: i64, skip: u64, frame: &Utf8Bytes) {
        self.hub.send_user_except(user, skip, frame);
        self.publish(|| Event::User { user, frame: frame.to_string() });
    }

    /// To every connection sharing a room with `user`, and the user's own,
    /// each once; `skip` is a connection of this node already answered.
    pub fn peers(&self, user: i64, skip: u64, frame: &Utf8Bytes) {
        let peers = self.peers_of(user, skip);
        self.send_peers(peers, frame);
    }

    /// [`Fanout::peers`] in two steps: who, now; the frame, later.
    pub fn peers_of(&self, user: i64, skip: u64) -> Peers {
        let rooms = match &self.cluster {
            None => Vec::new(),
            Some(_) => self.hub.rooms_of_user(user).iter().map(|r| r.to_string()).collect(),
        };
        Peers { outboxes: self.hub.peers(user, skip), user, rooms }
    }

    pub fn send_peers(&self, peers: Peers, frame: &Utf8Bytes) {
        for outbox in &peers.outboxes {
            outbox.send(frame.clone());
        }
        self.publish(|| Event::Peers { user: peers.user, rooms: peers.rooms, frame: frame.to_string() });
    }

    /// Ends every connection of a revoked sign-in, on every node.
    pub fn sign_out(&self, family: &str) {
        self.hub.sign_out_family(family);
        self.publish(|| Event::SignOut { family: family.to_string() });
    }

    // ----- membership ---------------------------------------------------------

    /// `user` is now a member of `room`: each of their connections (on
    /// every node) gets `greeting` if it was not in the room, then enters.
    /// True if the user may have become present in the room (locally for
    /// sure; in a cluster, whenever they are online elsewhere).
    pub fn enter(&self, room: &str, user: i64, greeting: Option<&Utf8Bytes>) -> bool {
        if let Some(greeting) = greeting.filter(|_| !self.hub.is_present(room, user)) {
            self.hub.send_user(user, greeting);
        }
        let newly = self.hub.enter_user(room, user);
        self.publish(|| Event::Enter { room: room.to_string(), user, greeting: greeting.map(|g| g.to_string()) });
        newly || self.remote_status(user).is_some()
    }

    /// `user` stopped being a member of `room`, on every node.
    pub fn leave(&self, room: &str, user: i64) {
        self.hub.leave_user(room, user);
        self.publish(|| Event::Leave { room: room.to_string(), user });
    }

    /// Subscribes this node's connection `conn` of `user` to `room`. True if
    /// that makes the user present there (not already, here or elsewhere).
    pub fn enter_conn(&self, room: &str, conn: u64, user: i64) -> bool {
        self.hub.enter_conn(room, conn) && self.remote_status(user).is_none()
    }

    // ----- presence -----------------------------------------------------------

    fn remote_status(&self, user: i64) -> Option<bool> {
        self.cluster.as_ref().and_then(|c| c.remote.status(user))
    }

    /// Registers a signed-in connection. True if the user just came online
    /// (their first connection anywhere).
    pub fn attach(&self, conn: u64, user: &crate::store::User, outbox: Outbox, family: Option<String>) -> bool {
        let elsewhere = self.remote_status(user.id);
        let first_here = self.in_order(|| {
            let first_here = self.hub.attach(conn, user.id, &user.name, user.guest, outbox, family);
            if first_here {
                let away = elsewhere == Some(true);
                if away {
                    self.hub.set_away(user.id, true);
                }
                let (id, name, guest) = (user.id, user.name.clone(), user.guest);
                self.publish(|| Event::Here { user: Online { id, name, away, guest } });
            }
            first_here
        });
        first_here && elsewhere.is_none()
    }

    /// Drops a connection. Returns the rooms where its user is no longer
    /// present, and whether the user went offline (here and everywhere).
    ///
    /// While a cluster node stops, its users' departures are not published:
    /// the other nodes keep them as online through it, and once its
    /// heartbeat is stale the node is claimed like a crashed one, and only
    /// those of its users who did not reconnect elsewhere meanwhile are
    /// announced as gone (no offline-online flicker in a rolling restart).
    pub fn detach(&self, conn: u64, user: i64) -> (Vec<Arc<str>>, bool) {
        let (gone, offline_here) = self.in_order(|| {
            let (gone, offline_here) = self.hub.detach(conn);
            if offline_here && !self.stopping.is_cancelled() {
                self.publish(|| Event::Gone { user });
            }
            (gone, offline_here)
        });
        if self.remote_status(user).is_some() { (Vec::new(), false) } else { (gone, offline_here) }
    }

    /// Whether `conn` is the last connection of `user` anywhere.
    pub fn is_last_connection(&self, user: i64) -> bool {
        self.hub.connections_of(user) == 1 && self.remote_status(user).is_none()
    }

    /// Marks an online user away (or back), on every device. True if that changed anything.
    pub fn set_away(&self, user: i64, away: bool) -> bool {
        self.in_order(|| {
            let changed = self.hub.set_away(user, away);
            if changed {
                self.publish(|| Event::Away { user, away });
            }
            changed
        })
    }

    /// `Some(away)` if `user` is online anywhere.
    pub fn status(&self, user: i64) -> Option<bool> {
        if self.hub.connections_of(user) > 0 {
            return Some(self.hub.is_away(user));
        }
        self.remote_status(user)
    }

    /// Of a room's members, who is online (sorted) and who of them is away.
    pub fn online(&self, room: &str, members: &[Member]) -> (Vec<String>, Vec<String>) {
        let mut online = self.hub.online(room);
        let mut away = self.hub.away(room);
        if let Some(cluster) = &self.cluster {
            let names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
            let (there, there_away) = cluster.remote.among(&names);
            online.extend(there);
            away.extend(there_away);
            for list in [&mut online, &mut away] {
                list.sort_unstable();
                list.dedup();
            }
        }
        (online, away)
    }

    /// Forgets a departed node; returns who was online through it and is
    /// now online nowhere.
    pub fn departed(&self, node: &str) -> Vec<Online> {
        let Some(cluster) = &self.cluster else { return Vec::new() };
        let mut users = cluster.remote.depart(node);
        users.retain(|u| self.status(u.id).is_none());
        users
    }

    /// Who shares one of `rooms` with `user` (on every node).
    pub fn peers_in(&self, user: i64, rooms: Vec<String>) -> Peers {
        Peers { outboxes: self.hub.peers_in(user, &rooms), user, rooms }
    }

    /// This node's online users, again: after another node took it for
    /// departed (and told everyone they left), they are back.
    pub fn announce_again(&self) -> Vec<Online> {
        let users = self.hub.online_users();
        for user in &users {
            let user = user.clone();
            self.publish(|| Event::Here { user });
        }
        users
    }
}
