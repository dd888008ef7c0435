//! chaty-server as a library: the binary in `main.rs` parses flags and calls
//! [`run`]; tests and `chaty-tui --local` call it the same way with a listener
//! they bound themselves.

pub mod admin;
pub mod auth;
pub mod busy;
pub mod cli;
pub mod config;
pub mod config_file;
mod connection;
pub mod error;
pub mod fanout;
mod files;
pub mod healthcheck;
pub mod hub;
pub mod lifecycle;
pub mod limits;
pub mod logins;
pub mod metrics;
pub mod outbox;
pub mod private;
pub mod proxy;
pub mod retention;
mod server;
pub mod store;
pub mod tls;

pub use config::{Config, Registration};
pub use server::{run, run_on};
pub use store::Store;
