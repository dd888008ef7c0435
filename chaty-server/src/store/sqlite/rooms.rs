//! Rooms, direct-message rooms and membership.

use chaty_proto::validate::dm_members;
use chaty_proto::{ErrorCode, NotifyLevel, RoomKind, RoomSummary};
use rusqlite::{Connection, OptionalExtension, params};

use super::{moderation, users};
use crate::error::StoreError;
use crate::store::model::{Joined, Member, Room, User, not_visible};

fn kind_of(text: &str) -> RoomKind {
    if text == "dm" { RoomKind::Dm } else { RoomKind::Room }
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<Room>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id, kind, topic, private FROM rooms WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(Room { id: r.get(0)?, kind: kind_of(&r.get::<_, String>(1)?), topic: r.get(2)?, private: r.get(3)? })
        })
        .optional()?)
}

/// `SET_NOTIFY`: a member's notification level for a room.
pub fn set_notify(conn: &Connection, room_id: &str, user_id: i64, level: NotifyLevel) -> Result<(), StoreError> {
    let updated = conn
        .prepare_cached("UPDATE members SET notify = ?3 WHERE room_id = ?1 AND user_id = ?2")?
        .execute(params![room_id, user_id, level.as_str()])?;
    if updated == 0 {
        return Err(crate::store::not_visible(room_id));
    }
    Ok(())
}

pub fn is_member(conn: &Connection, room_id: &str, user_id: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM members WHERE room_id = ?1 AND user_id = ?2")?
        .query_row(params![room_id, user_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The room, if `user_id` is a member; otherwise the not-visible refusal.
pub fn require_member(conn: &Connection, room_id: &str, user_id: i64) -> Result<Room, StoreError> {
    match get(conn, room_id)? {
        Some(room) if is_member(conn, room_id, user_id)? => Ok(room),
        _ => Err(not_visible(room_id)),
    }
}

/// Adds a member, who starts with everything so far read: history from
/// before you joined is there to scroll, not an unread pile.
fn add_member(conn: &Connection, room_id: &str, user_id: i64, role: &str, now: i64) -> Result<bool, StoreError> {
    let added = conn
        .prepare_cached(
            "INSERT INTO members (room_id, user_id, role, joined_at, read_seq)
             VALUES (?1, ?2, ?3, ?4, (SELECT last_seq FROM rooms WHERE id = ?1))
             ON CONFLICT (room_id, user_id) DO NOTHING",
        )?
        .execute(params![room_id, user_id, role, now])?;
    Ok(added > 0)
}

fn insert_room(conn: &Connection, room: &Room, creator: i64, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO rooms (id, kind, topic, private, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![room.id, room.kind.as_str(), room.topic, room.private, creator, now])?;
    Ok(())
}

/// `CREATE_ROOM`: a new room with its creator as admin.
pub fn create(conn: &Connection, room: Room, creator: &User, now: i64) -> Result<Room, StoreError> {
    if get(conn, &room.id)?.is_some() {
        return Err(StoreError::refused(ErrorCode::Conflict, format!("room \"{}\" already exists", room.id)));
    }
    insert_room(conn, &room, creator.id, now)?;
    add_member(conn, &room.id, creator.id, "admin", now)?;
    Ok(room)
}

/// `JOIN_ROOM`: joins a public room (creating an unknown id, as the seed
/// protocol does), or rejoins a private room or DM the user belongs to.
pub fn join(conn: &Connection, room_id: &str, user: &User, now: i64) -> Result<Joined, StoreError> {
    let Some(room) = get(conn, room_id)? else {
        if room_id.starts_with("dm:") {
            return Err(not_visible(room_id));
        }
        let room = Room { id: room_id.to_string(), kind: RoomKind::Room, topic: String::new(), private: false };
        let room = create(conn, room, user, now)?;
        return Ok(Joined { room, newly: true });
    };
    if is_member(conn, room_id, user.id)? {
        return Ok(Joined { room, newly: false });
    }
    let dm_party = dm_members(room_id).is_some_and(|(a, b)| a == user.name || b == user.name);
    if room.private && !dm_party {
        // The same answer as for a room that does not exist.
        return Err(not_visible(room_id));
    }
    if moderation::is_banned(conn, room_id, user.id)? {
        return Err(crate::store::moderation::banned(room_id, None));
    }
    let newly = add_member(conn, room_id, user.id, "member", now)?;
    Ok(Joined { room, newly })
}

/// `LEAVE_ROOM`.
pub fn leave(conn: &Connection, room_id: &str, user_id: i64) -> Result<(), StoreError> {
    let removed = conn
        .prepare_cached("DELETE FROM members WHERE room_id = ?1 AND user_id = ?2")?
        .execute(params![room_id, user_id])?;
    if removed == 0 {
        return Err(not_visible(room_id));
    }
    Ok(())
}

/// Removes a guest from every room (guests' memberships end with their last connection).
pub fn leave_all(conn: &Connection, user_id: i64) -> Result<Vec<String>, StoreError> {
    let rooms = rooms_of(conn, user_id)?;
    conn.prepare_cached("DELETE FROM members WHERE user_id = ?1")?.execute([user_id])?;
    Ok(rooms)
}

/// `INVITE`: a member adds a registered user to a (usually private) room.
pub fn invite(
    conn: &Connection,
    room_id: &str,
    inviter: &User,
    invitee: &str,
    now: i64,
) -> Result<(Joined, User), StoreError> {
    let room = require_member(conn, room_id, inviter.id)?;
    if room.kind == RoomKind::Dm {
        return Err(StoreError::refused(ErrorCode::Forbidden, "a direct-message room has exactly two members"));
    }
    let user = registered(conn, invitee)?;
    if moderation::is_banned(conn, room_id, user.id)? {
        return Err(crate::store::moderation::banned(room_id, Some(&user.name)));
    }
    let newly = add_member(conn, room_id, user.id, "member", now)?;
    Ok((Joined { room, newly }, user))
}

fn registered(conn: &Connection, name: &str) -> Result<User, StoreError> {
    match users::by_name(conn, name)? {
        Some(user) if !user.guest => Ok(user),
        _ => Err(StoreError::refused(ErrorCode::NotFound, format!("no registered user \"{name}\""))),
    }
}

/// `OPEN_DM`: the two-person room of `me` and `other`, created on first use.
pub fn open_dm(conn: &Connection, me: &User, other: &str, now: i64) -> Result<(Room, User), StoreError> {
    let other = registered(conn, other)?;
    if other.id == me.id {
        return Err(StoreError::refused(ErrorCode::Invalid, "a direct message needs another user"));
    }
    let id = chaty_proto::validate::dm_room_id(&me.name, &other.name);
    let room = match get(conn, &id)? {
        Some(room) => room,
        None => {
            let room = Room { id, kind: RoomKind::Dm, topic: String::new(), private: true };
            insert_room(conn, &room, me.id, now)?;
            room
        }
    };
    add_member(conn, &room.id, me.id, "member", now)?;
    add_member(conn, &room.id, other.id, "member", now)?;
    Ok((room, other))
}

/// Members of a room, sorted by name.
pub fn members(conn: &Connection, room_id: &str) -> Result<Vec<Member>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.name, m.read_seq, u.last_seen, u.display_name, u.status_text, m.role = 'admin'
         FROM members m JOIN users u ON u.id = m.user_id
         WHERE m.room_id = ?1 ORDER BY u.name",
    )?;
    let members = stmt
        .query_map([room_id], |r| {
            Ok(Member {
                name: r.get(0)?,
                read_seq: r.get::<_, i64>(1)?.max(0) as u64,
                last_seen: r.get(2)?,
                display_name: r.get(3)?,
                status_text: r.get(4)?,
                admin: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(members)
}

/// Whether `user_id` moderates `room_id`: an admin of the room (its creator,
/// and whoever an admin promotes) or a server admin.
pub fn moderates(conn: &Connection, room_id: &str, user_id: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM members WHERE room_id = ?1 AND user_id = ?2 AND role = 'admin')
                 OR EXISTS (SELECT 1 FROM users WHERE id = ?2 AND admin)",
        )?
        .query_row(params![room_id, user_id], |r| r.get(0))?)
}

/// `MARK_READ`: moves the read cursor forward only (and not past the last
/// message). Returns the cursor if it moved.
pub fn mark_read(conn: &Connection, room_id: &str, user_id: i64, seq: u64) -> Result<Option<u64>, StoreError> {
    require_member(conn, room_id, user_id)?;
    let seq = i64::try_from(seq).unwrap_or(i64::MAX);
    let moved: Option<i64> = conn
        .prepare_cached(
            "UPDATE members SET read_seq = min(?3, (SELECT last_seq FROM rooms WHERE id = ?1))
             WHERE room_id = ?1 AND user_id = ?2 AND read_seq < min(?3, (SELECT last_seq FROM rooms WHERE id = ?1))
             RETURNING read_seq",
        )?
        .query_row(params![room_id, user_id, seq], |r| r.get(0))
        .optional()?;
    Ok(moved.map(|s| s.max(0) as u64))
}

/// Ids of the rooms `user_id` belongs to.
pub fn rooms_of(conn: &Connection, user_id: i64) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT room_id FROM members WHERE user_id = ?1 ORDER BY room_id")?;
    let ids = stmt.query_map([user_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(ids)
}

/// `LIST_ROOMS`: the user's rooms and DMs, then every public room, by id,
/// with the user's read cursor, unread count and unread mentions of them.
pub fn list(conn: &Connection, user: &User) -> Result<Vec<RoomSummary>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.id, r.kind, r.topic, r.private, r.last_seq,
                (SELECT COUNT(*) FROM members c WHERE c.room_id = r.id),
                m.user_id IS NOT NULL AS joined,
                coalesce(m.read_seq, 0),
                CASE WHEN m.user_id IS NULL THEN 0 ELSE (
                    SELECT COUNT(*) FROM messages x
                    WHERE x.room_id = r.id AND x.seq > m.read_seq AND x.sender_id <> ?1 AND x.deleted_at IS NULL
                      AND (' ' || lower(x.content) || ' ') GLOB ('*[^a-z0-9_-]@' || lower(?2) || '[^a-z0-9_-]*')) END,
                m.role, m.notify
         FROM rooms r LEFT JOIN members m ON m.room_id = r.id AND m.user_id = ?1
         WHERE r.private = 0 OR joined
         ORDER BY joined DESC, r.kind = 'dm', r.id",
    )?;
    let rooms = stmt
        .query_map(params![user.id, user.name], |r| {
            let last_seq = r.get::<_, i64>(4)?.max(0) as u64;
            let joined: bool = r.get(6)?;
            let read_seq = r.get::<_, i64>(7)?.max(0) as u64;
            let kind = kind_of(&r.get::<_, String>(1)?);
            let notify = r.get::<_, Option<String>>(10)?;
            Ok(RoomSummary {
                notify: joined.then(|| crate::store::notify_level(notify.as_deref(), kind)),
                room_id: r.get(0)?,
                kind,
                topic: r.get(2)?,
                private: r.get(3)?,
                last_seq,
                member_count: r.get::<_, i64>(5)?.max(0) as u64,
                joined,
                read_seq,
                unread: if joined { last_seq.saturating_sub(read_seq) } else { 0 },
                mentions: r.get::<_, i64>(8)?.max(0) as u64,
                role: r.get::<_, Option<String>>(9)?.as_deref().map(crate::store::moderation::role_of),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rooms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (Connection, User, User, User) {
        let conn = Connection::open_in_memory().expect("db");
        super::super::schema::migrate(&conn).expect("migrate");
        let a = users::register(&conn, "alice", "h", 0, |_| false).expect("a");
        let b = users::register(&conn, "bob", "h", 0, |_| false).expect("b");
        let c = users::register(&conn, "carol", "h", 0, |_| false).expect("c");
        (conn, a, b, c)
    }

    fn code(r: Result<impl std::fmt::Debug, StoreError>) -> ErrorCode {
        match r {
            Err(StoreError::Refused(r)) => r.code,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn joining_an_unknown_public_id_creates_it() {
        let (conn, a, b, _) = db();
        let j = join(&conn, "general", &a, 0).expect("create by join");
        assert!(j.newly && !j.room.private);
        assert!(join(&conn, "general", &b, 0).expect("join").newly);
        assert!(!join(&conn, "general", &b, 0).expect("rejoin").newly);
        let names: Vec<String> = members(&conn, "general").expect("members").into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["alice", "bob"]);
    }

    #[test]
    fn private_rooms_need_an_invite() {
        let (conn, a, b, c) = db();
        let room = Room { id: "ops".into(), kind: RoomKind::Room, topic: "on call".into(), private: true };
        create(&conn, room, &a, 0).expect("create");
        assert_eq!(code(join(&conn, "ops", &b, 0)), ErrorCode::NotFound);
        assert_eq!(code(invite(&conn, "ops", &c, "bob", 0)), ErrorCode::NotFound, "non-member cannot invite");
        invite(&conn, "ops", &a, "bob", 0).expect("invite");
        assert!(is_member(&conn, "ops", b.id).expect("member"));
        let listed: Vec<_> = list(&conn, &c).expect("list").into_iter().map(|r| r.room_id).collect();
        assert!(!listed.contains(&"ops".to_string()), "private room listed to a non-member");
    }

    #[test]
    fn dms_belong_to_their_two_users_only() {
        let (conn, a, b, c) = db();
        let (room, _) = open_dm(&conn, &b, "alice", 0).expect("dm");
        assert_eq!(room.id, "dm:alice:bob");
        assert_eq!(code(join(&conn, "dm:alice:bob", &c, 0)), ErrorCode::NotFound);
        assert_eq!(code(join(&conn, "dm:alice:carol", &c, 0)), ErrorCode::NotFound, "dm rooms are not created by join");
        assert_eq!(code(invite(&conn, "dm:alice:bob", &a, "carol", 0)), ErrorCode::Forbidden);
        leave(&conn, "dm:alice:bob", a.id).expect("leave");
        assert!(!join(&conn, "dm:alice:bob", &a, 0).expect("party may rejoin").room.id.is_empty());
        assert_eq!(code(open_dm(&conn, &a, "nobody", 0)), ErrorCode::NotFound);
    }
}
