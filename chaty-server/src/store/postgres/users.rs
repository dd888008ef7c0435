//! Accounts, guests and tokens on PostgreSQL (the SQLite twin is
//! `store/sqlite/users.rs`; the rules are the same, the SQL is not).

use chaty_proto::ErrorCode;
use tokio_postgres::GenericClient;
use tokio_postgres::error::SqlState;

use crate::error::StoreError;
use crate::store::model::{ACCESS_TTL_MS, Access, REFRESH_TTL_MS, Rotation, Tokens, User, account_banned, token_hash};

fn taken(name: &str) -> StoreError {
    StoreError::refused(ErrorCode::Conflict, format!("the user name \"{name}\" is taken"))
}

/// A unique violation on the user name is somebody else taking it meanwhile.
fn name_race(name: &str) -> impl FnOnce(tokio_postgres::Error) -> StoreError + '_ {
    move |e| if e.code() == Some(&SqlState::UNIQUE_VIOLATION) { taken(name) } else { e.into() }
}

pub async fn by_name(db: &impl GenericClient, name: &str) -> Result<Option<User>, StoreError> {
    let row =
        db.query_opt("SELECT id, name, pass_hash IS NULL FROM users WHERE lower(name) = lower($1)", &[&name]).await?;
    Ok(row.map(|r| User { id: r.get(0), name: r.get(1), guest: r.get(2) }))
}

pub async fn credentials(db: &impl GenericClient, name: &str) -> Result<Option<(User, String)>, StoreError> {
    let row = db
        .query_opt(
            "SELECT id, name, pass_hash FROM users WHERE lower(name) = lower($1) AND pass_hash IS NOT NULL",
            &[&name],
        )
        .await?;
    Ok(row.map(|r| (User { id: r.get(0), name: r.get(1), guest: false }, r.get(2))))
}

pub async fn register(
    db: &impl GenericClient,
    name: &str,
    pass_hash: &str,
    now: i64,
    guest_is_gone: impl FnOnce(i64) -> bool,
) -> Result<User, StoreError> {
    match by_name(db, name).await? {
        Some(user) if user.guest && guest_is_gone(user.id) => {
            // Only while it is still a guest: two takeovers at once, one wins.
            let taken_over = db
                .execute(
                    "UPDATE users SET name = $2, pass_hash = $3 WHERE id = $1 AND pass_hash IS NULL",
                    &[&user.id, &name, &pass_hash],
                )
                .await?;
            if taken_over == 0 {
                return Err(taken(name));
            }
            return Ok(User { id: user.id, name: name.to_string(), guest: false });
        }
        Some(_) => return Err(taken(name)),
        None => {}
    }
    let row = db
        .query_one(
            "INSERT INTO users (name, pass_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
            &[&name, &pass_hash, &now],
        )
        .await
        .map_err(name_race(name))?;
    Ok(User { id: row.get(0), name: name.to_string(), guest: false })
}

pub async fn guest(db: &impl GenericClient, name: &str, now: i64) -> Result<User, StoreError> {
    match by_name(db, name).await? {
        Some(user) if user.guest => Ok(user),
        Some(_) => Err(StoreError::refused(
            ErrorCode::Conflict,
            format!("\"{name}\" is a registered user; pick another guest name or LOGIN"),
        )),
        None => {
            let row = db
                .query_one("INSERT INTO users (name, created_at) VALUES ($1, $2) RETURNING id", &[&name, &now])
                .await
                .map_err(name_race(name))?;
            Ok(User { id: row.get(0), name: name.to_string(), guest: true })
        }
    }
}

pub async fn set_last_seen(db: &impl GenericClient, user_id: i64, now: i64) -> Result<(), StoreError> {
    db.execute("UPDATE users SET last_seen = $2 WHERE id = $1", &[&user_id, &now]).await?;
    Ok(())
}

pub async fn is_registered(db: &impl GenericClient, name: &str) -> Result<bool, StoreError> {
    Ok(by_name(db, name).await?.is_some_and(|u| !u.guest))
}

pub async fn issue_tokens(
    db: &impl GenericClient,
    user_id: i64,
    family: Option<&str>,
    now: i64,
) -> Result<Tokens, StoreError> {
    let tokens = Tokens {
        access: format!("ca_{}", crate::store::random_hex(32)),
        refresh: format!("cr_{}", crate::store::random_hex(32)),
        family: family.map_or_else(|| crate::store::random_hex(16), str::to_string),
        access_expires_at: now + ACCESS_TTL_MS,
    };
    let insert = "INSERT INTO tokens (hash, user_id, kind, family, expires_at) VALUES ($1, $2, $3, $4, $5)";
    db.execute(insert, &[&token_hash(&tokens.access), &user_id, &"access", &tokens.family, &tokens.access_expires_at])
        .await?;
    let refresh_expires = now + REFRESH_TTL_MS;
    db.execute(insert, &[&token_hash(&tokens.refresh), &user_id, &"refresh", &tokens.family, &refresh_expires]).await?;
    Ok(tokens)
}

fn bad_token() -> StoreError {
    StoreError::refused(ErrorCode::Unauthorized, "that token is not valid; LOGIN again")
}

pub async fn check_access(db: &impl GenericClient, token: &str, now: i64) -> Result<Access, StoreError> {
    let row = db
        .query_opt(
            "SELECT u.id, u.name, t.family, t.expires_at, u.banned_at IS NOT NULL, u.ban_reason
             FROM tokens t JOIN users u ON u.id = t.user_id
             WHERE t.hash = $1 AND t.kind = 'access'",
            &[&token_hash(token)],
        )
        .await?;
    let Some(row) = row else { return Err(bad_token()) };
    if row.get::<_, bool>(4) {
        return Err(account_banned(row.get(5)));
    }
    let expires_at: i64 = row.get(3);
    if expires_at <= now {
        return Err(StoreError::refused(
            ErrorCode::TokenExpired,
            "the access token has expired; send REFRESH with your refresh token",
        ));
    }
    Ok(Access { user: User { id: row.get(0), name: row.get(1), guest: false }, family: row.get(2), expires_at })
}

pub async fn rotate(
    db: &impl GenericClient,
    refresh: &str,
    owner: Option<i64>,
    now: i64,
) -> Result<Rotation, StoreError> {
    let hash = token_hash(refresh);
    let row = db
        .query_opt(
            "SELECT u.id, u.name, t.family, t.expires_at, t.rotated, u.banned_at IS NOT NULL, u.ban_reason
             FROM tokens t JOIN users u ON u.id = t.user_id
             WHERE t.hash = $1 AND t.kind = 'refresh' FOR UPDATE OF t",
            &[&hash],
        )
        .await?;
    let Some(row) = row else { return Err(bad_token()) };
    if row.get::<_, bool>(5) {
        return Err(account_banned(row.get(6)));
    }
    let user = User { id: row.get(0), name: row.get(1), guest: false };
    let (family, expires, rotated): (String, i64, bool) = (row.get(2), row.get(3), row.get(4));
    if rotated {
        revoke_family(db, &family).await?;
        return Ok(Rotation::ReuseDetected(family));
    }
    if owner.is_some_and(|o| o != user.id) {
        return Err(StoreError::refused(ErrorCode::Forbidden, "that refresh token belongs to another user"));
    }
    if expires <= now {
        return Err(StoreError::refused(ErrorCode::TokenExpired, "the refresh token has expired; LOGIN again"));
    }
    db.execute("UPDATE tokens SET rotated = true WHERE hash = $1", &[&hash]).await?;
    let tokens = issue_tokens(db, user.id, Some(&family), now).await?;
    Ok(Rotation::Rotated(user, tokens))
}

pub async fn revoke_family(db: &impl GenericClient, family: &str) -> Result<(), StoreError> {
    db.execute("DELETE FROM tokens WHERE family = $1", &[&family]).await?;
    Ok(())
}
