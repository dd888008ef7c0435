//! Rooms, DMs and membership on PostgreSQL (twin of `store/sqlite/rooms.rs`).

use chaty_proto::validate::dm_members;
use chaty_proto::{ErrorCode, NotifyLevel, RoomKind, RoomSummary};
use tokio_postgres::GenericClient;
use tokio_postgres::error::SqlState;

use super::{moderation, users};
use crate::error::StoreError;
use crate::store::model::{Joined, Member, Room, User, not_visible};

fn kind_of(text: &str) -> RoomKind {
    if text == "dm" { RoomKind::Dm } else { RoomKind::Room }
}

pub async fn get(db: &impl GenericClient, id: &str) -> Result<Option<Room>, StoreError> {
    let row = db.query_opt("SELECT id, kind, topic, private FROM rooms WHERE id = $1", &[&id]).await?;
    Ok(row.map(|r| Room { id: r.get(0), kind: kind_of(r.get(1)), topic: r.get(2), private: r.get(3) }))
}

/// `SET_NOTIFY`: a member's notification level for a room.
pub async fn set_notify(
    db: &impl GenericClient,
    room_id: &str,
    user_id: i64,
    level: NotifyLevel,
) -> Result<(), StoreError> {
    let updated = db
        .execute(
            "UPDATE members SET notify = $3 WHERE room_id = $1 AND user_id = $2",
            &[&room_id, &user_id, &level.as_str()],
        )
        .await?;
    if updated == 0 {
        return Err(crate::store::not_visible(room_id));
    }
    Ok(())
}

pub async fn is_member(db: &impl GenericClient, room_id: &str, user_id: i64) -> Result<bool, StoreError> {
    Ok(db
        .query_opt("SELECT 1 FROM members WHERE room_id = $1 AND user_id = $2", &[&room_id, &user_id])
        .await?
        .is_some())
}

pub async fn require_member(db: &impl GenericClient, room_id: &str, user_id: i64) -> Result<Room, StoreError> {
    match get(db, room_id).await? {
        Some(room) if is_member(db, room_id, user_id).await? => Ok(room),
        _ => Err(not_visible(room_id)),
    }
}

async fn add_member(
    db: &impl GenericClient,
    room_id: &str,
    user_id: i64,
    role: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let added = db
        .execute(
            "INSERT INTO members (room_id, user_id, role, joined_at, read_seq)
             VALUES ($1, $2, $3, $4, (SELECT last_seq FROM rooms WHERE id = $1))
             ON CONFLICT (room_id, user_id) DO NOTHING",
            &[&room_id, &user_id, &role, &now],
        )
        .await?;
    Ok(added > 0)
}

/// Inserts a room; false when another transaction made it meanwhile.
async fn insert_room(db: &impl GenericClient, room: &Room, creator: i64, now: i64) -> Result<bool, StoreError> {
    let inserted = db
        .execute(
            "INSERT INTO rooms (id, kind, topic, private, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO NOTHING",
            &[&room.id, &room.kind.as_str(), &room.topic, &room.private, &creator, &now],
        )
        .await?;
    Ok(inserted > 0)
}

pub async fn create(db: &impl GenericClient, room: Room, creator: &User, now: i64) -> Result<Room, StoreError> {
    if !insert_room(db, &room, creator.id, now).await? {
        return Err(StoreError::refused(ErrorCode::Conflict, format!("room \"{}\" already exists", room.id)));
    }
    add_member(db, &room.id, creator.id, "admin", now).await?;
    Ok(room)
}

pub async fn join(db: &impl GenericClient, room_id: &str, user: &User, now: i64) -> Result<Joined, StoreError> {
    let Some(room) = get(db, room_id).await? else {
        if room_id.starts_with("dm:") {
            return Err(not_visible(room_id));
        }
        let room = Room { id: room_id.to_string(), kind: RoomKind::Room, topic: String::new(), private: false };
        if insert_room(db, &room, user.id, now).await? {
            add_member(db, room_id, user.id, "admin", now).await?;
            return Ok(Joined { room, newly: true });
        }
        // Made by someone else just now: join it as anyone would.
        return Box::pin(join(db, room_id, user, now)).await;
    };
    if is_member(db, room_id, user.id).await? {
        return Ok(Joined { room, newly: false });
    }
    let dm_party = dm_members(room_id).is_some_and(|(a, b)| a == user.name || b == user.name);
    if room.private && !dm_party {
        return Err(not_visible(room_id));
    }
    if moderation::is_banned(db, room_id, user.id).await? {
        return Err(crate::store::moderation::banned(room_id, None));
    }
    let newly = add_member(db, room_id, user.id, "member", now).await?;
    Ok(Joined { room, newly })
}

pub async fn leave(db: &impl GenericClient, room_id: &str, user_id: i64) -> Result<(), StoreError> {
    let removed = db.execute("DELETE FROM members WHERE room_id = $1 AND user_id = $2", &[&room_id, &user_id]).await?;
    if removed == 0 {
        return Err(not_visible(room_id));
    }
    Ok(())
}

pub async fn leave_all(db: &impl GenericClient, user_id: i64) -> Result<Vec<String>, StoreError> {
    let rows = db.query("DELETE FROM members WHERE user_id = $1 RETURNING room_id", &[&user_id]).await?;
    let mut rooms: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    rooms.sort();
    Ok(rooms)
}

async fn registered(db: &impl GenericClient, name: &str) -> Result<User, StoreError> {
    match users::by_name(db, name).await? {
        Some(user) if !user.guest => Ok(user),
        _ => Err(StoreError::refused(ErrorCode::NotFound, format!("no registered user \"{name}\""))),
    }
}

pub async fn invite(
    db: &impl GenericClient,
    room_id: &str,
    inviter: &User,
    invitee: &str,
    now: i64,
) -> Result<(Joined, User), StoreError> {
    let room = require_member(db, room_id, inviter.id).await?;
    if room.kind == RoomKind::Dm {
        return Err(StoreError::refused(ErrorCode::Forbidden, "a direct-message room has exactly two members"));
    }
    let user = registered(db, invitee).await?;
    if moderation::is_banned(db, room_id, user.id).await? {
        return Err(crate::store::moderation::banned(room_id, Some(&user.name)));
    }
    let newly = add_member(db, room_id, user.id, "member", now).await?;
    Ok((Joined { room, newly }, user))
}

pub async fn open_dm(db: &impl GenericClient, me: &User, other: &str, now: i64) -> Result<(Room, User), StoreError> {
    let other = registered(db, other).await?;
    if other.id == me.id {
        return Err(StoreError::refused(ErrorCode::Invalid, "a direct message needs another user"));
    }
    let id = chaty_proto::validate::dm_room_id(&me.name, &other.name);
    let room = Room { id, kind: RoomKind::Dm, topic: String::new(), private: true };
    insert_room(db, &room, me.id, now).await?;
    let room = get(db, &room.id).await?.unwrap_or(room);
    add_member(db, &room.id, me.id, "member", now).await?;
    add_member(db, &room.id, other.id, "member", now).await?;
    Ok((room, other))
}

pub async fn members(db: &impl GenericClient, room_id: &str) -> Result<Vec<Member>, StoreError> {
    let rows = db
        .query(
            "SELECT u.name, m.read_seq, u.last_seen, u.display_name, u.status_text, m.role = 'admin'
             FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.room_id = $1 ORDER BY lower(u.name) COLLATE \"C\", u.name COLLATE \"C\"",
            &[&room_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Member {
            name: r.get(0),
            read_seq: r.get::<_, i64>(1).max(0) as u64,
            last_seen: r.get(2),
            display_name: r.get(3),
            status_text: r.get(4),
            admin: r.get(5),
        })
        .collect())
}

/// Whether `user_id` moderates `room_id`: an admin of the room or a server admin.
pub async fn moderates(db: &impl GenericClient, room_id: &str, user_id: i64) -> Result<bool, StoreError> {
    let row = db
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM members WHERE room_id = $1 AND user_id = $2 AND role = 'admin')
                 OR EXISTS (SELECT 1 FROM users WHERE id = $2 AND admin)",
            &[&room_id, &user_id],
        )
        .await?;
    Ok(row.get(0))
}

pub async fn mark_read(
    db: &impl GenericClient,
    room_id: &str,
    user_id: i64,
    seq: u64,
) -> Result<Option<u64>, StoreError> {
    require_member(db, room_id, user_id).await?;
    let seq = i64::try_from(seq).unwrap_or(i64::MAX);
    let moved = db
        .query_opt(
            "UPDATE members SET read_seq = least($3, (SELECT last_seq FROM rooms WHERE id = $1))
             WHERE room_id = $1 AND user_id = $2 AND read_seq < least($3, (SELECT last_seq FROM rooms WHERE id = $1))
             RETURNING read_seq",
            &[&room_id, &user_id, &seq],
        )
        .await?;
    Ok(moved.map(|r| r.get::<_, i64>(0).max(0) as u64))
}

pub async fn rooms_of(db: &impl GenericClient, user_id: i64) -> Result<Vec<String>, StoreError> {
    let rows =
        db.query("SELECT room_id FROM members WHERE user_id = $1 ORDER BY room_id COLLATE \"C\"", &[&user_id]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The newest `seq` of each of `rooms` that exists.
pub async fn last_seqs(db: &impl GenericClient, rooms: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
    let rows = db.query("SELECT id, last_seq FROM rooms WHERE id = ANY($1)", &[&rooms]).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get::<_, i64>(1) as u64)).collect())
}

pub async fn list(db: &impl GenericClient, user: &User) -> Result<Vec<RoomSummary>, StoreError> {
    let rows = db
        .query(
            "SELECT r.id, r.kind, r.topic, r.private, r.last_seq,
                    (SELECT COUNT(*) FROM members c WHERE c.room_id = r.id),
                    m.user_id IS NOT NULL AS joined,
                    coalesce(m.read_seq, 0),
                    CASE WHEN m.user_id IS NULL THEN 0 ELSE (
                        SELECT COUNT(*) FROM messages x
                        WHERE x.room_id = r.id AND x.seq > m.read_seq AND x.sender_id <> $1 AND x.deleted_at IS NULL
                          AND (' ' || lower(x.content) || ' ') ~ ('[^a-z0-9_-]@' || $2 || '[^a-z0-9_-]')) END,
                    m.role, m.notify
             FROM rooms r LEFT JOIN members m ON m.room_id = r.id AND m.user_id = $1
             WHERE NOT r.private OR m.user_id IS NOT NULL
             ORDER BY m.user_id IS NOT NULL DESC, r.kind = 'dm', r.id COLLATE \"C\"",
            &[&user.id, &regex_literal(&user.name.to_lowercase())],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let last_seq = r.get::<_, i64>(4).max(0) as u64;
            let joined: bool = r.get(6);
            let read_seq = r.get::<_, i64>(7).max(0) as u64;
            let kind = kind_of(r.get(1));
            RoomSummary {
                notify: joined.then(|| crate::store::notify_level(r.get(10), kind)),
                room_id: r.get(0),
                kind,
                topic: r.get(2),
                private: r.get(3),
                last_seq,
                member_count: r.get::<_, i64>(5).max(0) as u64,
                joined,
                read_seq,
                unread: if joined { last_seq.saturating_sub(read_seq) } else { 0 },
                mentions: r.get::<_, i64>(8).max(0) as u64,
                role: r.get::<_, Option<&str>>(9).map(crate::store::moderation::role_of),
            }
        })
        .collect())
}

/// `text` as a regular expression that matches it literally (guest ids may
/// hold `.` and `+`).
fn regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if matches!(c, '.' | '+' | '*' | '?' | '^' | '$' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A unique violation is a race with another transaction doing the same.
pub fn is_race(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}
