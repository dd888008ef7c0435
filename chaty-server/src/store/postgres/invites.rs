//! Invitations to register on PostgreSQL (twin of `store/sqlite/invites.rs`).

use tokio_postgres::GenericClient;

use crate::error::StoreError;
use crate::store::model::token_hash;

pub async fn create(
    db: &impl GenericClient,
    hash: &str,
    uses: u32,
    expires_at: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO invites (hash, uses_left, expires_at, created_at) VALUES ($1, $2, $3, $4)",
        &[&hash, &i64::from(uses), &expires_at, &now],
    )
    .await?;
    Ok(())
}

/// Uses `token` for one registration at `now`, or refuses (`forbidden`).
pub async fn redeem(db: &impl GenericClient, token: &str, now: i64) -> Result<(), StoreError> {
    let used = db
        .execute(
            "UPDATE invites SET uses_left = uses_left - 1
             WHERE hash = $1 AND uses_left > 0 AND (expires_at IS NULL OR expires_at > $2)",
            &[&token_hash(token), &now],
        )
        .await?;
    if used == 0 {
        return Err(crate::store::invites::unusable());
    }
    Ok(())
}
