//! The admin CLI: `chaty-server user|room|invite|backup|restore …`, run
//! beside a server on the same database (SQLite's busy timeout and WAL, or
//! PostgreSQL). Each command opens the store with [`Store::open_admin`],
//! calls its `Store` method, prints for people on stdout, and turns any
//! refusal into one line on stderr with exit code 2. What a running server
//! must do about a change (close sockets, tell a room) it learns from the
//! database (`connection::admin_events`).

mod backup;
mod invites;
mod rooms;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::Store;
use crate::error::StoreError;

/// The admin commands (flattened into the binary's own).
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Manage accounts: add, set, passwd, ban, unban, list, del, export.
    User {
        #[command(flatten)]
        db: Db,
        #[command(subcommand)]
        command: users::Command,
    },
    /// Manage rooms: list, delete, set.
    Room {
        #[command(flatten)]
        db: Db,
        #[command(subcommand)]
        command: rooms::Command,
    },
    /// Invitations to register (for --registration invite).
    Invite {
        #[command(flatten)]
        db: Db,
        #[command(subcommand)]
        command: invites::Command,
    },
    /// Write a consistent snapshot of the (SQLite) database to FILE while the server runs.
    Backup {
        #[command(flatten)]
        db: Db,
        /// Where to write the snapshot (must not exist yet).
        file: PathBuf,
    },
    /// Replace the (SQLite) database with a backup; only while no server runs on it.
    Restore {
        #[command(flatten)]
        db: Db,
        /// The backup to restore.
        file: PathBuf,
    },
}

/// Names of the admin commands, for the config file's handling (`cli.rs`).
pub const NAMES: &[&str] = &["user", "room", "invite", "backup", "restore"];

/// Which database a command works on.
#[derive(Debug, Clone, clap::Args)]
pub struct Db {
    /// SQLite database file, or a PostgreSQL URL, as for `serve`
    /// [default: <data dir>/chaty/chaty.db].
    #[arg(long, env = "CHATY_DB", global = true)]
    db: Option<PathBuf>,
    /// The server's TOML config file: its `db` is used when --db is not given.
    #[arg(long, env = "CHATY_CONFIG", value_name = "FILE", global = true)]
    config: Option<PathBuf>,
}

impl Db {
    fn resolve(&self) -> Result<String, String> {
        match &self.db {
            Some(db) => Ok(db.to_string_lossy().into_owned()),
            None => crate::config::default_db_path()
                .map(|p| p.to_string_lossy().into_owned())
                .ok_or_else(|| "no home directory to find the database in; pass --db".to_string()),
        }
    }
}

/// Runs `command`: 0 when done, 2 with one line on stderr when not.
pub fn run(command: Command) -> ExitCode {
    let (name, outcome) = match command {
        Command::User { db, command } => ("user", with_store(&db, |store| users::run(store, command))),
        Command::Room { db, command } => ("room", with_store(&db, |store| rooms::run(store, command))),
        Command::Invite { db, command } => ("invite", with_store(&db, |store| invites::run(store, command))),
        Command::Backup { db, file } => ("backup", db.resolve().and_then(|db| backup::backup(&db, &file))),
        Command::Restore { db, file } => ("restore", db.resolve().and_then(|db| backup::restore(&db, &file))),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("chaty-server {name}: {line}");
            ExitCode::from(2)
        }
    }
}

/// Opens the store named by `db` (it must exist already: an admin command
/// never creates a database), runs `work` on it and closes it.
fn with_store<F, Fut>(db: &Db, work: F) -> Result<(), String>
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let db = db.resolve()?;
    let pg = crate::store::postgres::is_url(&db);
    let shown = crate::store::postgres::redact(&db);
    if !pg && !std::path::Path::new(&db).exists() {
        return Err(format!("no database at {shown}; pass --db (or CHATY_DB) as for the server"));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let store =
            Store::open_admin(&db).await.map_err(|e| format!("cannot open the database {shown}: {}", e.reason()))?;
        let outcome = work(store.clone()).await;
        store.close().await;
        outcome
    })
}

/// One line for a store error: the refusal's own words, or the reason.
fn line(e: StoreError) -> String {
    match e {
        StoreError::Refused(r) => r.message,
        other => other.reason(),
    }
}

/// A name check from `chaty_proto::validate`, as one line.
fn check(result: Result<(), String>) -> Result<(), String> {
    result.map_err(|e| e.replace('`', ""))
}
