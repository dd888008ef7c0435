//! Uploaded files on PostgreSQL: the records as in SQLite, and the bytes in
//! `file_data`, so any node serves any file without a shared disk.

use chaty_proto::{Attachment, ErrorCode};
use tokio_postgres::GenericClient;

use crate::error::StoreError;

fn attachment(r: &tokio_postgres::Row) -> Attachment {
    Attachment { file_id: r.get(0), name: r.get(1), size: r.get::<_, i64>(2).max(0) as u64, mime: r.get(3) }
}

pub async fn record(db: &impl GenericClient, a: &Attachment, uploader: i64, now: i64) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO files (id, uploader, name, size, mime, created_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id, uploader) DO UPDATE SET name = excluded.name, mime = excluded.mime",
        &[&a.file_id, &uploader, &a.name, &i64::try_from(a.size).unwrap_or(i64::MAX), &a.mime, &now],
    )
    .await?;
    Ok(())
}

pub async fn shareable(db: &impl GenericClient, id: &str, user_id: i64) -> Result<Attachment, StoreError> {
    db.query_opt("SELECT id, name, size, mime FROM files WHERE id = $1 AND uploader = $2", &[&id, &user_id])
        .await?
        .map(|r| attachment(&r))
        .ok_or_else(|| {
            StoreError::refused(ErrorCode::NotFound, format!("no file {id} uploaded by you; PUT /files first"))
        })
}

pub async fn readable(db: &impl GenericClient, id: &str, user_id: i64) -> Result<Option<Attachment>, StoreError> {
    Ok(db
        .query_opt(
            "SELECT f.id, f.name, f.size, f.mime FROM files f
             WHERE f.id = $1 AND (f.uploader = $2 OR EXISTS (
                 SELECT 1 FROM messages m JOIN members mb ON mb.room_id = m.room_id AND mb.user_id = $2
                 WHERE m.file_id = $1 AND m.deleted_at IS NULL))
             ORDER BY f.uploader = $2 DESC LIMIT 1",
            &[&id, &user_id],
        )
        .await?
        .map(|r| attachment(&r)))
}

pub async fn put_data(db: &impl GenericClient, id: &str, data: &[u8]) -> Result<(), StoreError> {
    db.execute("INSERT INTO file_data (id, data) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", &[&id, &data]).await?;
    Ok(())
}

pub async fn data(db: &impl GenericClient, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(db.query_opt("SELECT data FROM file_data WHERE id = $1", &[&id]).await?.map(|r| r.get(0)))
}
