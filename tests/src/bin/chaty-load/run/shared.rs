//! The state every task of a run shares ([`Shared`]: the flags, per-room and
//! per-sender liveness, setup counters, the current step's [`StepStats`], the
//! notes for the report) and the [`Clock`] that stamps sends and receipts.
//! Everything runs on one thread, so this is `Cell`/`RefCell`, not locks.
//! Not here: the schedule (`schedule.rs`) or how a receipt is counted
//! (`receive.rs`).

use std::cell::{Cell, RefCell};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::args::RunArgs;
use crate::wire::Target;

/// Error messages kept for the report.
pub(super) const MAX_NOTES: usize = 8;

/// Maps tokio instants to µs since the UNIX epoch through one base reading,
/// so all times in a run come from the monotonic clock.
pub(super) struct Clock {
    base: Instant,
    base_epoch_us: u64,
}

impl Clock {
    pub(super) fn new() -> Self {
        let epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Self { base: Instant::now(), base_epoch_us: u64::try_from(epoch.as_micros()).unwrap_or(u64::MAX) }
    }

    pub(super) fn us(&self, at: Instant) -> u64 {
        self.base_epoch_us + duration_us(at.saturating_duration_since(self.base))
    }

    pub(super) fn now_us(&self) -> u64 {
        self.us(Instant::now())
    }
}

pub(super) fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

pub(super) fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

pub(super) fn new_histogram() -> Histogram<u64> {
    // 1 µs .. 1 h at 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

#[derive(Default)]
pub(super) struct Setup {
    pub(super) connected: u64,
    pub(super) joined: u64,
    pub(super) connect_errors: u64,
    pub(super) join_errors: u64,
    pub(super) finished: u64,
    pub(super) last_joined: Option<Instant>,
}

/// Counters of one step; receipts of other steps are ignored.
pub(super) struct StepStats {
    pub(super) idx: u32,
    pub(super) sent: u64,
    pub(super) send_errors: u64,
    pub(super) delivered: u64,
    pub(super) duplicates: u64,
    pub(super) reorders: u64,
    /// Messages of the window the server refused with `overloaded`, and the
    /// deliveries they would have made.
    pub(super) refused: u64,
    pub(super) refused_deliveries: u64,
    /// Messages of the window whose sender got them back (stored and acknowledged).
    pub(super) echoed: u64,
    pub(super) latency: Histogram<u64>,
    pub(super) history_sent: u64,
    pub(super) history_ok: u64,
    pub(super) history_errors: u64,
    pub(super) history_latency: Histogram<u64>,
}

impl StepStats {
    pub(super) fn new(idx: u32) -> Self {
        Self {
            idx,
            sent: 0,
            send_errors: 0,
            delivered: 0,
            duplicates: 0,
            reorders: 0,
            refused: 0,
            refused_deliveries: 0,
            echoed: 0,
            latency: new_histogram(),
            history_sent: 0,
            history_ok: 0,
            history_errors: 0,
            history_latency: new_histogram(),
        }
    }
}

pub(super) struct Shared {
    pub(super) args: RunArgs,
    /// The servers; see [`Shared::target_of`].
    pub(super) targets: Vec<Target>,
    pub(super) clock: Clock,
    /// Distinguishes this run's clientIds from earlier runs on the same database.
    pub(super) nonce: u64,
    /// Joined and still connected clients per room.
    pub(super) room_alive: RefCell<Vec<u64>>,
    pub(super) sender_alive: RefCell<Vec<bool>>,
    pub(super) setup: RefCell<Setup>,
    pub(super) connect_latency: RefCell<Histogram<u64>>,
    pub(super) step: RefCell<Option<StepStats>>,
    pub(super) disconnects: Cell<u64>,
    pub(super) error_frames: Cell<u64>,
    pub(super) notes: RefCell<Vec<String>>,
    pub(super) stopping: Cell<bool>,
    pub(super) auth_gate: Semaphore,
}

impl Shared {
    pub(super) fn note(&self, text: String) {
        let mut notes = self.notes.borrow_mut();
        if notes.len() < MAX_NOTES && !notes.contains(&text) {
            notes.push(text);
        }
    }

    pub(super) fn room_of(&self, i: usize) -> usize {
        i % self.args.rooms
    }

    /// Client i's server: round-robin over the members of each room (room
    /// index plus i div R), so consecutive clients alternate and every room
    /// has members on every server.
    pub(super) fn target_of(&self, i: usize) -> &Target {
        &self.targets[(self.room_of(i) + i / self.args.rooms) % self.targets.len()]
    }

    pub(super) fn user(&self, i: usize) -> String {
        format!("{}{i}", self.args.user_prefix)
    }

    pub(super) fn room(&self, i: usize) -> String {
        format!("{}{}", self.args.room_prefix, self.room_of(i))
    }

    pub(super) fn is_sender(&self, i: usize) -> bool {
        i < self.args.senders
    }

    /// Index among the history clients, if client `i` is one.
    pub(super) fn history_index(&self, i: usize) -> Option<usize> {
        let first = self.args.clients - self.args.history_clients;
        (i >= first).then(|| i - first)
    }
}
