//! Posting messages (idempotent by `(sender, clientId)`, `seq` gap-free per
//! room) and reading history pages.

use chaty_proto::time::format_millis;
use chaty_proto::{ErrorCode, Message};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rooms;
use super::users::{self, User};
use crate::error::StoreError;

/// Largest `HISTORY` page; larger requests are clamped.
pub const MAX_PAGE: usize = 200;
/// Page size when the client does not say.
pub const DEFAULT_PAGE: usize = 50;

/// A message to store.
#[derive(Debug, Clone)]
pub struct Post {
    pub room_id: String,
    pub sender: User,
    /// What to show as the sender's name (a guest's chosen `userName`).
    pub display_name: String,
    pub content: String,
    pub client_id: Option<String>,
    pub reply_to: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Posted {
    pub message: Message,
    /// False when `(sender, clientId)` was already stored: a retry.
    pub new: bool,
}

const SELECT: &str =
    "SELECT m.id, m.seq, m.room_id, u.name, m.sender_name, m.content, m.created_at, m.client_id, m.reply_to
     FROM messages m JOIN users u ON u.id = m.sender_id";

fn message(r: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: r.get::<_, i64>(0)? as u64,
        seq: r.get::<_, i64>(1)? as u64,
        room_id: r.get(2)?,
        user_id: r.get(3)?,
        user_name: r.get(4)?,
        content: r.get(5)?,
        timestamp: format_millis(r.get(6)?),
        client_id: r.get(7)?,
        reply_to: r.get::<_, Option<i64>>(8)?.map(|id| id as u64),
    })
}

fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub fn post(conn: &Connection, p: &Post, now: i64) -> Result<Posted, StoreError> {
    if let Some(client_id) = &p.client_id {
        let existing = conn
            .prepare_cached(&format!("{SELECT} WHERE m.sender_id = ?1 AND m.client_id = ?2"))?
            .query_row(params![p.sender.id, client_id], message)
            .optional()?;
        if let Some(message) = existing {
            if message.room_id != p.room_id {
                return Err(StoreError::refused(
                    ErrorCode::Conflict,
                    format!("clientId \"{client_id}\" was already used for a message in another room"),
                ));
            }
            return Ok(Posted { message, new: false });
        }
    }
    if !rooms::is_member(conn, &p.room_id, p.sender.id)? {
        return Err(rooms::not_visible(&p.room_id));
    }
    if p.sender.guest
        && !p.display_name.eq_ignore_ascii_case(&p.sender.name)
        && users::is_registered(conn, &p.display_name)?
    {
        return Err(StoreError::refused(
            ErrorCode::Conflict,
            format!(
                "\"{}\" is a registered user; a guest cannot post under that name",
                p.display_name
            ),
        ));
    }
    if let Some(reply_to) = p.reply_to {
        let found = conn
            .prepare_cached("SELECT 1 FROM messages WHERE id = ?1 AND room_id = ?2")?
            .query_row(params![to_sql(reply_to), p.room_id], |_| Ok(()))
            .optional()?;
        if found.is_none() {
            return Err(StoreError::refused(
                ErrorCode::NotFound,
                format!("replyTo {reply_to} is not a message in this room"),
            ));
        }
    }
    let seq: i64 = conn
        .prepare_cached("UPDATE rooms SET last_seq = last_seq + 1 WHERE id = ?1 RETURNING last_seq")?
        .query_row([&p.room_id], |r| r.get(0))?;
    conn.prepare_cached(
        "INSERT INTO messages (room_id, seq, sender_id, sender_name, content, reply_to, created_at, client_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        p.room_id,
        seq,
        p.sender.id,
        p.display_name,
        p.content,
        p.reply_to.map(to_sql),
        now,
        p.client_id
    ])?;
    let message = Message {
        id: conn.last_insert_rowid() as u64,
        seq: seq as u64,
        room_id: p.room_id.clone(),
        user_id: p.sender.name.clone(),
        user_name: p.display_name.clone(),
        content: p.content.clone(),
        timestamp: format_millis(now),
        client_id: p.client_id.clone(),
        reply_to: p.reply_to,
    };
    Ok(Posted { message, new: true })
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
        self.limit.map_or(DEFAULT_PAGE, |l| {
            usize::try_from(l).unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE)
        })
    }
}

/// A page of history in ascending `seq`, and whether more lies beyond it
/// (after it for `after`, before it otherwise).
pub fn history(conn: &Connection, room_id: &str, page: Page) -> Result<(Vec<Message>, bool), StoreError> {
    let size = page.size();
    let fetch = (size + 1) as i64;
    let mut rows: Vec<Message> = match (page.after, page.before) {
        (Some(after), _) => conn
            .prepare_cached(&format!(
                "{SELECT} WHERE m.room_id = ?1 AND m.seq > ?2 ORDER BY m.seq ASC LIMIT ?3"
            ))?
            .query_map(params![room_id, to_sql(after), fetch], message)?
            .collect::<Result<_, _>>()?,
        (None, before) => conn
            .prepare_cached(&format!(
                "{SELECT} WHERE m.room_id = ?1 AND m.seq < ?2 ORDER BY m.seq DESC LIMIT ?3"
            ))?
            .query_map(params![room_id, before.map_or(i64::MAX, to_sql), fetch], message)?
            .collect::<Result<_, _>>()?,
    };
    let has_more = rows.len() > size;
    rows.truncate(size);
    if page.after.is_none() {
        rows.reverse();
    }
    Ok((rows, has_more))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Connection, User) {
        let conn = Connection::open_in_memory().expect("db");
        super::super::schema::migrate(&conn).expect("migrate");
        let a = users::register(&conn, "alice", "h", 0).expect("a");
        rooms::join(&conn, "general", &a, 0).expect("join");
        (conn, a)
    }

    fn post_n(conn: &Connection, user: &User, n: usize) {
        for i in 0..n {
            let p = Post {
                room_id: "general".into(),
                sender: user.clone(),
                display_name: user.name.clone(),
                content: format!("m{i}"),
                client_id: None,
                reply_to: None,
            };
            post(conn, &p, i as i64).expect("post");
        }
    }

    #[test]
    fn seq_is_gap_free_and_retries_return_the_original() {
        let (conn, a) = setup();
        post_n(&conn, &a, 3);
        let p = Post {
            room_id: "general".into(),
            sender: a.clone(),
            display_name: "alice".into(),
            content: "once".into(),
            client_id: Some("c1".into()),
            reply_to: Some(1),
        };
        let first = post(&conn, &p, 10).expect("post");
        let again = post(&conn, &p, 20).expect("retry");
        assert!(first.new && !again.new);
        assert_eq!(first.message, again.message);
        assert_eq!(first.message.seq, 4);
        let (all, _) = history(&conn, "general", Page::default()).expect("history");
        assert_eq!(all.iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    }

    #[test]
    fn pages_walk_backwards_and_forwards() {
        let (conn, a) = setup();
        post_n(&conn, &a, 7);
        let latest = history(
            &conn,
            "general",
            Page {
                limit: Some(3),
                ..Page::default()
            },
        )
        .expect("latest");
        assert_eq!(
            (latest.0.iter().map(|m| m.seq).collect::<Vec<_>>(), latest.1),
            (vec![5, 6, 7], true)
        );
        let older = history(
            &conn,
            "general",
            Page {
                before: Some(5),
                limit: Some(3),
                ..Page::default()
            },
        )
        .expect("older");
        assert_eq!(
            (older.0.iter().map(|m| m.seq).collect::<Vec<_>>(), older.1),
            (vec![2, 3, 4], true)
        );
        let after = history(
            &conn,
            "general",
            Page {
                after: Some(4),
                limit: Some(3),
                ..Page::default()
            },
        )
        .expect("after");
        assert_eq!(
            (after.0.iter().map(|m| m.seq).collect::<Vec<_>>(), after.1),
            (vec![5, 6, 7], false)
        );
        assert_eq!(
            Page {
                limit: Some(1_000_000_000),
                ..Page::default()
            }
            .size(),
            MAX_PAGE
        );
        assert_eq!(
            Page {
                limit: Some(0),
                ..Page::default()
            }
            .size(),
            1
        );
    }

    #[test]
    fn non_members_and_bad_replies_are_refused() {
        let (conn, a) = setup();
        let b = users::register(&conn, "bob", "h", 0).expect("b");
        let mut p = Post {
            room_id: "general".into(),
            sender: b,
            display_name: "bob".into(),
            content: "hi".into(),
            client_id: None,
            reply_to: None,
        };
        assert!(matches!(post(&conn, &p, 0), Err(StoreError::Refused(r)) if r.code == ErrorCode::NotFound));
        p.sender = a;
        p.reply_to = Some(99);
        assert!(matches!(post(&conn, &p, 0), Err(StoreError::Refused(r)) if r.code == ErrorCode::NotFound));
    }

    #[test]
    fn sql_metacharacters_round_trip() {
        let (conn, a) = setup();
        let text = "'; DROP TABLE messages; -- 100% _like_ \\ \"quoted\"";
        let p = Post {
            room_id: "general".into(),
            sender: a.clone(),
            display_name: a.name.clone(),
            content: text.into(),
            client_id: Some("%_'".into()),
            reply_to: None,
        };
        post(&conn, &p, 0).expect("post");
        assert_eq!(
            history(&conn, "general", Page::default()).expect("h").0[0].content,
            text
        );
    }
}
