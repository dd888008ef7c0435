//! Retention: messages older than their room's limit are deleted. A room's
//! own `retention_days` overrides the server's `--retention-days`; 0 means
//! forever. Deleting never touches `rooms.last_seq`, so `seq` numbering
//! goes on where it was, and `HISTORY` simply no longer has them.

use super::{Backend, Store};
use crate::error::StoreError;

/// A day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;
/// Messages deleted per transaction (so the writer is never held long).
pub const CHUNK: i64 = 1_000;

/// Which messages are expired at `now`: `(cutoff, room)`: older than
/// `cutoff` in `room`, or, with no room, in every room without its own limit.
pub fn cutoffs(now: i64, default_days: u32, rooms: &[(String, u32)]) -> Vec<(i64, Option<String>)> {
    let mut cutoffs = Vec::new();
    if default_days > 0 {
        cutoffs.push((now - i64::from(default_days) * DAY_MS, None));
    }
    for (room, days) in rooms.iter().filter(|(_, days)| *days > 0) {
        cutoffs.push((now - i64::from(*days) * DAY_MS, Some(room.clone())));
    }
    cutoffs
}

impl Store {
    /// Deletes every message expired at `now` (ms) with `default_days` as
    /// the server's limit (0: forever); returns how many. `now` is passed in
    /// so tests need no clock.
    pub async fn expire(&self, now: i64, default_days: u32) -> Result<u64, StoreError> {
        let rooms = match &self.backend {
            Backend::Sqlite(s) => s.read(super::sqlite::retention::overrides).await?,
            Backend::Postgres(pg) => pg_read!(pg, |db| super::postgres::retention::overrides(db).await)?,
        };
        let mut deleted = 0;
        for (cutoff, room) in cutoffs(now, default_days, &rooms) {
            loop {
                let room = room.clone();
                let n = match &self.backend {
                    Backend::Sqlite(s) => {
                        s.write(move |db| super::sqlite::retention::delete_chunk(db, cutoff, room.as_deref())).await?
                    }
                    Backend::Postgres(pg) => {
                        pg_tx!(pg, |db| super::postgres::retention::delete_chunk(db, cutoff, room.as_deref()).await)?
                    }
                };
                deleted += n;
                if n < CHUNK as u64 {
                    break;
                }
            }
        }
        Ok(deleted)
    }

    /// Sets `room`'s own retention (`None`: the server's), refusing an
    /// unknown room.
    pub async fn set_retention(&self, room: String, days: Option<u32>) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.write(move |db| super::sqlite::retention::set(db, &room, days)).await,
            Backend::Postgres(pg) => pg_tx!(pg, |db| super::postgres::retention::set(db, &room, days).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_limit_covers_rooms_without_their_own_and_zero_is_forever() {
        let now = 100 * DAY_MS;
        let rooms = [("short".to_string(), 1), ("forever".to_string(), 0)];
        assert_eq!(cutoffs(now, 30, &rooms), vec![(70 * DAY_MS, None), (99 * DAY_MS, Some("short".to_string()))]);
        assert_eq!(cutoffs(now, 0, &[]), vec![]);
    }
}
