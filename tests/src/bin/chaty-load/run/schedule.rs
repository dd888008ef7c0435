//! The open-loop schedule: a step's [`Plan`] and the arithmetic of when a
//! sender's k-th message is due, shared by the writers that follow it and by
//! the runner that counts what should arrive. Not here: the sending itself
//! (`send.rs`).

use tokio::time::Instant;

/// One step's schedule, sent to every writer.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub(super) idx: u32,
    pub(super) start: Instant,
    pub(super) rate: f64,
    pub(super) warm_ns: u64,
    pub(super) end_ns: u64,
}

pub(super) fn interval_ns(rate: f64) -> u64 {
    ((1e9 / rate).round() as u64).max(1)
}

/// Sender `j` of `n` starts `j/n` of an interval late, so sends spread evenly.
pub(super) fn offset_ns(interval: u64, j: usize, n: usize) -> u64 {
    let (j, n) = (j as u128, n.max(1) as u128);
    u64::try_from(u128::from(interval) * j / n).unwrap_or(0)
}

/// How many of `off + k·interval` (k ≥ 0) fall in `[lo, hi)`.
pub(super) fn in_window(interval: u64, off: u64, lo: u64, hi: u64) -> u64 {
    let first_at_or_after = |t: u64| t.saturating_sub(off).div_ceil(interval);
    first_at_or_after(hi) - first_at_or_after(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_counts_match_the_sender_loop() {
        for (rate, j, n, warm, end) in [
            (20.0, 0, 50, 2_000_000_000u64, 12_000_000_000u64),
            (20.0, 49, 50, 2_000_000_000, 12_000_000_000),
            (7.0, 3, 10, 0, 1_000_000_000),
            (333.0, 5, 6, 1_500_000_000, 4_000_000_000),
        ] {
            let interval = interval_ns(rate);
            let off = offset_ns(interval, j, n);
            let mut counted = 0;
            let mut k = 0;
            loop {
                let rel = off + k * interval;
                if rel >= end {
                    break;
                }
                k += 1;
                counted += u64::from(rel >= warm);
            }
            assert_eq!(in_window(interval, off, warm, end), counted, "{rate} {j}");
        }
    }
}
