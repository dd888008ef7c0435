//! Uploaded files: content-addressed (the id is the SHA-256 of the bytes),
//! recorded per uploader, readable by the uploader and by members of any room
//! where a message shares them.

use chaty_proto::{Attachment, ErrorCode};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;

/// Records an upload (the bytes are already on disk under `id`).
pub fn record(conn: &Connection, a: &Attachment, uploader: i64, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO files (id, uploader, name, size, mime, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id, uploader) DO UPDATE SET name = excluded.name, mime = excluded.mime",
    )?
    .execute(params![a.file_id, uploader, a.name, i64::try_from(a.size).unwrap_or(i64::MAX), a.mime, now])?;
    Ok(())
}

fn attachment(r: &rusqlite::Row<'_>) -> rusqlite::Result<Attachment> {
    Ok(Attachment { file_id: r.get(0)?, name: r.get(1)?, size: r.get::<_, i64>(2)?.max(0) as u64, mime: r.get(3)? })
}

/// The file `id` as `user_id` uploaded it, to share in a message.
pub fn shareable(conn: &Connection, id: &str, user_id: i64) -> Result<Attachment, StoreError> {
    conn.prepare_cached("SELECT id, name, size, mime FROM files WHERE id = ?1 AND uploader = ?2")?
        .query_row(params![id, user_id], attachment)
        .optional()?
        .ok_or_else(|| {
            StoreError::refused(ErrorCode::NotFound, format!("no file {id} uploaded by you; PUT /files first"))
        })
}

/// The file `id`, if `user_id` uploaded it or is in a room where it was shared.
pub fn readable(conn: &Connection, id: &str, user_id: i64) -> Result<Option<Attachment>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT f.id, f.name, f.size, f.mime FROM files f
             WHERE f.id = ?1 AND (f.uploader = ?2 OR EXISTS (
                 SELECT 1 FROM messages m JOIN members mb ON mb.room_id = m.room_id AND mb.user_id = ?2
                 WHERE m.file_id = ?1 AND m.deleted_at IS NULL))
             ORDER BY f.uploader = ?2 DESC LIMIT 1",
        )?
        .query_row(params![id, user_id], attachment)
        .optional()?)
}
