//! Posting on PostgreSQL: one worker per busy room takes that room's posts in
//! arrival order and stores what has queued up in **one transaction with one
//! commit** (up to [`POST_BATCH`]), then runs each post's completion in `seq`
//! order, before the next batch. The room's row stays locked for the batch,
//! so `seq` stays gap-free across nodes, and a durable commit (an fsync) is
//! shared by every message that arrived while the previous one was being
//! written: the group commit the SQLite writer does, per room.
//!
//! A post that is refused (not a member, a bad reply) is refused before any
//! write, so the others in its batch go on. A database error aborts the
//! batch's transaction; its posts are then retried one transaction each, so
//! each gets its own answer (a retry committed meanwhile on another node, a
//! database that went away).

use tokio::sync::mpsc;

use super::{Postgres, messages, rooms};
use crate::error::StoreError;
use crate::store::model::{Post, Posted};

/// Longest a batch's transaction may take before its posts are refused.
const POST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// A room's post worker retires after this long without posts.
const WORKER_IDLE: std::time::Duration = std::time::Duration::from_secs(30);
/// Most posts stored in one transaction.
const POST_BATCH: usize = 64;

/// A message waiting for its room's worker.
pub(super) struct PostJob {
    post: Post,
    now: i64,
    done: Box<dyn FnOnce(Result<Posted, StoreError>) + Send>,
}

type Posting = std::collections::HashMap<String, mpsc::UnboundedSender<PostJob>>;

fn timed_out() -> StoreError {
    StoreError::Io(std::io::Error::other("the database did not answer in time"))
}

impl Postgres {
    /// Queues `post` for its room and returns at once; `done` runs after
    /// COMMIT, in this node's `seq` order for the room.
    pub async fn post(
        &self,
        post: Post,
        now: i64,
        done: impl FnOnce(Result<Posted, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        let job = PostJob { post, now, done: Box::new(done) };
        let mut rooms = self.rooms();
        let job = match rooms.get(&job.post.room_id) {
            Some(queue) => match queue.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (queue, jobs) = mpsc::unbounded_channel();
        let room = job.post.room_id.clone();
        let _ = queue.send(job);
        rooms.insert(room.clone(), queue);
        drop(rooms);
        self.in_flight.spawn(self.clone().room_worker(room, jobs));
        Ok(())
    }

    pub(super) fn rooms(&self) -> std::sync::MutexGuard<'_, Posting> {
        self.posting.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores one room's posts, a batch at a time.
    async fn room_worker(self, room: String, mut jobs: mpsc::UnboundedReceiver<PostJob>) {
        let mut batch = Vec::with_capacity(POST_BATCH);
        loop {
            match tokio::time::timeout(WORKER_IDLE, jobs.recv_many(&mut batch, POST_BATCH)).await {
                Ok(0) => return,
                Ok(_) => {}
                Err(_) => {
                    // Quiet: retire, unless a post slipped in. Posts are only
                    // queued under the map's lock, so none can come after this.
                    let mut rooms = self.rooms();
                    if jobs.is_empty() {
                        rooms.remove(&room);
                        return;
                    }
                    continue;
                }
            }
            // A database that stops answering must not hold the room forever.
            let posts: Vec<(&Post, i64)> = batch.iter().map(|job| (&job.post, job.now)).collect();
            let results = tokio::time::timeout(POST_TIMEOUT, self.post_batch(&posts)).await;
            drop(posts);
            let results = results.unwrap_or_else(|_| batch.iter().map(|_| Err(timed_out())).collect());
            for (job, result) in batch.drain(..).zip(results) {
                (job.done)(result);
            }
        }
    }

    /// Stores `jobs` in one transaction; one result per job, in order.
    async fn post_batch(&self, jobs: &[(&Post, i64)]) -> Vec<Result<Posted, StoreError>> {
        if jobs.len() > 1 {
            match self.post_together(jobs).await {
                Ok(results) => return results,
                Err(e) => tracing::debug!("a batch of {} posts failed ({e}); posting them one by one", jobs.len()),
            }
        }
        let mut results = Vec::with_capacity(jobs.len());
        for (post, now) in jobs {
            results.push(self.post_alone(post, *now).await);
        }
        results
    }

    /// The batch in one transaction. `Err` when the database failed (the
    /// transaction is rolled back and nothing of the batch is stored).
    async fn post_together(&self, jobs: &[(&Post, i64)]) -> Result<Vec<Result<Posted, StoreError>>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut results = Vec::with_capacity(jobs.len());
        for (post, now) in jobs {
            match messages::post(&tx, post, *now).await {
                Err(e @ StoreError::Postgres(_)) => return Err(e),
                result => results.push(result),
            }
        }
        tx.commit().await?;
        Ok(results)
    }

    /// One post in a transaction of its own.
    async fn post_alone(&self, post: &Post, now: i64) -> Result<Posted, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let posted = messages::post(&tx, post, now).await;
        match posted {
            Ok(posted) if posted.new => {
                tx.commit().await?;
                Ok(posted)
            }
            Ok(posted) => Ok(posted),
            Err(StoreError::Postgres(e)) if rooms::is_race(&e) => {
                // The same (sender, clientId) committed meanwhile on another node: a retry.
                drop(tx);
                let client: &tokio_postgres::Client = &client;
                messages::existing(client, post).await?.ok_or(StoreError::Postgres(e))
            }
            Err(e) => Err(e),
        }
    }
}
