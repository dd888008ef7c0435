//! Administration: what the admin CLI (`chaty-server user|room|invite …`)
//! asks of the database, and the events it leaves for running servers.
//!
//! The CLI is another process, so it cannot reach a running server's
//! sockets. What a server must act on (close a user's connections, tell a
//! room it is gone or has a new topic) is written to `admin_events` in the
//! same transaction as the change; every server reads the recent ones every
//! 2 s (`connection::admin_events`) and acts on its own connections, so it
//! works on every node of a cluster without Redis.

use chaty_proto::time::now_millis;

use super::{Backend, Room, Store, postgres, sqlite};
use crate::error::StoreError;

/// A registered account, as `user list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub display_name: Option<String>,
    pub admin: bool,
    /// `Some(reason)` while banned from the server.
    pub banned: Option<Option<String>>,
    pub created_at: i64,
    pub last_seen: Option<i64>,
}

/// A room, as `room list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    pub id: String,
    pub kind: String,
    pub topic: String,
    pub private: bool,
    pub members: i64,
    /// Its last `seq` (messages posted, deleted ones included).
    pub last_seq: i64,
    pub created_at: i64,
}

/// One of a user's memberships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub room_id: String,
    pub role: String,
    pub joined_at: i64,
}

/// A message as its author's export lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub id: i64,
    pub room_id: String,
    pub seq: i64,
    pub content: String,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub deleted: bool,
}

/// Everything stored about one user (`user export`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub account: Account,
    pub status_text: String,
    pub memberships: Vec<Membership>,
    pub messages: Vec<Written>,
}

/// What a running server must do because of an admin command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Close every connection of the user (password changed, banned, deleted).
    SignOut { user_id: i64 },
    /// The room was deleted; these were its members.
    RoomDeleted { room_id: String, members: Vec<i64> },
    /// The room's topic changed.
    Topic { room_id: String },
}

/// An [`Event`] with its id (events are read again while recent; the id
/// says which were handled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub id: i64,
    pub event: Event,
}

/// The row `admin_events` holds for `event`: kind, user, room, detail.
pub fn event_row(event: &Event) -> (&'static str, Option<i64>, Option<&str>, Option<String>) {
    match event {
        Event::SignOut { user_id } => ("sign_out", Some(*user_id), None, None),
        Event::RoomDeleted { room_id, members } => {
            ("room_deleted", None, Some(room_id), Some(serde_json::Value::from(members.clone()).to_string()))
        }
        Event::Topic { room_id } => ("topic", None, Some(room_id), None),
    }
}

/// The event an `admin_events` row stands for (`None` for one this build does not know).
pub fn event_of(kind: &str, user_id: Option<i64>, room_id: Option<String>, detail: Option<&str>) -> Option<Event> {
    match (kind, user_id, room_id) {
        ("sign_out", Some(user_id), _) => Some(Event::SignOut { user_id }),
        ("room_deleted", _, Some(room_id)) => {
            let members = detail.and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default();
            Some(Event::RoomDeleted { room_id, members })
        }
        ("topic", _, Some(room_id)) => Some(Event::Topic { room_id }),
        _ => None,
    }
}

/// The refusal for a name that is no registered user.
pub fn no_user(name: &str) -> StoreError {
    StoreError::refused(chaty_proto::ErrorCode::NotFound, format!("no user \"{name}\""))
}

/// The refusal for a room that does not exist.
pub fn no_room(id: &str) -> StoreError {
    StoreError::refused(chaty_proto::ErrorCode::NotFound, format!("no room \"{id}\""))
}

/// What a profile change asks for (`user add`, `user set`).
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    pub admin: Option<bool>,
    pub display_name: Option<String>,
}

impl Store {
    /// Opens `db` for the admin CLI while a server may be running on it:
    /// no node registration (PostgreSQL), no lock, no cleanup of guests'
    /// memberships (SQLite: those belong to the running server).
    pub async fn open_admin(db: &str) -> Result<Self, StoreError> {
        if postgres::is_url(db) {
            Ok(Self { backend: Backend::Postgres(postgres::Postgres::connect_admin(db).await?) })
        } else {
            Ok(Self { backend: Backend::Sqlite(sqlite::Sqlite::open_admin(std::path::Path::new(db))?) })
        }
    }

    /// `user add`: a registered account with a hashed password.
    pub async fn add_account(&self, name: String, pass_hash: String, change: AccountChange) -> Result<(), StoreError> {
        let now = now_millis();
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::admin::add(db, &name, &pass_hash, &change, now)).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| postgres::admin::add(db, &name, &pass_hash, &change, now).await),
        }
    }

    /// `user set`.
    pub async fn change_account(&self, name: String, change: AccountChange) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::admin::change(db, &name, &change)).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| postgres::admin::change(db, &name, &change).await),
        }
    }

    /// `user passwd`: the new hash; every sign-in of the user ends.
    pub async fn set_password(&self, name: String, pass_hash: String) -> Result<(), StoreError> {
        let now = now_millis();
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::admin::set_password(db, &name, &pass_hash, now)).await,
            Backend::Postgres(pg) => {
                pg_tx!(pg, |db| postgres::admin::set_password(db, &name, &pass_hash, now).await)
            }
        }
    }

    /// `user ban` (`Some(reason)`) or `user unban` (`None`). Banning revokes
    /// every token and closes the user's connections. False when nothing changed.
    pub async fn server_ban(&self, name: String, ban: Option<Option<String>>) -> Result<bool, StoreError> {
        let now = now_millis();
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::admin::ban(db, &name, ban.as_ref(), now)).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| postgres::admin::ban(db, &name, ban.as_ref(), now).await),
        }
    }

    /// Whether `user_id` is banned from the server (`Some(reason)`), for LOGIN.
    pub async fn server_ban_of(&self, user_id: i64) -> Result<Option<Option<String>>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.read(move |db| sqlite::admin::ban_of(db, user_id)).await,
            Backend::Postgres(pg) => pg_read!(pg, |db| postgres::admin::ban_of(db, user_id).await),
        }
    }

    /// `user list`.
    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.read(sqlite::admin::accounts).await,
            Backend::Postgres(pg) => pg_read!(pg, |db| postgres::admin::accounts(db).await),
        }
    }

    /// `user del`: the account and its sessions go; with `erase`, every
    /// message they wrote becomes a tombstone. Returns how many were erased.
    pub async fn delete_account(&self, name: String, erase: bool) -> Result<u64, StoreError> {
        let now = now_millis();
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::admin::delete(db, &name, erase, now)).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| postgres::admin::delete(db, &name, erase, now).await),
        }
    }

    /// `user export`.
    pub async fn export(&self, name: String) -> Result<Export, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.read(move |db| sqlite::admin::export(db, &name)).await,
            Backend::Postgres(pg) => pg_read!(pg, |db| postgres::admin::export(db, &name).await),
        }
    }

    /// `room list`.
    pub async fn room_infos(&self) -> Result<Vec<RoomInfo>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.read(sqlite::admin::rooms).await,
            Backend::Postgres(pg) => pg_read!(pg, |db| postgres::admin::rooms(db).await),
        }
    }

    /// `room delete`: the room, its messages and memberships.
    pub async fn delete_room(&self, room_id: String) -> Result<(), StoreError> {
        let now = now_millis();
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::admin::delete_room(db, &room_id, now)).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| postgres::admin::delete_room(db, &room_id, now).await),
        }
    }

    /// `room set --topic`.
    pub async fn admin_set_topic(&self, room_id: String, topic: String) -> Result<Room, StoreError> {
        let now = now_millis();
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::admin::set_topic(db, &room_id, &topic, now)).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| postgres::admin::set_topic(db, &room_id, &topic, now).await),
        }
    }

    /// A room as it is now.
    pub async fn room(&self, room_id: String) -> Result<Option<Room>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.read(move |db| sqlite::rooms::get(db, &room_id)).await,
            Backend::Postgres(pg) => pg_read!(pg, |db| postgres::rooms::get(db, &room_id).await),
        }
    }

    /// Admin events logged at or after `since` (ms), oldest first.
    pub async fn admin_events(&self, since: i64) -> Result<Vec<Logged>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.read(move |db| sqlite::admin::events(db, since)).await,
            Backend::Postgres(pg) => pg_read!(pg, |db| postgres::admin::events(db, since).await),
        }
    }

    /// `invite create`: a token good for `uses` registrations until
    /// `expires_at` (ms; `None`: no end).
    pub async fn create_invite(&self, uses: u32, expires_at: Option<i64>) -> Result<String, StoreError> {
        let token = format!("ci_{}", super::random_hex(16));
        let (hash, now) = (super::token_hash(&token), now_millis());
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::invites::create(db, &hash, uses, expires_at, now)).await?,
            Backend::Postgres(pg) => {
                pg_tx!(pg, |db| postgres::invites::create(db, &hash, uses, expires_at, now).await)?
            }
        }
        Ok(token)
    }
}
