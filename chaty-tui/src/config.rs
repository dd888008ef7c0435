//! Where the client keeps things: `config.toml` in the config dir (server,
//! user name, the `--ca` file, notifications and looks), the session (tokens) in the data dir with mode 0600, and the log.
//! A profile (`--profile NAME`) has its own of each, under `profiles/NAME/`
//! in both dirs, so a second client can sign in as someone else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chaty_server::private;
use serde::{Deserialize, Serialize};

use crate::keymap::Keymap;
use crate::links::Opener;
use crate::notify::Notifier;
use crate::theme::Theme;

/// Remembered between runs in `config.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub server: Option<String>,
    pub user: Option<String>,
    /// Ring the terminal bell on a mention or a DM in another room.
    pub bell: Option<bool>,
    /// Desktop notifications: `terminal` (default: OSC 777 and OSC 9),
    /// `command` (run `notify_command`) or `off`.
    pub notify: Option<String>,
    /// The argv `notify = "command"` runs, `{title}` and `{body}` filled in
    /// (no shell): `["notify-send", "{title}", "{body}"]`.
    pub notify_command: Option<Vec<String>>,
    /// The argv `o` opens a link with, `{url}` filled in (no shell), e.g.
    /// `["firefox", "--new-tab", "{url}"]`; unset: the platform's opener.
    pub open_command: Option<Vec<String>>,
    /// Previews of image attachments in the transcript (`v` shows one anyway). Default false.
    pub image_previews: Option<bool>,
    /// The largest image previewed, in MiB (1 to 1024). Default 10.
    pub max_image_mib: Option<u64>,
    /// How images are drawn: `auto` (default: told from the terminal's
    /// name), `kitty`, `sixel`, `iterm2` or `halfblocks`.
    pub image_protocol: Option<String>,
    /// Show yourself away after this many minutes without a key (0: never). Default 10.
    pub away_after_minutes: Option<u64>,
    /// The `--ca` file last given (absolute), trusted when `--ca` is not.
    pub ca: Option<PathBuf>,
    /// Clicks and the wheel go to chaty (default); false keeps the terminal's own selection.
    pub mouse: Option<bool>,
    /// `terminal` (default: the 16 ANSI colours), `dark` or `light`.
    pub theme: Option<String>,
    /// Single roles' colours (`mention = "#ffaf00"`), over the theme's.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub colors: BTreeMap<String, String>,
    /// Actions bound to keys (`next_unread = "alt-a"`), over the defaults.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub keys: BTreeMap<String, String>,
}

/// What config.toml's display settings come to, checked.
#[derive(Debug, Clone)]
pub struct Looks {
    pub mouse: bool,
    pub theme: Theme,
    pub keymap: Keymap,
    pub notifier: Notifier,
    pub opener: Opener,
    /// `image_previews`.
    pub inline_images: bool,
    /// `max_image_mib`, in bytes.
    pub max_image_bytes: u64,
    /// `image_protocol`; `None`: auto.
    pub image_protocol: Option<ratatui_image::picker::ProtocolType>,
}

/// `max_image_mib` when unset.
pub const DEFAULT_MAX_IMAGE_MIB: u64 = 10;

/// `max_image_mib` checked, in bytes.
fn max_image_bytes(mib: Option<u64>) -> Result<u64, String> {
    match mib.unwrap_or(DEFAULT_MAX_IMAGE_MIB) {
        mib @ 1..=1024 => Ok(mib * 1024 * 1024),
        other => Err(format!("max_image_mib = {other}: use 1 to 1024 (MiB)")),
    }
}

impl Config {
    /// Checks `theme`, `[colors]`, `[keys]`, the commands and the image
    /// settings; `no_color` is `NO_COLOR`'s
    /// being set. An error names what is wrong.
    pub fn looks(&self, no_color: bool) -> Result<Looks, String> {
        Ok(Looks {
            mouse: self.mouse.unwrap_or(true),
            theme: Theme::new(self.theme.as_deref().unwrap_or("terminal"), &self.colors, no_color)?,
            keymap: Keymap::from_config(&self.keys)?,
            notifier: Notifier::from_config(self.notify.as_deref(), self.notify_command.as_deref())?,
            opener: Opener::from_config(self.open_command.as_deref())?,
            inline_images: self.image_previews.unwrap_or(false),
            max_image_bytes: max_image_bytes(self.max_image_mib)?,
            image_protocol: crate::preview::protocol_setting(self.image_protocol.as_deref())?,
        })
    }

    /// The configuration in effect, every default spelled out, as TOML
    /// (`--print-config`); `server` and `user` as this run would use them.
    pub fn effective(&self, server: &str, user: &str) -> Result<String, String> {
        let looks = self.looks(false)?;
        let mut colors = BTreeMap::new();
        for (role, ..) in crate::theme::ROLES {
            let value = self.colors.get(*role).cloned().unwrap_or_else(|| "theme".to_string());
            colors.insert((*role).to_string(), value);
        }
        let keys = looks.keymap.named().into_iter().map(|(name, key, _)| (name.to_string(), key)).collect();
        let full = Self {
            server: Some(server.to_string()),
            user: Some(user.to_string()),
            bell: Some(self.bell.unwrap_or(true)),
            notify: Some(looks.notifier.name().to_string()),
            notify_command: self.notify_command.clone(),
            open_command: self.open_command.clone(),
            image_previews: Some(looks.inline_images),
            max_image_mib: Some(looks.max_image_bytes / (1024 * 1024)),
            image_protocol: Some(self.image_protocol.clone().unwrap_or_else(|| "auto".to_string())),
            away_after_minutes: Some(self.away_after_minutes.unwrap_or(10)),
            ca: self.ca.clone(),
            mouse: Some(looks.mouse),
            theme: Some(self.theme.clone().unwrap_or_else(|| "terminal".to_string())),
            colors,
            keys,
        };
        let text = toml::to_string(&full).map_err(|e| e.to_string())?;
        // The commands have no value to spell out when unset: say what
        // unset means, above the first table (where they would go).
        let mut unset = String::new();
        if full.notify_command.is_none() {
            unset.push_str(
                "# notify_command = [\"notify-send\", \"{title}\", \"{body}\"]   # for notify = \"command\"\n",
            );
        }
        if full.open_command.is_none() {
            unset.push_str("# open_command = [\"xdg-open\", \"{url}\"]   # unset: the platform's opener\n");
        }
        // After the last top-level key, before the blank line and the first table.
        let at = text.find("\n\n[").or_else(|| text.find("\n[")).map_or(text.len(), |i| i + 1);
        Ok(format!("{}{unset}{}", &text[..at], &text[at..]))
    }
}

/// A signed-in session: enough to sign in again without a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub server: String,
    pub user: String,
    pub token: String,
    pub refresh_token: String,
}

/// Checks a profile name: 1 to 32 ASCII letters, digits, `_` or `-` (it
/// becomes a directory name).
pub fn check_profile(name: &str) -> Result<(), String> {
    let ok =
        (1..=32).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("bad profile name {}: use 1 to 32 letters, digits, _ or -", chaty_proto::validate::quote(name)))
    }
}

/// The client's directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// This profile's config dir.
    pub config: PathBuf,
    /// This profile's data dir.
    pub data: PathBuf,
    /// The data dir shared by every profile (the `--local` server's database).
    pub shared_data: PathBuf,
}

impl Paths {
    /// The platform's dirs (e.g. `~/.config/chaty`, `~/.local/share/chaty`), or a profile's in them.
    pub fn platform(profile: Option<&str>) -> Result<Self> {
        let dirs = directories::ProjectDirs::from("", "", "chaty").context("no home directory for chaty's files")?;
        Self::under(dirs.config_dir(), dirs.data_dir(), profile)
    }

    /// The paths in these config and data dirs, for `profile` if given.
    pub fn under(config: &Path, data: &Path, profile: Option<&str>) -> Result<Self> {
        let (config, shared_data) = (config.to_path_buf(), data.to_path_buf());
        match profile {
            None => Ok(Self { config, data: shared_data.clone(), shared_data }),
            Some(name) => {
                check_profile(name).map_err(anyhow::Error::msg)?;
                let sub = Path::new("profiles").join(name);
                Ok(Self { config: config.join(&sub), data: shared_data.join(&sub), shared_data })
            }
        }
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

    /// The `--local` server's database: one for every profile, so that
    /// they meet there, and not `chaty-server`'s own `<data dir>/chaty.db`.
    pub fn local_db(&self) -> PathBuf {
        self.shared_data.join("local").join("chaty.db")
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

/// The CA file to trust: `--ca` if given (made absolute, to be remembered;
/// symlinks are kept, as Let's Encrypt's `live/` links move on renewal), else
/// the one `config.toml` (at `config_file`) remembers, which must still be
/// there, and only for the server it was remembered with (`server`, the URL
/// about to be used): one server's certificate vouches for no other.
pub fn resolve_ca(given: Option<&Path>, config: &Config, server: &str, config_file: &Path) -> Result<Option<PathBuf>> {
    if let Some(given) = given {
        let absolute =
            std::path::absolute(given).with_context(|| format!("cannot find the --ca file {}", given.display()))?;
        return Ok(Some(absolute));
    }
    let same_server =
        config.server.as_deref().and_then(|s| crate::app::normalize_url(s).ok()).as_deref() == Some(server);
    if !same_server {
        return Ok(None);
    }
    match &config.ca {
        Some(ca) if !ca.exists() => anyhow::bail!(
            "the CA certificate {} remembered in {} is not there any more: pass --ca FILE, or remove the ca line \
             from {}",
            ca.display(),
            config_file.display(),
            config_file.display()
        ),
        remembered => Ok(remembered.clone()),
    }
}

/// After a sign-in: remembers in `config.toml` the user, the server (unless
/// `None`: with `--local` it changes per run) and the `--ca` file if one was
/// given this time.
pub fn remember(path: &Path, server: Option<String>, user: String, ca: Option<&Path>) -> Result<()> {
    let mut config = load_config(path)?;
    if server.is_some() {
        config.server = server;
    }
    config.user = Some(user);
    if let Some(ca) = ca {
        config.ca = Some(ca.to_path_buf());
    }
    save_config(path, &config)
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

/// Writes a file only its owner can read (0600, whatever the umask; new
/// directories 0700), via a temp file and rename.
pub(crate) fn write_private(path: &Path, contents: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        private::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    {
        let mut file = private::create_file(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
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
    fn a_profile_has_its_own_files_and_shares_the_local_server() {
        let (config, data) = (Path::new("/c/chaty"), Path::new("/d/chaty"));
        let default = Paths::under(config, data, None).expect("default");
        assert_eq!(default.config_file(), Path::new("/c/chaty/config.toml"));
        assert_eq!(default.session_file(), Path::new("/d/chaty/session.json"));
        assert_eq!(default.log_file(), Path::new("/d/chaty/chaty-tui.log"));
        assert_eq!(default.local_db(), Path::new("/d/chaty/local/chaty.db"));
        let bob = Paths::under(config, data, Some("bob-2_B")).expect("bob");
        assert_eq!(bob.config_file(), Path::new("/c/chaty/profiles/bob-2_B/config.toml"));
        assert_eq!(bob.session_file(), Path::new("/d/chaty/profiles/bob-2_B/session.json"));
        assert_eq!(bob.log_file(), Path::new("/d/chaty/profiles/bob-2_B/chaty-tui.log"));
        assert_eq!(bob.local_db(), default.local_db());
    }

    #[test]
    fn profile_names_are_checked() {
        for good in ["a", "bob", "Work_2", "x-y", &"n".repeat(32)] {
            assert_eq!(check_profile(good), Ok(()), "{good}");
        }
        for bad in ["", "a b", "../x", "a/b", ".", "bob.old", "é", &"n".repeat(33)] {
            let err = check_profile(bad).expect_err(bad);
            assert!(err.starts_with("bad profile name \""), "{err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
        let err = Paths::under(Path::new("/c"), Path::new("/d"), Some("../etc")).expect_err("escapes");
        assert!(format!("{err}").contains("\"../etc\""), "{err}");
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
            notify: Some("command".into()),
            notify_command: Some(vec!["notify-send".into(), "{title}".into(), "{body}".into()]),
            open_command: Some(vec!["firefox".into(), "{url}".into()]),
            image_previews: Some(true),
            max_image_mib: Some(2),
            image_protocol: Some("sixel".into()),
            away_after_minutes: Some(0),
            ca: Some(PathBuf::from("/etc/chaty/fullchain.pem")),
            mouse: Some(false),
            theme: Some("dark".into()),
            colors: BTreeMap::from([("mention".into(), "#ffaf00".into())]),
            keys: BTreeMap::from([("next_unread".into(), "alt-a".into())]),
        };
        save_config(&path, &c).expect("save");
        assert_eq!(load_config(&path).expect("load"), c);
        std::fs::write(&path, "server = [").expect("write");
        assert!(load_config(&path).is_err());
    }

    #[test]
    fn the_ca_is_remembered_absolute_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        let pem = dir.path().join("fullchain.pem");
        std::fs::write(&pem, "pem").expect("write");
        // Given relative (as typed): remembered absolute.
        let given = std::env::current_dir().map(|cwd| pathdiff(&pem, &cwd)).expect("cwd");
        let ca = resolve_ca(Some(&given), &Config::default(), "wss://h/ws", &path).expect("given").expect("a ca");
        // Absolute, but symlinks kept: Let's Encrypt's live/ links move on renewal.
        assert!(ca.is_absolute(), "{}", ca.display());
        assert_eq!(ca.canonicalize().ok(), pem.canonicalize().ok());
        let ca = resolve_ca(Some(&pem), &Config::default(), "wss://h/ws", &path).expect("given");
        assert_eq!(ca.as_deref(), Some(pem.as_path()));
        remember(&path, Some("wss://h/ws".into()), "al".into(), ca.as_deref()).expect("remember");
        let config = load_config(&path).expect("load");
        assert_eq!((config.server.as_deref(), config.ca.as_deref()), (Some("wss://h/ws"), Some(pem.as_path())));
        assert!(std::fs::read_to_string(&path).expect("read").contains(&format!("ca = \"{}\"", pem.display())));
        // Not given: the remembered one; a later sign-in without --ca keeps it.
        assert_eq!(resolve_ca(None, &config, "wss://h/ws", &path).expect("remembered").as_deref(), Some(pem.as_path()));
        // Only for the server it was remembered with: it vouches for no other.
        assert_eq!(resolve_ca(None, &config, "wss://elsewhere/ws", &path).expect("other server"), None);
        remember(&path, None, "al".into(), None).expect("remember");
        assert_eq!(load_config(&path).expect("load").ca.as_deref(), Some(pem.as_path()));
        // Gone: a clear error naming it and the config file.
        std::fs::remove_file(&pem).expect("rm");
        let err = format!("{:#}", resolve_ca(None, &config, "wss://h/ws", &path).expect_err("gone"));
        assert!(err.contains(&pem.display().to_string()) && err.contains("config.toml"), "{err}");
        assert!(err.contains("--ca FILE"), "{err}");
        // --ca given again wins over the remembered one.
        assert_eq!(
            resolve_ca(Some(&pem), &config, "wss://h/ws", &path).expect("given").as_deref(),
            Some(pem.as_path())
        );
        assert_eq!(resolve_ca(None, &Config::default(), "wss://h/ws", &path).expect("none"), None);
    }

    /// `path` relative to `base` (both absolute), with `..` as needed.
    fn pathdiff(path: &Path, base: &Path) -> PathBuf {
        let (p, b): (Vec<_>, Vec<_>) = (path.components().collect(), base.components().collect());
        let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
        let mut out: PathBuf = b[common..].iter().map(|_| "..").collect();
        out.extend(&p[common..]);
        out
    }
}
