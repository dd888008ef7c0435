//! PostgreSQL schema: numbered migrations, run under an advisory lock so
//! that nodes starting at the same moment migrate once, one after another.

use tokio_postgres::Client;

use crate::error::StoreError;

/// Key of the advisory lock migrations hold ("chaty" in ASCII).
const MIGRATION_LOCK: i64 = 0x0063_6861_7479;

const MIGRATIONS: &[&str] = &[
    // 1: everything the SQLite store has after its migration 3.
    r"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE users (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL,
        pass_hash TEXT,
        created_at BIGINT NOT NULL,
        last_seen BIGINT,
        display_name TEXT,
        status_text TEXT NOT NULL DEFAULT '',
        search_key TEXT NOT NULL DEFAULT ''
    );
    CREATE UNIQUE INDEX users_name ON users (lower(name));
    CREATE TABLE tokens (
        hash TEXT PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
        family TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        rotated BOOLEAN NOT NULL DEFAULT false
    );
    CREATE INDEX tokens_family ON tokens (family);
    CREATE TABLE rooms (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('room', 'dm')),
        topic TEXT NOT NULL DEFAULT '',
        private BOOLEAN NOT NULL,
        created_by BIGINT REFERENCES users(id),
        created_at BIGINT NOT NULL,
        last_seq BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE members (
        room_id TEXT NOT NULL REFERENCES rooms(id),
        user_id BIGINT NOT NULL REFERENCES users(id),
        role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
        read_seq BIGINT NOT NULL DEFAULT 0,
        joined_at BIGINT NOT NULL,
        PRIMARY KEY (room_id, user_id)
    );
    CREATE INDEX members_user ON members (user_id);
    CREATE TABLE messages (
        id BIGSERIAL PRIMARY KEY,
        room_id TEXT NOT NULL REFERENCES rooms(id),
        seq BIGINT NOT NULL,
        sender_id BIGINT NOT NULL REFERENCES users(id),
        sender_name TEXT NOT NULL,
        content TEXT NOT NULL,
        reply_to BIGINT,
        attachment TEXT,
        file_id TEXT,
        created_at BIGINT NOT NULL,
        edited_at BIGINT,
        deleted_at BIGINT,
        client_id TEXT,
        search TSVECTOR,               -- the folded words (store/postgres/search.rs)
        UNIQUE (room_id, seq),
        UNIQUE (sender_id, client_id)
    );
    CREATE INDEX messages_search ON messages USING GIN (search);
    CREATE INDEX messages_file ON messages (file_id) WHERE file_id IS NOT NULL;
    CREATE TABLE reactions (
        message_id BIGINT NOT NULL REFERENCES messages(id),
        user_id BIGINT NOT NULL REFERENCES users(id),
        emoji TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (message_id, user_id, emoji)
    );
    CREATE TABLE files (
        id TEXT NOT NULL,
        uploader BIGINT NOT NULL REFERENCES users(id),
        name TEXT NOT NULL,
        size BIGINT NOT NULL,
        mime TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (id, uploader)
    );
    -- The bytes, once per content: any node serves any file.
    CREATE TABLE file_data (id TEXT PRIMARY KEY, data BYTEA NOT NULL);
    -- The nodes on this database (store/postgres/nodes.rs).
    CREATE TABLE nodes (
        id TEXT PRIMARY KEY,
        label TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        heartbeat_at BIGINT NOT NULL,
        shared_fanout BOOLEAN NOT NULL
    );
    ",
    // 2: moderation. Server admins; bans, each in force until UNBAN. Room
    // admins need nothing new: `members.role` has been here since 1, with
    // every room's creator made its admin, so existing rooms keep theirs.
    r"
    ALTER TABLE users ADD COLUMN admin BOOLEAN NOT NULL DEFAULT false;
    CREATE TABLE bans (
        room_id TEXT NOT NULL REFERENCES rooms(id),
        user_id BIGINT NOT NULL REFERENCES users(id),
        banned_by BIGINT REFERENCES users(id),
        reason TEXT,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (room_id, user_id)
    );
    ",
    // 3: administration (as SQLite's 5): server-wide bans, invitations to
    // register, and the admin CLI's events that every node reads.
    r"
    ALTER TABLE users ADD COLUMN banned_at BIGINT;
    ALTER TABLE users ADD COLUMN ban_reason TEXT;
    CREATE TABLE invites (
        hash TEXT PRIMARY KEY,
        uses_left BIGINT NOT NULL,
        expires_at BIGINT,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE admin_events (
        id BIGSERIAL PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('sign_out', 'room_deleted', 'topic')),
        user_id BIGINT,
        room_id TEXT,
        detail TEXT,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX admin_events_created ON admin_events (created_at);
    ",
    // 4: retention. A room's own limit (NULL: the server's --retention-days)
    // and an index to find expired messages by age.
    r"
    ALTER TABLE rooms ADD COLUMN retention_days INTEGER;
    CREATE INDEX messages_created_at ON messages (created_at);
    ",
    // 5: notification levels (SET_NOTIFY); NULL: the room kind's default.
    r"
    ALTER TABLE members ADD COLUMN notify TEXT;
    ",
];

/// Migrates to the newest schema and returns the database's epoch.
pub async fn migrate(client: &mut Client) -> Result<String, StoreError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
    let result = run(client).await;
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
    let epoch = result?;
    unlocked?;
    Ok(epoch)
}

async fn run(client: &mut Client) -> Result<String, StoreError> {
    client.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)").await?;
    let row = client.query_opt("SELECT version FROM schema_version", &[]).await?;
    let done = row.map_or(0, |r| r.get::<_, i32>(0)).max(0) as usize;
    if done > MIGRATIONS.len() {
        return Err(StoreError::Io(std::io::Error::other(format!(
            "the database is from a newer chaty (schema {done}, this build knows {})",
            MIGRATIONS.len()
        ))));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute("DELETE FROM schema_version", &[]).await?;
        tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&((i + 1) as i32)]).await?;
        tx.commit().await?;
    }
    let epoch = crate::store::random_hex(8);
    client
        .execute("INSERT INTO meta (key, value) VALUES ('epoch', $1) ON CONFLICT (key) DO NOTHING", &[&epoch])
        .await?;
    let row = client.query_one("SELECT value FROM meta WHERE key = 'epoch'", &[]).await?;
    Ok(row.get(0))
}
