//! What nodes tell each other over Redis: one JSON message per event on one
//! channel, in the order the sending node published them. Frames travel
//! already serialized, exactly as the sending node's own clients got them.

use serde::{Deserialize, Serialize};

/// Every key and channel of a cluster starts with `chaty:EPOCH:`, the
/// database's epoch: several deployments (or a restored database) can share
/// one Redis without hearing each other.
pub fn prefix(epoch: &str) -> String {
    format!("chaty:{epoch}:")
}

/// The channel every node publishes to and listens on (after the prefix).
pub const CHANNEL: &str = "events";
/// Key of each node's presence snapshot (after the prefix; expires with the node).
pub const PRESENCE_KEY: &str = "presence:";

#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// The publishing node (nodes skip their own events).
    pub node: String,
    /// When it was published, µs since the UNIX epoch (for the
    /// publish-to-deliver metric; 0 from a node that does not say).
    #[serde(default, rename = "at")]
    pub sent_us: u64,
    #[serde(flatten)]
    pub event: Event,
}

pub use crate::hub::Online;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Event {
    /// A committed message: delivered in `seq` order per room.
    Message { room: String, seq: u64, frame: String },
    /// Any other frame for a room's connections (`except`: skip that user's).
    Room { room: String, except: Option<i64>, frame: String },
    /// A frame for every connection of a user.
    User { user: i64, frame: String },
    /// A frame for every connection sharing one of `rooms` with `user`, and
    /// the user's own, each once.
    Peers { user: i64, rooms: Vec<String>, frame: String },
    /// `user` became a member of `room`: their connections subscribe to it,
    /// after getting `greeting` where they were not there yet.
    Enter { room: String, user: i64, greeting: Option<String> },
    /// `user` stopped being a member of `room`.
    Leave { room: String, user: i64 },
    /// A sign-in was revoked: its connections end.
    SignOut { family: String },
    /// Someone is online through the publishing node.
    Here { user: Online },
    /// `user` set themselves away (or back), on every device.
    Away { user: i64, away: bool },
    /// `user`'s last connection through the publishing node ended.
    Gone { user: i64 },
    /// Everyone online through the publishing node, now.
    Snapshot { users: Vec<Online> },
}

/// Now, in µs since the UNIX epoch.
pub fn now_us() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
}

impl Envelope {
    /// How long ago it was published (None if it does not say, or the
    /// clocks disagree).
    pub fn age(&self) -> Option<std::time::Duration> {
        let age = now_us().checked_sub(self.sent_us).filter(|_| self.sent_us > 0)?;
        Some(std::time::Duration::from_micros(age))
    }

    pub fn encode(&self) -> String {
        // Plain strings, numbers and vectors: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}
