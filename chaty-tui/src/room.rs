//! What the client knows about one room: its messages (ordered by `seq`, each
//! once), messages still waiting for their echo, members, typers, unread
//! counts and scroll position.

use std::collections::BTreeMap;

use chaty_proto::{Attachment, Message, NotifyLevel, RoomKind};
use tokio::time::Instant;

/// A message typed here, not yet confirmed by its echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub client_id: String,
    pub content: String,
    /// Why the server refused it, if it did.
    pub failed: Option<String>,
    pub reply_to: Option<u64>,
    pub attachment: Option<Attachment>,
    /// The server was overloaded: the same frame goes again at this time.
    pub retry_at: Option<Instant>,
    /// How many times the server said it was overloaded.
    pub overloaded: u32,
}

impl Pending {
    pub fn new(client_id: String, content: String, reply_to: Option<u64>, attachment: Option<Attachment>) -> Self {
        Self { client_id, content, failed: None, reply_to, attachment, retry_at: None, overloaded: 0 }
    }
}

#[derive(Debug, Clone)]
pub struct Room {
    pub id: String,
    pub topic: String,
    pub kind: RoomKind,
    pub private: bool,
    pub messages: Vec<Message>,
    pub pending: Vec<Pending>,
    pub members: Vec<String>,
    pub online: Vec<String>,
    /// Who is typing, and until when.
    pub typers: Vec<(String, Instant)>,
    pub unread: usize,
    pub mentions: usize,
    /// The server has older messages than the first one here.
    pub has_older: bool,
    pub loading_older: bool,
    /// Lines scrolled up from the bottom (0: following new messages).
    pub scroll: usize,
    /// New messages arrived below while scrolled up.
    pub new_below: bool,
    /// My read cursor, as the server keeps it.
    pub read_seq: u64,
    /// Where the "new" line goes: above the first message after this `seq`.
    pub marker: Option<u64>,
    /// Other members' read cursors.
    pub reads: BTreeMap<String, u64>,
    /// Online members who are away.
    pub away: Vec<String>,
    /// When offline members were last seen (RFC 3339).
    pub last_seen: BTreeMap<String, String>,
    /// Members' display names, where they differ from the user name.
    pub display_names: BTreeMap<String, String>,
    /// Members' status texts (non-empty ones).
    pub status_texts: BTreeMap<String, String>,
    /// The room's admins.
    pub admins: Vec<String>,
    /// Why we are no longer in this room ("you were removed from #x by y"),
    /// when a moderator removed us: the room stays, not joined.
    pub removed: Option<String>,
    /// What this room notifies me of, as the server keeps it (`SET_NOTIFY`).
    pub notify: NotifyLevel,
    /// Rows kept under a message for its image preview (`image_previews`),
    /// by message id: set once the preview is ready.
    pub image_rows: BTreeMap<u64, u16>,
}

impl Room {
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_string(),
            topic: String::new(),
            kind: if id.starts_with("dm:") { RoomKind::Dm } else { RoomKind::Room },
            private: id.starts_with("dm:"),
            messages: Vec::new(),
            pending: Vec::new(),
            members: Vec::new(),
            online: Vec::new(),
            typers: Vec::new(),
            unread: 0,
            mentions: 0,
            has_older: false,
            loading_older: false,
            scroll: 0,
            new_below: false,
            read_seq: 0,
            marker: None,
            reads: BTreeMap::new(),
            away: Vec::new(),
            last_seen: BTreeMap::new(),
            display_names: BTreeMap::new(),
            status_texts: BTreeMap::new(),
            admins: Vec::new(),
            removed: None,
            notify: NotifyLevel::default_for(if id.starts_with("dm:") { RoomKind::Dm } else { RoomKind::Room }),
            image_rows: BTreeMap::new(),
        }
    }

    /// A member's display name (their user name when they chose none).
    pub fn display_name<'a>(&'a self, user: &'a str) -> &'a str {
        lookup(&self.display_names, user).unwrap_or(user)
    }

    /// A member's status text, or "".
    pub fn status_text(&self, user: &str) -> &str {
        lookup(&self.status_texts, user).unwrap_or("")
    }

    /// Keeps a member's profile as a `PROFILE` frame tells it.
    pub fn set_profile(&mut self, user: &str, display_name: &str, status_text: &str) {
        self.display_names.retain(|k, _| !k.eq_ignore_ascii_case(user));
        self.status_texts.retain(|k, _| !k.eq_ignore_ascii_case(user));
        if display_name != user {
            self.display_names.insert(user.to_string(), display_name.to_string());
        }
        if !status_text.is_empty() {
            self.status_texts.insert(user.to_string(), status_text.to_string());
        }
    }

    pub fn is_admin(&self, user: &str) -> bool {
        self.admins.iter().any(|a| a.eq_ignore_ascii_case(user))
    }

    pub fn has_member(&self, user: &str) -> bool {
        self.members.iter().any(|m| m.eq_ignore_ascii_case(user))
    }

    /// Inserts by `seq`; false if that `seq` is already here.
    pub fn insert(&mut self, message: Message) -> bool {
        match self.messages.binary_search_by_key(&message.seq, |m| m.seq) {
            Ok(_) => false,
            Err(at) => {
                self.messages.insert(at, message);
                true
            }
        }
    }

    pub fn last_seq(&self) -> Option<u64> {
        self.messages.last().map(|m| m.seq)
    }

    pub fn first_seq(&self) -> Option<u64> {
        self.messages.first().map(|m| m.seq)
    }

    /// `#general`, or `@bob` for a DM seen by alice.
    pub fn label(&self, me: &str) -> String {
        match (self.kind, chaty_proto::validate::dm_members(&self.id)) {
            (RoomKind::Dm, Some((a, b))) => {
                format!("@{}", if a.eq_ignore_ascii_case(me) { b } else { a })
            }
            _ => format!("#{}", self.id),
        }
    }

    pub fn message_mut(&mut self, id: u64) -> Option<&mut Message> {
        self.messages.iter_mut().find(|m| m.id == id)
    }

    /// How many other members have read up to `seq`.
    pub fn read_by(&self, seq: u64, me: &str) -> usize {
        self.reads.iter().filter(|(who, read)| !who.eq_ignore_ascii_case(me) && **read >= seq).count()
    }

    /// Drops typers whose time ran out; true if any did.
    pub fn expire_typers(&mut self, now: Instant) -> bool {
        let before = self.typers.len();
        self.typers.retain(|(_, until)| *until > now);
        before != self.typers.len()
    }
}

/// A value by user name: exactly, or else in any letter case.
fn lookup<'a>(map: &'a BTreeMap<String, String>, user: &str) -> Option<&'a str> {
    map.get(user).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(user)).map(|(_, v)| v)).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: u64) -> Message {
        Message {
            id: seq,
            seq,
            room_id: "r".into(),
            user_id: "a".into(),
            user_name: "a".into(),
            content: format!("m{seq}"),
            timestamp: "2024-03-28T12:00:00.000Z".into(),
            client_id: None,
            reply_to: None,
            ..Message::default()
        }
    }

    #[test]
    fn messages_stay_ordered_and_unique() {
        let mut room = Room::new("r");
        for seq in [3, 1, 2, 3, 1] {
            room.insert(msg(seq));
        }
        assert_eq!(room.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!((room.first_seq(), room.last_seq()), (Some(1), Some(3)));
    }

    #[test]
    fn dm_labels_show_the_other_person() {
        assert_eq!(Room::new("dm:alice:bob").label("alice"), "@bob");
        assert_eq!(Room::new("dm:alice:bob").label("bob"), "@alice");
        assert_eq!(Room::new("general").label("bob"), "#general");
    }
}
