//! The admin CLI's SQL on SQLite: accounts, server bans, deletion and
//! export, rooms, and the events running servers act on (see
//! [`crate::store::admin`]).

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{moderation, profiles, rooms, users};
use crate::error::StoreError;
use crate::store::admin::{
    Account, AccountChange, Event, Export, Logged, Membership, RoomInfo, Written, event_of, event_row, no_room, no_user,
};
use crate::store::model::Room;

/// The id of the registered user called `name`.
fn registered(conn: &Connection, name: &str) -> Result<i64, StoreError> {
    conn.prepare_cached("SELECT id FROM users WHERE name = ?1 AND pass_hash IS NOT NULL")?
        .query_row([name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| no_user(name))
}

/// Records `event` for running servers.
fn log(conn: &Connection, event: &Event, now: i64) -> Result<(), StoreError> {
    let (kind, user_id, room_id, detail) = event_row(event);
    conn.prepare_cached(
        "INSERT INTO admin_events (kind, user_id, room_id, detail, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![kind, user_id, room_id, detail, now])?;
    // Servers read the last minute; a day of events is kept for people looking.
    conn.prepare_cached("DELETE FROM admin_events WHERE created_at < ?1")?.execute([now - 24 * 3_600_000])?;
    Ok(())
}

pub fn add(conn: &Connection, name: &str, pass_hash: &str, change: &AccountChange, now: i64) -> Result<(), StoreError> {
    users::register(conn, name, pass_hash, now, |_| false)?;
    self::change(conn, name, change)
}

pub fn change(conn: &Connection, name: &str, change: &AccountChange) -> Result<(), StoreError> {
    let id = registered(conn, name)?;
    if let Some(shown) = &change.display_name {
        profiles::set(conn, id, Some(shown), None)?;
    }
    if let Some(admin) = change.admin {
        moderation::set_admin(conn, name, admin)?;
    }
    Ok(())
}

pub fn set_password(conn: &Connection, name: &str, pass_hash: &str, now: i64) -> Result<(), StoreError> {
    let id = registered(conn, name)?;
    conn.prepare_cached("UPDATE users SET pass_hash = ?2 WHERE id = ?1")?.execute(params![id, pass_hash])?;
    conn.prepare_cached("DELETE FROM tokens WHERE user_id = ?1")?.execute([id])?;
    log(conn, &Event::SignOut { user_id: id }, now)
}

pub fn ban(conn: &Connection, name: &str, ban: Option<&Option<String>>, now: i64) -> Result<bool, StoreError> {
    let id = registered(conn, name)?;
    let Some(reason) = ban else {
        let n = conn
            .prepare_cached(
                "UPDATE users SET banned_at = NULL, ban_reason = NULL WHERE id = ?1 AND banned_at IS NOT NULL",
            )?
            .execute([id])?;
        return Ok(n > 0);
    };
    conn.prepare_cached("UPDATE users SET banned_at = coalesce(banned_at, ?2), ban_reason = ?3 WHERE id = ?1")?
        .execute(params![id, now, reason])?;
    // Expired rather than deleted: AUTH and REFRESH with them say "banned"
    // while the ban lasts, and never work again after it.
    conn.prepare_cached("UPDATE tokens SET expires_at = 0 WHERE user_id = ?1")?.execute([id])?;
    log(conn, &Event::SignOut { user_id: id }, now)?;
    Ok(true)
}

pub fn ban_of(conn: &Connection, user_id: i64) -> Result<Option<Option<String>>, StoreError> {
    let row: Option<(bool, Option<String>)> = conn
        .prepare_cached("SELECT banned_at IS NOT NULL, ban_reason FROM users WHERE id = ?1")?
        .query_row([user_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.and_then(|(banned, reason)| banned.then_some(reason)))
}

const ACCOUNT: &str = "SELECT name, display_name, admin, banned_at IS NOT NULL, ban_reason, created_at, last_seen
                       FROM users WHERE pass_hash IS NOT NULL";

fn account(r: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        name: r.get(0)?,
        display_name: r.get(1)?,
        admin: r.get(2)?,
        banned: r.get::<_, bool>(3)?.then(|| r.get(4)).transpose()?,
        created_at: r.get(5)?,
        last_seen: r.get(6)?,
    })
}

pub fn accounts(conn: &Connection) -> Result<Vec<Account>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{ACCOUNT} ORDER BY name COLLATE NOCASE"))?;
    let rows = stmt.query_map([], account)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Removes the account: its sessions, memberships, bans and reactions go;
/// the row stays (its messages point at it) under a name nobody can
/// register or sign in as (`~deleted-<id>`), with no password or profile.
pub fn delete(conn: &Connection, name: &str, erase: bool, now: i64) -> Result<u64, StoreError> {
    let id = registered(conn, name)?;
    let erased = if erase {
        conn.prepare_cached(
            "DELETE FROM reactions WHERE message_id IN
                 (SELECT id FROM messages WHERE sender_id = ?1 AND deleted_at IS NULL)",
        )?
        .execute([id])?;
        // Tombstones, as DELETE_MESSAGE leaves them: `seq` stays gap-free.
        conn.prepare_cached(
            "UPDATE messages SET content = '', deleted_at = ?2, attachment = NULL, file_id = NULL
             WHERE sender_id = ?1 AND deleted_at IS NULL",
        )?
        .execute(params![id, now])? as u64
    } else {
        0
    };
    for sql in [
        "DELETE FROM tokens WHERE user_id = ?1",
        "DELETE FROM members WHERE user_id = ?1",
        "DELETE FROM bans WHERE user_id = ?1",
        "DELETE FROM reactions WHERE user_id = ?1",
        "UPDATE users SET name = '~deleted-' || id, pass_hash = NULL, display_name = NULL, status_text = '',
                search_key = '', admin = 0, banned_at = NULL, ban_reason = NULL WHERE id = ?1",
    ] {
        conn.prepare_cached(sql)?.execute([id])?;
    }
    log(conn, &Event::SignOut { user_id: id }, now)?;
    Ok(erased)
}

pub fn export(conn: &Connection, name: &str) -> Result<Export, StoreError> {
    let id = registered(conn, name)?;
    let account = conn.prepare_cached(&format!("{ACCOUNT} AND id = ?1"))?.query_row([id], account)?;
    let status_text: String =
        conn.prepare_cached("SELECT status_text FROM users WHERE id = ?1")?.query_row([id], |r| r.get(0))?;
    let mut stmt =
        conn.prepare_cached("SELECT room_id, role, joined_at FROM members WHERE user_id = ?1 ORDER BY room_id")?;
    let memberships = stmt
        .query_map([id], |r| Ok(Membership { room_id: r.get(0)?, role: r.get(1)?, joined_at: r.get(2)? }))?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, room_id, seq, content, created_at, edited_at, deleted_at IS NOT NULL
         FROM messages WHERE sender_id = ?1 ORDER BY room_id, seq",
    )?;
    let messages = stmt
        .query_map([id], |r| {
            Ok(Written {
                id: r.get(0)?,
                room_id: r.get(1)?,
                seq: r.get(2)?,
                content: r.get(3)?,
                created_at: r.get(4)?,
                edited_at: r.get(5)?,
                deleted: r.get(6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Export { account, status_text, memberships, messages })
}

pub fn rooms(conn: &Connection) -> Result<Vec<RoomInfo>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.id, r.kind, r.topic, r.private, (SELECT count(*) FROM members m WHERE m.room_id = r.id),
                r.last_seq, r.created_at
         FROM rooms r ORDER BY r.id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(RoomInfo {
            id: r.get(0)?,
            kind: r.get(1)?,
            topic: r.get(2)?,
            private: r.get(3)?,
            members: r.get(4)?,
            last_seq: r.get(5)?,
            created_at: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delete_room(conn: &Connection, room_id: &str, now: i64) -> Result<(), StoreError> {
    rooms::get(conn, room_id)?.ok_or_else(|| no_room(room_id))?;
    let mut stmt = conn.prepare_cached("SELECT user_id FROM members WHERE room_id = ?1")?;
    let members: Vec<i64> = stmt.query_map([room_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
    for sql in [
        "DELETE FROM reactions WHERE message_id IN (SELECT id FROM messages WHERE room_id = ?1)",
        // (The search index follows: the `messages_fts_delete` trigger.)
        "DELETE FROM messages WHERE room_id = ?1",
        "DELETE FROM members WHERE room_id = ?1",
        "DELETE FROM bans WHERE room_id = ?1",
        "DELETE FROM rooms WHERE id = ?1",
    ] {
        conn.prepare_cached(sql)?.execute([room_id])?;
    }
    log(conn, &Event::RoomDeleted { room_id: room_id.to_string(), members }, now)
}

pub fn set_topic(conn: &Connection, room_id: &str, topic: &str, now: i64) -> Result<Room, StoreError> {
    let room = rooms::get(conn, room_id)?.ok_or_else(|| no_room(room_id))?;
    conn.prepare_cached("UPDATE rooms SET topic = ?2 WHERE id = ?1")?.execute(params![room_id, topic])?;
    log(conn, &Event::Topic { room_id: room_id.to_string() }, now)?;
    Ok(Room { topic: topic.to_string(), ..room })
}

pub fn events(conn: &Connection, since: i64) -> Result<Vec<Logged>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, user_id, room_id, detail FROM admin_events WHERE created_at >= ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([since], |r| {
        let (id, kind, detail): (i64, String, Option<String>) = (r.get(0)?, r.get(1)?, r.get(4)?);
        Ok(event_of(&kind, r.get(2)?, r.get(3)?, detail.as_deref()).map(|event| Logged { id, event }))
    })?;
    Ok(rows.filter_map(Result::transpose).collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::Page;
    use crate::store::sqlite::messages;

    #[test]
    fn erasing_a_user_leaves_tombstones_and_frees_the_name() {
        let conn = Connection::open_in_memory().expect("db");
        super::super::schema::migrate(&conn).expect("migrate");
        let change = AccountChange { admin: Some(true), display_name: Some("Bo B".into()) };
        add(&conn, "bo", "h", &change, 0).expect("add");
        let bo = users::by_name(&conn, "bo").expect("query").expect("bo");
        rooms::join(&conn, "general", &bo, 0).expect("join");
        let post = |content: &str| crate::store::model::Post {
            room_id: "general".into(),
            sender: bo.clone(),
            display_name: "Bo B".into(),
            content: content.into(),
            client_id: None,
            reply_to: None,
            attachment: None,
        };
        messages::post(&conn, &post("one"), 1).expect("post");
        messages::post(&conn, &post("two"), 2).expect("post");
        assert_eq!(export(&conn, "bo").expect("export").messages.len(), 2);
        assert_eq!(delete(&conn, "bo", true, 3).expect("delete"), 2);
        let (page, _) = messages::history(&conn, "general", Page::default()).expect("history");
        assert_eq!(
            page.iter().map(|m| (m.seq, m.deleted, m.content.as_str())).collect::<Vec<_>>(),
            [(1, true, ""), (2, true, "")]
        );
        assert!(accounts(&conn).expect("list").is_empty());
        assert!(matches!(export(&conn, "bo"), Err(StoreError::Refused(_))));
        add(&conn, "bo", "h", &AccountChange::default(), 4).expect("the name is free again");
        assert_eq!(events(&conn, 0).expect("events").len(), 1);
    }
}
