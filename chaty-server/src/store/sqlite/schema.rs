//! Numbered migrations. `PRAGMA user_version` records how many have run; a new
//! schema change is a new entry at the end, never an edit of an old one.

use rusqlite::{Connection, OptionalExtension};

use crate::error::StoreError;

const MIGRATIONS: &[&str] = &[
    // 1: accounts, tokens, rooms, membership, messages.
    r"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        pass_hash TEXT,               -- NULL for guests
        created_at INTEGER NOT NULL,
        last_seen INTEGER
    );
    CREATE TABLE tokens (
        hash TEXT PRIMARY KEY,        -- sha256 of the token; the token itself is never stored
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
        family TEXT NOT NULL,         -- one sign-in; rotation keeps it, logout and reuse revoke it
        expires_at INTEGER NOT NULL,
        rotated INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX tokens_family ON tokens(family);
    CREATE TABLE rooms (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('room', 'dm')),
        topic TEXT NOT NULL DEFAULT '',
        private INTEGER NOT NULL,
        created_by INTEGER REFERENCES users(id),
        created_at INTEGER NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE members (
        room_id TEXT NOT NULL REFERENCES rooms(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
        read_seq INTEGER NOT NULL DEFAULT 0,
        joined_at INTEGER NOT NULL,
        PRIMARY KEY (room_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX members_user ON members(user_id);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        room_id TEXT NOT NULL REFERENCES rooms(id),
        seq INTEGER NOT NULL,
        sender_id INTEGER NOT NULL REFERENCES users(id),
        sender_name TEXT NOT NULL,    -- display name as sent (guests choose theirs)
        content TEXT NOT NULL,
        reply_to INTEGER,
        attachment TEXT,
        created_at INTEGER NOT NULL,
        edited_at INTEGER,
        deleted_at INTEGER,
        client_id TEXT,
        UNIQUE (room_id, seq),
        UNIQUE (sender_id, client_id)
    );
    ",
    // 2: reactions, files, edits/deletes, full-text search.
    r"
    CREATE TABLE reactions (
        message_id INTEGER NOT NULL REFERENCES messages(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        emoji TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (message_id, user_id, emoji)
    ) WITHOUT ROWID;
    CREATE TABLE files (
        id TEXT NOT NULL,             -- sha256 of the content, also its file name on disk
        uploader INTEGER NOT NULL REFERENCES users(id),
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        mime TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (id, uploader)
    ) WITHOUT ROWID;
    ALTER TABLE messages ADD COLUMN file_id TEXT;
    CREATE INDEX messages_file ON messages(file_id) WHERE file_id IS NOT NULL;
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content = 'messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
        INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
    END;
    INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
    ",
    // 3: profiles. `display_name` NULL means "shown as the user name";
    // `search_key` holds the display name's lowercased words, each after a space.
    r"
    ALTER TABLE users ADD COLUMN display_name TEXT;
    ALTER TABLE users ADD COLUMN status_text TEXT NOT NULL DEFAULT '';
    ALTER TABLE users ADD COLUMN search_key TEXT NOT NULL DEFAULT '';
    ",
    // 4: moderation. Server admins; bans, each in force until UNBAN. Room
    // admins need nothing new: `members.role` has been here since 1, with
    // every room's creator made its admin, so existing rooms keep theirs.
    r"
    ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE bans (
        room_id TEXT NOT NULL REFERENCES rooms(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        banned_by INTEGER REFERENCES users(id),
        reason TEXT,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (room_id, user_id)
    ) WITHOUT ROWID;
    ",
    // 5: administration. Server-wide bans (`banned_at` set while in force);
    // invitations to register (only the token's SHA-256 is kept); and the
    // log of what the admin CLI did that running servers must act on
    // (close a user's sockets, tell a room it is gone or has a new topic),
    // which every server reads every 2 s.
    r"
    ALTER TABLE users ADD COLUMN banned_at INTEGER;
    ALTER TABLE users ADD COLUMN ban_reason TEXT;
    CREATE TABLE invites (
        hash TEXT PRIMARY KEY,
        uses_left INTEGER NOT NULL,
        expires_at INTEGER,           -- NULL: never
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE admin_events (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('sign_out', 'room_deleted', 'topic')),
        user_id INTEGER,
        room_id TEXT,
        detail TEXT,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX admin_events_created ON admin_events(created_at);
    ",
    // 6: retention. A room's own limit (NULL: the server's --retention-days),
    // an index to find expired messages by age, and the full-text index
    // following deletions.
    r"
    ALTER TABLE rooms ADD COLUMN retention_days INTEGER;
    CREATE INDEX messages_created_at ON messages (created_at);
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    END;
    ",
    // 7: notification levels (SET_NOTIFY); NULL: the room kind's default.
    r"
    ALTER TABLE members ADD COLUMN notify TEXT;
    ",
    // 8: full-text indexing once per batch instead of once per message.
    // Indexing a row from a trigger cost FTS5 ~100 µs a message; one
    // INSERT … SELECT for the whole batch (see `messages::index_pending`, run
    // by the writer before every commit) costs a few. New messages wait in
    // `fts_pending` until then, inside the same transaction, so a committed
    // message is always searchable. Edits and deletions of a message still
    // pending leave the index alone: the batch's indexing reads the current
    // content, or finds the row gone.
    r"
    CREATE TABLE fts_pending (id INTEGER PRIMARY KEY);
    DROP TRIGGER messages_fts_insert;
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO fts_pending (id) VALUES (new.id);
    END;
    DROP TRIGGER messages_fts_update;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages
    WHEN NOT EXISTS (SELECT 1 FROM fts_pending WHERE id = old.id) BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
        INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
    END;
    DROP TRIGGER messages_fts_delete;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content)
            SELECT 'delete', old.id, old.content WHERE NOT EXISTS (SELECT 1 FROM fts_pending WHERE id = old.id);
        DELETE FROM fts_pending WHERE id = old.id;
    END;
    ",
];

pub fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let done: usize = conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))?.try_into().unwrap_or(0);
    if done > MIGRATIONS.len() {
        return Err(StoreError::Io(std::io::Error::other(format!(
            "the database is from a newer chaty (schema {done}, this build knows {})",
            MIGRATIONS.len()
        ))));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        conn.execute_batch(&format!("BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {}; COMMIT;", i + 1)).inspect_err(
            |_| {
                let _ = conn.execute_batch("ROLLBACK");
            },
        )?;
    }
    Ok(())
}

/// Gives the database a new epoch (after a restore): clients' `seq`
/// cursors from before name another database and start over.
pub fn new_epoch(conn: &Connection) -> Result<String, StoreError> {
    let epoch = crate::store::random_hex(8);
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('epoch', ?1) ON CONFLICT (key) DO UPDATE SET value = ?1",
        [&epoch],
    )?;
    Ok(epoch)
}

/// The database's epoch, created on first use.
pub fn epoch(conn: &Connection) -> Result<String, StoreError> {
    let existing: Option<String> =
        conn.query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |r| r.get(0)).optional()?;
    if let Some(epoch) = existing {
        return Ok(epoch);
    }
    let epoch = crate::store::random_hex(8);
    conn.execute("INSERT INTO meta (key, value) VALUES ('epoch', ?1)", [&epoch])?;
    Ok(epoch)
}
