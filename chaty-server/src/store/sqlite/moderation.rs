//! Moderation on SQLite: the facts [`crate::store::moderation`] decides on,
//! and the changes it allows (memberships, roles, bans, topics, server admins).

use chaty_proto::ErrorCode;
use rusqlite::{Connection, OptionalExtension, params};

use super::rooms;
use crate::error::StoreError;
use crate::store::model::{Room, User};
use crate::store::moderation::{self, Action, Moderated, Standing, Target, role_of};

/// Where `user_id` stands in `room_id`.
fn standing(conn: &Connection, room_id: &str, user_id: i64) -> Result<Standing, StoreError> {
    let server_admin: bool =
        conn.prepare_cached("SELECT admin FROM users WHERE id = ?1")?.query_row([user_id], |r| r.get(0))?;
    let role: Option<String> = conn
        .prepare_cached("SELECT role FROM members WHERE room_id = ?1 AND user_id = ?2")?
        .query_row(params![room_id, user_id], |r| r.get(0))
        .optional()?;
    Ok(Standing { room: rooms::get(conn, room_id)?, role: role.as_deref().map(role_of), server_admin })
}

/// The user called `name` and where they stand in `room_id`.
fn target(conn: &Connection, room_id: &str, name: &str) -> Result<Target, StoreError> {
    conn.prepare_cached(
        "SELECT u.id, u.name, u.pass_hash IS NULL, u.admin, m.role,
                EXISTS (SELECT 1 FROM bans b WHERE b.room_id = ?1 AND b.user_id = u.id)
         FROM users u LEFT JOIN members m ON m.room_id = ?1 AND m.user_id = u.id
         WHERE u.name = ?2",
    )?
    .query_row(params![room_id, name], |r| {
        Ok(Target {
            user: User { id: r.get(0)?, name: r.get(1)?, guest: r.get(2)? },
            server_admin: r.get(3)?,
            role: r.get::<_, Option<String>>(4)?.as_deref().map(role_of),
            banned: r.get(5)?,
        })
    })
    .optional()?
    .ok_or_else(|| StoreError::refused(ErrorCode::NotFound, format!("no user \"{name}\"")))
}

/// Whether `user_id` is banned from `room_id`.
pub fn is_banned(conn: &Connection, room_id: &str, user_id: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM bans WHERE room_id = ?1 AND user_id = ?2")?
        .query_row(params![room_id, user_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// `KICK`, `BAN`, `UNBAN`, `SET_ROLE`.
pub fn moderate(
    conn: &Connection,
    room_id: &str,
    actor: &User,
    name: &str,
    action: &Action,
    now: i64,
) -> Result<Moderated, StoreError> {
    let standing = standing(conn, room_id, actor.id)?;
    let room = moderation::authorize(room_id, &standing)?;
    let target = target(conn, room_id, name)?;
    moderation::check(&room, actor, &standing, &target, action)?;
    let user_id = target.user.id;
    let remove = |conn: &Connection| -> Result<bool, StoreError> {
        let n = conn
            .prepare_cached("DELETE FROM members WHERE room_id = ?1 AND user_id = ?2")?
            .execute(params![room_id, user_id])?;
        Ok(n > 0)
    };
    let (removed, changed) = match action {
        Action::Kick { .. } => (remove(conn)?, true),
        Action::Ban { reason } => {
            let removed = remove(conn)?;
            conn.prepare_cached(
                "INSERT INTO bans (room_id, user_id, banned_by, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (room_id, user_id) DO NOTHING",
            )?
            .execute(params![room_id, user_id, actor.id, reason, now])?;
            (removed, removed || !target.banned)
        }
        Action::Unban => {
            conn.prepare_cached("DELETE FROM bans WHERE room_id = ?1 AND user_id = ?2")?
                .execute(params![room_id, user_id])?;
            (false, true)
        }
        Action::SetRole(role) => {
            let n = conn
                .prepare_cached("UPDATE members SET role = ?3 WHERE room_id = ?1 AND user_id = ?2 AND role <> ?3")?
                .execute(params![room_id, user_id, role.as_str()])?;
            (false, n > 0)
        }
    };
    Ok(Moderated { room, target: target.user, removed, changed })
}

/// `SET_TOPIC`.
pub fn set_topic(conn: &Connection, room_id: &str, actor: &User, topic: &str) -> Result<Room, StoreError> {
    let room = moderation::authorize(room_id, &standing(conn, room_id, actor.id)?)?;
    conn.prepare_cached("UPDATE rooms SET topic = ?2 WHERE id = ?1")?.execute(params![room_id, topic])?;
    Ok(Room { topic: topic.to_string(), ..room })
}

/// Makes a registered user a server admin, or not.
pub fn set_admin(conn: &Connection, name: &str, admin: bool) -> Result<(), StoreError> {
    let n = conn
        .prepare_cached("UPDATE users SET admin = ?2 WHERE name = ?1 AND pass_hash IS NOT NULL")?
        .execute(params![name, admin])?;
    if n == 0 {
        return Err(StoreError::refused(ErrorCode::NotFound, format!("no registered user \"{name}\"")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::users;
    use chaty_proto::Role;

    #[test]
    fn a_ban_removes_and_keeps_out_until_unbanned() {
        let conn = Connection::open_in_memory().expect("db");
        super::super::schema::migrate(&conn).expect("migrate");
        let a = users::register(&conn, "alice", "h", 0, |_| false).expect("a");
        let b = users::register(&conn, "bob", "h", 0, |_| false).expect("b");
        rooms::join(&conn, "general", &a, 0).expect("create");
        rooms::join(&conn, "general", &b, 0).expect("join");
        let ban = Action::Ban { reason: Some("spam".into()) };
        let done = moderate(&conn, "general", &a, "BOB", &ban, 0).expect("ban");
        assert!(done.removed && done.changed && done.target.name == "bob");
        assert!(!rooms::is_member(&conn, "general", b.id).expect("member"));
        assert!(rooms::join(&conn, "general", &b, 0).is_err(), "a banned user cannot join");
        moderate(&conn, "general", &a, "bob", &Action::Unban, 0).expect("unban");
        assert!(rooms::join(&conn, "general", &b, 0).expect("join again").newly);
        assert!(!moderate(&conn, "general", &a, "bob", &Action::SetRole(Role::Member), 0).expect("role").changed);
        set_admin(&conn, "bob", true).expect("server admin");
        assert!(set_topic(&conn, "general", &b, "hello").is_ok(), "a server admin sets any topic");
        assert!(set_admin(&conn, "nobody", true).is_err());
    }
}
