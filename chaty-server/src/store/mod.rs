//! The store: chaty's one domain API over its storage. Connections, the
//! listener and the file routes call these methods and never see SQL or a
//! database handle; each backend keeps its SQL in its own files behind
//! [`Backend`]. Today that is SQLite ([`sqlite`], embedded, the default);
//! the clustered PostgreSQL store goes beside it as another variant.
//!
//! Every method checks what the domain requires (membership, ownership,
//! uniqueness) inside its own transaction and refuses with a
//! [`StoreError::Refused`] that becomes the client's `ERROR`.
//!
//! The one method with a different shape is [`Store::post`]: its completion
//! runs after the message is committed, in commit order, and is where the
//! connection fans the message out. That ordering is what keeps live delivery
//! in `seq` order; a backend must keep it.

pub mod model;
pub mod sqlite;

use std::path::Path;

use chaty_proto::time::now_millis;
use chaty_proto::{Attachment, Message, RoomSummary, SearchHit};

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
}

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

    /// Where the database file is, for an embedded database (uploads live beside it).
    pub fn path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite(db) => Some(db.path()),
        }
    }

    /// Names this database; clients' `seq` cursors are only meaningful within one epoch.
    pub fn epoch(&self) -> &str {
        match &self.backend {
            Backend::Sqlite(db) => db.epoch(),
        }
    }

    /// Commits what is queued and closes the database cleanly.
    pub async fn close(self) {
        match self.backend {
            Backend::Sqlite(db) => db.close().await,
        }
    }

    fn sqlite(&self) -> &sqlite::Sqlite {
        match &self.backend {
            Backend::Sqlite(db) => db,
        }
    }

    // ----- accounts ---------------------------------------------------------

    /// Creates an account (taking over a guest's name when `guest_is_gone`
    /// says no connection uses it) with its first tokens.
    pub async fn register(
        &self,
        name: String,
        pass_hash: String,
        display_name: Option<String>,
        guest_is_gone: impl FnOnce(i64) -> bool + Send + 'static,
    ) -> Result<(User, Tokens), StoreError> {
        self.sqlite()
            .write(move |db| {
                let now = now_millis();
                let user = sqlite::users::register(db, &name, &pass_hash, now, guest_is_gone)?;
                if let Some(shown) = &display_name {
                    sqlite::profiles::set(db, user.id, Some(shown), None)?;
                }
                let tokens = sqlite::users::issue_tokens(db, user.id, None, now)?;
                Ok((user, tokens))
            })
            .await
    }

    /// The registered user called `name` and their password hash.
    pub async fn credentials(&self, name: String) -> Result<Option<(User, String)>, StoreError> {
        self.sqlite().read(move |db| sqlite::users::credentials(db, &name)).await
    }

    /// A new sign-in (token family) for `user_id`.
    pub async fn issue_tokens(&self, user_id: i64) -> Result<Tokens, StoreError> {
        self.sqlite().write(move |db| sqlite::users::issue_tokens(db, user_id, None, now_millis())).await
    }

    /// The sign-in an access token proves.
    pub async fn check_access(&self, token: String) -> Result<Access, StoreError> {
        self.sqlite().read(move |db| sqlite::users::check_access(db, &token, now_millis())).await
    }

    /// Trades a refresh token for a new pair (see [`Rotation`]).
    pub async fn rotate(&self, refresh: String, owner: Option<i64>) -> Result<Rotation, StoreError> {
        self.sqlite().write(move |db| sqlite::users::rotate(db, &refresh, owner, now_millis())).await
    }

    /// Ends a sign-in: every token of `family`.
    pub async fn revoke_family(&self, family: String) -> Result<(), StoreError> {
        self.sqlite().write(move |db| sqlite::users::revoke_family(db, &family)).await
    }

    /// Records when a user's last connection closed.
    pub async fn set_last_seen(&self, user_id: i64, at: i64) -> Result<(), StoreError> {
        self.sqlite().write(move |db| sqlite::users::set_last_seen(db, user_id, at)).await
    }

    // ----- profiles and the directory --------------------------------------

    pub async fn profile(&self, user_id: i64) -> Result<Profile, StoreError> {
        self.sqlite().read(move |db| sqlite::profiles::get(db, user_id)).await
    }

    /// `SET_PROFILE`: changes what is given; returns the profile as it now is.
    pub async fn set_profile(
        &self,
        user_id: i64,
        display_name: Option<String>,
        status_text: Option<String>,
    ) -> Result<Profile, StoreError> {
        self.sqlite()
            .write(move |db| sqlite::profiles::set(db, user_id, display_name.as_deref(), status_text.as_deref()))
            .await
    }

    /// `USERS`, as `asker` may see it.
    pub async fn directory(&self, asker: i64, lookup: Lookup) -> Result<Vec<Entry>, StoreError> {
        self.sqlite().read(move |db| sqlite::profiles::directory(db, asker, &lookup)).await
    }

    // ----- rooms -------------------------------------------------------------

    /// `JOIN_ROOM` for a signed-in user (creating an unknown public id).
    pub async fn join(&self, room_id: String, user: User) -> Result<Joined, StoreError> {
        self.sqlite().write(move |db| sqlite::rooms::join(db, &room_id, &user, now_millis())).await
    }

    /// A guest's `JOIN_ROOM`: the guest is made (or found) and joins, in one commit.
    pub async fn guest_join(&self, name: String, room_id: String) -> Result<(User, Joined), StoreError> {
        self.sqlite()
            .write(move |db| {
                let now = now_millis();
                let user = sqlite::users::guest(db, &name, now)?;
                let joined = sqlite::rooms::join(db, &room_id, &user, now)?;
                Ok((user, joined))
            })
            .await
    }

    pub async fn leave(&self, room_id: String, user_id: i64) -> Result<(), StoreError> {
        self.sqlite().write(move |db| sqlite::rooms::leave(db, &room_id, user_id)).await
    }

    /// Ends every membership of a guest; returns the rooms it was in.
    pub async fn leave_all(&self, user_id: i64) -> Result<Vec<String>, StoreError> {
        self.sqlite().write(move |db| sqlite::rooms::leave_all(db, user_id)).await
    }

    pub async fn create_room(&self, room: Room, creator: User) -> Result<Room, StoreError> {
        self.sqlite().write(move |db| sqlite::rooms::create(db, room, &creator, now_millis())).await
    }

    pub async fn invite(&self, room_id: String, inviter: User, invitee: String) -> Result<(Joined, User), StoreError> {
        self.sqlite().write(move |db| sqlite::rooms::invite(db, &room_id, &inviter, &invitee, now_millis())).await
    }

    pub async fn open_dm(&self, me: User, other: String) -> Result<(Room, User), StoreError> {
        self.sqlite().write(move |db| sqlite::rooms::open_dm(db, &me, &other, now_millis())).await
    }

    /// `LIST_ROOMS` for `user`, with read state.
    pub async fn list_rooms(&self, user: User) -> Result<Vec<RoomSummary>, StoreError> {
        self.sqlite().read(move |db| sqlite::rooms::list(db, &user)).await
    }

    pub async fn members(&self, room_id: String) -> Result<Vec<Member>, StoreError> {
        self.sqlite().read(move |db| sqlite::rooms::members(db, &room_id)).await
    }

    pub async fn rooms_of(&self, user_id: i64) -> Result<Vec<String>, StoreError> {
        self.sqlite().read(move |db| sqlite::rooms::rooms_of(db, user_id)).await
    }

    /// `MARK_READ`: the cursor, if it moved.
    pub async fn mark_read(&self, room_id: String, user_id: i64, seq: u64) -> Result<Option<u64>, StoreError> {
        self.sqlite().write(move |db| sqlite::rooms::mark_read(db, &room_id, user_id, seq)).await
    }

    // ----- messages ----------------------------------------------------------

    /// Queues a message. `done` runs once it is committed (or refused), in
    /// commit order; it must not block. Returns when the message is queued.
    pub async fn post(
        &self,
        post: Post,
        done: impl FnOnce(Result<Posted, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        self.sqlite().submit(move |db| sqlite::messages::post(db, &post, now_millis()), done).await
    }

    /// A page of `room_id` as member `user_id` reads it.
    pub async fn history(&self, room_id: String, user_id: i64, page: Page) -> Result<(Vec<Message>, bool), StoreError> {
        self.sqlite()
            .read(move |db| {
                sqlite::rooms::require_member(db, &room_id, user_id)?;
                sqlite::messages::history(db, &room_id, page)
            })
            .await
    }

    pub async fn edit(&self, message_id: u64, user: User, content: String) -> Result<Message, StoreError> {
        self.sqlite().write(move |db| sqlite::messages::edit(db, message_id, &user, &content, now_millis())).await
    }

    /// The tombstone, or `None` when it was deleted already.
    pub async fn delete(&self, message_id: u64, user: User) -> Result<Option<Message>, StoreError> {
        self.sqlite().write(move |db| sqlite::messages::delete(db, message_id, &user, now_millis())).await
    }

    /// The message's room, and whether anything changed.
    pub async fn react(
        &self,
        message_id: u64,
        user: User,
        emoji: String,
        remove: bool,
    ) -> Result<(String, bool), StoreError> {
        self.sqlite()
            .write(move |db| sqlite::messages::react(db, message_id, &user, &emoji, remove, now_millis()))
            .await
    }

    pub async fn search(
        &self,
        user_id: i64,
        query: String,
        room_id: Option<String>,
        limit: Option<u64>,
    ) -> Result<Vec<SearchHit>, StoreError> {
        self.sqlite().read(move |db| sqlite::messages::search(db, user_id, &query, room_id.as_deref(), limit)).await
    }

    // ----- files -------------------------------------------------------------

    /// Records an upload whose bytes are stored under its id.
    pub async fn record_file(&self, file: Attachment, uploader: i64) -> Result<(), StoreError> {
        self.sqlite().write(move |db| sqlite::files::record(db, &file, uploader, now_millis())).await
    }

    /// The file, if `user_id` uploaded it or shares a room where it was shared.
    pub async fn readable_file(&self, id: String, user_id: i64) -> Result<Option<Attachment>, StoreError> {
        self.sqlite().read(move |db| sqlite::files::readable(db, &id, user_id)).await
    }
}
