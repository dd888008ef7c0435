//! Frames a client sends, and [`parse_client`]: the one entry point that turns
//! a WebSocket text message into a validated [`ClientFrame`] or a [`ParseError`].

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, ParseError};
use crate::validate::{self, MAX_CLIENT_ID_CHARS, MAX_OPAQUE_CHARS, MAX_PASSWORD_CHARS};

/// Checks a decoded frame's values; the message names the field.
trait Validate {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

fn opt<T>(value: &Option<T>, check: impl FnOnce(&T) -> Result<(), String>) -> Result<(), String> {
    value.as_ref().map_or(Ok(()), check)
}

macro_rules! frames {
    ($($(#[$doc:meta])* $name:literal => $variant:ident { $($(#[$fattr:meta])* $field:ident : $ty:ty),* $(,)? } $check:expr;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
            #[serde(rename_all = "camelCase")]
            pub struct $variant { $($(#[$fattr])* pub $field: $ty),* }

            impl Validate for $variant {
                #[allow(unused_variables)]
                fn validate(&self) -> Result<(), String> {
                    let check: fn(&Self) -> Result<(), String> = $check;
                    check(self)
                }
            }
        )*

        /// Every frame a client may send. On the wire: a JSON object whose
        /// `type` is the SCREAMING_SNAKE_CASE name, fields in camelCase.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum ClientFrame { $($variant($variant)),* }

        /// Every client frame `type`, as spelled on the wire.
        pub const CLIENT_TYPES: &[&str] = &[$($name),*];

        impl ClientFrame {
            /// The frame's `type` on the wire.
            pub fn type_name(&self) -> &'static str {
                match self { $(Self::$variant(_) => $name),* }
            }

            fn decode(kind: &str, text: &str) -> Result<Self, ParseError> {
                match kind {
                    $($name => {
                        let frame: $variant = decode_fields(text)?;
                        frame.validate().map_err(ParseError::invalid)?;
                        Ok(Self::$variant(frame))
                    })*
                    other => Err(ParseError::new(
                        ErrorCode::UnknownType,
                        format!("unknown type {}", validate::quote(other)),
                    )),
                }
            }
        }
    };
}

frames! {
    /// Join (or, for a new public id, create) a room; `since` asks for the
    /// messages after that `seq` as `HISTORY`.
    "JOIN_ROOM" => JoinRoom {
        room_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")] user_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")] since: Option<u64>,
    } |f| {
        validate::room_id("roomId", &f.room_id)?;
        opt(&f.user_id, |u| validate::guest_id("userId", u))
    };
    "LEAVE_ROOM" => LeaveRoom { room_id: String } |f| validate::room_id("roomId", &f.room_id);
    /// Send a message. `clientId` makes retries harmless and marks the echo.
    "CHAT_MESSAGE" => ChatMessage {
        room_id: String,
        content: String,
        #[serde(default, skip_serializing_if = "Option::is_none")] user_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")] user_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")] client_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")] reply_to: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")] attachment: Option<crate::Attachment>,
    } |f| {
        validate::room_id("roomId", &f.room_id)?;
        validate::content("content", &f.content)?;
        opt(&f.user_id, |u| validate::guest_id("userId", u))?;
        opt(&f.user_name, |u| validate::display_name("userName", u))?;
        opt(&f.client_id, |c| validate::bounded("clientId", c, MAX_CLIENT_ID_CHARS))?;
        opt(&f.attachment, validate::attachment)
    };
    /// Create an account; `displayName` defaults to the user name; `invite`
    /// is the token a server with `--registration invite` requires.
    "REGISTER" => Register {
        user_name: String,
        password: String,
        #[serde(default, skip_serializing_if = "Option::is_none")] display_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")] invite: Option<String>,
    } |f| {
        validate::user_name("userName", &f.user_name)?;
        validate::new_password("password", &f.password)?;
        opt(&f.display_name, |d| validate::display_name("displayName", d))?;
        opt(&f.invite, |i| validate::bounded("invite", i, MAX_OPAQUE_CHARS))
    };
    "LOGIN" => Login { user_name: String, password: String } |f| {
        validate::user_name("userName", &f.user_name)?;
        validate::bounded("password", &f.password, MAX_PASSWORD_CHARS)
    };
    "AUTH" => Auth { token: String } |f| validate::bounded("token", &f.token, MAX_OPAQUE_CHARS);
    "REFRESH" => Refresh { refresh_token: String } |f| validate::bounded("refreshToken", &f.refresh_token, MAX_OPAQUE_CHARS);
    "LOGOUT" => Logout {} |_f| Ok(());
    "CREATE_ROOM" => CreateRoom {
        room_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")] topic: Option<String>,
        #[serde(default)] private: bool,
    } |f| {
        validate::room_id("roomId", &f.room_id)?;
        if f.room_id.starts_with("dm:") {
            return Err("`roomId` must not use the dm: form; send OPEN_DM".into());
        }
        opt(&f.topic, |t| validate::topic("topic", t))
    };
    "INVITE" => Invite { room_id: String, user_id: String } |f| {
        validate::room_id("roomId", &f.room_id)?;
        validate::user_name("userId", &f.user_id)
    };
    "LIST_ROOMS" => ListRooms {} |_f| Ok(());
    "OPEN_DM" => OpenDm { user_id: String } |f| validate::user_name("userId", &f.user_id);
    /// A page of history by `seq`: before, after, or (neither) the latest.
    "HISTORY" => History {
        room_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")] before: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")] after: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")] limit: Option<u64>,
    } |f| {
        validate::room_id("roomId", &f.room_id)?;
        if f.before.is_some() && f.after.is_some() {
            return Err("give `before` or `after`, not both".into());
        }
        Ok(())
    };
    "TYPING" => Typing { room_id: String, typing: bool } |f| validate::room_id("roomId", &f.room_id);
    "MARK_READ" => MarkRead { room_id: String, seq: u64 } |f| validate::room_id("roomId", &f.room_id);
    "EDIT_MESSAGE" => EditMessage { message_id: u64, content: String } |f| validate::content("content", &f.content);
    "DELETE_MESSAGE" => DeleteMessage { message_id: u64 } |_f| Ok(());
    "REACT" => React {
        message_id: u64,
        emoji: String,
        #[serde(default)] remove: bool,
    } |f| validate::bounded("emoji", &f.emoji, 32);
    "SET_PRESENCE" => SetPresence { status: PresenceStatus } |_f| Ok(());
    "SEARCH" => Search {
        query: String,
        #[serde(default, skip_serializing_if = "Option::is_none")] room_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")] limit: Option<u64>,
    } |f| {
        validate::bounded("query", &f.query, MAX_OPAQUE_CHARS)?;
        opt(&f.room_id, |r| validate::room_id("roomId", r))
    };
    /// Change how you are shown: either field, or both.
    "SET_PROFILE" => SetProfile {
        #[serde(default, skip_serializing_if = "Option::is_none")] display_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")] status_text: Option<String>,
    } |f| {
        if f.display_name.is_none() && f.status_text.is_none() {
            return Err("give `displayName`, `statusText` or both".into());
        }
        opt(&f.display_name, |d| validate::display_name("displayName", d))?;
        opt(&f.status_text, |t| validate::status_text("statusText", t))
    };
    /// The user directory: find people by name, or look up given users.
    "USERS" => Users {
        #[serde(default, skip_serializing_if = "Option::is_none")] query: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")] user_ids: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")] limit: Option<u64>,
    } |f| {
        opt(&f.query, |q| validate::bounded("query", q, validate::MAX_DISPLAY_NAME_CHARS))?;
        opt(&f.user_ids, |ids| {
            if ids.len() > MAX_USER_LOOKUP {
                return Err(format!("`userIds` has {} entries; the limit is {MAX_USER_LOOKUP}", ids.len()));
            }
            ids.iter().try_for_each(|id| validate::guest_id("userIds", id))
        })
    };
    /// Moderation (room admins, server admins): make a member an admin or a plain member.
    "SET_NOTIFY" => SetNotify { room_id: String, level: NotifyLevel } |f| validate::room_id("roomId", &f.room_id);
    "SET_ROLE" => SetRole { room_id: String, user_id: String, role: Role } |f| moderated(&f.room_id, &f.user_id, None);
    /// Remove a member from a room; they may join again.
    "KICK" => Kick {
        room_id: String, user_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")] reason: Option<String>,
    } |f| moderated(&f.room_id, &f.user_id, f.reason.as_ref());
    /// A kick that also refuses their `JOIN_ROOM` (and invitations) until `UNBAN`.
    "BAN" => Ban {
        room_id: String, user_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")] reason: Option<String>,
    } |f| moderated(&f.room_id, &f.user_id, f.reason.as_ref());
    "UNBAN" => Unban { room_id: String, user_id: String } |f| moderated(&f.room_id, &f.user_id, None);
    /// Change a room's topic (empty clears it).
    "SET_TOPIC" => SetTopic { room_id: String, topic: String } |f| {
        validate::room_id("roomId", &f.room_id)?;
        validate::topic("topic", &f.topic)
    };
    "PING" => Ping {} |_f| Ok(());
}

/// The `roomId`, `userId` and `reason` of a moderation frame (guests may be moderated too).
fn moderated(room_id: &str, user_id: &str, reason: Option<&String>) -> Result<(), String> {
    validate::room_id("roomId", room_id)?;
    validate::guest_id("userId", user_id)?;
    reason.map_or(Ok(()), |r| validate::reason("reason", r))
}

/// A member's role in a room. Direct-message rooms have no admins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }
}

impl TryFrom<String> for Role {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            _ => Err(format!("{} must be admin or member", validate::quote(&text))),
        }
    }
}

/// What a room notifies its member of, as they set it (`SET_NOTIFY`), the
/// same on every device. Rooms default to mentions, DMs to all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum NotifyLevel {
    All,
    Mentions,
    None,
}

impl NotifyLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Mentions => "mentions",
            Self::None => "none",
        }
    }

    /// The level of a room `kind` whose member set none.
    pub fn default_for(kind: crate::RoomKind) -> Self {
        match kind {
            crate::RoomKind::Dm => Self::All,
            crate::RoomKind::Room => Self::Mentions,
        }
    }
}

impl TryFrom<String> for NotifyLevel {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "all" => Ok(Self::All),
            "mentions" => Ok(Self::Mentions),
            "none" => Ok(Self::None),
            _ => Err(format!("{} must be all, mentions or none", validate::quote(&text))),
        }
    }
}

/// Most users one `USERS` lookup may name (the most a reply lists).
pub const MAX_USER_LOOKUP: usize = 50;

/// A user's presence as they set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceStatus {
    Online,
    Away,
    Offline,
}

/// A parsed, validated client frame with its optional `ref`.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub frame: ClientFrame,
    pub reference: Option<String>,
}

/// The fields every frame shares; reading them first lets errors name the
/// `type` and carry the `ref` even when the rest is wrong.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: Option<serde_json::Value>,
    #[serde(rename = "ref")]
    reference: Option<serde_json::Value>,
}

/// Parses one WebSocket text message. Unknown fields are ignored so newer
/// clients keep working; everything else that is wrong is an error that says
/// what and where.
pub fn parse_client(text: &str) -> Result<Request, ParseError> {
    let not_object = || ParseError::new(ErrorCode::BadFrame, "a frame must be a JSON object with a `type`");
    // serde would read a JSON array as a struct's fields in order; refuse it up front.
    if text.trim_start().starts_with('[') {
        return Err(not_object());
    }
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| {
        let msg = match e.classify() {
            serde_json::error::Category::Data => return not_object(),
            _ => format!("not valid JSON: {}", strip_position(&e)),
        };
        ParseError::new(ErrorCode::BadFrame, msg)
    })?;
    let reference = match envelope.reference {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(r)) if r.chars().count() <= MAX_OPAQUE_CHARS => Some(r),
        Some(_) => {
            return Err(ParseError::invalid("`ref` must be a string of at most 256 characters"));
        }
    };
    let with_ref = |mut e: ParseError| {
        e.reference.clone_from(&reference);
        e
    };
    let kind = match envelope.kind {
        Some(serde_json::Value::String(kind)) => kind,
        None => {
            return Err(with_ref(ParseError::new(ErrorCode::BadFrame, "missing field `type`")));
        }
        Some(_) => {
            return Err(with_ref(ParseError::new(ErrorCode::BadFrame, "`type` must be a string")));
        }
    };
    let frame = ClientFrame::decode(&kind, text).map_err(with_ref)?;
    Ok(Request { frame, reference })
}

fn decode_fields<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = strip_position(e.inner());
        ParseError::invalid(describe(&path, &inner))
    })
}

/// Turns serde's wording into ours: "`content` must be a string".
fn describe(path: &str, serde_msg: &str) -> String {
    let expected = serde_msg
        .strip_prefix("invalid type: ")
        .or_else(|| serde_msg.strip_prefix("invalid value: "))
        .and_then(|m| m.split_once(", expected "))
        .map(|(_, want)| want);
    match expected {
        Some(want) if path != "." => {
            let want = match want {
                "u64" | "u32" => "a non-negative integer",
                "i64" => "an integer",
                w if w.starts_with("struct ") || w == "a map" => "an object",
                "a boolean" => "true or false",
                w => w,
            };
            format!("`{path}` must be {want}")
        }
        _ if path != "." && serde_msg.starts_with("missing field") => format!("`{path}`: {serde_msg}"),
        _ if path == "." || serde_msg.contains('`') => serde_msg.to_string(),
        _ => format!("`{path}`: {serde_msg}"),
    }
}

fn strip_position(e: &serde_json::Error) -> String {
    let full = e.to_string();
    match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    }
}

impl ClientFrame {
    /// The JSON text of this frame (with `ref` when given).
    pub fn to_json(&self, reference: Option<&str>) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let (Some(r), Some(obj)) = (reference, value.as_object_mut()) {
            obj.insert("ref".into(), r.into());
        }
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ParseError {
        parse_client(text).expect_err(text)
    }

    #[test]
    fn seed_frames_parse() {
        // The exact frames of the seed protocol's README.
        let join = parse_client(r#"{"type":"JOIN_ROOM","roomId":"general","userId":"alice"}"#).expect("join");
        assert_eq!(
            join.frame,
            ClientFrame::JoinRoom(JoinRoom { room_id: "general".into(), user_id: Some("alice".into()), since: None })
        );
        let chat = parse_client(
            r#"{"type":"CHAT_MESSAGE","roomId":"general","userId":"alice","userName":"Alice","content":"Hello, world!"}"#,
        )
        .expect("chat");
        let ClientFrame::ChatMessage(m) = chat.frame else { panic!("not a chat message") };
        assert_eq!((m.content.as_str(), m.user_name.as_deref()), ("Hello, world!", Some("Alice")));
        // The seed README's own example values: a display name with a space.
        let named =
            parse_client(r#"{"type":"CHAT_MESSAGE","roomId":"r","userId":"u1","userName":"User Name","content":"hi"}"#)
                .expect("seed example");
        let ClientFrame::ChatMessage(m) = named.frame else { panic!("not a chat message") };
        assert_eq!(m.user_name.as_deref(), Some("User Name"));
        let leave = parse_client(r#"{"type":"LEAVE_ROOM","roomId":"general"}"#).expect("leave");
        assert_eq!(leave.frame.type_name(), "LEAVE_ROOM");
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let cases = [
            ("hello", ErrorCode::BadFrame, "not valid JSON: expected value"),
            ("[1,2]", ErrorCode::BadFrame, "a frame must be a JSON object with a `type`"),
            (r#"{"roomId":"a"}"#, ErrorCode::BadFrame, "missing field `type`"),
            (r#"{"type":7}"#, ErrorCode::BadFrame, "`type` must be a string"),
            (r#"{"type":"FOO"}"#, ErrorCode::UnknownType, "unknown type \"FOO\""),
            (r#"{"type":"JOIN_ROOM"}"#, ErrorCode::Invalid, "missing field `roomId`"),
            (r#"{"type":"CHAT_MESSAGE","roomId":"a","content":5}"#, ErrorCode::Invalid, "`content` must be a string"),
            (
                r#"{"type":"HISTORY","roomId":"a","limit":-1}"#,
                ErrorCode::Invalid,
                "`limit` must be a non-negative integer",
            ),
            (r#"{"type":"TYPING","roomId":"a","typing":"yes"}"#, ErrorCode::Invalid, "`typing` must be true or false"),
            (r#"{"type":"JOIN_ROOM","roomId":"Bad Room"}"#, ErrorCode::Invalid, "`roomId` \"Bad Room\" must be"),
            (r#"{"type":"SET_PRESENCE","status":"busy"}"#, ErrorCode::Invalid, "unknown variant `busy`"),
        ];
        for (text, code, msg) in cases {
            let e = err(text);
            assert_eq!(e.code, code, "{text}: {e}");
            assert!(e.message.starts_with(msg), "{text}: got {:?}, want {msg:?}", e.message);
        }
    }

    #[test]
    fn moderation_fields_are_checked() {
        let cases = [
            (
                r#"{"type":"SET_ROLE","roomId":"a","userId":"bo","role":"owner"}"#,
                "`role`: \"owner\" must be admin or member",
            ),
            (r#"{"type":"SET_ROLE","roomId":"a","userId":"bo"}"#, "missing field `role`"),
            (r#"{"type":"KICK","roomId":"a","userId":"b o"}"#, "`userId` \"b o\" must be"),
            (r#"{"type":"BAN","roomId":"A","userId":"bo"}"#, "`roomId` \"A\" must be"),
            (r#"{"type":"KICK","roomId":"a","userId":"bo","reason":"x\u202e"}"#, "`reason` \"x\\u{202e}\""),
            (r#"{"type":"SET_TOPIC","roomId":"a","topic":" pad"}"#, "`topic` \" pad\" must not start"),
            (r#"{"type":"UNBAN","roomId":"a"}"#, "missing field `userId`"),
        ];
        for (text, msg) in cases {
            let e = err(text);
            assert_eq!(e.code, ErrorCode::Invalid, "{text}: {e}");
            assert!(e.message.starts_with(msg), "{text}: got {:?}, want {msg:?}", e.message);
        }
        let clear = parse_client(r#"{"type":"SET_TOPIC","roomId":"a","topic":""}"#).expect("an empty topic clears it");
        assert_eq!(clear.frame, ClientFrame::SetTopic(SetTopic { room_id: "a".into(), topic: String::new() }));
    }

    #[test]
    fn oversize_content_is_refused_with_the_limit() {
        let text = serde_json::json!({"type": "CHAT_MESSAGE", "roomId": "a", "content": "x".repeat(4001)}).to_string();
        assert_eq!(err(&text).message, "`content` is 4001 characters; the limit is 4000");
    }

    #[test]
    fn ref_is_kept_on_errors_and_success() {
        let e = err(r#"{"type":"JOIN_ROOM","ref":"r1"}"#);
        assert_eq!(e.reference.as_deref(), Some("r1"));
        let ok = parse_client(r#"{"type":"PING","ref":"r2"}"#).expect("ping");
        assert_eq!(ok.reference.as_deref(), Some("r2"));
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let r = parse_client(r#"{"type":"PING","future":{"x":[1,2]}}"#).expect("ping");
        assert_eq!(r.frame, ClientFrame::Ping(Ping {}));
    }

    #[test]
    fn deep_nesting_is_refused_or_skipped_never_a_crash() {
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        // Where a field is read, depth beyond serde_json's limit is an error ...
        let deep = format!("{{\"type\":\"JOIN_ROOM\",\"roomId\":{}}}", nest(10_000));
        assert_eq!(err(&deep).code, ErrorCode::Invalid);
        let deep_type = format!("{{\"type\":{}}}", nest(10_000));
        assert_eq!(err(&deep_type).code, ErrorCode::BadFrame);
        // ... and an unknown field is skipped without recursion.
        let skipped = format!("{{\"type\":\"PING\",\"x\":{}}}", nest(10_000));
        assert_eq!(parse_client(&skipped).expect("ping").frame, ClientFrame::Ping(Ping {}));
    }

    #[test]
    fn every_type_round_trips() {
        let samples = vec![
            ClientFrame::JoinRoom(JoinRoom { room_id: "general".into(), user_id: Some("al".into()), since: Some(4) }),
            ClientFrame::LeaveRoom(LeaveRoom { room_id: "general".into() }),
            ClientFrame::ChatMessage(ChatMessage {
                room_id: "general".into(),
                content: "hi ✨".into(),
                user_id: None,
                user_name: Some("al".into()),
                client_id: Some("c-1".into()),
                reply_to: Some(3),
                attachment: Some(crate::Attachment {
                    file_id: "a".repeat(64),
                    name: "r.pdf".into(),
                    size: 10,
                    mime: "application/pdf".into(),
                }),
            }),
            ClientFrame::Register(Register {
                user_name: "al".into(),
                password: "correct horse".into(),
                display_name: Some("Al 🎸".into()),
                invite: Some("ci_0123".into()),
            }),
            ClientFrame::Login(Login { user_name: "al".into(), password: "pw".into() }),
            ClientFrame::Auth(Auth { token: "t".into() }),
            ClientFrame::Refresh(Refresh { refresh_token: "r".into() }),
            ClientFrame::Logout(Logout {}),
            ClientFrame::CreateRoom(CreateRoom { room_id: "ops".into(), topic: Some("on call".into()), private: true }),
            ClientFrame::Invite(Invite { room_id: "ops".into(), user_id: "bo".into() }),
            ClientFrame::ListRooms(ListRooms {}),
            ClientFrame::OpenDm(OpenDm { user_id: "bo".into() }),
            ClientFrame::History(History { room_id: "ops".into(), before: Some(10), after: None, limit: Some(50) }),
            ClientFrame::Typing(Typing { room_id: "ops".into(), typing: true }),
            ClientFrame::MarkRead(MarkRead { room_id: "ops".into(), seq: 9 }),
            ClientFrame::SetNotify(SetNotify { room_id: "ops".into(), level: NotifyLevel::None }),
            ClientFrame::EditMessage(EditMessage { message_id: 1, content: "fixed".into() }),
            ClientFrame::DeleteMessage(DeleteMessage { message_id: 1 }),
            ClientFrame::React(React { message_id: 1, emoji: "👍".into(), remove: false }),
            ClientFrame::SetPresence(SetPresence { status: PresenceStatus::Away }),
            ClientFrame::Search(Search { query: "deploy".into(), room_id: None, limit: Some(5) }),
            ClientFrame::SetProfile(SetProfile {
                display_name: Some("Zoë 山田".into()),
                status_text: Some("in a meeting".into()),
            }),
            ClientFrame::Users(Users { query: Some("zo".into()), user_ids: Some(vec!["al".into()]), limit: Some(5) }),
            ClientFrame::SetRole(SetRole { room_id: "ops".into(), user_id: "bo".into(), role: Role::Admin }),
            ClientFrame::Kick(Kick { room_id: "ops".into(), user_id: "bo".into(), reason: Some("spam".into()) }),
            ClientFrame::Ban(Ban { room_id: "ops".into(), user_id: "bo".into(), reason: None }),
            ClientFrame::Unban(Unban { room_id: "ops".into(), user_id: "bo".into() }),
            ClientFrame::SetTopic(SetTopic { room_id: "ops".into(), topic: "on call 🚒".into() }),
            ClientFrame::Ping(Ping {}),
        ];
        assert_eq!(samples.len(), CLIENT_TYPES.len(), "a sample for every type");
        for frame in samples {
            let text = frame.to_json(Some("r"));
            let parsed = parse_client(&text).expect(&text);
            assert_eq!(parsed.frame, frame, "{text}");
            assert_eq!(parsed.reference.as_deref(), Some("r"));
            assert!(text.contains(&format!("\"type\":\"{}\"", frame.type_name())), "{text}");
        }
    }
}
