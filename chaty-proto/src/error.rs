//! Error codes shared by `ERROR` frames, and the parse error that produces them.

use serde::{Deserialize, Serialize};

/// The stable machine word in every `ERROR` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, not an object, or not a text frame.
    BadFrame,
    /// A `type` the server does not know.
    UnknownType,
    /// Well-formed JSON with a missing, mistyped or out-of-range field.
    Invalid,
    /// Not signed in, or wrong credentials.
    Unauthorized,
    /// Signed in, but not allowed (e.g. not a member).
    Forbidden,
    /// No such room, user or message (or not visible to you).
    NotFound,
    /// The name or id is taken.
    Conflict,
    /// Over a documented size limit.
    TooLarge,
    /// Too many requests; retry after `retryAfterMs`.
    RateLimited,
    /// The access token has expired; `REFRESH` or `LOGIN` again.
    TokenExpired,
    /// A frame this server does not serve (yet).
    Unsupported,
    /// The server failed; nothing was stored.
    Internal,
    /// The store is behind: the message was refused at once and nothing was
    /// stored. Send it again, with the same `clientId`, after `retryAfterMs`.
    Overloaded,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadFrame => "bad_frame",
            Self::UnknownType => "unknown_type",
            Self::Invalid => "invalid",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::TooLarge => "too_large",
            Self::RateLimited => "rate_limited",
            Self::TokenExpired => "token_expired",
            Self::Unsupported => "unsupported",
            Self::Internal => "internal",
            Self::Overloaded => "overloaded",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a client frame was refused, ready to become an `ERROR` frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ParseError {
    pub code: ErrorCode,
    pub message: String,
    /// The frame's `ref`, when it could be read, so the reply can carry it.
    pub reference: Option<String>,
}

impl ParseError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), reference: None }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Invalid, message)
    }
}
