//! The store: chaty's one domain API over its storage. Connections, the
//! listener and the file routes call these methods and never see SQL or a
//! database handle; each backend keeps its SQL in its own files behind
//! [`Backend`]: SQLite ([`sqlite`], embedded, the default) or PostgreSQL
//! ([`postgres`], chosen by a `postgres://` URL).
//!
//! Every method checks what the domain requires (membership, ownership,
//! uniqueness) inside its own transaction and refuses with a
//! [`StoreError::Refused`] that becomes the client's `ERROR`.
//!
//! The one method with a different shape is [`Store::post`]: its completion
//! runs after the message is committed, in commit order, and is where the
//! connection fans the message out. That ordering is what keeps live delivery
//! in `seq` order; a backend must keep it.

pub mod admission;
pub mod model;
pub mod postgres;
pub mod sqlite;

use std::path::Path;

use chaty_proto::time::now_millis;
use chaty_proto::{Attachment, Message, NotifyLevel, RoomSummary, SearchHit};

pub use model::*;

use crate::error::StoreError;

/// Handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

/// The storage engines behind [`Store`].
#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

/// Runs `$body` with `$db` bound to a pooled PostgreSQL connection, in a
/// transaction that commits when `$body` succeeds.
macro_rules! pg_tx {
    ($pg:expr, |$db:ident| $body:expr) => {{
        let mut client = $pg.client().await?;
        let tx = client.transaction().await?;
        let result = {
            let $db = &*tx;
            $body
        };
        if result.is_ok() {
            tx.commit().await?;
        }
        result
    }};
}

/// Runs `$body` with `$db` bound to a pooled PostgreSQL connection (no transaction).
macro_rules! pg_read {
    ($pg:expr, |$db:ident| $body:expr) => {{
        let client = $pg.client().await?;
        let $db: &tokio_postgres::Client = &client;
        $body
    }};
}

// After the macros, which they use.
pub mod admin;
pub mod cluster;
pub mod invites;
pub mod moderation;
pub mod retention;

/// A fresh random token as lowercase hex (`bytes` of entropy).
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // getrandom only fails when the OS has no entropy source at all; a zeroed
    // buffer would be a security hole, so that is fatal.
    if let Err(e) = getrandom::fill(&mut buf) {
        panic!("no OS random source: {e}");
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Opens (creating if needed, private) the SQLite database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self { backend: Backend::Sqlite(sqlite::Sqlite::open(path)?) })
    }

    /// Opens `db`: a `postgres://` URL connects to PostgreSQL (migrates it
    /// and registers this node; `shared_fanout` says whether it delivers
    /// across nodes); anything else is a SQLite file path.
    pub async fn open_url(db: &str, shared_fanout: bool) -> Result<Self, StoreError> {
        if postgres::is_url(db) {
            Ok(Self { backend: Backend::Postgres(postgres::Postgres::connect(db, shared_fanout).await?) })
        } else {
            Self::open(Path::new(db))
        }
    }

    /// Where the database file is, for an embedded database (uploads live beside it).
    pub fn path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite(db) => Some(db.path()),
            Backend::Postgres(_) => None,
        }
    }

    /// Names this database; clients' `seq` cursors are only meaningful within one epoch.
    pub fn epoch(&self) -> &str {
        match &self.backend {
            Backend::Sqlite(db) => db.epoch(),
            Backend::Postgres(db) => db.epoch(),
        }
    }

    /// Whether the database answers (within a few seconds).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let check = async {
            match &self.backend {
                Backend::Sqlite(s) => s.read(|db| Ok(db.query_row("SELECT 1", [], |_| Ok(()))?)).await,
                Backend::Postgres(pg) => {
                    pg_read!(pg, |db| db.execute("SELECT 1", &[]).await.map(drop).map_err(StoreError::from))
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(3), check)
            .await
            .map_err(|_| StoreError::Io(std::io::Error::other("no answer within 3 s")))?
    }

    /// Whether writes go through: the database answers, and (SQLite) the
    /// writer takes and finishes a job within 5 s, so a stuck writer or a
    /// database locked by another process makes a node not ready.
    pub async fn ready(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let probe = s.write(|db| Ok(db.execute_batch("SELECT 1")?));
                tokio::time::timeout(std::time::Duration::from_secs(5), probe)
                    .await
                    .map_err(|_| StoreError::Io(std::io::Error::other("the writer made no progress for 5 s")))?
            }
            Backend::Postgres(_) => self.ping().await,
        }
    }

    /// Commits what is queued and closes the database cleanly.
    pub async fn close(self) {
        match self.backend {
            Backend::Sqlite(db) => db.close().await,
            Backend::Postgres(db) => db.close().await,
        }
    }

    // ----- accounts ---------------------------------------------------------

    /// Creates an account (taking over a guest's name when `guest_is_gone`
    /// says no connection uses it) with its first tokens, using up one
    /// registration of `invite` when given (in the same transaction).
    pub async fn register(
        &self,
        name: String,
        pass_hash: String,
        display_name: Option<String>,
        invite: Option<String>,
        guest_is_gone: impl FnOnce(i64) -> bool + Send + 'static,
    ) -> Result<(User, Tokens), StoreError> {
        let now = now_millis();
        match &self.backend {
            Backend::Sqlite(s) => {
                s.write(move |db| {
                    if let Some(token) = &invite {
                        sqlite::invites::redeem(db, token, now)?;
                    }
                    let user = sqlite::users::register(db, &name, &pass_hash, now, guest_is_gone)?;
                    if let Some(shown) = &display_name {
                        sqlite::profiles::set(db, user.id, Some(shown), None)?;
                    }
                    let tokens = sqlite::users::issue_tokens(db, user.id, None, now)?;
                    Ok((user, tokens))
                })
                .await
            }
            Backend::Postgres(pg) => pg_tx!(pg, |db| {
                async {
                    if let Some(token) = &invite {
                        postgres::invites::redeem(db, token, now).await?;
                    }
                    let user = postgres::users::register(db, &name, &pass_hash, now, guest_is_gone).await?;
                    if let Some(shown) = &display_name {
                        postgres::profiles::set(db, user.id, Some(shown), None).await?;
                    }
                    let tokens = postgres::users::issue_tokens(db, user.id, None, now).await?;
                    Ok((user, tokens))
                }
                .await
            }),
        }
    }

    /// The registered user called `name` and their password hash.
    pub async fn credentials(&self, name: String) -> Result<Option<(User, String)>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.read(move |db| sqlite::users::credentials(db, &name)).await,
            Backend::Postgres(pg) => pg_read!(pg, |db| postgres::users::credentials(db, &name).await),
        }
    }

    /// A new sign-in (token family) for `user_id`.
    pub async fn issue_tokens(&self, user_id: i64) -> Result<Tokens, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::users::issue_tokens(db, user_id, None, now_millis())).await,
            Backend::Postgres(pg) => {
                pg_tx!(pg, |db| postgres::users::issue_tokens(db, user_id, None, now_millis()).await)
            }
        }
    }

    /// The sign-in an access token proves.
    pub async fn check_access(&self, token: String) -> Result<Access, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.read(move |db| sqlite::users::check_access(db, &token, now_millis())).await,
            Backend::Postgres(pg) => pg_read!(pg, |db| postgres::users::check_access(db, &token, now_millis()).await),
        }
    }

    /// Trades a refresh token for a new pair (see [`Rotation`]).
    pub async fn rotate(&self, refresh: String, owner: Option<i64>) -> Result<Rotation, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::users::rotate(db, &refresh, owner, now_millis())).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| postgres::users::rotate(db, &refresh, owner, now_millis()).await),
        }
    }

    /// Ends a sign-in: every token of `family`.
    pub async fn revoke_family(&self, family: String) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::users::revoke_family(db, &family)).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| postgres::users::revoke_family(db, &family).await),
        }
    }

    /// Records when a user's last connection closed.
    pub async fn set_last_seen(&self, user_id: i64, at: i64) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::users::set_last_seen(db, user_id, at)).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| postgres::users::set_last_seen(db, user_id, at).await),
        }
    }

    // ----- profiles and the directory --------------------------------------

    pub async fn profile(&self, user_id: i64) -> Result<Profile, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.read(move |db| sqlite::profiles::get(db, user_id)).await,
            Backend::Postgres(pg) => pg_read!(pg, |db| postgres::profiles::get(db, user_id).await),
        }
    }

    /// `SET_PROFILE`: changes what is given; returns the profile as it now is.
    pub async fn set_profile(
        &self,
        user_id: i64,
        display_name: Option<String>,
        status_text: Option<String>,
    ) -> Result<Profile, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                s.write(move |db| sqlite::profiles::set(db, user_id, display_name.as_deref(), status_text.as_deref()))
                    .await
            }
            Backend::Postgres(pg) => {
                pg_tx!(pg, |db| postgres::profiles::set(db, user_id, display_name.as_deref(), status_text.as_deref())
                    .await)
            }
        }
    }

    /// `USERS`, as `asker` may see it.
    pub async fn directory(&self, asker: i64, lookup: Lookup) -> Result<Vec<Entry>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.read(move |db| sqlite::profiles::directory(db, asker, &lookup)).await,
            Backend::Postgres(pg) => pg_read!(pg, |db| postgres::profiles::directory(db, asker, &lookup).await),
        }
    }

    // ----- rooms -------------------------------------------------------------

    /// `JOIN_ROOM` for a signed-in user (creating an unknown public id).
    pub async fn join(&self, room_id: String, user: User) -> Result<Joined, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::rooms::join(db, &room_id, &user, now_millis())).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| postgres::rooms::join(db, &room_id, &user, now_millis()).await),
        }
    }

    /// A guest's `JOIN_ROOM`: the guest is made (or found) and joins, in one commit.
    pub async fn guest_join(&self, name: String, room_id: String) -> Result<(User, Joined), StoreError> {
        let now = now_millis();
        match &self.backend {
            Backend::Sqlite(s) => {
                s.write(move |db| {
                    let user = sqlite::users::guest(db, &name, now)?;
                    let joined = sqlite::rooms::join(db, &room_id, &user, now)?;
                    Ok((user, joined))
                })
                .await
            }
            Backend::Postgres(pg) => pg_tx!(pg, |db| {
                async {
                    let user = postgres::users::guest(db, &name, now).await?;
                    let joined = postgres::rooms::join(db, &room_id, &user, now).await?;
                    Ok((user, joined))
                }
                .await
            }),
        }
    }

    pub async fn leave(&self, room_id: String, user_id: i64) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::rooms::leave(db, &room_id, user_id)).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| postgres::rooms::leave(db, &room_id, user_id).await),
        }
    }

    /// Ends every membership of a guest; returns the rooms it was in.
    pub async fn leave_all(&self, user_id: i64) -> Result<Vec<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::rooms::leave_all(db, user_id)).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| postgres::rooms::leave_all(db, user_id).await),
        }
    }

    pub async fn create_room(&self, room: Room, creator: User) -> Result<Room, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::rooms::create(db, room, &creator, now_millis())).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| postgres::rooms::create(db, room, &creator, now_millis()).await),
        }
    }

    pub async fn invite(&self, room_id: String, inviter: User, invitee: String) -> Result<(Joined, User), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                s.write(move |db| sqlite::rooms::invite(db, &room_id, &inviter, &invitee, now_millis())).await
            }
            Backend::Postgres(pg) => {
                pg_tx!(pg, |db| postgres::rooms::invite(db, &room_id, &inviter, &invitee, now_millis()).await)
            }
        }
    }

    pub async fn open_dm(&self, me: User, other: String) -> Result<(Room, User), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::rooms::open_dm(db, &me, &other, now_millis())).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| postgres::rooms::open_dm(db, &me, &other, now_millis()).await),
        }
    }

    /// `LIST_ROOMS` for `user`, with read state.
    pub async fn list_rooms(&self, user: User) -> Result<Vec<RoomSummary>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.read(move |db| sqlite::rooms::list(db, &user)).await,
            Backend::Postgres(pg) => pg_read!(pg, |db| postgres::rooms::list(db, &user).await),
        }
    }

    pub async fn members(&self, room_id: String) -> Result<Vec<Member>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.read(move |db| sqlite::rooms::members(db, &room_id)).await,
            Backend::Postgres(pg) => pg_read!(pg, |db| postgres::rooms::members(db, &room_id).await),
        }
    }

    pub async fn rooms_of(&self, user_id: i64) -> Result<Vec<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.read(move |db| sqlite::rooms::rooms_of(db, user_id)).await,
            Backend::Postgres(pg) => pg_read!(pg, |db| postgres::rooms::rooms_of(db, user_id).await),
        }
    }

    /// `SET_NOTIFY`: refuses a room `user_id` is not a member of.
    pub async fn set_notify(&self, room_id: String, user_id: i64, level: NotifyLevel) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::rooms::set_notify(db, &room_id, user_id, level)).await,
            Backend::Postgres(pg) => {
                pg_tx!(pg, |db| postgres::rooms::set_notify(db, &room_id, user_id, level).await)
            }
        }
    }

    /// `MARK_READ`: the cursor, if it moved.
    pub async fn mark_read(&self, room_id: String, user_id: i64, seq: u64) -> Result<Option<u64>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::rooms::mark_read(db, &room_id, user_id, seq)).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| postgres::rooms::mark_read(db, &room_id, user_id, seq).await),
        }
    }

    // ----- messages ----------------------------------------------------------

    /// Queues a message. `done` runs once it is committed (or refused), in
    /// commit order; it must not block. Returns when the message is queued,
    /// or at once with `overloaded` when the store is too far behind to take
    /// it ([`admission`]); then nothing is stored and `done` never runs.
    pub async fn post(
        &self,
        post: Post,
        done: impl FnOnce(Result<Posted, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                s.backlog().admit()?;
                s.submit(move |db| sqlite::messages::post(db, &post, now_millis()), done).await
            }
            Backend::Postgres(pg) => pg.post(post, now_millis(), done).await,
        }
    }

    /// How far behind the store's writer is (the embedded store; a
    /// PostgreSQL store commits on many connections and reports zero).
    pub fn behind(&self) -> std::time::Duration {
        match &self.backend {
            Backend::Sqlite(s) => s.backlog().behind(),
            Backend::Postgres(_) => std::time::Duration::ZERO,
        }
    }

    /// A page of `room_id` as member `user_id` reads it.
    pub async fn history(&self, room_id: String, user_id: i64, page: Page) -> Result<(Vec<Message>, bool), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                s.read(move |db| {
                    sqlite::rooms::require_member(db, &room_id, user_id)?;
                    sqlite::messages::history(db, &room_id, page)
                })
                .await
            }
            Backend::Postgres(pg) => pg_read!(pg, |db| {
                postgres::rooms::require_member(db, &room_id, user_id).await?;
                postgres::messages::history(db, &room_id, page).await
            }),
        }
    }

    pub async fn edit(&self, message_id: u64, user: User, content: String) -> Result<Message, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                s.write(move |db| sqlite::messages::edit(db, message_id, &user, &content, now_millis())).await
            }
            Backend::Postgres(pg) => {
                pg_tx!(pg, |db| postgres::messages::edit(db, message_id, &user, &content, now_millis()).await)
            }
        }
    }

    /// The tombstone, or `None` when it was deleted already.
    pub async fn delete(&self, message_id: u64, user: User) -> Result<Option<Message>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                s.write(move |db| sqlite::messages::delete(db, message_id, &user, now_millis())).await
            }
            Backend::Postgres(pg) => {
                pg_tx!(pg, |db| postgres::messages::delete(db, message_id, &user, now_millis()).await)
            }
        }
    }

    /// The message's room, and whether anything changed.
    pub async fn react(
        &self,
        message_id: u64,
        user: User,
        emoji: String,
        remove: bool,
    ) -> Result<(String, bool), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                s.write(move |db| sqlite::messages::react(db, message_id, &user, &emoji, remove, now_millis())).await
            }
            Backend::Postgres(pg) => {
                pg_tx!(pg, |db| postgres::messages::react(db, message_id, &user, &emoji, remove, now_millis()).await)
            }
        }
    }

    pub async fn search(
        &self,
        user_id: i64,
        query: String,
        room_id: Option<String>,
        limit: Option<u64>,
    ) -> Result<Vec<SearchHit>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                s.read(move |db| sqlite::messages::search(db, user_id, &query, room_id.as_deref(), limit)).await
            }
            Backend::Postgres(pg) => {
                pg_read!(pg, |db| postgres::messages::search(db, user_id, &query, room_id.as_deref(), limit).await)
            }
        }
    }

    // ----- files -------------------------------------------------------------

    /// Records an upload whose bytes are stored under its id.
    pub async fn record_file(&self, file: Attachment, uploader: i64) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| sqlite::files::record(db, &file, uploader, now_millis())).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| postgres::files::record(db, &file, uploader, now_millis()).await),
        }
    }

    /// Whether this store keeps uploaded files' bytes itself (PostgreSQL,
    /// so any node serves any file) rather than beside the database on disk.
    pub fn keeps_file_bytes(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Keeps an upload's bytes under its id (only where [`Store::keeps_file_bytes`]).
    pub async fn put_file_bytes(&self, id: String, bytes: Vec<u8>) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => pg_read!(pg, |db| postgres::files::put_data(db, &id, &bytes).await),
            Backend::Sqlite(_) => Err(StoreError::Io(std::io::Error::other("SQLite keeps files on disk"))),
        }
    }

    /// An upload's bytes (only where [`Store::keeps_file_bytes`]).
    pub async fn file_bytes(&self, id: String) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => pg_read!(pg, |db| postgres::files::data(db, &id).await),
            Backend::Sqlite(_) => Ok(None),
        }
    }

    /// The file, if `user_id` uploaded it or shares a room where it was shared.
    pub async fn readable_file(&self, id: String, user_id: i64) -> Result<Option<Attachment>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.read(move |db| sqlite::files::readable(db, &id, user_id)).await,
            Backend::Postgres(pg) => pg_read!(pg, |db| postgres::files::readable(db, &id, user_id).await),
        }
    }
}
