//! Server settings that are not about where to listen or which file to open.

use std::time::Duration;

/// Who may create accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Registration {
    Open,
    Closed,
    /// Only with a token from `chaty-server invite create` (`REGISTER` with `invite`).
    Invite,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Seed-protocol clients may chat without an account.
    pub allow_guests: bool,
    pub registration: Registration,
    /// Time allowed for the HTTP upgrade request to arrive.
    pub handshake_timeout: Duration,
    /// How often the server pings an idle socket.
    pub ping_interval: Duration,
    /// A socket silent (no frames, no pongs) this long is closed.
    pub idle_timeout: Duration,
    /// A `TYPING true` not refreshed within this is expired by the server.
    pub typing_ttl: Duration,
    /// Open WebSocket connections allowed; more get HTTP 503.
    pub max_connections: usize,
    /// Open WebSocket connections allowed from one address; more get HTTP 429.
    pub max_connections_per_ip: usize,
    /// Frames a connection may send per second, sustained, and in a burst.
    pub frames_per_sec: u32,
    pub frame_burst: u32,
    /// History reads (`HISTORY`, `JOIN_ROOM` with `since`) per second and in a burst.
    pub history_per_sec: u32,
    pub history_burst: u32,
    /// Where uploaded files are kept (default: `files/` next to the database).
    pub files_dir: Option<std::path::PathBuf>,
    /// Largest upload accepted, in bytes (HTTP 413 above).
    pub max_upload_bytes: u64,
    /// Serve `wss://` and `https://` with this configuration.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// Peers whose `X-Forwarded-For`/`Forwarded` headers name the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Messages older than this many days are deleted (0: kept forever),
    /// in rooms without a limit of their own.
    pub retention_days: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            allow_guests: false,
            registration: Registration::Open,
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
            typing_ttl: Duration::from_secs(6),
            max_connections: 20_000,
            max_connections_per_ip: 1_000,
            frames_per_sec: 100,
            frame_burst: 400,
            history_per_sec: 20,
            history_burst: 200,
            files_dir: None,
            max_upload_bytes: 25 * 1024 * 1024,
            tls: None,
            trusted_proxies: Vec::new(),
            retention_days: 0,
        }
    }
}

/// The settings in use. A reload (SIGHUP) replaces them as a whole; what
/// reads them takes the current ones (`get`), so a change applies from the
/// next request, sign-up, upload, connection or TLS handshake on.
#[derive(Debug)]
pub struct LiveConfig(std::sync::RwLock<std::sync::Arc<Config>>);

impl LiveConfig {
    pub fn new(config: Config) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self(std::sync::RwLock::new(std::sync::Arc::new(config))))
    }

    pub fn get(&self) -> std::sync::Arc<Config> {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn set(&self, config: Config) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = std::sync::Arc::new(config);
    }
}

/// `<platform data dir>/chaty.db`, e.g. `~/.local/share/chaty/chaty.db` on Linux.
pub fn default_db_path() -> Option<std::path::PathBuf> {
    directories::ProjectDirs::from("", "", "chaty").map(|dirs| dirs.data_dir().join("chaty.db"))
}
