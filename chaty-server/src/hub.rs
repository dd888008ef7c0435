//! The in-memory hub: which connection is in which room right now, and
//! fan-out of pre-serialized frames to them. Nothing here touches the store
//! or awaits; the lock is a std `Mutex` held only for map updates, never while
//! sending (a broadcast clones the room's member snapshot, then sends).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;

pub use crate::outbox::{OUTBOX_FRAMES, Outbox};

/// One user online through this node (what a cluster's nodes tell each other).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Online {
    pub id: i64,
    pub name: String,
    pub away: bool,
    pub guest: bool,
}

#[derive(Clone)]
struct Sub {
    conn: u64,
    user_id: i64,
    user_name: Arc<str>,
    guest: bool,
    outbox: Outbox,
}

struct Conn {
    sub: Sub,
    rooms: Vec<Arc<str>>,
    /// The token family this connection signed in with (none for guests).
    family: Option<String>,
}

#[derive(Default)]
struct State {
    /// Copy-on-write member snapshots: replaced on join/leave, shared by broadcasts.
    rooms: HashMap<Arc<str>, Arc<[Sub]>>,
    conns: HashMap<u64, Conn>,
    users: HashMap<i64, Vec<u64>>,
    /// Online users who set themselves away.
    away: HashSet<i64>,
}

#[derive(Default)]
pub struct Hub {
    state: Mutex<State>,
    next_conn: AtomicU64,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn next_connection_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain maps behind,
        // still consistent enough to keep serving everyone else.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a signed-in connection. Returns true if it is the user's first.
    pub fn attach(
        &self,
        conn: u64,
        user_id: i64,
        user_name: &str,
        guest: bool,
        outbox: Outbox,
        family: Option<String>,
    ) -> bool {
        let mut st = self.lock();
        let sub = Sub { conn, user_id, user_name: user_name.into(), guest, outbox };
        st.conns.insert(conn, Conn { sub, rooms: Vec::new(), family });
        let conns = st.users.entry(user_id).or_default();
        conns.push(conn);
        conns.len() == 1
    }

    /// Drops a connection from every room. Returns the rooms where its user
    /// is no longer present, and whether the user went offline entirely.
    pub fn detach(&self, conn: u64) -> (Vec<Arc<str>>, bool) {
        let mut st = self.lock();
        let Some(entry) = st.conns.remove(&conn) else {
            return (Vec::new(), false);
        };
        let user_id = entry.sub.user_id;
        let mut gone = Vec::new();
        for room in entry.rooms {
            if remove_sub(&mut st, &room, |s| s.conn == conn) && !present(&st, &room, user_id) {
                gone.push(room);
            }
        }
        let offline = match st.users.get_mut(&user_id) {
            Some(conns) => {
                conns.retain(|c| *c != conn);
                conns.is_empty()
            }
            None => true,
        };
        if offline {
            st.users.remove(&user_id);
            st.away.remove(&user_id);
        }
        (gone, offline)
    }

    /// Subscribes every connection of `user_id` to `room`. Returns true if the
    /// user was not present there before.
    pub fn enter_user(&self, room: &str, user_id: i64) -> bool {
        let mut st = self.lock();
        let conns = st.users.get(&user_id).cloned().unwrap_or_default();
        enter(&mut st, room, user_id, &conns)
    }

    /// Subscribes one connection to `room`. Returns true if its user was not present before.
    pub fn enter_conn(&self, room: &str, conn: u64) -> bool {
        let mut st = self.lock();
        let Some(user_id) = st.conns.get(&conn).map(|c| c.sub.user_id) else {
            return false;
        };
        enter(&mut st, room, user_id, &[conn])
    }

    /// Unsubscribes every connection of `user_id` from `room`.
    pub fn leave_user(&self, room: &str, user_id: i64) {
        let mut st = self.lock();
        remove_sub(&mut st, room, |s| s.user_id == user_id);
        for conn in st.users.get(&user_id).cloned().unwrap_or_default() {
            if let Some(c) = st.conns.get_mut(&conn) {
                c.rooms.retain(|r| &**r != room);
            }
        }
    }

    /// Whether `conn` is subscribed to `room`.
    pub fn is_in(&self, room: &str, conn: u64) -> bool {
        self.lock().conns.get(&conn).is_some_and(|c| c.rooms.iter().any(|r| &**r == room))
    }

    /// Names of the users with a connection in `room`, sorted, each once.
    pub fn online(&self, room: &str) -> Vec<String> {
        let subs = self.snapshot(room);
        let mut names: Vec<String> = subs.iter().map(|s| s.user_name.to_string()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Ends every connection signed in with `family` (after `LOGOUT`, or
    /// when a stolen refresh token revoked it).
    pub fn sign_out_family(&self, family: &str) {
        let st = self.lock();
        for c in st.conns.values().filter(|c| c.family.as_deref() == Some(family)) {
            c.sub.outbox.sign_out();
        }
    }

    /// Ends every connection of `user_id` on this node (the admin CLI
    /// changed their password, banned or deleted them).
    pub fn sign_out_user(&self, user_id: i64) {
        let st = self.lock();
        for c in st.conns.values().filter(|c| c.sub.user_id == user_id) {
            c.sub.outbox.sign_out();
        }
    }

    /// Moves a connection to another sign-in (after `REFRESH`).
    pub fn set_family(&self, conn: u64, family: &str) {
        if let Some(c) = self.lock().conns.get_mut(&conn) {
            c.family = Some(family.to_string());
        }
    }

    /// How many connections `user_id` has open.
    pub fn connections_of(&self, user_id: i64) -> usize {
        self.lock().users.get(&user_id).map_or(0, Vec::len)
    }

    /// Marks an online user away (or back). True if that changed anything.
    pub fn set_away(&self, user_id: i64, away: bool) -> bool {
        let mut st = self.lock();
        if !st.users.contains_key(&user_id) {
            return false;
        }
        if away { st.away.insert(user_id) } else { st.away.remove(&user_id) }
    }

    /// Whether an online user set themselves away.
    pub fn is_away(&self, user_id: i64) -> bool {
        self.lock().away.contains(&user_id)
    }

    /// Names of the online users in `room` who are away, sorted.
    pub fn away(&self, room: &str) -> Vec<String> {
        let st = self.lock();
        let mut names: Vec<String> = st
            .rooms
            .get(room)
            .into_iter()
            .flat_map(|subs| subs.iter())
            .filter(|s| st.away.contains(&s.user_id))
            .map(|s| s.user_name.to_string())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The outboxes of every connection that shares a room with `user_id`
    /// (the user's own included, `skip` left out), each once. Taken before a
    /// change that would hide them (the user's last connection going away).
    pub fn peers(&self, user_id: i64, skip: u64) -> Vec<Outbox> {
        let st = self.lock();
        outboxes_of(&st, user_id, user_rooms(&st, user_id).into_iter().map(|r| &**r), skip)
    }

    /// Like [`Hub::peers`] for rooms named by another node (where the user
    /// is online), with no connection skipped.
    pub fn peers_in(&self, user_id: i64, rooms: &[String]) -> Vec<Outbox> {
        outboxes_of(&self.lock(), user_id, rooms.iter().map(String::as_str), 0)
    }

    /// The rooms `user_id`'s connections here are in.
    pub fn rooms_of_user(&self, user_id: i64) -> Vec<Arc<str>> {
        user_rooms(&self.lock(), user_id).into_iter().cloned().collect()
    }

    /// The rooms with a connection of this node in them.
    pub fn rooms(&self) -> Vec<Arc<str>> {
        self.lock().rooms.keys().cloned().collect()
    }

    /// Whether any connection of this node is in `room`.
    pub fn has_room(&self, room: &str) -> bool {
        self.lock().rooms.contains_key(room)
    }

    /// Whether a connection of `user_id` is in `room`.
    pub fn is_present(&self, room: &str, user_id: i64) -> bool {
        present(&self.lock(), room, user_id)
    }

    /// Every user online through this node.
    pub fn online_users(&self) -> Vec<Online> {
        let st = self.lock();
        st.users
            .iter()
            .filter_map(|(id, conns)| conns.first().and_then(|c| st.conns.get(c)).map(|c| (*id, &c.sub)))
            .map(|(id, sub)| Online {
                id,
                name: sub.user_name.to_string(),
                away: st.away.contains(&id),
                guest: sub.guest,
            })
            .collect()
    }

    fn snapshot(&self, room: &str) -> Arc<[Sub]> {
        self.lock().rooms.get(room).cloned().unwrap_or_else(|| Arc::new([]))
    }

    /// Sends one serialized frame to every connection in `room`.
    pub fn broadcast(&self, room: &str, frame: &Utf8Bytes) {
        for sub in self.snapshot(room).iter() {
            sub.outbox.send(frame.clone());
        }
    }

    /// Like [`Hub::broadcast`], skipping the connections of `user_id`.
    pub fn broadcast_except(&self, room: &str, user_id: i64, frame: &Utf8Bytes) {
        for sub in self.snapshot(room).iter().filter(|s| s.user_id != user_id) {
            sub.outbox.send(frame.clone());
        }
    }

    /// Sends a frame to every connection of `user_id`.
    pub fn send_user(&self, user_id: i64, frame: &Utf8Bytes) {
        // Connection ids start at 1: 0 skips nobody.
        self.send_user_except(user_id, 0, frame);
    }

    /// Like [`Hub::send_user`], skipping connection `skip`.
    pub fn send_user_except(&self, user_id: i64, skip: u64, frame: &Utf8Bytes) {
        let outboxes: Vec<Outbox> = {
            let st = self.lock();
            let conns = st.users.get(&user_id).map(Vec::as_slice).unwrap_or_default();
            conns.iter().filter(|c| **c != skip).filter_map(|c| st.conns.get(c)).map(|c| c.sub.outbox.clone()).collect()
        };
        for outbox in outboxes {
            outbox.send(frame.clone());
        }
    }
}

/// The rooms `user_id`'s connections are in, each once.
fn user_rooms(st: &State, user_id: i64) -> HashSet<&Arc<str>> {
    let own = st.users.get(&user_id).map(Vec::as_slice).unwrap_or_default();
    own.iter().filter_map(|c| st.conns.get(c)).flat_map(|c| &c.rooms).collect()
}

/// The outboxes of `user_id`'s connections and of every connection in
/// `rooms`, each once, `skip` left out.
fn outboxes_of<'a>(st: &State, user_id: i64, rooms: impl Iterator<Item = &'a str>, skip: u64) -> Vec<Outbox> {
    let mut seen = HashSet::new();
    let mut outboxes = Vec::new();
    let own = st.users.get(&user_id).map(Vec::as_slice).unwrap_or_default();
    let own_subs = own.iter().filter_map(|c| st.conns.get(c)).map(|c| &c.sub);
    let room_subs = rooms.filter_map(|r| st.rooms.get(r)).flat_map(|subs| subs.iter());
    for sub in own_subs.chain(room_subs) {
        if sub.conn != skip && seen.insert(sub.conn) {
            outboxes.push(sub.outbox.clone());
        }
    }
    outboxes
}

fn present(st: &State, room: &str, user_id: i64) -> bool {
    st.rooms.get(room).is_some_and(|subs| subs.iter().any(|s| s.user_id == user_id))
}

fn enter(st: &mut State, room: &str, user_id: i64, conns: &[u64]) -> bool {
    let was_present = present(st, room, user_id);
    let room: Arc<str> = st.rooms.get_key_value(room).map_or_else(|| room.into(), |(k, _)| k.clone());
    let mut added = Vec::new();
    for conn in conns {
        if let Some(c) = st.conns.get_mut(conn) {
            if !c.rooms.contains(&room) {
                c.rooms.push(room.clone());
                added.push(c.sub.clone());
            }
        }
    }
    if added.is_empty() {
        return false;
    }
    let subs = st.rooms.entry(room).or_insert_with(|| Arc::new([]));
    *subs = subs.iter().cloned().chain(added).collect();
    !was_present
}

/// Removes matching subs from a room's snapshot; true if any was removed.
fn remove_sub(st: &mut State, room: &str, matches: impl Fn(&Sub) -> bool) -> bool {
    let Some(subs) = st.rooms.get_mut(room) else {
        return false;
    };
    if !subs.iter().any(&matches) {
        return false;
    }
    let kept: Arc<[Sub]> = subs.iter().filter(|s| !matches(s)).cloned().collect();
    if kept.is_empty() {
        st.rooms.remove(room);
    } else {
        *subs = kept;
    }
    true
}
