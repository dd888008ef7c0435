//! Invitations to register (`--registration invite`): only the token's
//! SHA-256 is stored, with the registrations it has left and its expiry.

use rusqlite::{Connection, params};

use crate::error::StoreError;
use crate::store::model::token_hash;

pub fn create(conn: &Connection, hash: &str, uses: u32, expires_at: Option<i64>, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO invites (hash, uses_left, expires_at, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![hash, uses, expires_at, now])?;
    Ok(())
}

/// Uses `token` for one registration at `now`, or refuses (`forbidden`).
pub fn redeem(conn: &Connection, token: &str, now: i64) -> Result<(), StoreError> {
    let used = conn
        .prepare_cached(
            "UPDATE invites SET uses_left = uses_left - 1
             WHERE hash = ?1 AND uses_left > 0 AND (expires_at IS NULL OR expires_at > ?2)",
        )?
        .execute(params![token_hash(token), now])?;
    if used == 0 {
        return Err(crate::store::invites::unusable());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invite_is_used_up_and_expires() {
        let conn = Connection::open_in_memory().expect("db");
        super::super::schema::migrate(&conn).expect("migrate");
        create(&conn, &token_hash("twice"), 2, Some(10_000), 0).expect("create");
        create(&conn, &token_hash("forever"), 1, None, 0).expect("create");
        redeem(&conn, "twice", 1_000).expect("first use");
        assert!(redeem(&conn, "twice", 10_000).is_err(), "expired at 10 s");
        redeem(&conn, "twice", 9_999).expect("second use");
        assert!(redeem(&conn, "twice", 9_999).is_err(), "used up");
        assert!(redeem(&conn, "nope", 0).is_err(), "unknown");
        redeem(&conn, "forever", i64::MAX - 1).expect("no expiry");
    }
}
