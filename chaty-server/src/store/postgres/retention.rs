//! Retention's SQL on PostgreSQL (see `store/retention.rs`).

use tokio_postgres::GenericClient;

use crate::error::StoreError;
use crate::store::retention::CHUNK;

/// Rooms with a limit of their own.
pub async fn overrides(db: &impl GenericClient) -> Result<Vec<(String, u32)>, StoreError> {
    let rows = db.query("SELECT id, retention_days FROM rooms WHERE retention_days IS NOT NULL", &[]).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get::<_, i32>(1).max(0) as u32)).collect())
}

/// Deletes up to [`CHUNK`] messages older than `cutoff`: in `room`, or in
/// every room without a limit of its own. Their reactions go with them.
pub async fn delete_chunk(db: &impl GenericClient, cutoff: i64, room: Option<&str>) -> Result<u64, StoreError> {
    let ids: Vec<i64> = db
        .query(
            "SELECT m.id FROM messages m JOIN rooms r ON r.id = m.room_id
             WHERE m.created_at < $1
               AND ($2::TEXT IS NULL AND r.retention_days IS NULL OR m.room_id = $2)
             LIMIT $3",
            &[&cutoff, &room, &CHUNK],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    db.execute("DELETE FROM reactions WHERE message_id = ANY($1)", &[&ids]).await?;
    db.execute("DELETE FROM messages WHERE id = ANY($1)", &[&ids]).await?;
    Ok(ids.len() as u64)
}

pub async fn set(db: &impl GenericClient, room: &str, days: Option<u32>) -> Result<(), StoreError> {
    let days = days.map(|d| i32::try_from(d).unwrap_or(i32::MAX));
    let updated = db.execute("UPDATE rooms SET retention_days = $2 WHERE id = $1", &[&room, &days]).await?;
    if updated == 0 {
        return Err(crate::store::not_visible(room));
    }
    Ok(())
}
