//! Posting messages (idempotent by `(sender, clientId)`, `seq` gap-free per
//! room) and reading history pages.

use chaty_proto::time::format_millis;
use chaty_proto::{ErrorCode, Message, Reactions, SearchHit};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::users;
use super::{files, profiles, rooms};
use crate::error::StoreError;
use crate::store::model::{MAX_RESULTS, Page, Post, Posted, User, deleted, not_visible};

/// The columns [`message`] reads, in its order.
macro_rules! columns {
    () => {
        "m.id, m.seq, m.room_id, u.name, m.sender_name, m.content, m.created_at, m.client_id,
         m.reply_to, m.edited_at, m.deleted_at IS NOT NULL, m.attachment"
    };
}

const SELECT: &str = concat!("SELECT ", columns!(), " FROM messages m JOIN users u ON u.id = m.sender_id");

fn message(r: &Row<'_>) -> rusqlite::Result<Message> {
    let attachment: Option<String> = r.get(11)?;
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
        edited_at: r.get::<_, Option<i64>>(9)?.map(format_millis),
        deleted: r.get(10)?,
        reactions: Vec::new(),
        attachment: attachment.and_then(|a| serde_json::from_str(&a).ok()),
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
        if let Some(mut message) = existing {
            if message.room_id != p.room_id {
                return Err(StoreError::refused(
                    ErrorCode::Conflict,
                    format!("clientId \"{client_id}\" was already used for a message in another room"),
                ));
            }
            add_reactions(conn, std::slice::from_mut(&mut message))?;
            return Ok(Posted { message, new: false });
        }
    }
    if !rooms::is_member(conn, &p.room_id, p.sender.id)? {
        return Err(not_visible(&p.room_id));
    }
    if p.sender.guest
        && !p.display_name.eq_ignore_ascii_case(&p.sender.name)
        && users::is_registered(conn, &p.display_name)?
    {
        return Err(StoreError::refused(
            ErrorCode::Conflict,
            format!("\"{}\" is a registered user; a guest cannot post under that name", p.display_name),
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
    let attachment = match &p.attachment {
        Some(a) => Some(files::shareable(conn, &a.file_id, p.sender.id)?),
        None => None,
    };
    let shown = if p.sender.guest { p.display_name.clone() } else { profiles::get(conn, p.sender.id)?.display_name };
    let seq: i64 = conn
        .prepare_cached("UPDATE rooms SET last_seq = last_seq + 1 WHERE id = ?1 RETURNING last_seq")?
        .query_row([&p.room_id], |r| r.get(0))?;
    let attachment_json = attachment.as_ref().and_then(|a| serde_json::to_string(a).ok());
    conn.prepare_cached(
        "INSERT INTO messages (room_id, seq, sender_id, sender_name, content, reply_to, created_at, client_id,
                               attachment, file_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        p.room_id,
        seq,
        p.sender.id,
        shown,
        p.content,
        p.reply_to.map(to_sql),
        now,
        p.client_id,
        attachment_json,
        attachment.as_ref().map(|a| &a.file_id),
    ])?;
    // What you post, you have read.
    conn.prepare_cached("UPDATE members SET read_seq = ?3 WHERE room_id = ?1 AND user_id = ?2")?.execute(params![
        p.room_id,
        p.sender.id,
        seq
    ])?;
    Ok(Posted { message: p.stored(conn.last_insert_rowid() as u64, seq as u64, shown, now, attachment), new: true })
}

/// Adds the messages written since the last call to the full-text index,
/// all in one statement (schema migration 8 says why). The writer runs it
/// before every commit; returns how many it indexed.
pub fn index_pending(conn: &Connection) -> Result<usize, StoreError> {
    let indexed = conn
        .prepare_cached(
            "INSERT INTO messages_fts (rowid, content)
             SELECT m.id, m.content FROM fts_pending p JOIN messages m ON m.id = p.id",
        )?
        .execute([])?;
    if indexed > 0 {
        conn.prepare_cached("DELETE FROM fts_pending")?.execute([])?;
    }
    Ok(indexed)
}

/// The message `id` if `user_id` may see it (a member of its room).
fn visible(conn: &Connection, id: u64, user_id: i64) -> Result<(Message, i64), StoreError> {
    let found = conn
        .prepare_cached(concat!(
            "SELECT ",
            columns!(),
            ", m.sender_id FROM messages m JOIN users u ON u.id = m.sender_id
             JOIN members mb ON mb.room_id = m.room_id AND mb.user_id = ?2 WHERE m.id = ?1"
        ))?
        .query_row(params![to_sql(id), user_id], |r| Ok((message(r)?, r.get::<_, i64>(12)?)))
        .optional()?;
    found.ok_or_else(|| StoreError::refused(ErrorCode::NotFound, format!("no message {id} in a room you are in")))
}

/// `EDIT_MESSAGE`: the sender changes the text of a message that is not deleted.
pub fn edit(conn: &Connection, id: u64, user: &User, content: &str, now: i64) -> Result<Message, StoreError> {
    let (mut m, sender) = visible(conn, id, user.id)?;
    if m.deleted {
        return Err(deleted(id));
    }
    if sender != user.id {
        return Err(StoreError::refused(ErrorCode::Forbidden, "you can only edit your own messages"));
    }
    conn.prepare_cached("UPDATE messages SET content = ?2, edited_at = ?3 WHERE id = ?1")?.execute(params![
        to_sql(id),
        content,
        now
    ])?;
    m.content = content.to_string();
    m.edited_at = Some(format_millis(now));
    Ok(m)
}

/// `DELETE_MESSAGE`: the sender, an admin of the room or a server admin leaves a tombstone.
/// Deleting a tombstone again changes nothing (`None`).
pub fn delete(conn: &Connection, id: u64, user: &User, now: i64) -> Result<Option<Message>, StoreError> {
    let (m, sender) = visible(conn, id, user.id)?;
    if sender != user.id && !rooms::moderates(conn, &m.room_id, user.id)? {
        return Err(StoreError::refused(ErrorCode::Forbidden, "you can only delete your own messages"));
    }
    if m.deleted {
        return Ok(None);
    }
    conn.prepare_cached(
        "UPDATE messages SET content = '', deleted_at = ?2, attachment = NULL, file_id = NULL WHERE id = ?1",
    )?
    .execute(params![to_sql(id), now])?;
    conn.prepare_cached("DELETE FROM reactions WHERE message_id = ?1")?.execute([to_sql(id)])?;
    Ok(Some(Message { content: String::new(), deleted: true, attachment: None, ..m }))
}

/// `REACT`: adds or removes one emoji of `user` on a message. Returns the
/// message's room, and whether anything changed.
pub fn react(
    conn: &Connection,
    id: u64,
    user: &User,
    emoji: &str,
    remove: bool,
    now: i64,
) -> Result<(String, bool), StoreError> {
    let (m, _) = visible(conn, id, user.id)?;
    if m.deleted {
        return Err(deleted(id));
    }
    let changed = if remove {
        conn.prepare_cached("DELETE FROM reactions WHERE message_id = ?1 AND user_id = ?2 AND emoji = ?3")?
            .execute(params![to_sql(id), user.id, emoji])?
    } else {
        conn.prepare_cached(
            "INSERT INTO reactions (message_id, user_id, emoji, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![to_sql(id), user.id, emoji, now])?
    };
    Ok((m.room_id, changed > 0))
}

/// Fills in the reactions of `messages`.
fn add_reactions(conn: &Connection, messages: &mut [Message]) -> Result<(), StoreError> {
    let (Some(min), Some(max)) = (messages.iter().map(|m| m.id).min(), messages.iter().map(|m| m.id).max()) else {
        return Ok(());
    };
    let mut stmt = conn.prepare_cached(
        "SELECT r.message_id, r.emoji, u.name FROM reactions r JOIN users u ON u.id = r.user_id
         WHERE r.message_id BETWEEN ?1 AND ?2 ORDER BY r.created_at, u.name",
    )?;
    let rows = stmt.query_map(params![to_sql(min), to_sql(max)], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
    })?;
    for row in rows {
        let (id, emoji, user) = row?;
        let Some(m) = messages.iter_mut().find(|m| m.id == id) else {
            continue;
        };
        match m.reactions.iter_mut().find(|r| r.emoji == emoji) {
            Some(r) => r.users.push(user),
            None => m.reactions.push(Reactions { emoji, users: vec![user] }),
        }
    }
    Ok(())
}

/// A page of history in ascending `seq`, and whether more lies beyond it
/// (after it for `after`, before it otherwise). Deleted messages are tombstones.
pub fn history(conn: &Connection, room_id: &str, page: Page) -> Result<(Vec<Message>, bool), StoreError> {
    let size = page.size();
    let fetch = (size + 1) as i64;
    let mut rows: Vec<Message> = match (page.after, page.before) {
        (Some(after), _) => conn
            .prepare_cached(&format!("{SELECT} WHERE m.room_id = ?1 AND m.seq > ?2 ORDER BY m.seq ASC LIMIT ?3"))?
            .query_map(params![room_id, to_sql(after), fetch], message)?
            .collect::<Result<_, _>>()?,
        (None, before) => conn
            .prepare_cached(&format!("{SELECT} WHERE m.room_id = ?1 AND m.seq < ?2 ORDER BY m.seq DESC LIMIT ?3"))?
            .query_map(params![room_id, before.map_or(i64::MAX, to_sql), fetch], message)?
            .collect::<Result<_, _>>()?,
    };
    let has_more = rows.len() > size;
    rows.truncate(size);
    if page.after.is_none() {
        rows.reverse();
    }
    add_reactions(conn, &mut rows)?;
    Ok((rows, has_more))
}

/// `SEARCH`: full text over the rooms `user_id` is a member of (or one of
/// them), newest first, with a snippet marking the matches in `[…]`.
pub fn search(
    conn: &Connection,
    user_id: i64,
    query: &str,
    room: Option<&str>,
    limit: Option<u64>,
) -> Result<Vec<SearchHit>, StoreError> {
    if let Some(room) = room {
        rooms::require_member(conn, room, user_id)?;
    }
    let limit = limit.map_or(20, |l| usize::try_from(l).unwrap_or(MAX_RESULTS).clamp(1, MAX_RESULTS));
    let sql = concat!(
        "SELECT ",
        columns!(),
        ", snippet(messages_fts, 0, '[', ']', '…', 12)
         FROM messages_fts f JOIN messages m ON m.id = f.rowid JOIN users u ON u.id = m.sender_id
         JOIN members mb ON mb.room_id = m.room_id AND mb.user_id = ?1
         WHERE messages_fts MATCH ?2 AND (?3 IS NULL OR m.room_id = ?3) AND m.deleted_at IS NULL
         ORDER BY m.id DESC LIMIT ?4"
    );
    let result = conn.prepare_cached(sql).and_then(|mut stmt| {
        stmt.query_map(params![user_id, query, room, limit as i64], |r| {
            Ok(SearchHit { message: message(r)?, snippet: r.get(12)? })
        })?
        .collect::<Result<Vec<_>, _>>()
    });
    match result {
        Ok(mut hits) => {
            let mut messages: Vec<Message> = hits.iter().map(|h| h.message.clone()).collect();
            add_reactions(conn, &mut messages)?;
            for (hit, m) in hits.iter_mut().zip(messages) {
                hit.message = m;
            }
            Ok(hits)
        }
        // A plain SQLITE_ERROR from MATCH is the query's fault: say what is wrong with it.
        Err(rusqlite::Error::SqliteFailure(e, Some(msg))) if e.code == rusqlite::ErrorCode::Unknown => {
            Err(StoreError::refused(
                ErrorCode::Invalid,
                format!("search query {}: {msg}", chaty_proto::validate::quote(query)),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::MAX_PAGE;

    fn setup() -> (Connection, User) {
        let conn = Connection::open_in_memory().expect("db");
        super::super::schema::migrate(&conn).expect("migrate");
        let a = users::register(&conn, "alice", "h", 0, |_| false).expect("a");
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
                attachment: None,
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
            attachment: None,
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
        let latest = history(&conn, "general", Page { limit: Some(3), ..Page::default() }).expect("latest");
        assert_eq!((latest.0.iter().map(|m| m.seq).collect::<Vec<_>>(), latest.1), (vec![5, 6, 7], true));
        let older =
            history(&conn, "general", Page { before: Some(5), limit: Some(3), ..Page::default() }).expect("older");
        assert_eq!((older.0.iter().map(|m| m.seq).collect::<Vec<_>>(), older.1), (vec![2, 3, 4], true));
        let after =
            history(&conn, "general", Page { after: Some(4), limit: Some(3), ..Page::default() }).expect("after");
        assert_eq!((after.0.iter().map(|m| m.seq).collect::<Vec<_>>(), after.1), (vec![5, 6, 7], false));
        assert_eq!(Page { limit: Some(1_000_000_000), ..Page::default() }.size(), MAX_PAGE);
        assert_eq!(Page { limit: Some(0), ..Page::default() }.size(), 1);
    }

    #[test]
    fn non_members_and_bad_replies_are_refused() {
        let (conn, a) = setup();
        let b = users::register(&conn, "bob", "h", 0, |_| false).expect("b");
        let mut p = Post {
            room_id: "general".into(),
            sender: b,
            display_name: "bob".into(),
            content: "hi".into(),
            client_id: None,
            reply_to: None,
            attachment: None,
        };
        assert!(matches!(post(&conn, &p, 0), Err(StoreError::Refused(r)) if r.code == ErrorCode::NotFound));
        p.sender = a;
        p.reply_to = Some(99);
        assert!(matches!(post(&conn, &p, 0), Err(StoreError::Refused(r)) if r.code == ErrorCode::NotFound));
    }

    #[test]
    fn a_post_and_a_history_page_reuse_their_prepared_statements() {
        let (conn, a) = setup();
        super::super::tune(&conn).expect("tune");
        let guest = User { guest: true, ..a.clone() };
        for i in 0..5 {
            let p = Post {
                room_id: "general".into(),
                sender: guest.clone(),
                display_name: "A Guest".into(),
                content: format!("m{i}"),
                client_id: Some(format!("c{i}")),
                reply_to: None,
                attachment: None,
            };
            post(&conn, &p, i).expect("post");
            history(
                &conn,
                "general",
                Page { before: Some(i as u64 + 1), limit: Some(10 + i as u64), ..Page::default() },
            )
            .expect("history");
        }
        // Without the query planner stability guarantee SQLite compiled these
        // again on every run (a bound value "might" change the plan): more
        // than half of a post's cost in the profile.
        for sql in [
            format!("{SELECT} WHERE m.sender_id = ?1 AND m.client_id = ?2"),
            format!("{SELECT} WHERE m.room_id = ?1 AND m.seq < ?2 ORDER BY m.seq DESC LIMIT ?3"),
        ] {
            let statement = conn.prepare_cached(&sql).expect("cached");
            assert!(statement.get_status(rusqlite::StatementStatus::Run) >= 5, "{sql}");
            assert_eq!(statement.get_status(rusqlite::StatementStatus::RePrepare), 0, "{sql}");
        }
    }

    /// FTS5 checks its index against the messages table.
    fn fts_consistent(conn: &Connection) {
        conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')", [])
            .expect("the full-text index matches the messages");
    }

    fn words(conn: &Connection, user: &User, query: &str) -> Vec<String> {
        search(conn, user.id, query, None, None).expect("search").into_iter().map(|h| h.message.content).collect()
    }

    #[test]
    fn the_batch_index_follows_edits_and_deletions_before_and_after_it_runs() {
        let (conn, a) = setup();
        let say = |content: &str| {
            let p = Post {
                room_id: "general".into(),
                sender: a.clone(),
                display_name: a.name.clone(),
                content: content.into(),
                client_id: None,
                reply_to: None,
                attachment: None,
            };
            post(&conn, &p, 0).expect("post").message.id
        };
        // One batch: posted, then edited and deleted before it is indexed.
        let edited = say("apple pie");
        let deleted = say("banana bread");
        let kept = say("cherry tart");
        edit(&conn, edited, &a, "apricot pie", 1).expect("edit");
        delete(&conn, deleted, &a, 1).expect("delete");
        conn.execute("DELETE FROM messages WHERE id = ?1", [to_sql(kept)]).expect("expire, as retention does");
        assert_eq!(index_pending(&conn).expect("index"), 2, "the edited and the tombstone");
        fts_consistent(&conn);
        assert_eq!(words(&conn, &a, "apricot"), ["apricot pie"]);
        assert!(words(&conn, &a, "apple").is_empty() && words(&conn, &a, "banana").is_empty());
        assert!(words(&conn, &a, "cherry").is_empty());
        // Next batch: the same on messages indexed already.
        edit(&conn, edited, &a, "quince pie", 2).expect("edit");
        let later = say("damson jam");
        assert_eq!(index_pending(&conn).expect("index"), 1);
        conn.execute("DELETE FROM messages WHERE id = ?1", [to_sql(later)]).expect("expire");
        assert_eq!(index_pending(&conn).expect("index"), 0);
        fts_consistent(&conn);
        assert_eq!(words(&conn, &a, "quince"), ["quince pie"]);
        assert!(words(&conn, &a, "apricot").is_empty() && words(&conn, &a, "damson").is_empty());
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
            attachment: None,
        };
        post(&conn, &p, 0).expect("post");
        assert_eq!(history(&conn, "general", Page::default()).expect("h").0[0].content, text);
    }
}
