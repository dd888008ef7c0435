//! Every rule a client value must meet, in one place. Each check returns a
//! message that names the field and quotes (a bounded prefix of) the bad value.

/// Longest message content, in characters.
pub const MAX_CONTENT_CHARS: usize = 4000;
/// Longest `clientId`, in characters.
pub const MAX_CLIENT_ID_CHARS: usize = 64;
/// Longest user name (a registered account's login), in characters.
pub const MAX_USER_NAME_CHARS: usize = 32;
/// Longest guest `userId`, in characters.
pub const MAX_GUEST_ID_CHARS: usize = 64;
/// Longest display name (and guest `userName`), in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;
/// Longest status text, in characters.
pub const MAX_STATUS_TEXT_CHARS: usize = 100;
/// Longest room id (not counting the `dm:a:b` form), in characters.
pub const MAX_ROOM_ID_CHARS: usize = 64;
/// Longest room topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 256;
/// Longest moderation reason (`KICK`, `BAN`), in characters.
pub const MAX_REASON_CHARS: usize = 200;
/// Password length bounds on `REGISTER`.
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Longest `ref`, token or other opaque string, in characters.
pub const MAX_OPAQUE_CHARS: usize = 256;

type Check = Result<(), String>;

/// A bounded, escaped rendering of a bad value for an error message.
pub fn quote(value: &str) -> String {
    let mut q: String = value.chars().take(40).collect::<String>().escape_debug().collect();
    if value.chars().nth(40).is_some() {
        q.push('…');
    }
    format!("\"{q}\"")
}

/// `[a-z0-9][a-z0-9_-]{0,63}`, or a direct-message room `dm:<name>:<name>`.
pub fn room_id(field: &str, id: &str) -> Check {
    if let Some(rest) = id.strip_prefix("dm:") {
        let ok = rest.split_once(':').is_some_and(|(a, b)| user_name_ok(a) && user_name_ok(b));
        return if ok {
            Ok(())
        } else {
            Err(format!("`{field}` {} is not a direct-message room id (dm:<user>:<user>)", quote(id)))
        };
    }
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if first_ok && rest_ok && id.len() <= MAX_ROOM_ID_CHARS {
        Ok(())
    } else {
        Err(format!("`{field}` {} must be 1-64 of a-z, 0-9, _ and -, starting with a letter or digit", quote(id)))
    }
}

fn user_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_USER_NAME_CHARS
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `[A-Za-z0-9_-]{1,32}`.
pub fn user_name(field: &str, name: &str) -> Check {
    if user_name_ok(name) {
        Ok(())
    } else {
        Err(format!("`{field}` {} must be 1-32 of A-Z, a-z, 0-9, _ and -", quote(name)))
    }
}

/// A guest's `userId` as web apps make them (UUIDs, cuids, nanoids, Mongo
/// ObjectIds, e-mail-like ids): `[A-Za-z0-9_.@+-]{1,64}`. Every registered
/// user name is also a valid guest id.
pub fn guest_id(field: &str, id: &str) -> Check {
    let ok = !id.is_empty()
        && id.len() <= MAX_GUEST_ID_CHARS
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | '+'));
    if ok { Ok(()) } else { Err(format!("`{field}` {} must be 1-64 of A-Z, a-z, 0-9, _, -, ., @ and +", quote(id))) }
}

/// What a person is shown as: 1..=64 characters of printable text (see [`crate::printable`]).
pub fn display_name(field: &str, text: &str) -> Check {
    crate::printable::check(field, text, 1, MAX_DISPLAY_NAME_CHARS)
}

/// A short status ("in a meeting"): 0..=100 characters of printable text.
pub fn status_text(field: &str, text: &str) -> Check {
    crate::printable::check(field, text, 0, MAX_STATUS_TEXT_CHARS)
}

/// A room's topic: 0..=256 characters of printable text (empty: no topic).
pub fn topic(field: &str, text: &str) -> Check {
    crate::printable::check(field, text, 0, MAX_TOPIC_CHARS)
}

/// Why a moderator removed someone: 1..=200 characters of printable text.
pub fn reason(field: &str, text: &str) -> Check {
    crate::printable::check(field, text, 1, MAX_REASON_CHARS)
}

/// 1..=4000 characters, no NUL, not only whitespace.
pub fn content(field: &str, text: &str) -> Check {
    let n = text.chars().count();
    if n > MAX_CONTENT_CHARS {
        Err(format!("`{field}` is {n} characters; the limit is {MAX_CONTENT_CHARS}"))
    } else if text.trim().is_empty() {
        Err(format!("`{field}` must not be empty"))
    } else if text.contains('\0') {
        Err(format!("`{field}` must not contain NUL characters"))
    } else {
        Ok(())
    }
}

/// 1..=`max` characters, no control characters.
pub fn bounded(field: &str, text: &str, max: usize) -> Check {
    let n = text.chars().count();
    if n == 0 {
        Err(format!("`{field}` must not be empty"))
    } else if n > max {
        Err(format!("`{field}` is {n} characters; the limit is {max}"))
    } else if text.chars().any(char::is_control) {
        Err(format!("`{field}` {} must not contain control characters", quote(text)))
    } else {
        Ok(())
    }
}

/// A file id: the SHA-256 of its content, in lowercase hex.
pub fn file_id(field: &str, id: &str) -> Check {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(format!("`{field}` {} is not a file id (64 lowercase hex digits)", quote(id)))
    }
}

/// An attachment as a client describes it.
pub fn attachment(a: &crate::Attachment) -> Check {
    file_id("attachment.fileId", &a.file_id)?;
    bounded("attachment.name", &a.name, 255)?;
    bounded("attachment.mime", &a.mime, 127)
}

/// Password length on registration.
pub fn new_password(field: &str, password: &str) -> Check {
    let n = password.chars().count();
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        Ok(())
    } else {
        Err(format!("`{field}` must be {MIN_PASSWORD_CHARS}-{MAX_PASSWORD_CHARS} characters (got {n})"))
    }
}

/// The canonical direct-message room of two users: names sorted.
pub fn dm_room_id(a: &str, b: &str) -> String {
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    format!("dm:{x}:{y}")
}

/// The two user names of a `dm:<a>:<b>` room id.
pub fn dm_members(room_id: &str) -> Option<(&str, &str)> {
    room_id.strip_prefix("dm:")?.split_once(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids() {
        for ok in ["general", "a", "0day", "rust-lang_2", &"x".repeat(64), "dm:alice:bob", "dm:A_1:b-2"] {
            assert!(room_id("roomId", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "General",
            "-x",
            "_x",
            "a b",
            "../etc",
            "a.b",
            "a/b",
            &"x".repeat(65),
            "dm:",
            "dm:alice",
            "dm:a:b:c",
            "dm::b",
            "é",
        ] {
            assert!(room_id("roomId", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_names() {
        assert!(user_name("userName", "Alice_2-x").is_ok());
        for bad in ["", "a b", "ålice", &"a".repeat(33), "a:b"] {
            assert!(user_name("userName", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn guest_ids_take_what_web_apps_use() {
        for ok in [
            "u1",
            "3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b",
            "507f1f77bcf86cd799439011",
            "cjld2cjxh0000qzrmn831i7rn",
            "V1StGXR8_Z5jdHi6B-myT",
            "a.b@c.d",
            "first.last+tag@example.com",
            &"x".repeat(64),
        ] {
            assert!(guest_id("userId", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a:b", "a/b", "ålice", &"x".repeat(65), "<script>"] {
            assert!(guest_id("userId", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn content_limits_count_characters_not_bytes() {
        assert!(content("content", &"é".repeat(4000)).is_ok());
        let err = content("content", &"x".repeat(4001)).expect_err("too long");
        assert_eq!(err, "`content` is 4001 characters; the limit is 4000");
        assert!(content("content", "a\0b").is_err());
        assert!(content("content", " \n ").is_err());
    }

    #[test]
    fn quote_is_bounded_and_escaped() {
        assert_eq!(quote("a\"b\n"), r#""a\"b\n""#);
        assert_eq!(quote(&"y".repeat(100)).chars().count(), 43);
    }

    #[test]
    fn dm_ids_are_sorted() {
        assert_eq!(dm_room_id("bob", "alice"), "dm:alice:bob");
        assert_eq!(dm_members("dm:alice:bob"), Some(("alice", "bob")));
    }
}
