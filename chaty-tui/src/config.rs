//! Where the client keeps things: `config.toml` in the config dir (server and
//! user name), the session (tokens) in the data dir with mode 0600, and the log.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Remembered between runs in `config.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub server: Option<String>,
    pub user: Option<String>,
    /// Ring the terminal bell on a mention or a DM in another room.
    pub bell: Option<bool>,
    /// Show yourself away after this many minutes without a key (0: never). Default 10.
    pub away_after_minutes: Option<u64>,
}

/// A signed-in session: enough to sign in again without a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub server: String,
    pub user: String,
    pub token: String,
    pub refresh_token: String,
}

/// The client's directories.
#[derive(Debug, Clone)]
pub struct Paths {
    pub config: PathBuf,
    pub data: PathBuf,
}

impl Paths {
    pub fn platform() -> Result<Self> {
        let dirs = directories::ProjectDirs::from("", "", "chaty").context("no home directory for chaty's files")?;
        Ok(Self { config: dirs.config_dir().to_path_buf(), data: dirs.data_dir().to_path_buf() })
    }

    pub fn config_file(&self) -> PathBuf {
        self.config.join("config.toml")
    }

    pub fn session_file(&self) -> PathBuf {
        self.data.join("session.json")
    }

    pub fn log_file(&self) -> PathBuf {
        self.data.join("chaty-tui.log")
    }

    pub fn local_db(&self) -> PathBuf {
        self.data.join("chaty.db")
    }
}

pub fn load_config(path: &Path) -> Result<Config> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("{} is not valid config", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub fn save_config(path: &Path, config: &Config) -> Result<()> {
    write_private(path, &toml::to_string(config)?)
}

/// The saved session, if it is for `server`.
pub fn load_session(path: &Path, server: &str) -> Option<Session> {
    let text = std::fs::read_to_string(path).ok()?;
    let session: Session = serde_json::from_str(&text).ok()?;
    (session.server == server).then_some(session)
}

pub fn save_session(path: &Path, session: &Session) -> Result<()> {
    write_private(path, &serde_json::to_string_pretty(session)?)
}

pub fn clear_session(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Writes a file only its owner can read (0600), via a temp file and rename.
fn write_private(path: &Path, contents: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::io::Write::write_all(&mut file, contents.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_is_private_and_only_for_its_server() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data").join("session.json");
        let s = Session { server: "ws://a/ws".into(), user: "al".into(), token: "t".into(), refresh_token: "r".into() };
        save_session(&path, &s).expect("save");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(load_session(&path, "ws://a/ws"), Some(s));
        assert_eq!(load_session(&path, "ws://b/ws"), None);
        clear_session(&path).expect("clear");
        clear_session(&path).expect("clearing twice is fine");
        assert_eq!(load_session(&path, "ws://a/ws"), None);
    }

    #[test]
    fn config_round_trips_and_missing_is_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        assert_eq!(load_config(&path).expect("missing"), Config::default());
        let c = Config {
            server: Some("ws://h/ws".into()),
            user: Some("al".into()),
            bell: Some(false),
            away_after_minutes: Some(0),
        };
        save_config(&path, &c).expect("save");
        assert_eq!(load_config(&path).expect("load"), c);
        std::fs::write(&path, "server = [").expect("write");
        assert!(load_config(&path).is_err());
    }
}
