//! Accounts, guests and tokens. Tokens are random; only their SHA-256 is stored.

use chaty_proto::ErrorCode;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::store::model::{ACCESS_TTL_MS, Access, REFRESH_TTL_MS, Rotation, Tokens, User, account_banned, token_hash};

fn taken(name: &str) -> StoreError {
    StoreError::refused(ErrorCode::Conflict, format!("the user name \"{name}\" is taken"))
}

pub fn by_name(conn: &Connection, name: &str) -> Result<Option<User>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id, name, pass_hash IS NULL FROM users WHERE name = ?1")?
        .query_row([name], |r| Ok(User { id: r.get(0)?, name: r.get(1)?, guest: r.get(2)? }))
        .optional()?)
}

/// The user and their password hash, for `LOGIN`. Guests have no password.
pub fn credentials(conn: &Connection, name: &str) -> Result<Option<(User, String)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id, name, pass_hash FROM users WHERE name = ?1 AND pass_hash IS NOT NULL")?
        .query_row([name], |r| Ok((User { id: r.get(0)?, name: r.get(1)?, guest: false }, r.get(2)?)))
        .optional()?)
}

/// Creates an account. A name used by a guest can be taken over when
/// `guest_is_gone(guest_id)` says no guest is connected under it.
pub fn register(
    conn: &Connection,
    name: &str,
    pass_hash: &str,
    now: i64,
    guest_is_gone: impl FnOnce(i64) -> bool,
) -> Result<User, StoreError> {
    match by_name(conn, name)? {
        Some(user) if user.guest && guest_is_gone(user.id) => {
            conn.prepare_cached("UPDATE users SET name = ?2, pass_hash = ?3 WHERE id = ?1")?
                .execute(params![user.id, name, pass_hash])?;
            return Ok(User { id: user.id, name: name.to_string(), guest: false });
        }
        Some(_) => return Err(taken(name)),
        None => {}
    }
    conn.prepare_cached("INSERT INTO users (name, pass_hash, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![name, pass_hash, now])?;
    Ok(User { id: conn.last_insert_rowid(), name: name.to_string(), guest: false })
}

/// The guest called `name`, created on first use. A registered user's name
/// (in any letter case) is never available to a guest.
pub fn guest(conn: &Connection, name: &str, now: i64) -> Result<User, StoreError> {
    match by_name(conn, name)? {
        Some(user) if user.guest => Ok(user),
        Some(_) => Err(StoreError::refused(
            ErrorCode::Conflict,
            format!("\"{name}\" is a registered user; pick another guest name or LOGIN"),
        )),
        None => {
            conn.prepare_cached("INSERT INTO users (name, created_at) VALUES (?1, ?2)")?.execute(params![name, now])?;
            Ok(User { id: conn.last_insert_rowid(), name: name.to_string(), guest: true })
        }
    }
}

/// Records when a user's last connection closed.
pub fn set_last_seen(conn: &Connection, user_id: i64, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE users SET last_seen = ?2 WHERE id = ?1")?.execute(params![user_id, now])?;
    Ok(())
}

/// Whether `name` belongs to a registered (not guest) user.
pub fn is_registered(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(by_name(conn, name)?.is_some_and(|u| !u.guest))
}

/// Issues an access + refresh pair in `family` (a new family when `None`).
pub fn issue_tokens(conn: &Connection, user_id: i64, family: Option<&str>, now: i64) -> Result<Tokens, StoreError> {
    let tokens = Tokens {
        access: format!("ca_{}", crate::store::random_hex(32)),
        refresh: format!("cr_{}", crate::store::random_hex(32)),
        family: family.map_or_else(|| crate::store::random_hex(16), str::to_string),
        access_expires_at: now + ACCESS_TTL_MS,
    };
    let mut insert = conn
        .prepare_cached("INSERT INTO tokens (hash, user_id, kind, family, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)")?;
    insert.execute(params![token_hash(&tokens.access), user_id, "access", tokens.family, tokens.access_expires_at])?;
    insert.execute(params![token_hash(&tokens.refresh), user_id, "refresh", tokens.family, now + REFRESH_TTL_MS])?;
    Ok(tokens)
}

fn bad_token() -> StoreError {
    StoreError::refused(ErrorCode::Unauthorized, "that token is not valid; LOGIN again")
}

/// The sign-in an access token proves.
pub fn check_access(conn: &Connection, token: &str, now: i64) -> Result<Access, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT u.id, u.name, t.family, t.expires_at, u.banned_at IS NOT NULL, u.ban_reason
             FROM tokens t JOIN users u ON u.id = t.user_id
             WHERE t.hash = ?1 AND t.kind = 'access'",
        )?
        .query_row([token_hash(token)], |r| {
            let banned = r.get::<_, bool>(4)?.then(|| r.get::<_, Option<String>>(5)).transpose()?;
            Ok((
                User { id: r.get(0)?, name: r.get(1)?, guest: false },
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                banned,
            ))
        })
        .optional()?;
    if let Some((.., Some(reason))) = &row {
        return Err(account_banned(reason.as_deref()));
    }
    match row.map(|(user, family, expires, _)| (user, family, expires)) {
        None => Err(bad_token()),
        Some((_, _, expires)) if expires <= now => Err(StoreError::refused(
            ErrorCode::TokenExpired,
            "the access token has expired; send REFRESH with your refresh token",
        )),
        Some((user, family, expires_at)) => Ok(Access { user, family, expires_at }),
    }
}

/// Trades a refresh token for a new pair. A refresh token works once: using
/// one that was already rotated revokes its whole family (it was stolen, or
/// the legitimate client lost a race; either way, sign in again).
/// `owner`: the user the asking connection is signed in as, if any; a valid
/// token of someone else is refused without being used up.
pub fn rotate(conn: &Connection, refresh: &str, owner: Option<i64>, now: i64) -> Result<Rotation, StoreError> {
    let hash = token_hash(refresh);
    let row = conn
        .prepare_cached(
            "SELECT u.id, u.name, t.family, t.expires_at, t.rotated, u.banned_at IS NOT NULL, u.ban_reason
             FROM tokens t JOIN users u ON u.id = t.user_id
             WHERE t.hash = ?1 AND t.kind = 'refresh'",
        )?
        .query_row([&hash], |r| {
            Ok((
                User { id: r.get(0)?, name: r.get(1)?, guest: false },
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, bool>(5)?.then(|| r.get::<_, Option<String>>(6)).transpose()?,
            ))
        })
        .optional()?;
    let Some((user, family, expires, rotated, banned)) = row else {
        return Err(bad_token());
    };
    if let Some(reason) = banned {
        return Err(account_banned(reason.as_deref()));
    }
    if rotated {
        revoke_family(conn, &family)?;
        return Ok(Rotation::ReuseDetected(family));
    }
    if owner.is_some_and(|o| o != user.id) {
        return Err(StoreError::refused(ErrorCode::Forbidden, "that refresh token belongs to another user"));
    }
    if expires <= now {
        return Err(StoreError::refused(ErrorCode::TokenExpired, "the refresh token has expired; LOGIN again"));
    }
    conn.prepare_cached("UPDATE tokens SET rotated = 1 WHERE hash = ?1")?.execute([&hash])?;
    let tokens = issue_tokens(conn, user.id, Some(&family), now)?;
    Ok(Rotation::Rotated(user, tokens))
}

pub fn revoke_family(conn: &Connection, family: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM tokens WHERE family = ?1")?.execute([family])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().expect("db");
        super::super::schema::migrate(&conn).expect("migrate");
        conn
    }

    #[test]
    fn names_are_unique_ignoring_case_and_guests_cannot_take_them() {
        let conn = db();
        register(&conn, "alice", "h", 0, |_| false).expect("register");
        assert!(
            matches!(register(&conn, "ALICE", "h", 0, |_| false), Err(StoreError::Refused(r)) if r.code == ErrorCode::Conflict)
        );
        assert!(matches!(guest(&conn, "Alice", 0), Err(StoreError::Refused(r)) if r.code == ErrorCode::Conflict));
        let g = guest(&conn, "bob", 0).expect("guest");
        assert_eq!(guest(&conn, "bob", 0).expect("same guest"), g);
        // A connected guest keeps the name; once gone, it can be registered.
        assert!(register(&conn, "bob", "h", 0, |_| false).is_err());
        let bob = register(&conn, "Bob", "h", 0, |id| id == g.id).expect("claimed");
        assert_eq!((bob.id, bob.guest, bob.name.as_str()), (g.id, false, "Bob"));
    }

    #[test]
    fn tokens_expire_rotate_and_reuse_revokes_the_family() {
        let conn = db();
        let user = register(&conn, "alice", "h", 0, |_| false).expect("register");
        let first = issue_tokens(&conn, user.id, None, 1000).expect("issue");
        assert_eq!(check_access(&conn, &first.access, 1000).expect("valid").user, user);
        let expired = check_access(&conn, &first.access, 1000 + ACCESS_TTL_MS).expect_err("expired");
        assert!(matches!(expired, StoreError::Refused(r) if r.code == ErrorCode::TokenExpired));

        let Rotation::Rotated(_, second) = rotate(&conn, &first.refresh, None, 2000).expect("rotate") else {
            panic!("first use must rotate");
        };
        assert_eq!(second.family, first.family);
        assert!(check_access(&conn, &second.access, 2000).is_ok());
        // Replaying the old refresh token revokes everything in the family.
        assert!(matches!(rotate(&conn, &first.refresh, None, 3000), Ok(Rotation::ReuseDetected(_))));
        assert!(check_access(&conn, &second.access, 3000).is_err());
        assert!(rotate(&conn, &second.refresh, None, 3000).is_err());
    }

    #[test]
    fn tokens_are_stored_only_as_hashes() {
        let conn = db();
        let user = register(&conn, "alice", "h", 0, |_| false).expect("register");
        let t = issue_tokens(&conn, user.id, None, 0).expect("issue");
        let stored: Vec<String> = conn
            .prepare("SELECT hash FROM tokens")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert!(!stored.contains(&t.access) && !stored.contains(&t.refresh));
        assert!(stored.contains(&token_hash(&t.access)));
    }
}
