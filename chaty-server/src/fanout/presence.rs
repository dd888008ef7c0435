//! Who is online through the other nodes, as they last said: kept from
//! their `Here`/`Gone` events and repaired by the snapshot each node
//! publishes every few seconds (and stores in Redis with a TTL). A node not
//! heard from for [`FORGET_AFTER`] counts as having nobody online.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::event::Online;

/// How often each node publishes its snapshot.
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(3);
/// A node whose snapshots stopped this long ago counts as empty.
pub const FORGET_AFTER: Duration = Duration::from_secs(10);

struct NodeUsers {
    heard: Instant,
    users: HashMap<i64, Online>,
}

#[derive(Default)]
pub struct Remote {
    nodes: Mutex<HashMap<String, NodeUsers>>,
}

impl Remote {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, NodeUsers>> {
        self.nodes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn node<'a>(map: &'a mut HashMap<String, NodeUsers>, node: &str) -> &'a mut NodeUsers {
        let entry =
            map.entry(node.to_string()).or_insert_with(|| NodeUsers { heard: Instant::now(), users: HashMap::new() });
        entry.heard = Instant::now();
        entry
    }

    pub fn here(&self, node: &str, user: Online) {
        Self::node(&mut self.lock(), node).users.insert(user.id, user);
    }

    pub fn gone(&self, node: &str, user: i64) {
        Self::node(&mut self.lock(), node).users.remove(&user);
    }

    /// Replaces what `node` said with its snapshot. Returns who appeared and
    /// who vanished with it: the `Here`/`Gone` events that were lost (Redis
    /// dropped them, or this node was not listening), for the caller to
    /// repair what its clients were not told.
    pub fn snapshot(&self, node: &str, users: Vec<Online>) -> (Vec<Online>, Vec<Online>) {
        let mut map = self.lock();
        let entry = Self::node(&mut map, node);
        let users: HashMap<i64, Online> = users.into_iter().map(|u| (u.id, u)).collect();
        let appeared = users.values().filter(|u| !entry.users.contains_key(&u.id)).cloned().collect();
        let vanished = entry.users.values().filter(|u| !users.contains_key(&u.id)).cloned().collect();
        entry.users = users;
        (appeared, vanished)
    }

    /// `user` set themselves away (or back): on every node.
    pub fn set_away(&self, user: i64, away: bool) {
        for node in self.lock().values_mut() {
            if let Some(entry) = node.users.get_mut(&user) {
                entry.away = away;
            }
        }
    }

    /// Forgets `node` (it departed) and returns who was online through it.
    pub fn depart(&self, node: &str) -> Vec<Online> {
        let gone = self.lock().remove(node);
        gone.map(|n| n.users.into_values().collect()).unwrap_or_default()
    }

    fn live<R>(&self, f: impl FnOnce(&mut dyn Iterator<Item = &HashMap<i64, Online>>) -> R) -> R {
        let map = self.lock();
        let mut live = map.values().filter(|n| n.heard.elapsed() < FORGET_AFTER).map(|n| &n.users);
        f(&mut live)
    }

    /// Whether `user` is online through another node; `Some(away)` if so.
    pub fn status(&self, user: i64) -> Option<bool> {
        self.live(|nodes| {
            let mut found = None;
            for users in nodes {
                if let Some(u) = users.get(&user) {
                    found = Some(found.unwrap_or(false) || u.away);
                }
            }
            found
        })
    }

    /// Of `names`, those online through another node, and those of them away.
    pub fn among(&self, names: &[String]) -> (Vec<String>, Vec<String>) {
        self.live(|nodes| {
            let mut online: HashMap<&str, bool> = HashMap::new();
            for users in nodes {
                for u in users.values() {
                    let entry = online.entry(u.name.as_str()).or_insert(false);
                    *entry = *entry || u.away;
                }
            }
            let here: Vec<String> = names.iter().filter(|n| online.contains_key(n.as_str())).cloned().collect();
            let away = here.iter().filter(|n| online.get(n.as_str()) == Some(&true)).cloned().collect();
            (here, away)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> Online {
        Online { id: 1, name: "ann".into(), away: false, guest: false }
    }

    #[test]
    fn a_user_is_online_while_any_node_says_so_and_away_is_for_every_device() {
        let remote = Remote::default();
        remote.here("a", ann());
        remote.here("b", ann());
        assert_eq!(remote.status(1), Some(false));
        remote.set_away(1, true);
        assert_eq!(remote.status(1), Some(true));
        remote.gone("b", 1);
        assert_eq!(remote.status(1), Some(true));
        assert_eq!(remote.among(&["ann".into(), "bob".into()]), (vec!["ann".into()], vec!["ann".into()]));
        assert_eq!(remote.depart("a"), vec![Online { away: true, ..ann() }]);
        assert_eq!(remote.status(1), None);
    }

    #[test]
    fn a_snapshot_replaces_what_a_node_said_before() {
        let remote = Remote::default();
        remote.here("a", ann());
        let bob = Online { id: 2, name: "bob".into(), ..ann() };
        let (appeared, vanished) = remote.snapshot("a", vec![bob.clone()]);
        assert_eq!((appeared, vanished), (vec![bob.clone()], vec![ann()]), "the lost Gone of ann and Here of bob");
        assert_eq!(remote.snapshot("a", vec![bob]), (vec![], vec![]), "nothing was lost since");
        assert_eq!(remote.status(1), None);
        assert_eq!(remote.status(2), Some(false));
    }
}
