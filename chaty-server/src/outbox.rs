//! One connection's queue of frames to write: many senders (the hub's
//! broadcasts, the store's completions), one reader (the connection's task).
//! A full queue means the client is not reading: it is kicked (close 1008)
//! rather than allowed to grow memory.
//!
//! Written here rather than a `tokio::sync::mpsc` channel for idle memory:
//! an mpsc channel allocates its first block of 32 slots (about 1.1 KiB) when
//! it is made and keeps it for the connection's life, and most connections
//! are idle most of the time. This queue holds nothing while it is empty: a
//! `VecDeque` that grows under traffic and is given back when drained.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Frames queued per connection before it counts as a slow consumer.
pub const OUTBOX_FRAMES: usize = 1024;

struct Queue {
    frames: Mutex<VecDeque<Utf8Bytes>>,
    /// Wakes the reader; a wake-up given while it is busy is kept for it.
    ready: Notify,
    /// The reader is gone: sending is pointless.
    closed: AtomicBool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Utf8Bytes>> {
        // A panic while holding the lock leaves a plain queue behind.
        self.frames.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Where frames for one connection go. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    queue: Arc<Queue>,
    kick: CancellationToken,
    signed_out: CancellationToken,
}

/// The connection's end of its outbox.
pub struct Frames {
    queue: Arc<Queue>,
}

impl Outbox {
    /// The outbox, its reading end, and the tokens that end the connection:
    /// `kick` (a slow consumer) and `signed_out` (its sign-in was revoked).
    pub fn new() -> (Self, Frames, CancellationToken, CancellationToken) {
        let queue = Arc::new(Queue {
            frames: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            closed: AtomicBool::new(false),
        });
        let (kick, signed_out) = (CancellationToken::new(), CancellationToken::new());
        let outbox = Self { queue: queue.clone(), kick: kick.clone(), signed_out: signed_out.clone() };
        (outbox, Frames { queue }, kick, signed_out)
    }

    /// Queues a frame without waiting. Returns false if the connection is gone or was kicked.
    pub fn send(&self, frame: Utf8Bytes) -> bool {
        if self.queue.closed.load(Ordering::Relaxed) {
            return false;
        }
        {
            let mut frames = self.queue.lock();
            if frames.len() >= OUTBOX_FRAMES {
                drop(frames);
                if !self.kick.is_cancelled() {
                    crate::metrics::count(|m| {
                        m.slow_consumers.inc();
                    });
                }
                self.kick.cancel();
                return false;
            }
            frames.push_back(frame);
        }
        self.queue.ready.notify_one();
        crate::metrics::count(|m| {
            m.deliveries.inc();
        });
        true
    }

    /// Ends the connection: its sign-in was revoked.
    pub fn sign_out(&self) {
        self.signed_out.cancel();
    }
}

impl Frames {
    /// Waits for frames, then moves up to `limit` of them into `batch`.
    pub async fn recv_many(&mut self, batch: &mut Vec<Utf8Bytes>, limit: usize) -> usize {
        loop {
            if let Some(n) = self.take(batch, limit) {
                return n;
            }
            self.queue.ready.notified().await;
        }
    }

    /// A frame if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Utf8Bytes> {
        self.queue.lock().pop_front()
    }

    fn take(&self, batch: &mut Vec<Utf8Bytes>, limit: usize) -> Option<usize> {
        let mut frames = self.queue.lock();
        if frames.is_empty() {
            return None;
        }
        let n = frames.len().min(limit);
        batch.extend(frames.drain(..n));
        if frames.is_empty() {
            // Drained: give the memory back, an idle connection keeps none.
            *frames = VecDeque::new();
        }
        Some(n)
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        self.queue.closed.store(true, Ordering::Relaxed);
        self.queue.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_arrive_in_order_and_a_full_queue_kicks() {
        let (outbox, mut frames, kick, _) = Outbox::new();
        for i in 0..OUTBOX_FRAMES {
            assert!(outbox.send(Utf8Bytes::from(i.to_string())));
        }
        assert!(!kick.is_cancelled());
        assert!(!outbox.send(Utf8Bytes::from("one too many")), "full");
        assert!(kick.is_cancelled(), "a slow consumer is kicked");
        let mut batch = Vec::new();
        let mut seen = Vec::new();
        while seen.len() < OUTBOX_FRAMES {
            let n = frames.recv_many(&mut batch, 64).await;
            assert!(n <= 64);
            seen.extend(batch.drain(..).map(|f| f.as_str().parse::<usize>().expect("number")));
        }
        assert_eq!(seen, (0..OUTBOX_FRAMES).collect::<Vec<_>>());
        assert_eq!(frames.queue.lock().capacity(), 0, "drained: nothing kept");
        assert!(frames.try_recv().is_none());
    }

    #[tokio::test]
    async fn the_reader_wakes_for_a_frame_sent_later_and_a_gone_reader_refuses() {
        let (outbox, mut frames, _, _) = Outbox::new();
        let sender = outbox.clone();
        let waiter = tokio::spawn(async move {
            let mut batch = Vec::new();
            frames.recv_many(&mut batch, 8).await;
            batch
        });
        tokio::task::yield_now().await;
        assert!(sender.send(Utf8Bytes::from("hello")));
        let batch =
            tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await.expect("woken").expect("joined");
        assert_eq!(batch.iter().map(Utf8Bytes::as_str).collect::<Vec<_>>(), ["hello"]);
        // The reader (moved into the task) is gone now.
        assert!(!outbox.send(Utf8Bytes::from("nobody")), "nobody reads any more");
    }
}
