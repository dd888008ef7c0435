//! Frames the server sends. A direct reply may carry the request's `ref`
//! ([`ServerFrame::to_json`]); broadcasts never do.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::client::PresenceStatus;
use crate::error::ErrorCode;

/// A stored chat message as every client sees it, live and in `HISTORY`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Global, increasing.
    pub id: u64,
    /// Gap-free per room; equals commit order.
    pub seq: u64,
    pub room_id: String,
    pub user_id: String,
    pub user_name: String,
    pub content: String,
    /// RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    /// The sender's idempotency key; the sender's copy is its ack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
    /// When the text was last edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    /// A tombstone: the message was deleted and its content is gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Reactions, each emoji with who reacted, in the order first used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reactions>,
    /// A shared file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Attachment>,
}

/// One emoji on a message and the users who chose it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reactions {
    pub emoji: String,
    pub users: Vec<String>,
}

/// A file shared in a message; fetch it with `GET /files/{fileId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub file_id: String,
    pub name: String,
    pub size: u64,
    pub mime: String,
}

/// A search result: the message and a snippet with the match in `[…]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    #[serde(flatten)]
    pub message: Message,
    pub snippet: String,
}

/// A room as described to a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomSummary {
    pub room_id: String,
    pub topic: String,
    pub kind: RoomKind,
    pub private: bool,
    pub member_count: u64,
    pub last_seq: u64,
    /// Whether the asking user is a member (public rooms are listed either way).
    pub joined: bool,
    /// The asking user's read cursor, and what lies after it.
    #[serde(default)]
    pub read_seq: u64,
    #[serde(default)]
    pub unread: u64,
    /// Unread messages that mention the asking user (`@name`).
    #[serde(default)]
    pub mentions: u64,
    /// The asking user's role, in rooms they belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<crate::Role>,
    /// What the room notifies the asking user of, in rooms they belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<crate::NotifyLevel>,
}

/// A registered user as the directory (`USERS`) shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserProfile {
    /// The login name: the identity for mentions, DMs and `userId` fields.
    pub user_id: String,
    /// How they want to be shown (their user name when they set none).
    pub display_name: String,
    #[serde(default)]
    pub status_text: String,
    /// Online status, as `PRESENCE` reports it; only for people you share a
    /// room with (and yourself), absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PresenceStatus>,
    /// When they were last connected, if offline and you share a room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    Room,
    Dm,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Room => "room",
            Self::Dm => "dm",
        }
    }
}

/// Every frame the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE", rename_all_fields = "camelCase")]
pub enum ServerFrame {
    /// First frame on every connection.
    Welcome {
        message: String,
        connection_id: String,
        protocol: u32,
        server: String,
        auth_required: bool,
        /// Names the database; `seq` cursors from another epoch start over.
        epoch: String,
    },
    ChatMessage(Message),
    UserJoined {
        room_id: String,
        user_id: String,
    },
    UserLeft {
        room_id: String,
        user_id: String,
    },
    RoomMembersUpdate {
        room_id: String,
        members: Vec<String>,
        online: Vec<String>,
        /// Online members who set themselves away.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        away: Vec<String>,
        /// When offline members were last connected.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        last_seen: BTreeMap<String, String>,
        /// Members' read cursors (members who read nothing are left out).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        read: BTreeMap<String, u64>,
        /// Display names of members who set one other than their user name.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        display_names: BTreeMap<String, String>,
        /// Members' status texts (empty ones are left out).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        status_texts: BTreeMap<String, String>,
        /// The room's admins (left out when it has none).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        admins: Vec<String>,
    },
    AuthOk {
        user_id: String,
        user_name: String,
        /// How you are shown; your user name when you set none.
        #[serde(default)]
        display_name: String,
        #[serde(default)]
        status_text: String,
        token: String,
        /// Absent when signing in with `AUTH`: the client keeps the refresh token it has.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refresh_token: Option<String>,
        expires_at: String,
    },
    Room {
        room_id: String,
        topic: String,
        private: bool,
        kind: RoomKind,
    },
    Rooms {
        rooms: Vec<RoomSummary>,
    },
    History {
        room_id: String,
        messages: Vec<Message>,
        has_more: bool,
    },
    Typing {
        room_id: String,
        user_id: String,
        user_name: String,
        typing: bool,
    },
    Read {
        room_id: String,
        user_id: String,
        seq: u64,
    },
    MessageEdited {
        room_id: String,
        message_id: u64,
        content: String,
        edited_at: String,
    },
    MessageDeleted {
        room_id: String,
        message_id: u64,
    },
    Reaction {
        room_id: String,
        message_id: u64,
        user_id: String,
        emoji: String,
        added: bool,
    },
    Presence {
        user_id: String,
        status: PresenceStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_seen: Option<String>,
    },
    SearchResults {
        /// Newest first.
        messages: Vec<SearchHit>,
    },
    /// A user changed their display name or status text.
    Profile {
        user_id: String,
        display_name: String,
        status_text: String,
    },
    /// The answer to `USERS`, in user-name order.
    Users {
        users: Vec<UserProfile>,
    },
    /// Your notification level for a room changed (`SET_NOTIFY`, from any
    /// of your devices): every connection of yours gets it.
    Notify {
        room_id: String,
        level: crate::NotifyLevel,
    },
    /// You were removed from a room by a moderator (`KICK`, or `BAN`).
    Kicked {
        room_id: String,
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Also banned: `JOIN_ROOM` is refused until `UNBAN`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        banned: bool,
    },
    Pong {},
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
}

/// A server frame with its optional `ref`, as a client reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    #[serde(flatten)]
    pub frame: ServerFrame,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

#[derive(Serialize)]
struct ReplyRef<'a> {
    #[serde(flatten)]
    frame: &'a ServerFrame,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
}

impl ServerFrame {
    /// An `ERROR` frame.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error { code, message: message.into(), retry_after_ms: None }
    }

    /// The JSON text of this frame, with `ref` when it answers a request that had one.
    pub fn to_json(&self, reference: Option<&str>) -> String {
        let result = match reference {
            None => serde_json::to_string(self),
            Some(reference) => serde_json::to_string(&ReplyRef { frame: self, reference: Some(reference) }),
        };
        // Serializing plain owned data to a string cannot fail; keep a valid
        // frame anyway rather than panicking.
        result.unwrap_or_else(|e| format!(r#"{{"type":"ERROR","code":"internal","message":"{e}"}}"#))
    }
}

/// Parses a server frame (the client side of [`ServerFrame::to_json`]).
pub fn parse_server(text: &str) -> Result<Reply, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Message {
        Message {
            id: 7,
            seq: 3,
            room_id: "general".into(),
            user_id: "alice".into(),
            user_name: "Alice".into(),
            content: "Hello, world!".into(),
            timestamp: "2024-03-28T12:00:00.000Z".into(),
            client_id: Some("c1".into()),
            reply_to: Some(2),
            edited_at: Some("2024-03-28T12:01:00.000Z".into()),
            deleted: false,
            reactions: vec![Reactions { emoji: "👍".into(), users: vec!["bob".into()] }],
            attachment: Some(Attachment {
                file_id: "ab12".into(),
                name: "r.pdf".into(),
                size: 9,
                mime: "application/pdf".into(),
            }),
        }
    }

    fn all() -> Vec<ServerFrame> {
        let s = String::from;
        vec![
            ServerFrame::Welcome {
                message: s("Connected to WebSocket server with ID: 1"),
                connection_id: s("1"),
                protocol: 1,
                server: s("chaty/0.1.0"),
                auth_required: true,
                epoch: s("e"),
            },
            ServerFrame::ChatMessage(message()),
            ServerFrame::UserJoined { room_id: s("general"), user_id: s("alice") },
            ServerFrame::UserLeft { room_id: s("general"), user_id: s("alice") },
            ServerFrame::RoomMembersUpdate {
                room_id: s("general"),
                members: vec![s("alice"), s("bob"), s("carol")],
                online: vec![s("alice"), s("bob")],
                away: vec![s("bob")],
                last_seen: [(s("carol"), s("2024-03-28T11:00:00.000Z"))].into(),
                read: [(s("alice"), 3)].into(),
                display_names: [(s("bob"), s("Bob 🎸"))].into(),
                status_texts: [(s("bob"), s("in a meeting"))].into(),
                admins: vec![s("alice")],
            },
            ServerFrame::AuthOk {
                user_id: s("alice"),
                user_name: s("alice"),
                display_name: s("Alice Liddell"),
                status_text: s(""),
                token: s("t"),
                refresh_token: Some(s("r")),
                expires_at: s("2024-03-28T12:15:00.000Z"),
            },
            ServerFrame::Room { room_id: s("ops"), topic: s("on call"), private: true, kind: RoomKind::Room },
            ServerFrame::Rooms {
                rooms: vec![RoomSummary {
                    room_id: s("ops"),
                    topic: s(""),
                    kind: RoomKind::Dm,
                    private: true,
                    member_count: 2,
                    last_seq: 9,
                    joined: true,
                    read_seq: 7,
                    unread: 2,
                    mentions: 1,
                    role: Some(crate::Role::Admin),
                    notify: Some(crate::NotifyLevel::All),
                }],
            },
            ServerFrame::History { room_id: s("general"), messages: vec![message()], has_more: false },
            ServerFrame::Typing { room_id: s("general"), user_id: s("bob"), user_name: s("bob"), typing: true },
            ServerFrame::Read { room_id: s("general"), user_id: s("bob"), seq: 3 },
            ServerFrame::MessageEdited { room_id: s("general"), message_id: 7, content: s("x"), edited_at: s("t") },
            ServerFrame::MessageDeleted { room_id: s("general"), message_id: 7 },
            ServerFrame::Reaction {
                room_id: s("general"),
                message_id: 7,
                user_id: s("bob"),
                emoji: s("👍"),
                added: true,
            },
            ServerFrame::Presence { user_id: s("bob"), status: PresenceStatus::Away, last_seen: None },
            ServerFrame::SearchResults {
                messages: vec![SearchHit { message: message(), snippet: "[Hello], world!".into() }],
            },
            ServerFrame::ChatMessage(Message { deleted: true, content: String::new(), ..message() }),
            ServerFrame::Profile { user_id: s("bob"), display_name: s("Bob 🎸"), status_text: s("lunch") },
            ServerFrame::Users {
                users: vec![UserProfile {
                    user_id: s("bob"),
                    display_name: s("Bob 🎸"),
                    status_text: s("lunch"),
                    status: Some(PresenceStatus::Online),
                    last_seen: None,
                }],
            },
            ServerFrame::Kicked { room_id: s("ops"), by: s("alice"), reason: Some(s("spam")), banned: true },
            ServerFrame::Notify { room_id: s("ops"), level: crate::NotifyLevel::None },
            ServerFrame::Pong {},
            ServerFrame::Error { code: ErrorCode::RateLimited, message: s("slow down"), retry_after_ms: Some(250) },
        ]
    }

    #[test]
    fn every_frame_round_trips_with_and_without_ref() {
        for frame in all() {
            for reference in [None, Some("r9")] {
                let text = frame.to_json(reference);
                let back = parse_server(&text).expect(&text);
                assert_eq!(back.frame, frame, "{text}");
                assert_eq!(back.reference.as_deref(), reference, "{text}");
            }
        }
    }

    #[test]
    fn seed_field_names_and_type_spellings() {
        let v: serde_json::Value =
            serde_json::from_str(&ServerFrame::ChatMessage(message()).to_json(None)).expect("json");
        assert_eq!(v["type"], "CHAT_MESSAGE");
        for field in ["id", "roomId", "userId", "userName", "content", "timestamp"] {
            assert!(v.get(field).is_some(), "CHAT_MESSAGE lacks {field}");
        }
        let types: Vec<String> = all()
            .iter()
            .map(|f| serde_json::from_str::<serde_json::Value>(&f.to_json(None)).expect("json")["type"].to_string())
            .collect();
        for seed in ["WELCOME", "CHAT_MESSAGE", "USER_JOINED", "USER_LEFT", "ROOM_MEMBERS_UPDATE"] {
            assert!(types.contains(&format!("\"{seed}\"")), "{seed}");
        }
        let members = ServerFrame::RoomMembersUpdate {
            room_id: "g".into(),
            members: vec![],
            online: vec![],
            away: vec![],
            last_seen: BTreeMap::new(),
            read: BTreeMap::new(),
            display_names: BTreeMap::new(),
            status_texts: BTreeMap::new(),
            admins: vec![],
        }
        .to_json(None);
        assert_eq!(members, r#"{"type":"ROOM_MEMBERS_UPDATE","roomId":"g","members":[],"online":[]}"#);
    }

    #[test]
    fn error_codes_are_snake_case_words() {
        let text = ServerFrame::error(ErrorCode::NotFound, "no such room").to_json(Some("x"));
        assert_eq!(text, r#"{"type":"ERROR","code":"not_found","message":"no such room","ref":"x"}"#);
    }
}
