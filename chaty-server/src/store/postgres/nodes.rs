//! The nodes sharing one PostgreSQL database. Each node registers itself and
//! keeps a heartbeat; a node that stops cleanly leaves, one that dies is
//! forgotten once its heartbeat is older than [`STALE_MS`]. Several nodes
//! need a shared fan-out (`--redis`), or a room would be split between
//! nodes that cannot hear each other: a node refuses to start into that.

use chaty_proto::time::{format_millis, now_millis};
use tokio_postgres::GenericClient;

use crate::error::StoreError;

/// How often a node says it is alive.
pub const HEARTBEAT_MS: i64 = 5_000;
/// A node silent for this long is gone.
pub const STALE_MS: i64 = 15_000;
/// Serialises registrations (a transaction-level advisory lock).
const REGISTRATION_LOCK: i64 = 0x0063_6861_7480;

/// What a node says about itself.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    /// Host and process, for the message another node gets.
    pub label: String,
    /// Whether it delivers across nodes (Redis).
    pub shared_fanout: bool,
}

/// Registers `me`, refusing when that would split rooms between nodes.
pub async fn register(db: &impl GenericClient, me: &Node) -> Result<(), StoreError> {
    let now = now_millis();
    db.execute("SELECT pg_advisory_xact_lock($1)", &[&REGISTRATION_LOCK]).await?;
    db.execute("DELETE FROM nodes WHERE heartbeat_at < $1", &[&(now - STALE_MS)]).await?;
    let others = db.query("SELECT label, started_at, shared_fanout FROM nodes WHERE id <> $1", &[&me.id]).await?;
    for other in &others {
        let (label, started, shared): (String, i64, bool) = (other.get(0), other.get(1), other.get(2));
        if !(me.shared_fanout && shared) {
            let why = if me.shared_fanout {
                "that node delivers to its own clients only"
            } else {
                "this node delivers to its own clients only"
            };
            return Err(StoreError::Io(std::io::Error::other(format!(
                "another chaty-server node ({label}, up since {}) uses this database, and {why}: \
                 nodes sharing a database need a shared fan-out, or rooms would be split between them; \
                 run one chaty-server per database",
                format_millis(started)
            ))));
        }
    }
    db.execute(
        "INSERT INTO nodes (id, label, started_at, heartbeat_at, shared_fanout) VALUES ($1, $2, $3, $3, $4)",
        &[&me.id, &me.label, &now, &me.shared_fanout],
    )
    .await?;
    Ok(())
}

pub async fn heartbeat(db: &impl GenericClient, id: &str) -> Result<(), StoreError> {
    db.execute("UPDATE nodes SET heartbeat_at = $2 WHERE id = $1", &[&id, &now_millis()]).await?;
    Ok(())
}

pub async fn leave(db: &impl GenericClient, id: &str) -> Result<(), StoreError> {
    db.execute("DELETE FROM nodes WHERE id = $1", &[&id]).await?;
    Ok(())
}
