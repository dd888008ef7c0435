//! The store's domain types: what both backends take and return, and the
//! rules they share (token hashing, page and answer sizes, the refusal for a
//! room you may not see). No SQL here.

use chaty_proto::{Attachment, ErrorCode, Message, RoomKind};
use sha2::{Digest, Sha256};

use crate::error::StoreError;

// ----- accounts ------------------------------------------------------

/// How long an access token is good for.
pub const ACCESS_TTL_MS: i64 = 15 * 60 * 1000;

/// How long a refresh token is good for.
pub const REFRESH_TTL_MS: i64 = 30 * 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub guest: bool,
}

/// A freshly issued token pair (the only time the plain tokens exist).
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub family: String,
    pub access_expires_at: i64,
}

pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The refusal for a user banned from the whole server (`user ban`):
/// LOGIN (after a correct password only), AUTH and REFRESH.
pub fn account_banned(reason: Option<&str>) -> StoreError {
    match reason {
        Some(why) => StoreError::refused(ErrorCode::Forbidden, format!("this account is banned: {why}")),
        None => StoreError::refused(ErrorCode::Forbidden, "this account is banned"),
    }
}

/// Who an access token signs in.
#[derive(Debug, Clone)]
pub struct Access {
    pub user: User,
    pub family: String,
    pub expires_at: i64,
}

/// What presenting a refresh token did.
#[derive(Debug)]
pub enum Rotation {
    Rotated(User, Tokens),
    /// The token had already been rotated; its family (named here) is now
    /// revoked. This is an `Ok` so the revocation commits; the caller refuses.
    ReuseDetected(String),
}

// ----- profiles and the directory ------------------------------------

/// How a user is shown.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    /// Their chosen display name, or their user name when they chose none.
    pub display_name: String,
    pub status_text: String,
}

/// A directory entry before presence is added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    pub name: String,
    pub profile: Profile,
    /// Whether the asker may see this user's presence: they share a room, or it is the asker.
    pub visible_presence: bool,
    /// When their last connection closed (ms), if ever.
    pub last_seen: Option<i64>,
}

/// A member's notification level as stored (`None`: the room kind's default).
pub fn notify_level(stored: Option<&str>, kind: chaty_proto::RoomKind) -> chaty_proto::NotifyLevel {
    stored
        .and_then(|s| chaty_proto::NotifyLevel::try_from(s.to_string()).ok())
        .unwrap_or_else(|| chaty_proto::NotifyLevel::default_for(kind))
}

/// Largest directory answer; larger `limit`s are clamped.
pub const MAX_USERS: usize = 50;

/// Directory answer size when the client does not say.
pub const DEFAULT_USERS: usize = 20;

/// What `USERS` asks for.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    /// Case-insensitive prefix of the user name or of any word of the display name.
    pub query: Option<String>,
    /// Exactly these users.
    pub user_ids: Option<Vec<String>>,
    pub limit: Option<u64>,
}

impl Lookup {
    /// The answer size actually served: 1..=[`MAX_USERS`].
    pub fn size(&self) -> usize {
        self.limit.map_or(DEFAULT_USERS, |l| usize::try_from(l).unwrap_or(MAX_USERS).clamp(1, MAX_USERS))
    }
}

// ----- rooms -----------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: String,
    pub kind: RoomKind,
    pub topic: String,
    pub private: bool,
}

/// What a membership change did.
#[derive(Debug, Clone)]
pub struct Joined {
    pub room: Room,
    /// False when the user already was a member.
    pub newly: bool,
}

/// The refusal for a message that was deleted (a tombstone).
pub fn deleted(id: u64) -> StoreError {
    StoreError::refused(ErrorCode::NotFound, format!("message {id} was deleted"))
}

/// The refusal for a room the user may not see: the same words whether it
/// exists or not, so nothing leaks.
pub fn not_visible(room_id: &str) -> StoreError {
    StoreError::refused(ErrorCode::NotFound, format!("no room \"{room_id}\" that you are a member of"))
}

/// A member as the member list shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub read_seq: u64,
    /// When their last connection closed (ms), if ever.
    pub last_seen: Option<i64>,
    /// Their display name, when they chose one.
    pub display_name: Option<String>,
    pub status_text: String,
    /// An admin of the room.
    pub admin: bool,
}

// ----- messages --------------------------------------------------------

/// Largest `HISTORY` page; larger requests are clamped.
pub const MAX_PAGE: usize = 200;

/// Page size when the client does not say.
pub const DEFAULT_PAGE: usize = 50;

/// A message to store.
#[derive(Debug, Clone)]
pub struct Post {
    pub room_id: String,
    pub sender: User,
    /// A guest's chosen `userName` (their id when they chose none). A
    /// registered sender is shown by their profile's display name as it is
    /// when the message commits, whatever this says.
    pub display_name: String,
    pub content: String,
    pub client_id: Option<String>,
    pub reply_to: Option<u64>,
    pub attachment: Option<Attachment>,
}

#[derive(Debug, Clone)]
pub struct Posted {
    pub message: Message,
    /// False when `(sender, clientId)` was already stored: a retry.
    pub new: bool,
}

impl Post {
    /// The message as stored: what the echo and the live copies show.
    pub fn stored(&self, id: u64, seq: u64, shown: String, now: i64, attachment: Option<Attachment>) -> Message {
        Message {
            id,
            seq,
            room_id: self.room_id.clone(),
            user_id: self.sender.name.clone(),
            user_name: shown,
            content: self.content.clone(),
            timestamp: chaty_proto::time::format_millis(now),
            client_id: self.client_id.clone(),
            reply_to: self.reply_to,
            attachment,
            ..Message::default()
        }
    }
}

/// Which page of a room's history.
#[derive(Debug, Clone, Copy, Default)]
pub struct Page {
    pub before: Option<u64>,
    pub after: Option<u64>,
    pub limit: Option<u64>,
}

impl Page {
    /// The page size actually served: 1..=[`MAX_PAGE`].
    pub fn size(&self) -> usize {
        self.limit.map_or(DEFAULT_PAGE, |l| usize::try_from(l).unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE))
    }
}

/// Most results a `SEARCH` returns.
pub const MAX_RESULTS: usize = 100;

/// The words of a display name, lowercased, each after a space: the
/// directory matches `' ' || query` as a prefix of any of them.
pub(crate) fn search_key(display_name: &str) -> String {
    display_name.split_whitespace().map(|w| format!(" {}", w.to_lowercase())).collect()
}

/// `LIKE` pattern text for a literal prefix.
pub(crate) fn like_prefix(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}
