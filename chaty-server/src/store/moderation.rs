//! Moderation: who may act on a room (its admins, and server admins), and
//! what `KICK`, `BAN`, `UNBAN`, `SET_ROLE` and `SET_TOPIC` may do to whom.
//! The rules are here, once, as pure functions over the facts a backend
//! reads ([`Standing`], [`Target`]); each backend's `moderation.rs` reads
//! those facts and applies the change in its own SQL, in one transaction.

use chaty_proto::{ErrorCode, Role, RoomKind};

use super::{Backend, Room, Store, User, not_visible, postgres, sqlite};
use crate::error::StoreError;
use chaty_proto::time::now_millis;

/// What a moderator does to a user in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Kick { reason: Option<String> },
    Ban { reason: Option<String> },
    Unban,
    SetRole(Role),
}

/// Where the acting user stands in a room.
#[derive(Debug, Clone, Default)]
pub struct Standing {
    /// The room, if it exists.
    pub room: Option<Room>,
    /// Their role, if they are a member.
    pub role: Option<Role>,
    pub server_admin: bool,
}

/// The user acted on, and where they stand in the room.
#[derive(Debug, Clone)]
pub struct Target {
    pub user: User,
    pub role: Option<Role>,
    pub server_admin: bool,
    pub banned: bool,
}

/// What a moderation action did.
#[derive(Debug, Clone)]
pub struct Moderated {
    pub room: Room,
    pub target: User,
    /// The target was a member and no longer is (`KICK`, `BAN`).
    pub removed: bool,
    /// Anything changed at all (a second `BAN` or a `SET_ROLE` to the role
    /// they have changes nothing).
    pub changed: bool,
}

/// A role as stored in `members.role`.
pub fn role_of(text: &str) -> Role {
    if text == "admin" { Role::Admin } else { Role::Member }
}

fn forbidden(message: impl Into<String>) -> StoreError {
    StoreError::refused(ErrorCode::Forbidden, message)
}

/// The refusal for a banned user's `JOIN_ROOM` (`who` is `None`) or for an
/// invitation of one (`who` names them).
pub fn banned(room_id: &str, who: Option<&str>) -> StoreError {
    match who {
        None => forbidden(format!("you are banned from \"{room_id}\"")),
        Some(name) => forbidden(format!("\"{name}\" is banned from \"{room_id}\"")),
    }
}

/// The room the acting user may moderate, or why not: its admins and server
/// admins may; members get `forbidden`; non-members of a private room or a
/// DM get the same `not_found` as for a room that does not exist. A DM has
/// no admins at all.
pub fn authorize(room_id: &str, standing: &Standing) -> Result<Room, StoreError> {
    let Some(room) = standing.room.clone() else {
        return Err(not_visible(room_id));
    };
    if room.kind == RoomKind::Dm {
        return Err(match standing.role {
            Some(_) => forbidden("a direct-message room has no admins"),
            None => not_visible(room_id),
        });
    }
    if standing.role == Some(Role::Admin) || standing.server_admin {
        return Ok(room);
    }
    if standing.role.is_none() && room.private {
        return Err(not_visible(room_id));
    }
    Err(forbidden(format!("you are not an admin of \"{room_id}\"")))
}

/// Whether `action` may be done to `target` by `actor` in an authorized
/// room. Nobody kicks or bans themselves; only a server admin removes or
/// demotes an admin (a room's or the server's).
pub fn check(
    room: &Room,
    actor: &User,
    standing: &Standing,
    target: &Target,
    action: &Action,
) -> Result<(), StoreError> {
    let (name, room_id) = (&target.user.name, &room.id);
    let myself = target.user.id == actor.id;
    let not_member =
        || StoreError::refused(ErrorCode::NotFound, format!("\"{name}\" is not a member of \"{room_id}\""));
    let protected = target.role == Some(Role::Admin) || target.server_admin;
    match action {
        Action::Kick { .. } | Action::Ban { .. } if myself => {
            let verb = if matches!(action, Action::Kick { .. }) { "kick" } else { "ban" };
            Err(StoreError::refused(ErrorCode::Invalid, format!("you cannot {verb} yourself; send LEAVE_ROOM")))
        }
        Action::Kick { .. } if target.role.is_none() => Err(not_member()),
        Action::Kick { .. } | Action::Ban { .. } if protected && !standing.server_admin => {
            Err(forbidden(format!("\"{name}\" is an admin; only a server admin can remove them")))
        }
        Action::Unban if !target.banned => {
            Err(StoreError::refused(ErrorCode::NotFound, format!("\"{name}\" is not banned from \"{room_id}\"")))
        }
        Action::SetRole(_) if target.role.is_none() => Err(not_member()),
        Action::SetRole(Role::Admin) if target.user.guest => Err(forbidden("guests cannot be admins")),
        Action::SetRole(Role::Member) if target.role == Some(Role::Admin) && !myself && !standing.server_admin => {
            Err(forbidden(format!("\"{name}\" is an admin; only a server admin can demote them")))
        }
        _ => Ok(()),
    }
}

impl Store {
    /// `KICK`, `BAN`, `UNBAN` or `SET_ROLE` by `actor` on the user called `target`.
    pub async fn moderate(
        &self,
        room_id: String,
        actor: User,
        target: String,
        action: Action,
    ) -> Result<Moderated, StoreError> {
        let now = now_millis();
        match &self.backend {
            Backend::Sqlite(s) => {
                s.write(move |db| sqlite::moderation::moderate(db, &room_id, &actor, &target, &action, now)).await
            }
            Backend::Postgres(pg) => {
                pg_tx!(pg, |db| postgres::moderation::moderate(db, &room_id, &actor, &target, &action, now).await)
            }
        }
    }

    /// `SET_TOPIC`: the room with its new topic.
    pub async fn set_topic(&self, room_id: String, actor: User, topic: String) -> Result<Room, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::moderation::set_topic(db, &room_id, &actor, &topic)).await,
            Backend::Postgres(pg) => {
                pg_tx!(pg, |db| postgres::moderation::set_topic(db, &room_id, &actor, &topic).await)
            }
        }
    }

    /// Makes the registered user `user_name` a server admin, or not: server
    /// admins moderate every room but DMs. (`not_found` for no such user.)
    pub async fn set_admin(&self, user_name: String, admin: bool) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::moderation::set_admin(db, &user_name, admin)).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| postgres::moderation::set_admin(db, &user_name, admin).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(kind: RoomKind, private: bool) -> Room {
        Room { id: "r".into(), kind, topic: String::new(), private }
    }

    fn standing(room: Option<Room>, role: Option<Role>, server_admin: bool) -> Standing {
        Standing { room, role, server_admin }
    }

    fn code<T: std::fmt::Debug>(r: Result<T, StoreError>) -> ErrorCode {
        match r {
            Err(StoreError::Refused(r)) => r.code,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn who_may_moderate_a_room() {
        let public = Some(room(RoomKind::Room, false));
        let private = Some(room(RoomKind::Room, true));
        let dm = Some(room(RoomKind::Dm, true));
        assert!(authorize("r", &standing(public.clone(), Some(Role::Admin), false)).is_ok());
        assert!(authorize("r", &standing(private.clone(), None, true)).is_ok(), "server admins see every room");
        assert_eq!(code(authorize("r", &standing(public.clone(), Some(Role::Member), false))), ErrorCode::Forbidden);
        assert_eq!(code(authorize("r", &standing(public, None, false))), ErrorCode::Forbidden);
        assert_eq!(code(authorize("r", &standing(private, None, false))), ErrorCode::NotFound);
        assert_eq!(code(authorize("r", &standing(None, None, true))), ErrorCode::NotFound);
        assert_eq!(code(authorize("r", &standing(dm.clone(), Some(Role::Member), true))), ErrorCode::Forbidden);
        assert_eq!(code(authorize("r", &standing(dm, None, true))), ErrorCode::NotFound);
    }

    #[test]
    fn what_may_be_done_to_whom() {
        let r = room(RoomKind::Room, false);
        let me = User { id: 1, name: "al".into(), guest: false };
        let target = |id, role, server_admin, banned| Target {
            user: User { id, name: "bo".into(), guest: false },
            role,
            server_admin,
            banned,
        };
        let admin = standing(None, Some(Role::Admin), false);
        let root = standing(None, None, true);
        let kick = Action::Kick { reason: None };
        let ban = Action::Ban { reason: None };
        let member = target(2, Some(Role::Member), false, false);
        let other_admin = target(2, Some(Role::Admin), false, false);
        assert!(check(&r, &me, &admin, &member, &kick).is_ok());
        assert_eq!(
            code(check(&r, &me, &admin, &target(1, Some(Role::Admin), false, false), &kick)),
            ErrorCode::Invalid
        );
        assert_eq!(code(check(&r, &me, &admin, &target(2, None, false, false), &kick)), ErrorCode::NotFound);
        assert!(check(&r, &me, &admin, &target(2, None, false, false), &ban).is_ok(), "pre-emptive ban");
        assert_eq!(code(check(&r, &me, &admin, &other_admin, &ban)), ErrorCode::Forbidden);
        assert_eq!(
            code(check(&r, &me, &admin, &target(2, Some(Role::Member), true, false), &kick)),
            ErrorCode::Forbidden
        );
        assert!(check(&r, &me, &root, &other_admin, &kick).is_ok());
        assert_eq!(code(check(&r, &me, &admin, &member, &Action::Unban)), ErrorCode::NotFound);
        assert!(check(&r, &me, &admin, &target(2, None, false, true), &Action::Unban).is_ok());
        assert_eq!(code(check(&r, &me, &admin, &other_admin, &Action::SetRole(Role::Member))), ErrorCode::Forbidden);
        assert!(
            check(&r, &me, &admin, &target(1, Some(Role::Admin), false, false), &Action::SetRole(Role::Member)).is_ok()
        );
        assert_eq!(
            code(check(&r, &me, &admin, &target(2, None, false, false), &Action::SetRole(Role::Admin))),
            ErrorCode::NotFound
        );
    }
}
