//! Retention's SQL on SQLite (see `store/retention.rs`).

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::store::retention::CHUNK;

/// Rooms with a limit of their own.
pub fn overrides(db: &Connection) -> Result<Vec<(String, u32)>, StoreError> {
    let mut stmt = db.prepare_cached("SELECT id, retention_days FROM rooms WHERE retention_days IS NOT NULL")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes up to [`CHUNK`] messages older than `cutoff`: in `room`, or in
/// every room without a limit of its own. Their reactions go with them.
pub fn delete_chunk(db: &Connection, cutoff: i64, room: Option<&str>) -> Result<u64, StoreError> {
    let ids: Vec<i64> = {
        let mut stmt = db.prepare_cached(
            "SELECT m.id FROM messages m JOIN rooms r ON r.id = m.room_id
             WHERE m.created_at < ?1
               AND (?2 IS NULL AND r.retention_days IS NULL OR m.room_id = ?2)
             LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![cutoff, room, CHUNK], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for id in &ids {
        db.prepare_cached("DELETE FROM reactions WHERE message_id = ?1")?.execute([id])?;
        db.prepare_cached("DELETE FROM messages WHERE id = ?1")?.execute([id])?;
    }
    Ok(ids.len() as u64)
}

pub fn set(db: &Connection, room: &str, days: Option<u32>) -> Result<(), StoreError> {
    let found = db.query_row("SELECT 1 FROM rooms WHERE id = ?1", [room], |_| Ok(())).optional()?;
    if found.is_none() {
        return Err(crate::store::not_visible(room));
    }
    db.prepare_cached("UPDATE rooms SET retention_days = ?2 WHERE id = ?1")?.execute(params![room, days])?;
    Ok(())
}
