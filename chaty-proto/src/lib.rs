//! chaty's wire protocol: every frame a client or server sends, the one place
//! client input is parsed ([`parse_client`]) and the one place it is validated
//! ([`validate`]).
//!
//! Plain data only: no tokio, no sockets, no storage. The server and the TUI
//! both build on these types; `docs/protocol.md` documents them for people.

mod client;
mod error;
pub mod printable;
mod server;
pub mod time;
pub mod validate;

pub use client::*;
pub use error::{ErrorCode, ParseError};
pub use server::*;

/// Protocol version announced in `WELCOME`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest WebSocket message the server accepts (close 1009 above it).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
