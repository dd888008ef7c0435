//! Posting on PostgreSQL: one writer per node takes every room's posts in
//! arrival order and stores what has queued up meanwhile (up to
//! [`POST_BATCH`], any rooms) in **one transaction with one commit**
//! (`batch`), then runs each post's completion, in arrival order (so in
//! `seq` order per room), before the next batch: the group commit the
//! SQLite writer does. The rooms' rows stay locked from their `seq` update
//! to the commit, so `seq` stays gap-free across nodes.
//!
//! One writer for all rooms rather than one per room: a batch costs
//! PostgreSQL about as much CPU as five more messages in it (a transaction,
//! a statement to start and run, a WAL flush), and per room the batches of
//! a busy node were one message long. Across rooms they grow with the load.
//!
//! A post that is refused (not a member, a bad reply) is refused without a
//! write, so the others in its batch go on. A database error fails the
//! batch (nothing of it is stored); its posts are then retried one
//! transaction each, so each gets its own answer (a retry committed
//! meanwhile on another node, a database that went away).

use tokio::sync::mpsc;

use super::{Postgres, batch, messages, rooms};
use crate::error::StoreError;
use crate::store::model::{Post, Posted};

/// Longest a batch's transaction may take before its posts are refused.
const POST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Most posts stored in one transaction.
const POST_BATCH: usize = 256;

/// A message waiting for the node's writer.
pub(super) struct PostJob {
    post: Post,
    now: i64,
    done: Box<dyn FnOnce(Result<Posted, StoreError>) + Send>,
}

/// The writer's queue (none before the first post, and after [`Postgres::close`]).
pub(super) type Posting = Option<mpsc::UnboundedSender<PostJob>>;

fn timed_out() -> StoreError {
    StoreError::Io(std::io::Error::other("the database did not answer in time"))
}

impl Postgres {
    /// Queues `post` for the node's writer and returns at once; `done`
    /// runs after COMMIT, in this node's `seq` order for the room.
    pub async fn post(
        &self,
        post: Post,
        now: i64,
        done: impl FnOnce(Result<Posted, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        let job = PostJob { post, now, done: Box::new(done) };
        let mut posting = self.posting();
        let job = match posting.as_ref() {
            Some(queue) => match queue.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (queue, jobs) = mpsc::unbounded_channel();
        let _ = queue.send(job);
        *posting = Some(queue);
        drop(posting);
        self.in_flight.spawn(self.clone().writer(jobs));
        Ok(())
    }

    pub(super) fn posting(&self) -> std::sync::MutexGuard<'_, Posting> {
        self.posting.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores the node's posts, a batch at a time, until the queue closes.
    async fn writer(self, mut jobs: mpsc::UnboundedReceiver<PostJob>) {
        let mut batch = Vec::with_capacity(POST_BATCH);
        while jobs.recv_many(&mut batch, POST_BATCH).await > 0 {
            // A database that stops answering must not hold the posts forever.
            let posts: Vec<(&Post, i64)> = batch.iter().map(|job| (&job.post, job.now)).collect();
            let results = tokio::time::timeout(POST_TIMEOUT, self.post_batch(&posts)).await;
            drop(posts);
            let results = results.unwrap_or_else(|_| batch.iter().map(|_| Err(timed_out())).collect());
            for (job, result) in batch.drain(..).zip(results) {
                (job.done)(result);
            }
        }
    }

    /// Stores `jobs` (in arrival order): one result per job, in order.
    async fn post_batch(&self, jobs: &[(&Post, i64)]) -> Vec<Result<Posted, StoreError>> {
        let together = async { batch::post(self.client().await?, jobs).await };
        match together.await {
            Ok(results) => return results,
            Err(e) => tracing::debug!("a batch of {} posts failed ({e}); posting them one by one", jobs.len()),
        }
        let mut results = Vec::with_capacity(jobs.len());
        for (post, now) in jobs {
            results.push(self.post_alone(post, *now).await);
        }
        results
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
