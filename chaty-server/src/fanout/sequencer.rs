//! Live delivery in `seq` order per room, across nodes.
//!
//! Every committed message reaches a node twice at most: from its own
//! commit (for messages posted through it) and from Redis (for everyone's).
//! Redis pub/sub is at-most-once, and two nodes' messages can arrive in
//! either order, so for each room with local members the node keeps the last
//! `seq` it delivered and:
//! - delivers the next `seq` at once, then any held ones that follow it;
//! - drops a `seq` it already delivered;
//! - holds one that arrives early, for [`HOLD`], then fills the gap from
//!   the database (`Store::messages_after`) and delivers in order;
//! - learns where a room starts (the first time it sees one) from the
//!   database's `last_seq` at a sweep, or else from the lowest `seq` that
//!   arrived within [`HOLD`].
//!
//! The sweep ([`Sequencer::sweep`], every [`SWEEP_EVERY`]) compares each
//! room's `last_seq` in the database with what was delivered, so a message
//! whose publication was lost (a node that died between COMMIT and
//! PUBLISH, Redis down) is delivered anyway.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use chaty_proto::ServerFrame;

use crate::hub::Hub;
use crate::store::Store;

/// How long an early message waits for the ones before it.
pub const HOLD: Duration = Duration::from_millis(100);
/// How often every room is checked against the database.
pub const SWEEP_EVERY: Duration = Duration::from_secs(2);

#[derive(Default)]
struct RoomSeq {
    /// The last `seq` delivered (None: not known yet).
    last: Option<u64>,
    /// Arrived early, by `seq`, with when.
    held: BTreeMap<u64, (Utf8Bytes, Instant)>,
    /// Since when something is missing (held, or behind the database).
    missing_since: Option<Instant>,
    /// The database's `last_seq` at the previous sweep, before `last` was known.
    observed: Option<u64>,
}

impl RoomSeq {
    fn deliver_ready(&mut self, hub: &Hub, room: &str) {
        let Some(mut last) = self.last else { return };
        while let Some((frame, since)) = self.held.remove(&(last + 1)) {
            hub.broadcast(room, &frame);
            crate::metrics::count(|m| m.cluster.sequencer_hold_seconds.observe(since.elapsed().as_secs_f64()));
            last += 1;
        }
        self.last = Some(last);
        let before = self.held.len();
        self.held.retain(|seq, _| *seq > last);
        let stale = (before - self.held.len()) as u64;
        if stale > 0 {
            // Delivered from the database meanwhile.
            crate::metrics::count(|m| {
                m.cluster.sequencer_duplicates.inc_by(stale);
            });
        }
        if self.held.is_empty() {
            self.missing_since = None;
        }
    }
}

#[derive(Default)]
pub struct Sequencer {
    rooms: Mutex<HashMap<String, RoomSeq>>,
}

impl Sequencer {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, RoomSeq>> {
        self.rooms.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A committed message for `room`, from this node or another. Delivered
    /// now if it is next, held if it is early, dropped if already delivered.
    /// Returns true if something is now held (the caller wakes the filler).
    pub fn offer(&self, hub: &Hub, room: &str, seq: u64, frame: Utf8Bytes) -> bool {
        if !hub.has_room(room) {
            return false;
        }
        let mut rooms = self.lock();
        let state = rooms.entry(room.to_string()).or_default();
        match state.last {
            Some(last) if seq <= last => {
                crate::metrics::count(|m| {
                    m.cluster.sequencer_duplicates.inc();
                });
                return false;
            }
            Some(last) if seq == last + 1 => {
                hub.broadcast(room, &frame);
                state.last = Some(seq);
                state.deliver_ready(hub, room);
                return false;
            }
            _ => {}
        }
        let now = Instant::now();
        if state.held.insert(seq, (frame, now)).is_some() {
            crate::metrics::count(|m| {
                m.cluster.sequencer_duplicates.inc();
            });
        } else if state.last.is_some() {
            // (Not counted while the room's start is being learnt.)
            crate::metrics::count(|m| {
                m.cluster.sequencer_held.inc();
            });
        }
        state.missing_since.get_or_insert(now);
        true
    }

    /// Rooms missing something for longer than [`HOLD`], with where their
    /// delivery stands. A room whose start is unknown starts before the
    /// lowest held `seq` (or at what the last sweep saw, if lower).
    fn overdue(&self) -> Vec<(String, u64)> {
        let mut rooms = self.lock();
        let mut due = Vec::new();
        for (room, state) in rooms.iter_mut() {
            if state.missing_since.is_none_or(|t| t.elapsed() < HOLD) {
                continue;
            }
            if state.last.is_none() {
                let first_held = state.held.keys().next().map_or(0, |s| s - 1);
                state.last = Some(state.observed.map_or(first_held, |o| o.min(first_held)));
            }
            due.push((room.clone(), state.last.unwrap_or_default()));
        }
        due
    }

    /// Whether any room has something missing (the filler keeps polling).
    pub fn missing(&self) -> bool {
        self.lock().values().any(|s| s.missing_since.is_some())
    }

    /// Fills every overdue gap from the database. Errors (the database is
    /// down) leave the gap for the next round.
    pub async fn fill(&self, hub: &Hub, store: &Store) {
        for (room, after) in self.overdue() {
            let messages = match store.messages_after(room.clone(), after).await {
                Ok(messages) => messages,
                Err(e) => {
                    tracing::warn!("filling a gap in {room} after seq {after}: {e}");
                    continue;
                }
            };
            let full = messages.len() as i64 == crate::store::cluster::CATCH_UP_PAGE;
            let mut rooms = self.lock();
            let Some(state) = rooms.get_mut(&room) else { continue };
            let mut filled = 0;
            for message in messages {
                let seq = message.seq;
                if state.last.is_some_and(|last| seq == last + 1) {
                    hub.broadcast(&room, &ServerFrame::ChatMessage(message).to_json(None).into());
                    state.last = Some(seq);
                    filled += 1;
                }
            }
            crate::metrics::count(|m| {
                m.cluster.sequencer_fills.inc();
                m.cluster.sequencer_filled.inc_by(filled);
            });
            state.deliver_ready(hub, &room);
            if full {
                // More to fetch: the next round goes on at once.
                state.missing_since = Some(Instant::now() - HOLD);
            }
        }
    }

    /// Compares every room with local members with the database: starts
    /// tracking new ones, marks those behind as missing, forgets rooms
    /// nobody here is in any more.
    pub async fn sweep(&self, hub: &Hub, store: &Store) {
        let local = hub.rooms();
        {
            let mut rooms = self.lock();
            rooms.retain(|room, _| local.iter().any(|r| **r == **room));
        }
        if local.is_empty() {
            return;
        }
        let names = local.iter().map(|r| r.to_string()).collect();
        let seqs = match store.last_seqs(names).await {
            Ok(seqs) => seqs,
            Err(e) => return tracing::warn!("comparing rooms with the database: {e}"),
        };
        let mut rooms = self.lock();
        for (room, db_last) in seqs {
            let state = rooms.entry(room).or_default();
            match state.last {
                // Seen the same twice: nothing of it can be in flight, so
                // delivery starts after it (or after what it was before).
                None => match state.observed {
                    Some(seen) => {
                        state.last = Some(seen);
                        if db_last > seen {
                            state.missing_since.get_or_insert(Instant::now() - HOLD);
                        }
                    }
                    None => state.observed = Some(db_last),
                },
                Some(last) if db_last > last => {
                    // Behind: the filler catches up (at once if nothing is held).
                    state.missing_since.get_or_insert(Instant::now() - HOLD);
                }
                Some(_) => {}
            }
        }
    }

    /// After reconnecting to Redis: every room catches up from the database.
    pub fn catch_up_all(&self) {
        for state in self.lock().values_mut() {
            if state.last.is_some() {
                state.missing_since = Some(Instant::now() - HOLD);
            }
        }
    }
}
