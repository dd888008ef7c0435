//! Why a request was refused: the server's side of an `ERROR` frame.

use chaty_proto::{ErrorCode, ServerFrame};

/// A refusal with a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    /// For `rate_limited`: when trying again can work.
    pub retry_after_ms: Option<u64>,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after_ms: None }
    }

    /// `rate_limited`, retry after `wait`.
    pub fn rate_limited(message: impl Into<String>, wait: std::time::Duration) -> Self {
        // Rounded up: waiting exactly what we say must be enough.
        let ms = u64::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(u64::MAX).max(1);
        crate::metrics::count(|m| {
            m.rate_limited.inc();
        });
        Self { code: ErrorCode::RateLimited, message: message.into(), retry_after_ms: Some(ms) }
    }

    /// The `ERROR` frame for this refusal (counted: build it only to send it).
    pub fn frame(&self) -> ServerFrame {
        crate::metrics::count(|m| m.error_sent(self.code.as_str()));
        ServerFrame::Error { code: self.code, message: self.message.clone(), retry_after_ms: self.retry_after_ms }
    }
}

/// What the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request is not allowed or does not fit; nothing was written.
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("database connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("commit failed: {0}")]
    Commit(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the store is shut down")]
    Closed,
}

impl StoreError {
    /// Why, in a few words, for a one-line operator message that names the
    /// database path itself (SQLite's own texts repeat the path and a code).
    pub fn reason(&self) -> String {
        use rusqlite::ErrorCode as C;
        match self {
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, msg)) => match e.code {
                C::CannotOpen => {
                    "cannot open the file (does its directory exist, and may this user write there?)".into()
                }
                C::NotADatabase => "the file is not a chaty (SQLite) database".into(),
                C::DatabaseBusy | C::DatabaseLocked => "the database is locked by another process".into(),
                C::ReadOnly => "the file is read-only for this user".into(),
                C::PermissionDenied => "permission denied".into(),
                C::DatabaseCorrupt => "the database file is damaged (restore a backup)".into(),
                C::DiskFull => "the disk is full".into(),
                _ => msg.clone().unwrap_or_else(|| e.to_string()),
            },
            Self::Io(e) => io_reason(e),
            Self::Pool(deadpool_postgres::PoolError::Backend(e)) => match e.as_db_error() {
                // It answered, and said no (a wrong password, a missing database, …).
                Some(db) => format!("the database refused: {}", db.message()),
                None => format!("cannot reach it: {e}"),
            },
            Self::Pool(e) => format!("cannot reach it: {e}"),
            Self::Postgres(e) => e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_string()),
            other => other.to_string(),
        }
    }

    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Refused(Refusal::new(code, message))
    }

    /// The refusal a client sees. Storage faults are logged, not shown.
    pub fn to_refusal(&self) -> Refusal {
        match self {
            Self::Refused(r) => r.clone(),
            Self::Sqlite(_) | Self::Postgres(_) | Self::Pool(_) | Self::Commit(_) | Self::Io(_) => {
                let e = self;
                tracing::error!("store failed: {e}");
                Refusal::new(ErrorCode::Internal, "the server could not store or read that; nothing was saved")
            }
            Self::Closed => Refusal::new(ErrorCode::Internal, "the server is shutting down"),
        }
    }
}

/// An I/O error's reason without Rust's `(os error N)` suffix, for one-line messages.
pub fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
