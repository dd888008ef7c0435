//! The nodes sharing one PostgreSQL database. Each node holds an advisory
//! lock for as long as it runs (freed by PostgreSQL the moment its session
//! ends, so a crashed node can be restarted at once), and a row naming it with
//! a heartbeat, for messages. Several nodes need a shared fan-out, or a room
//! would be split between nodes that cannot hear each other: a node refuses to
//! start into that.

use chaty_proto::time::{format_millis, now_millis};
use tokio_postgres::{Client, GenericClient};

use crate::error::StoreError;

/// How often a node says it is alive.
pub const HEARTBEAT_MS: i64 = 2_000;
/// A node silent for this long is gone: its users leave (see
/// [`claim_departed`]), so within this plus one sweep, under the 15 s promised.
pub const STALE_MS: i64 = 9_000;
/// The advisory lock that says which nodes are alive (see [`register`]).
const NODES_LOCK: i64 = 0x0063_6861_7480;

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
///
/// Liveness is an advisory lock held by `session`, a connection of the
/// node's own: a node without a shared fan-out holds it exclusively, nodes
/// with one hold it shared. PostgreSQL frees it when that session ends, so a
/// node that crashed frees it at once and can be restarted straight away;
/// the `nodes` rows only name who is there.
pub async fn register(session: &Client, db: &impl GenericClient, me: &Node) -> Result<(), StoreError> {
    let got = take_lock(session, me).await?;
    let now = now_millis();
    if !got {
        let others = db
            .query(
                "SELECT label, started_at FROM nodes WHERE heartbeat_at >= $1 ORDER BY started_at",
                &[&(now - STALE_MS)],
            )
            .await?;
        let who = others
            .iter()
            .map(|r| format!("{}, up since {}", r.get::<_, String>(0), format_millis(r.get(1))))
            .collect::<Vec<_>>()
            .join("; ");
        let who = if who.is_empty() {
            "another chaty-server node".to_string()
        } else {
            format!("another chaty-server node ({who})")
        };
        return Err(StoreError::Io(std::io::Error::other(format!(
            "{who} uses this database, and nodes sharing a database need a shared fan-out, \
             or rooms would be split between them: start every node with --redis (one Redis for all), \
             or run one chaty-server per database"
        ))));
    }
    let others: i64 =
        db.query_one("SELECT count(*) FROM nodes WHERE heartbeat_at >= $1", &[&(now - STALE_MS)]).await?.get(0);
    let alone = !me.shared_fanout || others == 0;
    if alone {
        // Nobody is left to remember what the departed nodes' users were
        // doing: forget those nodes, and end guests' memberships, which ended
        // with their connections (as the SQLite store does at start).
        db.execute("DELETE FROM nodes", &[]).await?;
        db.execute("DELETE FROM members WHERE user_id IN (SELECT id FROM users WHERE pass_hash IS NULL)", &[]).await?;
    }
    db.execute(
        "INSERT INTO nodes (id, label, started_at, heartbeat_at, shared_fanout) VALUES ($1, $2, $3, $3, $4)",
        &[&me.id, &me.label, &now, &me.shared_fanout],
    )
    .await?;
    Ok(())
}

/// Takes the liveness lock on `session` (shared with a shared fan-out,
/// exclusive without). False if another node holds it the other way.
pub async fn take_lock(session: &Client, me: &Node) -> Result<bool, StoreError> {
    let take =
        if me.shared_fanout { "SELECT pg_try_advisory_lock_shared($1)" } else { "SELECT pg_try_advisory_lock($1)" };
    Ok(session.query_one(take, &[&NODES_LOCK]).await?.get(0))
}

/// Says `me` is alive. Returns false when the row was gone: another node
/// took this one for departed (a heartbeat delayed past [`STALE_MS`]) and
/// told everyone its users left; the row is back, and the caller tells them
/// they are here after all.
pub async fn heartbeat(db: &impl GenericClient, me: &Node) -> Result<bool, StoreError> {
    let now = now_millis();
    let row = db
        .query_one(
            "INSERT INTO nodes (id, label, started_at, heartbeat_at, shared_fanout) VALUES ($1, $2, $3, $3, $4)
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at
             RETURNING xmax = 0",
            &[&me.id, &me.label, &now, &me.shared_fanout],
        )
        .await?;
    Ok(!row.get::<_, bool>(0))
}

/// Deletes the rows of nodes whose heartbeat stopped, and returns their ids.
/// Each departed node goes to exactly one caller, which then does what its
/// connections' ends would have done.
pub async fn claim_departed(db: &impl GenericClient, me: &str) -> Result<Vec<String>, StoreError> {
    let rows = db
        .query(
            "DELETE FROM nodes WHERE heartbeat_at < $1 AND id <> $2 AND shared_fanout RETURNING id",
            &[&(now_millis() - STALE_MS), &me],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub async fn leave(db: &impl GenericClient, id: &str) -> Result<(), StoreError> {
    db.execute("DELETE FROM nodes WHERE id = $1", &[&id]).await?;
    Ok(())
}
