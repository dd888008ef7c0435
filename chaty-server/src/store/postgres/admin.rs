//! The admin CLI's SQL on PostgreSQL (twin of `store/sqlite/admin.rs`).

use tokio_postgres::GenericClient;
use tokio_postgres::Row;

use super::{moderation, profiles, rooms, users};
use crate::error::StoreError;
use crate::store::admin::{
    Account, AccountChange, Event, Export, Logged, Membership, RoomInfo, Written, event_of, event_row, no_room, no_user,
};
use crate::store::model::Room;

async fn registered(db: &impl GenericClient, name: &str) -> Result<i64, StoreError> {
    let row =
        db.query_opt("SELECT id FROM users WHERE lower(name) = lower($1) AND pass_hash IS NOT NULL", &[&name]).await?;
    row.map(|r| r.get(0)).ok_or_else(|| no_user(name))
}

async fn log(db: &impl GenericClient, event: &Event, now: i64) -> Result<(), StoreError> {
    let (kind, user_id, room_id, detail) = event_row(event);
    db.execute(
        "INSERT INTO admin_events (kind, user_id, room_id, detail, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[&kind, &user_id, &room_id, &detail, &now],
    )
    .await?;
    db.execute("DELETE FROM admin_events WHERE created_at < $1", &[&(now - 24 * 3_600_000)]).await?;
    Ok(())
}

pub async fn add(
    db: &impl GenericClient,
    name: &str,
    pass_hash: &str,
    change: &AccountChange,
    now: i64,
) -> Result<(), StoreError> {
    users::register(db, name, pass_hash, now, |_| false).await?;
    self::change(db, name, change).await
}

pub async fn change(db: &impl GenericClient, name: &str, change: &AccountChange) -> Result<(), StoreError> {
    let id = registered(db, name).await?;
    if let Some(shown) = &change.display_name {
        profiles::set(db, id, Some(shown), None).await?;
    }
    if let Some(admin) = change.admin {
        moderation::set_admin(db, name, admin).await?;
    }
    Ok(())
}

pub async fn set_password(db: &impl GenericClient, name: &str, pass_hash: &str, now: i64) -> Result<(), StoreError> {
    let id = registered(db, name).await?;
    db.execute("UPDATE users SET pass_hash = $2 WHERE id = $1", &[&id, &pass_hash]).await?;
    db.execute("DELETE FROM tokens WHERE user_id = $1", &[&id]).await?;
    log(db, &Event::SignOut { user_id: id }, now).await
}

pub async fn ban(
    db: &impl GenericClient,
    name: &str,
    ban: Option<&Option<String>>,
    now: i64,
) -> Result<bool, StoreError> {
    let id = registered(db, name).await?;
    let Some(reason) = ban else {
        let n = db
            .execute(
                "UPDATE users SET banned_at = NULL, ban_reason = NULL WHERE id = $1 AND banned_at IS NOT NULL",
                &[&id],
            )
            .await?;
        return Ok(n > 0);
    };
    db.execute(
        "UPDATE users SET banned_at = coalesce(banned_at, $2), ban_reason = $3 WHERE id = $1",
        &[&id, &now, reason],
    )
    .await?;
    db.execute("UPDATE tokens SET expires_at = 0 WHERE user_id = $1", &[&id]).await?;
    log(db, &Event::SignOut { user_id: id }, now).await?;
    Ok(true)
}

pub async fn ban_of(db: &impl GenericClient, user_id: i64) -> Result<Option<Option<String>>, StoreError> {
    let row = db.query_opt("SELECT banned_at IS NOT NULL, ban_reason FROM users WHERE id = $1", &[&user_id]).await?;
    Ok(row.and_then(|r| r.get::<_, bool>(0).then(|| r.get(1))))
}

const ACCOUNT: &str = "SELECT name, display_name, admin, banned_at IS NOT NULL, ban_reason, created_at, last_seen
                       FROM users WHERE pass_hash IS NOT NULL";

fn account(r: &Row) -> Account {
    Account {
        name: r.get(0),
        display_name: r.get(1),
        admin: r.get(2),
        banned: r.get::<_, bool>(3).then(|| r.get(4)),
        created_at: r.get(5),
        last_seen: r.get(6),
    }
}

pub async fn accounts(db: &impl GenericClient) -> Result<Vec<Account>, StoreError> {
    let rows = db.query(&format!("{ACCOUNT} ORDER BY lower(name)"), &[]).await?;
    Ok(rows.iter().map(account).collect())
}

/// As on SQLite: the row stays under `~deleted-<id>`, everything else of the account goes.
pub async fn delete(db: &impl GenericClient, name: &str, erase: bool, now: i64) -> Result<u64, StoreError> {
    let id = registered(db, name).await?;
    let erased = if erase {
        db.execute(
            "DELETE FROM reactions WHERE message_id IN
                 (SELECT id FROM messages WHERE sender_id = $1 AND deleted_at IS NULL)",
            &[&id],
        )
        .await?;
        db.execute(
            "UPDATE messages SET content = '', deleted_at = $2, attachment = NULL, file_id = NULL
             WHERE sender_id = $1 AND deleted_at IS NULL",
            &[&id, &now],
        )
        .await?
    } else {
        0
    };
    for sql in [
        "DELETE FROM tokens WHERE user_id = $1",
        "DELETE FROM members WHERE user_id = $1",
        "DELETE FROM bans WHERE user_id = $1",
        "DELETE FROM reactions WHERE user_id = $1",
        "UPDATE users SET name = '~deleted-' || id, pass_hash = NULL, display_name = NULL, status_text = '',
                search_key = '', admin = false, banned_at = NULL, ban_reason = NULL WHERE id = $1",
    ] {
        db.execute(sql, &[&id]).await?;
    }
    log(db, &Event::SignOut { user_id: id }, now).await?;
    Ok(erased)
}

pub async fn export(db: &impl GenericClient, name: &str) -> Result<Export, StoreError> {
    let id = registered(db, name).await?;
    let account = account(&db.query_one(&format!("{ACCOUNT} AND id = $1"), &[&id]).await?);
    let status_text: String = db.query_one("SELECT status_text FROM users WHERE id = $1", &[&id]).await?.get(0);
    let memberships = db
        .query("SELECT room_id, role, joined_at FROM members WHERE user_id = $1 ORDER BY room_id", &[&id])
        .await?
        .iter()
        .map(|r| Membership { room_id: r.get(0), role: r.get(1), joined_at: r.get(2) })
        .collect();
    let messages = db
        .query(
            "SELECT id, room_id, seq, content, created_at, edited_at, deleted_at IS NOT NULL
             FROM messages WHERE sender_id = $1 ORDER BY room_id, seq",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| Written {
            id: r.get(0),
            room_id: r.get(1),
            seq: r.get(2),
            content: r.get(3),
            created_at: r.get(4),
            edited_at: r.get(5),
            deleted: r.get(6),
        })
        .collect();
    Ok(Export { account, status_text, memberships, messages })
}

pub async fn rooms(db: &impl GenericClient) -> Result<Vec<RoomInfo>, StoreError> {
    let rows = db
        .query(
            "SELECT r.id, r.kind, r.topic, r.private, (SELECT count(*) FROM members m WHERE m.room_id = r.id),
                    r.last_seq, r.created_at
             FROM rooms r ORDER BY r.id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| RoomInfo {
            id: r.get(0),
            kind: r.get(1),
            topic: r.get(2),
            private: r.get(3),
            members: r.get(4),
            last_seq: r.get(5),
            created_at: r.get(6),
        })
        .collect())
}

pub async fn delete_room(db: &impl GenericClient, room_id: &str, now: i64) -> Result<(), StoreError> {
    // Locks the room row: no message is posted to it while it goes.
    db.query_opt("SELECT 1 FROM rooms WHERE id = $1 FOR UPDATE", &[&room_id]).await?.ok_or_else(|| no_room(room_id))?;
    let members: Vec<i64> = db
        .query("SELECT user_id FROM members WHERE room_id = $1", &[&room_id])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for sql in [
        "DELETE FROM reactions WHERE message_id IN (SELECT id FROM messages WHERE room_id = $1)",
        "DELETE FROM messages WHERE room_id = $1",
        "DELETE FROM members WHERE room_id = $1",
        "DELETE FROM bans WHERE room_id = $1",
        "DELETE FROM rooms WHERE id = $1",
    ] {
        db.execute(sql, &[&room_id]).await?;
    }
    log(db, &Event::RoomDeleted { room_id: room_id.to_string(), members }, now).await
}

pub async fn set_topic(db: &impl GenericClient, room_id: &str, topic: &str, now: i64) -> Result<Room, StoreError> {
    let room = rooms::get(db, room_id).await?.ok_or_else(|| no_room(room_id))?;
    db.execute("UPDATE rooms SET topic = $2 WHERE id = $1", &[&room_id, &topic]).await?;
    log(db, &Event::Topic { room_id: room_id.to_string() }, now).await?;
    Ok(Room { topic: topic.to_string(), ..room })
}

pub async fn events(db: &impl GenericClient, since: i64) -> Result<Vec<Logged>, StoreError> {
    let rows = db
        .query(
            "SELECT id, kind, user_id, room_id, detail FROM admin_events WHERE created_at >= $1 ORDER BY id",
            &[&since],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let event = event_of(r.get(1), r.get(2), r.get(3), r.get(4))?;
            Some(Logged { id: r.get(0), event })
        })
        .collect())
}
