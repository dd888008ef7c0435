//! Admission of new messages: when the store has fallen behind by more than
//! [`MAX_BACKLOG`] of work, a new `CHAT_MESSAGE` is refused at once with
//! `overloaded` and a `retryAfterMs`, instead of waiting unseen in a queue
//! (or a socket buffer) while every sender's latency grows without bound.
//! Nothing is stored for a refused message, so a client resends it with the
//! same `clientId` and it is stored exactly once.
//!
//! "Behind" is measured as work, not as a count: the writer reports each
//! batch it commits ([`Backlog::committed`]), and the backlog is the jobs
//! waiting times what one job costs in a full batch. A slow fsync is not
//! work: every batch shares one, so it costs latency, not throughput, and a
//! disk that always takes 300 ms must not make the server refuse everything.
//! A writer *stuck* on one batch for longer than [`STALL`] (a stalled disk, a
//! lock held by another process) is behind by that long, though, queue or no
//! queue. A burst after a quiet spell is therefore admitted
//! (a thousand jobs at ~30 µs each is 30 ms of work), and a queue that would
//! take longer than the bound to drain is not fed further.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chaty_proto::ErrorCode;

use crate::error::Refusal;

/// Most work the store may have queued before new messages are refused.
pub const MAX_BACKLOG: Duration = Duration::from_millis(250);
/// One batch taking longer than this means the writer is stuck.
pub const STALL: Duration = Duration::from_secs(1);
/// Shortest and longest `retryAfterMs` given.
const RETRY_MIN_MS: u64 = 50;
const RETRY_MAX_MS: u64 = 5_000;
/// Batches at least this big tell what one job costs (in smaller ones the
/// commit's fsync dominates).
const SAMPLE_BATCH: usize = 16;
/// What one job is assumed to cost until a big batch has been seen, µs.
const DEFAULT_JOB_US: u64 = 50;

/// The writer's queue, as the writer and the admission check see it.
#[derive(Debug)]
pub struct Backlog {
    /// Jobs submitted and not yet taken by the writer.
    queued: AtomicUsize,
    /// Moving average of one job's cost in a big batch, ns.
    job_ns: AtomicU64,
    /// When the batch in hand began, ns after `base`; 0 when the writer waits.
    batch_began_ns: AtomicU64,
    base: Instant,
}

impl Default for Backlog {
    fn default() -> Self {
        Self {
            queued: AtomicUsize::new(0),
            job_ns: AtomicU64::new(DEFAULT_JOB_US * 1_000),
            batch_began_ns: AtomicU64::new(0),
            base: Instant::now(),
        }
    }
}

impl Backlog {
    /// A job was queued for the writer.
    pub fn queued(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    /// A job queued a moment ago never reached the writer (it is gone).
    pub fn unqueued(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }

    /// The writer took `n` jobs off the queue and begins a batch of them.
    pub fn taken(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::Relaxed);
        let now = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1);
        self.batch_began_ns.store(now, Ordering::Relaxed);
    }

    /// The writer ran `jobs` jobs in `work` and committed them.
    pub fn committed(&self, jobs: usize, work: Duration) {
        self.batch_began_ns.store(0, Ordering::Relaxed);
        if jobs >= SAMPLE_BATCH {
            let per_job = u64::try_from(work.as_nanos() / jobs as u128).unwrap_or(u64::MAX);
            let old = self.job_ns.load(Ordering::Relaxed);
            // 1/8 of the new sample: smooth, yet it follows a change within ~20 batches.
            self.job_ns.store(old - old / 8 + per_job / 8, Ordering::Relaxed);
        }
    }

    /// How far behind the writer is: the work queued, plus the batch in
    /// hand if it has been stuck for longer than [`STALL`].
    pub fn behind(&self) -> Duration {
        let queued = self.queued.load(Ordering::Relaxed) as u64;
        let work = Duration::from_nanos(queued.saturating_mul(self.job_ns.load(Ordering::Relaxed)));
        let in_hand = match self.batch_began_ns.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            began => self.base.elapsed().saturating_sub(Duration::from_nanos(began)),
        };
        if in_hand > STALL { work + in_hand } else { work }
    }

    /// `Ok` when a new message may be queued, else the `overloaded` refusal.
    pub fn admit(&self) -> Result<(), Refusal> {
        let behind = self.behind();
        if behind <= MAX_BACKLOG {
            return Ok(());
        }
        // By then what is queued now has been written; others may have
        // queued more, which is why clients add jitter of their own.
        let ms = u64::try_from(behind.as_millis()).unwrap_or(u64::MAX).clamp(RETRY_MIN_MS, RETRY_MAX_MS);
        Err(Refusal {
            code: ErrorCode::Overloaded,
            message: format!(
                "the server is busy: {} ms of messages are waiting to be stored; nothing was stored, send it again (same clientId) in {ms} ms",
                behind.as_millis()
            ),
            retry_after_ms: Some(ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_after_a_quiet_spell_is_admitted() {
        let b = Backlog::default();
        // Quiet: batches of one.
        for _ in 0..50 {
            b.committed(1, Duration::from_micros(40));
        }
        for _ in 0..1_000 {
            b.queued();
        }
        assert!(b.behind() < MAX_BACKLOG, "1,000 jobs at the default cost: {:?}", b.behind());
        assert!(b.admit().is_ok());
    }

    #[test]
    fn a_queue_longer_than_the_bound_refuses_with_a_wait_and_recovers() {
        let b = Backlog::default();
        // Full batches at 100 µs a job: 2,600 queued is 260 ms of work.
        for _ in 0..100 {
            b.committed(512, Duration::from_micros(512 * 100));
        }
        for _ in 0..2_600 {
            b.queued();
        }
        let refusal = b.admit().expect_err("over the bound");
        assert_eq!(refusal.code, ErrorCode::Overloaded);
        let wait = refusal.retry_after_ms.expect("a wait");
        assert!((250..=300).contains(&wait), "wait {wait} ms");
        assert!(refusal.message.contains("same clientId"), "{}", refusal.message);
        b.taken(512);
        b.committed(512, Duration::from_micros(512 * 100));
        assert!(b.admit().is_ok(), "after one batch it is under the bound again");
    }

    #[test]
    fn a_slow_batch_is_not_behind_but_a_stuck_one_is() {
        let b = Backlog { base: Instant::now().checked_sub(STALL * 2).expect("up for 2 s"), ..Backlog::default() };
        b.queued();
        b.taken(1);
        assert_eq!(b.behind(), Duration::ZERO, "one batch under way, nothing queued");
        // The same batch, begun longer ago than STALL.
        b.batch_began_ns.store(1, Ordering::Relaxed);
        assert!(b.behind() > STALL, "{:?}", b.behind());
        assert_eq!(b.admit().expect_err("stuck").code, ErrorCode::Overloaded);
        b.committed(1, Duration::from_millis(30));
        assert_eq!(b.behind(), Duration::ZERO, "done");
    }

    #[test]
    fn the_wait_given_is_clamped() {
        let b = Backlog::default();
        for _ in 0..100 {
            b.committed(512, Duration::from_millis(512));
        }
        for _ in 0..100_000 {
            b.queued();
        }
        assert_eq!(b.admit().expect_err("far behind").retry_after_ms, Some(RETRY_MAX_MS));
    }
}
