//! How busy the server's own runtime is: how late a 10 ms timer fires. When
//! every core the server has is saturated, a connection's next frame waits
//! in its socket until the runtime gets to it, and no queue of ours shows it;
//! the timer's lateness does (it waits in the same run queue). Past
//! [`MAX_LAG`], new messages are refused with `overloaded` like a store that
//! is behind, so the core goes to reading and answering the frames that are
//! waiting rather than to storing more: overload stays explicit and the
//! messages accepted stay prompt. It takes [`STREAK`] late ticks in a row: one
//! stall of the machine (a busy disk, another process) is not saturation.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use chaty_proto::ErrorCode;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::Refusal;

/// Most lateness of the runtime before new messages are refused.
pub const MAX_LAG: Duration = Duration::from_millis(100);
/// How often the runtime is sampled.
const TICK: Duration = Duration::from_millis(10);
/// Late ticks in a row that mean the runtime is saturated.
const STREAK: u32 = 3;

/// The runtime's recent lateness: rises at once, falls by a quarter a tick.
#[derive(Debug, Default)]
pub struct Busy {
    lag_us: AtomicU64,
    /// Samples in a row later than [`MAX_LAG`].
    late_in_a_row: AtomicU32,
}

impl Busy {
    /// Records that a timer due at `due` ran at `now`.
    pub fn sample(&self, due: Instant, now: Instant) {
        let late = u64::try_from(now.saturating_duration_since(due).as_micros()).unwrap_or(u64::MAX);
        let old = self.lag_us.load(Ordering::Relaxed);
        self.lag_us.store(late.max(old - old / 4), Ordering::Relaxed);
        if Duration::from_micros(late) > MAX_LAG {
            self.late_in_a_row.fetch_add(1, Ordering::Relaxed);
        } else {
            self.late_in_a_row.store(0, Ordering::Relaxed);
        }
    }

    /// How late the runtime runs lately.
    pub fn lag(&self) -> Duration {
        Duration::from_micros(self.lag_us.load(Ordering::Relaxed))
    }

    /// `Ok` when a new message may be taken, else the `overloaded` refusal.
    pub fn admit(&self) -> Result<(), Refusal> {
        let lag = self.lag();
        if self.late_in_a_row.load(Ordering::Relaxed) < STREAK {
            return Ok(());
        }
        let ms = u64::try_from(lag.as_millis() * 2).unwrap_or(u64::MAX).clamp(50, 5_000);
        Err(Refusal {
            code: ErrorCode::Overloaded,
            message: format!(
                "the server is busy: it runs {} ms behind; nothing was stored, send it again (same clientId) in {ms} ms",
                lag.as_millis()
            ),
            retry_after_ms: Some(ms),
        })
    }

    /// Samples the runtime every [`TICK`] until `shutdown`.
    pub async fn watch(self: std::sync::Arc<Self>, shutdown: CancellationToken) {
        loop {
            let due = Instant::now() + TICK;
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep_until(due) => self.sample(due, Instant::now()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_refuses_at_once_and_is_forgotten_within_a_few_ticks() {
        let busy = Busy::default();
        let due = Instant::now();
        busy.sample(due, due + Duration::from_millis(1));
        assert!(busy.admit().is_ok(), "on time");
        // One stall is not saturation.
        busy.sample(due, due + Duration::from_millis(300));
        assert!(busy.admit().is_ok(), "one late tick");
        busy.sample(due, due);
        busy.sample(due, due + Duration::from_millis(300));
        busy.sample(due, due + Duration::from_millis(300));
        assert!(busy.admit().is_ok(), "two late ticks");
        busy.sample(due, due + Duration::from_millis(300));
        let refusal = busy.admit().expect_err("three late ticks in a row");
        assert_eq!(refusal.code, ErrorCode::Overloaded);
        assert_eq!(refusal.retry_after_ms, Some(600));
        assert!(refusal.message.contains("same clientId"), "{}", refusal.message);
        // One tick on time admits again; the lag shown fades: 300 → 225 → 169 → 127 → 95 ms.
        busy.sample(due, due);
        assert!(busy.admit().is_ok());
        for _ in 0..3 {
            busy.sample(due, due);
        }
        assert!(busy.lag() < MAX_LAG, "{:?}", busy.lag());
    }

    #[tokio::test(start_paused = true)]
    async fn the_watcher_samples_the_runtime_and_stops_with_the_server() {
        let busy = std::sync::Arc::new(Busy::default());
        let shutdown = CancellationToken::new();
        let watcher = tokio::spawn(busy.clone().watch(shutdown.clone()));
        tokio::time::sleep(TICK * 5).await;
        assert!(busy.lag() <= Duration::from_millis(1), "a paused clock is never late: {:?}", busy.lag());
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), watcher).await.expect("stopped").expect("joined");
    }
}
