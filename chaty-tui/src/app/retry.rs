//! The server's `overloaded` answer to a message: not a failure. The
//! message stays "sending…" and the same frame (same `clientId`, so the
//! server keeps it once however often it arrives) goes again by itself
//! after `retryAfterMs`, a little jitter added and the wait capped, as
//! often as the server asks. The waiting is done by the tick: no sleeps.

use std::time::Duration;

use tokio::time::Instant;

use super::compose::chat_frame;
use super::{App, Cmd};

/// The longest wait before a resend, whatever the server asks.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);
/// The wait when the server names none.
const DEFAULT_RETRY_WAIT: Duration = Duration::from_secs(1);
/// Up to this much is added to each wait, so that clients refused together
/// do not all come back in the same instant.
const MAX_JITTER_MS: u64 = 250;

/// How long to wait before resending: `retry_after_ms` (or a default) plus
/// jitter, capped at [`MAX_RETRY_WAIT`]. The jitter is taken from the
/// `clientId` and the attempt, so the pure update stays repeatable.
pub fn retry_wait(retry_after_ms: Option<u64>, client_id: &str, attempt: u32) -> Duration {
    let base = retry_after_ms.map_or(DEFAULT_RETRY_WAIT, Duration::from_millis);
    let seed = client_id
        .bytes()
        .chain(attempt.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (base + Duration::from_millis(seed % (MAX_JITTER_MS + 1))).min(MAX_RETRY_WAIT)
}

impl App {
    /// Whether `client_id` is a message of ours still waiting for its echo.
    pub(super) fn is_pending(&self, client_id: &str) -> bool {
        self.rooms.iter().flat_map(|r| &r.pending).any(|p| p.client_id == client_id)
    }

    /// An `overloaded` answer to the message sent with `client_id`: it
    /// stays "sending…" and goes again after the wait.
    pub(super) fn overloaded(&mut self, client_id: &str, retry_after_ms: Option<u64>) {
        let now = self.now;
        if let Some(p) = self.rooms.iter_mut().flat_map(|r| r.pending.iter_mut()).find(|p| p.client_id == client_id) {
            p.overloaded += 1;
            p.retry_at = Some(now + retry_wait(retry_after_ms, client_id, p.overloaded));
        }
    }

    /// On every tick: resends what waited long enough, if online (after a
    /// reconnect every unsent message goes again anyway).
    pub(super) fn resend_due(&mut self, now: Instant) -> Vec<Cmd> {
        if !self.online() {
            return Vec::new();
        }
        let mut cmds = Vec::new();
        for room in &mut self.rooms {
            for p in room.pending.iter_mut().filter(|p| p.failed.is_none() && p.retry_at.is_some_and(|at| at <= now)) {
                p.retry_at = None;
                cmds.push(chat_frame(&room.id, p));
            }
        }
        cmds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_the_servers_plus_a_little_and_never_long() {
        for attempt in 1..50 {
            let wait = retry_wait(Some(300), "c-1", attempt);
            assert!(wait >= Duration::from_millis(300) && wait <= Duration::from_millis(550), "{wait:?}");
        }
        assert_eq!(retry_wait(Some(60_000), "c-1", 1), MAX_RETRY_WAIT);
        assert!(retry_wait(None, "c-1", 1) >= DEFAULT_RETRY_WAIT);
        assert_eq!(retry_wait(Some(100), "c-1", 3), retry_wait(Some(100), "c-1", 3), "repeatable");
    }
}
