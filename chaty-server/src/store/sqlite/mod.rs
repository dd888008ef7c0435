//! The SQLite backend: one writer thread with group commit, a small pool of
//! reader connections, and the schema. The domain API in [`crate::store`]
//! hands it closures and awaits the result; the SQL lives in the submodules
//! (`users`, `profiles`, `rooms`, `messages`, `files`).
//!
//! The database file is created private (0600; SQLite gives its `-wal` and
//! `-shm` the same mode). [`Sqlite::close`] leaves one self-contained file: it
//! stops the readers, lets the writer commit what it holds, checkpoints the
//! WAL into the database (`wal_checkpoint(TRUNCATE)`) and closes, so a copy of
//! the database file of a stopped server is the whole database.
//!
//! Group commit: the writer takes every job queued (up to [`BATCH`]), runs each
//! inside its own SAVEPOINT within one transaction, adds the batch's new
//! messages to the full-text index in one statement, commits once (one fsync
//! with `synchronous=FULL`), and only then runs the jobs' completions, in
//! order. Completions are where a committed message is broadcast, so live
//! delivery order equals commit order equals `seq` order.

pub mod admin;
pub mod backup;
pub mod files;
pub mod invites;
pub mod lock;
pub mod messages;
pub mod moderation;
pub mod profiles;
pub mod retention;
pub mod rooms;
pub(crate) mod schema;
pub mod users;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;
use crate::store::admission::Backlog;

/// Most jobs committed in one transaction.
const BATCH: usize = 512;
/// Jobs waiting for the writer before senders wait too (backpressure).
const QUEUE: usize = 8192;
/// Reader threads, each with its own connection.
const READERS: usize = 4;

type Completion = Box<dyn FnOnce(Option<&StoreError>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Completion + Send>;

enum Cmd {
    Job(Job),
    /// Commit what came before, then stop. Other clones of the `Store` may
    /// still exist (their submits then fail with `Closed`).
    Stop,
}

/// Handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Sqlite {
    jobs: mpsc::Sender<Cmd>,
    /// How far behind the writer is (see [`crate::store::admission`]).
    backlog: Arc<Backlog>,
    readers: Arc<Readers>,
    writer: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
    epoch: Arc<str>,
    /// A server's shared hold on `<db>.lock` (see [`lock`]), released when
    /// the last handle goes; `None` for the admin CLI.
    _serving: Option<Arc<std::fs::File>>,
}

type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// A fixed pool of reader threads: reads never wait for the writer, and a
/// burst of them queues here instead of spawning threads. `None` stops one thread.
struct Readers {
    jobs: std::sync::mpsc::Sender<Option<ReadJob>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    path: std::path::PathBuf,
}

impl Sqlite {
    /// Opens (creating if needed) the database at `path` for a server and
    /// migrates it. The server holds `<db>.lock` (shared) while it runs, so
    /// `restore` can tell it is running.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let serving = lock::serving(path)?;
        Self::open_with(path, Some(Arc::new(serving)))
    }

    /// Opens the database for the admin CLI, beside a server that may be
    /// running: no lock, and guests' memberships are the server's business.
    pub fn open_admin(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, None)
    }

    fn open_with(path: &Path, serving: Option<Arc<std::fs::File>>) -> Result<Self, StoreError> {
        crate::private::touch_new(path)?;
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        tune(&conn)?;
        schema::migrate(&conn)?;
        // Guests' memberships end with their connections; after a crash or
        // restart none of those connections exist any more.
        if serving.is_some() {
            conn.execute("DELETE FROM members WHERE user_id IN (SELECT id FROM users WHERE pass_hash IS NULL)", [])?;
        }
        let epoch: Arc<str> = schema::epoch(&conn)?.into();

        let (jobs, rx) = mpsc::channel(QUEUE);
        let backlog = Arc::new(Backlog::default());
        let writer_backlog = backlog.clone();
        let writer = std::thread::Builder::new()
            .name("chaty-store-writer".into())
            .spawn(move || write_loop(conn, rx, &writer_backlog))?;
        Ok(Self {
            jobs,
            backlog,
            readers: Arc::new(Readers::start(path)?),
            writer: Arc::new(Mutex::new(Some(writer))),
            epoch,
            _serving: serving,
        })
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        &self.readers.path
    }

    /// Names this database; clients' `seq` cursors are only meaningful within one epoch.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// How far behind the writer is.
    pub fn backlog(&self) -> &Backlog {
        &self.backlog
    }

    /// Queues `work` for the writer. `done` runs on the writer thread after the
    /// batch holding `work` committed (or failed), in queue order; it must not block.
    pub async fn submit<T, W, D>(&self, work: W, done: D) -> Result<(), StoreError>
    where
        T: Send + 'static,
        W: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        D: FnOnce(Result<T, StoreError>) + Send + 'static,
    {
        let job: Job = Box::new(move |conn| {
            let result = in_savepoint(conn, work);
            Box::new(move |commit_error| {
                done(match (result, commit_error) {
                    (Ok(_), Some(e)) => Err(StoreError::Commit(e.to_string())),
                    (result, _) => result,
                });
            })
        });
        self.backlog.queued();
        let sent = self.jobs.send(Cmd::Job(job)).await;
        if sent.is_err() {
            self.backlog.unqueued();
        }
        sent.map_err(|_| StoreError::Closed)
    }

    /// Runs `work` on the writer and waits until it is committed.
    pub async fn write<T, W>(&self, work: W) -> Result<T, StoreError>
    where
        T: Send + 'static,
        W: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.submit(work, move |r| {
            let _ = tx.send(r);
        })
        .await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `work` on a reader connection, off the async worker threads.
    pub async fn read<T, R>(&self, work: R) -> Result<T, StoreError>
    where
        T: Send + 'static,
        R: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = tx.send(work(conn));
        });
        self.readers.jobs.send(Some(job)).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops the readers, commits what is queued, checkpoints the WAL into
    /// the database file and closes it. Other clones of the `Store` then get
    /// `Closed`.
    pub async fn close(self) {
        let Self { jobs, writer, readers, .. } = self;
        let _ = tokio::task::spawn_blocking(move || readers.stop()).await;
        let _ = jobs.send(Cmd::Stop).await;
        let handle = writer.lock().ok().and_then(|mut w| w.take());
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

impl Readers {
    /// Opens `READERS` read-only connections, each owned by its own thread.
    fn start(path: &Path) -> Result<Self, StoreError> {
        let (jobs, rx) = std::sync::mpsc::channel::<Option<ReadJob>>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::with_capacity(READERS);
        for i in 0..READERS {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
            let conn = Connection::open_with_flags(path, flags)?;
            tune(&conn)?;
            let rx = rx.clone();
            threads.push(std::thread::Builder::new().name(format!("chaty-store-reader-{i}")).spawn(move || {
                // Ends on `None` (close), or when every `Store` (and so every sender) is gone.
                loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(Some(job)) => job(&conn),
                        Ok(None) | Err(_) => return,
                    }
                }
            })?);
        }
        Ok(Self { jobs, threads: Mutex::new(threads), path: path.to_path_buf() })
    }

    /// Stops every reader thread (each closes its connection) and waits for them.
    fn stop(&self) {
        let threads = self.threads.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default();
        for _ in &threads {
            let _ = self.jobs.send(None);
        }
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// What every connection of ours sets: how long to wait for a lock, how
/// many prepared statements to keep, and the query planner stability
/// guarantee. Without it, SQLite (built with STAT4) marks statements whose
/// plan a bound value "might" change, and compiles them again on every new
/// binding: the dedup lookup of every post and every `HISTORY` page, more
/// than half of a post's cost in the profile. We run no `ANALYZE`, so a
/// bound value never had a better plan to offer.
pub(crate) fn tune(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    // Cached statements: `execute_batch` would parse these anew for every job.
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    let result = work(conn);
    if result.is_err() {
        conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
    }
    conn.prepare_cached("RELEASE job")?.execute([])?;
    result
}

fn write_loop(conn: Connection, mut rx: mpsc::Receiver<Cmd>, backlog: &Backlog) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut stop = false;
    while !stop && rx.blocking_recv_many(&mut batch, BATCH) > 0 {
        let began = std::time::Instant::now();
        let mut jobs = Vec::with_capacity(batch.len());
        for cmd in batch.drain(..) {
            match cmd {
                Cmd::Job(job) => jobs.push(job),
                Cmd::Stop => stop = true,
            }
        }
        if jobs.is_empty() {
            continue;
        }
        backlog.taken(jobs.len());
        let n = jobs.len();
        let begun = conn.execute_batch("BEGIN IMMEDIATE");
        let completions: Vec<Completion> = jobs.into_iter().map(|job| job(&conn)).collect();
        // The batch's new messages join the search index in the same transaction.
        let indexed = begun.map_err(StoreError::from).and_then(|()| messages::index_pending(&conn));
        let worked = std::time::Instant::now();
        let outcome = indexed.and_then(|_| conn.execute_batch("COMMIT").map_err(StoreError::from));
        backlog.committed(n, worked - began);
        if let Err(e) = &outcome {
            tracing::error!("commit failed, {} jobs refused: {e}", completions.len());
            let _ = conn.execute_batch("ROLLBACK");
        }
        for done in completions {
            done(outcome.as_ref().err());
        }
    }
    // Fold the WAL into the database file so that file alone is the whole
    // database; closing the last connection then removes the WAL.
    match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0)) {
        Ok(0) => tracing::debug!("store writer stopped; WAL checkpointed"),
        Ok(_) => tracing::warn!("store stopped, but a reader kept the WAL from being checkpointed fully"),
        Err(e) => tracing::warn!("checkpointing the WAL at stop: {e}"),
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!("closing the database: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::{Page, Post};
    use crate::store::sqlite::{messages, rooms, users};

    #[tokio::test]
    async fn completions_run_after_commit_in_submission_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("chaty.db");
        let store = Sqlite::open(&path).expect("open");
        let user = store
            .write(|db| {
                let u = users::register(db, "alice", "h", 0, |_| false)?;
                rooms::join(db, "general", &u, 0)?;
                Ok(u)
            })
            .await
            .expect("setup");
        let (tx, mut rx) = mpsc::unbounded_channel();
        for i in 0..300 {
            let post = Post {
                room_id: "general".into(),
                sender: user.clone(),
                display_name: "alice".into(),
                content: format!("m{i}"),
                client_id: Some(format!("c{i}")),
                reply_to: None,
                attachment: None,
            };
            let (tx, reader) = (tx.clone(), Connection::open(&path).expect("reader"));
            store
                .submit(
                    move |db| messages::post(db, &post, 0),
                    move |r| {
                        // By the time a completion runs, its message is visible to other connections.
                        let seq = r.expect("posted").message.seq;
                        let (page, _) = messages::history(
                            &reader,
                            "general",
                            Page { after: Some(seq - 1), limit: Some(1), ..Page::default() },
                        )
                        .expect("read");
                        let _ = tx.send((seq, page.len()));
                    },
                )
                .await
                .expect("submit");
        }
        drop(tx);
        let mut seen = Vec::new();
        while let Some((seq, visible)) = rx.recv().await {
            assert_eq!(visible, 1, "message {seq} not committed before its completion");
            seen.push(seq);
        }
        assert_eq!(seen, (1..=300).collect::<Vec<_>>());
        store.close().await;
        // Everything survives reopening.
        let again = Sqlite::open(&path).expect("reopen");
        let (all, _) = again
            .read(|db| messages::history(db, "general", Page { limit: Some(200), ..Page::default() }))
            .await
            .expect("history");
        assert_eq!(all.last().map(|m| m.seq), Some(300));
    }
}
