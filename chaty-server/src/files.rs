//! File sharing over HTTP on the WebSocket's port: `PUT /files` streams an
//! upload to disk (content-addressed by SHA-256, size-limited) and
//! `GET /files/{id}` serves it to its uploader and to members of any room
//! where a message shares it — to no one else, and with the same 404 whether
//! the file exists or not.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chaty_proto::{Attachment, ErrorCode, validate};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::server::{Shared, TokenQuery, json_error, signed_in};
use crate::store::random_hex;

/// Where uploads live on disk: `files/` next to an embedded database (or
/// `Config::files_dir`); with PostgreSQL, uploads only pass through the
/// system's temp dir and the bytes are kept in the database.
pub fn dir(shared: &Shared) -> PathBuf {
    if shared.ctx.store.keeps_file_bytes() {
        return shared.ctx.config().files_dir.clone().unwrap_or_else(std::env::temp_dir);
    }
    shared.ctx.config().files_dir.clone().unwrap_or_else(|| {
        shared.ctx.store.path().and_then(|p| p.parent()).map_or_else(|| PathBuf::from("files"), |p| p.join("files"))
    })
}

#[derive(serde::Deserialize)]
pub struct UploadQuery {
    name: Option<String>,
    token: Option<String>,
}

fn refused(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Response {
    json_error(status, code, &message.into())
}

/// `PUT /files?name=report.pdf` with a bearer token; the body is the file.
pub async fn upload(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<UploadQuery>,
    body: Body,
) -> Response {
    let user = match signed_in(&shared, &headers, q.token.clone()).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let name = q.name.unwrap_or_else(|| "file".into());
    if let Err(e) = validate::bounded("name", &name, 255) {
        return refused(StatusCode::BAD_REQUEST, ErrorCode::Invalid, e);
    }
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|m| validate::bounded("mime", m, 127).is_ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let limit = shared.ctx.config().max_upload_bytes;
    if headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok()).is_some_and(|n| n > limit)
    {
        return too_large(limit);
    }
    let dir = dir(&shared);
    let made = dir.clone();
    let created = tokio::task::spawn_blocking(move || crate::private::create_dir_all(&made)).await;
    if let Err(e) = created.map_err(std::io::Error::other).and_then(|r| r) {
        tracing::error!("cannot create {}: {e}", dir.display());
        return refused(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "cannot store files");
    }
    let tmp = dir.join(format!("upload-{}.part", random_hex(8)));
    let stored = receive(body, &tmp, limit).await;
    let (id, size) = match stored {
        Ok(done) => done,
        Err(response) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return response;
        }
    };
    if let Err(e) = keep(&shared, &tmp, &dir, &id).await {
        tracing::error!("storing upload {id}: {e}");
        let _ = tokio::fs::remove_file(&tmp).await;
        return refused(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "cannot store files");
    }
    let attachment = Attachment { file_id: id, name, size, mime };
    let record = attachment.clone();
    if let Err(e) = shared.ctx.store.record_file(record, user.id).await {
        let refusal = e.to_refusal();
        return refused(StatusCode::INTERNAL_SERVER_ERROR, refusal.code, refusal.message);
    }
    let body = serde_json::to_string(&attachment).unwrap_or_default();
    (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Moves a received upload to where its bytes live: the files dir, or the database.
async fn keep(shared: &Shared, tmp: &std::path::Path, dir: &std::path::Path, id: &str) -> Result<(), String> {
    if shared.ctx.store.keeps_file_bytes() {
        let bytes = tokio::fs::read(tmp).await.map_err(|e| e.to_string())?;
        shared.ctx.store.put_file_bytes(id.to_string(), bytes).await.map_err(|e| e.to_string())?;
        let _ = tokio::fs::remove_file(tmp).await;
        Ok(())
    } else {
        tokio::fs::rename(tmp, dir.join(id)).await.map_err(|e| e.to_string())
    }
}

fn too_large(limit: u64) -> Response {
    refused(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge, format!("files are limited to {limit} bytes"))
}

/// Streams `body` into `path`, hashing as it goes. Returns the SHA-256 (hex) and size.
async fn receive(body: Body, path: &std::path::Path, limit: u64) -> Result<(String, u64), Response> {
    let internal = |e: std::io::Error| {
        tracing::error!("writing upload: {e}");
        refused(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "cannot store files")
    };
    let created = path.to_path_buf();
    let file = tokio::task::spawn_blocking(move || crate::private::create_new_file(&created)).await;
    let mut file = tokio::fs::File::from_std(file.map_err(std::io::Error::other).and_then(|r| r).map_err(internal)?);
    let mut hash = Sha256::new();
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| refused(StatusCode::BAD_REQUEST, ErrorCode::BadFrame, format!("upload broke off: {e}")))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        hash.update(&chunk);
        file.write_all(&chunk).await.map_err(internal)?;
    }
    file.sync_all().await.map_err(internal)?;
    Ok((hash.finalize().iter().map(|b| format!("{b:02x}")).collect(), size))
}

/// `GET /files/{id}` with a bearer token (header or `?token=`).
pub async fn download(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    let user = match signed_in(&shared, &headers, q.token).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let not_found = || refused(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such file shared with you");
    if validate::file_id("id", &id).is_err() {
        return not_found();
    }
    let lookup = id.clone();
    let found = match shared.ctx.store.readable_file(lookup, user.id).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(e) => {
            let refusal = e.to_refusal();
            return refused(StatusCode::INTERNAL_SERVER_ERROR, refusal.code, refusal.message);
        }
    };
    let body = if shared.ctx.store.keeps_file_bytes() {
        match shared.ctx.store.file_bytes(id.clone()).await {
            Ok(Some(bytes)) => Body::from(bytes),
            Ok(None) => return not_found(),
            Err(e) => {
                let refusal = e.to_refusal();
                return refused(StatusCode::INTERNAL_SERVER_ERROR, refusal.code, refusal.message);
            }
        }
    } else {
        let Ok(file) = tokio::fs::File::open(dir(&shared).join(&id)).await else {
            return not_found();
        };
        Body::from_stream(tokio_util::io::ReaderStream::new(file))
    };
    // Only safe characters in the header; the name is the uploader's text.
    let safe: String =
        found.name.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_ ".contains(c) { c } else { '_' }).collect();
    let headers = [
        (header::CONTENT_TYPE, found.mime),
        (header::CONTENT_LENGTH, found.size.to_string()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{safe}\"")),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
    ];
    (headers, body).into_response()
}
