//! What the nodes of a cluster ask of the shared database, beyond the
//! domain API: which node this is, which nodes departed, and the messages a
//! node's live delivery missed. Only PostgreSQL is shared; on SQLite, the one
//! node has no one to ask about.

use chaty_proto::Message;

use super::{Backend, Store, postgres};
use crate::error::StoreError;

/// Messages fetched per gap-filling query.
pub const CATCH_UP_PAGE: i64 = 500;

fn single_node() -> StoreError {
    StoreError::Io(std::io::Error::other("a cluster needs PostgreSQL (--db postgres://…)"))
}

impl Store {
    /// This node's id in the shared database (`None` on SQLite).
    pub fn node_id(&self) -> Option<&str> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(pg) => Some(pg.node_id()),
        }
    }

    /// True once after another node took this one for departed (its
    /// heartbeat was late): its users must be announced again.
    pub fn take_revived(&self) -> bool {
        match &self.backend {
            Backend::Sqlite(_) => false,
            Backend::Postgres(pg) => pg.take_revived(),
        }
    }

    /// The nodes whose heartbeat stopped, each handed to exactly one live
    /// node. Empty until this node's own heartbeats have gone through for a
    /// while, so an outage of the database never reads as everyone leaving.
    pub async fn claim_departed(&self) -> Result<Vec<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Vec::new()),
            Backend::Postgres(pg) if !pg.settled() => Ok(Vec::new()),
            Backend::Postgres(pg) => {
                pg_read!(pg, |db| postgres::nodes::claim_departed(db, pg.node_id()).await)
            }
        }
    }

    /// Messages of `room_id` after `seq` (at most [`CATCH_UP_PAGE`]), with no
    /// membership check: for filling a gap in live delivery.
    pub async fn messages_after(&self, room_id: String, seq: u64) -> Result<Vec<Message>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Err(single_node()),
            Backend::Postgres(pg) => {
                pg_read!(pg, |db| postgres::messages::after(db, &room_id, seq, CATCH_UP_PAGE).await)
            }
        }
    }

    /// The newest `seq` of each room that exists.
    pub async fn last_seqs(&self, rooms: Vec<String>) -> Result<Vec<(String, u64)>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Err(single_node()),
            Backend::Postgres(pg) => pg_read!(pg, |db| postgres::rooms::last_seqs(db, &rooms).await),
        }
    }
}
