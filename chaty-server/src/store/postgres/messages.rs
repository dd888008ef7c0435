//! Messages on PostgreSQL (twin of `store/sqlite/messages.rs`): `seq` from
//! the locked room row inside the message's own transaction (never a
//! sequence: those leave gaps on rollback), idempotency by
//! `(sender, clientId)`, history pages, and full-text search with
//! `tsvector`, `websearch_to_tsquery` and `ts_headline`.

use chaty_proto::time::format_millis;
use chaty_proto::{Attachment, ErrorCode, Message, Reactions, SearchHit};
use tokio_postgres::{GenericClient, Row};

use super::{files, profiles, rooms, search as fts};
use crate::error::StoreError;
use crate::store::model::{MAX_RESULTS, Page, Post, Posted, User, deleted, not_visible};

const COLUMNS: &str = "m.id, m.seq, m.room_id, u.name, m.sender_name, m.content, m.created_at, m.client_id,
     m.reply_to, m.edited_at, m.deleted_at IS NOT NULL, m.attachment";

fn select() -> String {
    format!("SELECT {COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id")
}

fn message(r: &Row) -> Message {
    let attachment: Option<String> = r.get(11);
    Message {
        id: r.get::<_, i64>(0) as u64,
        seq: r.get::<_, i64>(1) as u64,
        room_id: r.get(2),
        user_id: r.get(3),
        user_name: r.get(4),
        content: r.get(5),
        timestamp: format_millis(r.get(6)),
        client_id: r.get(7),
        reply_to: r.get::<_, Option<i64>>(8).map(|id| id as u64),
        edited_at: r.get::<_, Option<i64>>(9).map(format_millis),
        deleted: r.get(10),
        reactions: Vec::new(),
        attachment: attachment.and_then(|a| serde_json::from_str(&a).ok()),
    }
}

fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The message this sender already stored under `client_id`, if any.
pub async fn existing(db: &impl GenericClient, p: &Post) -> Result<Option<Posted>, StoreError> {
    let Some(client_id) = &p.client_id else { return Ok(None) };
    let row = db.query_opt(BY_CLIENT_ID.as_str(), &[&p.sender.id, client_id]).await?;
    retried(db, p, row).await
}

/// The message of `sender` and `clientId` (the retry check).
static BY_CLIENT_ID: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{} WHERE m.sender_id = $1 AND m.client_id = $2", select()));

/// What a retry of `p` returns, given its stored row (if any).
async fn retried(db: &impl GenericClient, p: &Post, row: Option<Row>) -> Result<Option<Posted>, StoreError> {
    let Some(row) = row else { return Ok(None) };
    let mut message = message(&row);
    if message.room_id != p.room_id {
        let client_id = p.client_id.as_deref().unwrap_or_default();
        return Err(StoreError::refused(
            ErrorCode::Conflict,
            format!("clientId \"{client_id}\" was already used for a message in another room"),
        ));
    }
    add_reactions(db, std::slice::from_mut(&mut message)).await?;
    Ok(Some(Posted { message, new: false }))
}

/// Whether `p` is a guest's post under a display name other than their own
/// (which must then not be a registered user's name).
pub fn shows_another_name(p: &Post) -> bool {
    p.sender.guest && !p.display_name.eq_ignore_ascii_case(&p.sender.name)
}

/// The refusal of a guest's post under a registered user's name.
pub fn name_taken(p: &Post) -> StoreError {
    StoreError::refused(
        ErrorCode::Conflict,
        format!("\"{}\" is a registered user; a guest cannot post under that name", p.display_name),
    )
}

/// The refusal of a post replying to what is not a message of its room.
pub fn no_reply(reply_to: u64) -> StoreError {
    StoreError::refused(ErrorCode::NotFound, format!("replyTo {reply_to} is not a message in this room"))
}

/// What a post needs checked besides its sender's membership and retries,
/// each only when it applies: a guest's display name is not a registered
/// user's, and [`vet_links`]. Returns the attachment as stored.
pub async fn vet(db: &impl GenericClient, p: &Post) -> Result<Option<Attachment>, StoreError> {
    let registered = "SELECT 1 FROM users WHERE lower(name) = lower($1) AND pass_hash IS NOT NULL";
    if shows_another_name(p) && db.query_opt(registered, &[&p.display_name]).await?.is_some() {
        return Err(name_taken(p));
    }
    vet_links(db, p).await
}

/// A post's reply is a message of the room, and its attachment a file the
/// sender uploaded (a query each, only when the post has them). Returns
/// the attachment as stored.
pub async fn vet_links(db: &impl GenericClient, p: &Post) -> Result<Option<Attachment>, StoreError> {
    if let Some(reply_to) = p.reply_to {
        let found = db
            .query_opt("SELECT 1 FROM messages WHERE id = $1 AND room_id = $2", &[&to_sql(reply_to), &p.room_id])
            .await?;
        if found.is_none() {
            return Err(no_reply(reply_to));
        }
    }
    match &p.attachment {
        Some(a) => Ok(Some(files::shareable(db, &a.file_id, p.sender.id).await?)),
        None => Ok(None),
    }
}

/// Stores a new message in a transaction of its own (the caller commits):
/// a post whose batch failed (`store/postgres/batch.rs` stores the others).
/// The statements are prepared once per connection and cached.
pub async fn post(tx: &deadpool_postgres::Transaction<'_>, p: &Post, now: i64) -> Result<Posted, StoreError> {
    let db: &tokio_postgres::Transaction<'_> = tx;
    if let Some(client_id) = &p.client_id {
        let by_client_id = tx.prepare_cached(&BY_CLIENT_ID).await?;
        let row = db.query_opt(&by_client_id, &[&p.sender.id, client_id]).await?;
        if let Some(posted) = retried(db, p, row).await? {
            return Ok(posted);
        }
    }
    let is_member = tx.prepare_cached("SELECT 1 FROM members WHERE room_id = $1 AND user_id = $2").await?;
    if db.query_opt(&is_member, &[&p.room_id, &p.sender.id]).await?.is_none() {
        return Err(not_visible(&p.room_id));
    }
    let attachment = vet(db, p).await?;
    let shown =
        if p.sender.guest { p.display_name.clone() } else { profiles::get(db, p.sender.id).await?.display_name };
    // The room row stays locked until this transaction ends: one seq at a time, gap-free.
    let next_seq =
        tx.prepare_cached("UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq").await?;
    let seq: i64 = db.query_one(&next_seq, &[&p.room_id]).await?.get(0);
    let attachment_json = attachment.as_ref().and_then(|a| serde_json::to_string(a).ok());
    let file_id = attachment.as_ref().map(|a| a.file_id.clone());
    let reply_to = p.reply_to.map(to_sql);
    let insert = tx
        .prepare_cached(
            "INSERT INTO messages (room_id, seq, sender_id, sender_name, content, reply_to, created_at, client_id,
                                   attachment, file_id, search)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, to_tsvector('simple', $11)) RETURNING id",
        )
        .await?;
    let id: i64 = db
        .query_one(
            &insert,
            &[
                &p.room_id,
                &seq,
                &p.sender.id,
                &shown,
                &p.content,
                &reply_to,
                &now,
                &p.client_id,
                &attachment_json,
                &file_id,
                &fts::words(&p.content),
            ],
        )
        .await?
        .get(0);
    let read = tx.prepare_cached("UPDATE members SET read_seq = $3 WHERE room_id = $1 AND user_id = $2").await?;
    db.execute(&read, &[&p.room_id, &p.sender.id, &seq]).await?;
    Ok(Posted { message: p.stored(id as u64, seq as u64, shown, now, attachment), new: true })
}

async fn visible(db: &impl GenericClient, id: u64, user_id: i64) -> Result<(Message, i64), StoreError> {
    let sql = format!(
        "SELECT {COLUMNS}, m.sender_id FROM messages m JOIN users u ON u.id = m.sender_id
         JOIN members mb ON mb.room_id = m.room_id AND mb.user_id = $2 WHERE m.id = $1"
    );
    let row = db.query_opt(&sql, &[&to_sql(id), &user_id]).await?;
    row.map(|r| (message(&r), r.get(12)))
        .ok_or_else(|| StoreError::refused(ErrorCode::NotFound, format!("no message {id} in a room you are in")))
}

pub async fn edit(
    db: &impl GenericClient,
    id: u64,
    user: &User,
    content: &str,
    now: i64,
) -> Result<Message, StoreError> {
    let (mut m, sender) = visible(db, id, user.id).await?;
    if m.deleted {
        return Err(deleted(id));
    }
    if sender != user.id {
        return Err(StoreError::refused(ErrorCode::Forbidden, "you can only edit your own messages"));
    }
    // Not onto a tombstone, should a delete have committed since `visible`.
    let edited = db
        .execute(
            "UPDATE messages SET content = $2, edited_at = $3, search = to_tsvector('simple', $4)
             WHERE id = $1 AND deleted_at IS NULL",
            &[&to_sql(id), &content, &now, &fts::words(content)],
        )
        .await?;
    if edited == 0 {
        return Err(deleted(id));
    }
    m.content = content.to_string();
    m.edited_at = Some(format_millis(now));
    Ok(m)
}

pub async fn delete(db: &impl GenericClient, id: u64, user: &User, now: i64) -> Result<Option<Message>, StoreError> {
    let (m, sender) = visible(db, id, user.id).await?;
    if sender != user.id && !rooms::moderates(db, &m.room_id, user.id).await? {
        return Err(StoreError::refused(ErrorCode::Forbidden, "you can only delete your own messages"));
    }
    if m.deleted {
        return Ok(None);
    }
    db.execute(
        "UPDATE messages SET content = '', deleted_at = $2, attachment = NULL, file_id = NULL, search = NULL
         WHERE id = $1",
        &[&to_sql(id), &now],
    )
    .await?;
    db.execute("DELETE FROM reactions WHERE message_id = $1", &[&to_sql(id)]).await?;
    Ok(Some(Message { content: String::new(), deleted: true, attachment: None, ..m }))
}

pub async fn react(
    db: &impl GenericClient,
    id: u64,
    user: &User,
    emoji: &str,
    remove: bool,
    now: i64,
) -> Result<(String, bool), StoreError> {
    let (m, _) = visible(db, id, user.id).await?;
    if m.deleted {
        return Err(deleted(id));
    }
    let changed = if remove {
        db.execute(
            "DELETE FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3",
            &[&to_sql(id), &user.id, &emoji],
        )
        .await?
    } else {
        db.execute(
            "INSERT INTO reactions (message_id, user_id, emoji, created_at)
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM messages WHERE id = $1 AND deleted_at IS NULL)
             ON CONFLICT DO NOTHING",
            &[&to_sql(id), &user.id, &emoji, &now],
        )
        .await?
    };
    Ok((m.room_id, changed > 0))
}

async fn add_reactions(db: &impl GenericClient, messages: &mut [Message]) -> Result<(), StoreError> {
    let (Some(min), Some(max)) = (messages.iter().map(|m| m.id).min(), messages.iter().map(|m| m.id).max()) else {
        return Ok(());
    };
    let rows = db
        .query(
            "SELECT r.message_id, r.emoji, u.name FROM reactions r JOIN users u ON u.id = r.user_id
             WHERE r.message_id BETWEEN $1 AND $2 ORDER BY r.created_at, lower(u.name)",
            &[&to_sql(min), &to_sql(max)],
        )
        .await?;
    for row in rows {
        let (id, emoji, user): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
        let Some(m) = messages.iter_mut().find(|m| m.id == id as u64) else { continue };
        match m.reactions.iter_mut().find(|r| r.emoji == emoji) {
            Some(r) => r.users.push(user),
            None => m.reactions.push(Reactions { emoji, users: vec![user] }),
        }
    }
    Ok(())
}

pub async fn history(db: &impl GenericClient, room_id: &str, page: Page) -> Result<(Vec<Message>, bool), StoreError> {
    let size = page.size();
    let fetch = (size + 1) as i64;
    let rows = match (page.after, page.before) {
        (Some(after), _) => {
            let sql = format!("{} WHERE m.room_id = $1 AND m.seq > $2 ORDER BY m.seq ASC LIMIT $3", select());
            db.query(&sql, &[&room_id, &to_sql(after), &fetch]).await?
        }
        (None, before) => {
            let sql = format!("{} WHERE m.room_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3", select());
            db.query(&sql, &[&room_id, &before.map_or(i64::MAX, to_sql), &fetch]).await?
        }
    };
    let mut messages: Vec<Message> = rows.iter().map(message).collect();
    let has_more = messages.len() > size;
    messages.truncate(size);
    if page.after.is_none() {
        messages.reverse();
    }
    add_reactions(db, &mut messages).await?;
    Ok((messages, has_more))
}

/// Up to `limit` messages of `room_id` after `after`, in `seq` order, for a
/// node filling a gap in its live delivery.
pub async fn after(db: &impl GenericClient, room_id: &str, after: u64, limit: i64) -> Result<Vec<Message>, StoreError> {
    let sql = format!("{} WHERE m.room_id = $1 AND m.seq > $2 ORDER BY m.seq ASC LIMIT $3", select());
    let rows = db.query(&sql, &[&room_id, &to_sql(after), &limit]).await?;
    let mut messages: Vec<Message> = rows.iter().map(message).collect();
    add_reactions(db, &mut messages).await?;
    Ok(messages)
}

pub async fn search(
    db: &impl GenericClient,
    user_id: i64,
    query: &str,
    room: Option<&str>,
    limit: Option<u64>,
) -> Result<Vec<SearchHit>, StoreError> {
    if let Some(room) = room {
        rooms::require_member(db, room, user_id).await?;
    }
    let limit = limit.map_or(20, |l| usize::try_from(l).unwrap_or(MAX_RESULTS).clamp(1, MAX_RESULTS)) as i64;
    let tsquery = fts::tsquery(query).map_err(|why| {
        StoreError::refused(ErrorCode::Invalid, format!("search query {}: {why}", chaty_proto::validate::quote(query)))
    })?;
    let sql = format!(
        "SELECT {COLUMNS}
         FROM messages m JOIN users u ON u.id = m.sender_id
         JOIN members mb ON mb.room_id = m.room_id AND mb.user_id = $1,
         to_tsquery('simple', $2) q
         WHERE m.search @@ q AND ($3::TEXT IS NULL OR m.room_id = $3) AND m.deleted_at IS NULL
         ORDER BY m.id DESC LIMIT $4"
    );
    let rows = db.query(&sql, &[&user_id, &tsquery, &room, &limit]).await?;
    let mut messages: Vec<Message> = rows.iter().map(message).collect();
    add_reactions(db, &mut messages).await?;
    Ok(messages
        .into_iter()
        .map(|message| {
            let snippet = fts::snippet(&message.content, query);
            SearchHit { message, snippet }
        })
        .collect())
}
