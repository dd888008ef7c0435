//! A batch of posts (any rooms) in **one round trip**, whatever its size:
//! `BEGIN`, [`LOCK`], [`WRITE`], `COMMIT`, pipelined, so PostgreSQL runs
//! them back to back. The statement vets every post (a retry of a stored
//! `(sender, clientId)`, the sender's membership, a guest's display name,
//! the reply), takes the accepted ones' `seq`s from their room's row,
//! inserts them, moves each sender's read marker, and says what became of
//! each post, in arrival order. Only an attachment is looked up before (a
//! query per post that has one).
//!
//! Why so: the rooms' rows are locked from the `seq` update to the commit,
//! so they are held for what PostgreSQL itself takes (the statements and
//! the WAL flush), never across a round trip to this node. On a busy
//! machine a round trip waits for the scheduler, and while it waits every
//! other node's posts to the room wait on the lock behind it: with a round
//! trip per statement, that wait was the cluster's p99 (docs/scaling.md).
//! And PostgreSQL's CPU per message is mostly per statement and per
//! transaction (starting a plan, a commit), so the fewer, the better.
//! [`LOCK`] takes the rows in one order (by room id) on every node, so two
//! nodes' batches wait for each other and never deadlock.
//!
//! A database error fails the whole batch (nothing of it is stored), as
//! does a `(sender, clientId)` twice in one batch (the unique index); the
//! caller then stores its posts one transaction each (`messages::post`).

use chaty_proto::Attachment;
use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;

use super::{files, messages, search};
use crate::error::StoreError;
use crate::store::model::{Post, Posted, not_visible};

/// Pipelined before [`WRITE`]: one plan per connection for it, not one per batch.
const BEGIN: &str = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan";

/// The batch's rooms, locked in id order.
const LOCK: &str = "SELECT 1 FROM rooms WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE";

/// The batch, vetted and stored. Every lookup is a scalar subquery on a
/// unique index, one probe per post whatever the plan's row estimates (an
/// `EXISTS` may be planned as a hashed scan of a whole room's members, or
/// of every registered user, per batch).
const WRITE: &str = "WITH input AS (
        SELECT * FROM unnest($1::TEXT[], $2::BIGINT[], $3::BOOL[], $4::TEXT[], $5::BOOL[], $6::TEXT[],
                             $7::BIGINT[], $8::BIGINT[], $9::TEXT[], $10::TEXT[], $11::TEXT[], $12::BOOL[],
                             $13::TEXT[])
            WITH ORDINALITY AS t(room_id, sender_id, guest, shown, check_name, content, reply_to, created_at,
                                 client_id, attachment, file_id, file_missing, words, n)
    ), vetted AS (
        SELECT input.*,
            CASE
                WHEN input.client_id IS NOT NULL AND (SELECT true FROM messages m
                    WHERE m.sender_id = input.sender_id AND m.client_id = input.client_id) THEN 'again'
                WHEN (SELECT true FROM members mb
                    WHERE mb.room_id = input.room_id AND mb.user_id = input.sender_id) IS NULL THEN 'absent'
                WHEN input.check_name AND (SELECT true FROM users u
                    WHERE lower(u.name) = lower(input.shown) AND u.pass_hash IS NOT NULL) THEN 'taken'
                WHEN input.reply_to IS NOT NULL AND (SELECT true FROM messages r
                    WHERE r.id = input.reply_to AND r.room_id = input.room_id) IS NULL THEN 'no_reply'
                WHEN input.file_missing THEN 'no_file'
                ELSE 'new'
            END AS fate,
            CASE WHEN input.guest THEN input.shown
                 ELSE (SELECT coalesce(u.display_name, u.name) FROM users u WHERE u.id = input.sender_id)
            END AS name
        FROM input
    ), accepted AS (
        SELECT vetted.*, row_number() OVER (PARTITION BY room_id ORDER BY n) AS k FROM vetted WHERE fate = 'new'
    ), counts AS (
        SELECT room_id, count(*) AS c FROM accepted GROUP BY room_id
    ), room AS (
        UPDATE rooms SET last_seq = rooms.last_seq + counts.c FROM counts WHERE rooms.id = counts.room_id
        RETURNING rooms.id AS room_id, rooms.last_seq - counts.c AS base
    ), stored AS (
        INSERT INTO messages (room_id, seq, sender_id, sender_name, content, reply_to, created_at, client_id,
                              attachment, file_id, search)
        SELECT a.room_id, room.base + a.k, a.sender_id, a.name, a.content, a.reply_to, a.created_at,
               a.client_id, a.attachment, a.file_id, to_tsvector('simple', a.words)
        FROM accepted a JOIN room ON room.room_id = a.room_id ORDER BY a.n
        RETURNING id, room_id, seq, sender_id
    ), read AS (
        UPDATE members SET read_seq = last.seq
        FROM (SELECT room_id, sender_id, max(seq) AS seq FROM stored GROUP BY room_id, sender_id) last
        WHERE members.room_id = last.room_id AND members.user_id = last.sender_id
    )
    SELECT v.fate, s.id, s.seq, v.name
    FROM vetted v
    LEFT JOIN accepted a ON a.n = v.n
    LEFT JOIN room r ON r.room_id = a.room_id
    LEFT JOIN stored s ON s.room_id = a.room_id AND s.seq = r.base + a.k
    ORDER BY v.n";

/// A pooled connection that goes back to the pool only once the write
/// finished: one dropped midway (a timeout) may be inside its transaction,
/// so it is closed instead, and PostgreSQL rolls that back.
struct Writing(Option<Object>);

impl Drop for Writing {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            drop(Object::take(client));
        }
    }
}

/// Stores `jobs` (in arrival order): one result per job.
/// `Err` when the database failed and nothing was stored.
pub async fn post(client: Object, jobs: &[(&Post, i64)]) -> Result<Vec<Result<Posted, StoreError>>, StoreError> {
    // Attachments first: what is stored is the file's record, not the client's word.
    let mut attachments: Vec<Option<Result<Attachment, StoreError>>> = Vec::with_capacity(jobs.len());
    for (post, _) in jobs {
        let found = match &post.attachment {
            None => None,
            Some(a) => match files::shareable(&**client, &a.file_id, post.sender.id).await {
                Err(e @ StoreError::Postgres(_)) => return Err(e),
                found => Some(found),
            },
        };
        attachments.push(found);
    }
    let (client, rows) = write(client, jobs, &attachments).await?;
    if rows.len() != jobs.len() {
        return Err(StoreError::Io(std::io::Error::other("a batch's statement answered for another number of posts")));
    }
    let mut results = Vec::with_capacity(jobs.len());
    for (((post, now), row), attachment) in jobs.iter().zip(rows).zip(attachments) {
        let fate: &str = row.get(0);
        results.push(match fate {
            "new" => {
                let (id, seq): (Option<i64>, Option<i64>) = (row.get(1), row.get(2));
                let (Some(id), Some(seq)) = (id, seq) else {
                    return Err(StoreError::Io(std::io::Error::other("a stored post came back without its seq")));
                };
                let message = post.stored(id as u64, seq as u64, row.get(3), *now, attachment.and_then(Result::ok));
                Ok(Posted { message, new: true })
            }
            "again" => match messages::existing(&**client, post).await {
                Err(e @ StoreError::Postgres(_)) => return Err(e),
                again => again.and_then(|again| {
                    again.ok_or_else(|| StoreError::Io(std::io::Error::other("a retried message vanished")))
                }),
            },
            "absent" => Err(not_visible(&post.room_id)),
            "taken" => Err(messages::name_taken(post)),
            "no_reply" => Err(messages::no_reply(post.reply_to.unwrap_or_default())),
            _ => match attachment {
                Some(Err(refused)) => Err(refused),
                _ => Err(StoreError::Io(std::io::Error::other(format!("a post's fate was {fate}")))),
            },
        });
    }
    Ok(results)
}

/// The pipelined transaction: the statement's rows, and the connection
/// back once it is finished.
async fn write(
    client: Object,
    jobs: &[(&Post, i64)],
    attachments: &[Option<Result<Attachment, StoreError>>],
) -> Result<(Object, Vec<tokio_postgres::Row>), StoreError> {
    let (lock, statement) = tokio::try_join!(client.prepare_cached(LOCK), client.prepare_cached(WRITE))?;
    let posts = || jobs.iter().map(|(p, _)| *p);
    let rooms: Vec<&str> = posts().map(|p| p.room_id.as_str()).collect();
    let sender_ids: Vec<i64> = posts().map(|p| p.sender.id).collect();
    let guests: Vec<bool> = posts().map(|p| p.sender.guest).collect();
    let shown: Vec<&str> = posts().map(|p| p.display_name.as_str()).collect();
    let check_name: Vec<bool> = posts().map(messages::shows_another_name).collect();
    let contents: Vec<&str> = posts().map(|p| p.content.as_str()).collect();
    let replies: Vec<Option<i64>> = posts().map(|p| p.reply_to.map(|r| i64::try_from(r).unwrap_or(i64::MAX))).collect();
    let times: Vec<i64> = jobs.iter().map(|(_, now)| *now).collect();
    let client_ids: Vec<Option<&str>> = posts().map(|p| p.client_id.as_deref()).collect();
    let found = || attachments.iter().map(|a| a.as_ref().and_then(|a| a.as_ref().ok()));
    let attachment_json: Vec<Option<String>> = found().map(|a| a.and_then(|a| serde_json::to_string(a).ok())).collect();
    let files: Vec<Option<&str>> = found().map(|a| a.map(|a| a.file_id.as_str())).collect();
    let missing: Vec<bool> = attachments.iter().map(|a| matches!(a, Some(Err(_)))).collect();
    let words: Vec<String> = posts().map(|p| search::words(&p.content)).collect();
    let params: [&(dyn ToSql + Sync); 13] = [
        &rooms,
        &sender_ids,
        &guests,
        &shown,
        &check_name,
        &contents,
        &replies,
        &times,
        &client_ids,
        &attachment_json,
        &files,
        &missing,
        &words,
    ];
    let mut writing = Writing(Some(client));
    let Some(db) = writing.0.as_deref() else { return Err(StoreError::Io(std::io::Error::other("no connection"))) };
    let db: &tokio_postgres::Client = db;
    let began = std::time::Instant::now();
    let lock_params: [&(dyn ToSql + Sync); 1] = [&rooms];
    let (begun, locked, rows, committed) = tokio::join!(
        db.batch_execute(BEGIN),
        db.query(&lock, &lock_params),
        db.query(&statement, &params),
        db.batch_execute("COMMIT")
    );
    // A failed statement leaves the transaction aborted and COMMIT rolls it
    // back, so its error is the one that counts.
    begun?;
    locked?;
    let rows = rows?;
    committed?;
    crate::metrics::count(|m| {
        m.cluster.pg_commit_seconds.observe(began.elapsed().as_secs_f64());
        m.cluster.pg_batch_posts.observe(jobs.len() as f64);
    });
    // Finished: the connection may go back to the pool.
    let client = writing.0.take().ok_or_else(|| StoreError::Io(std::io::Error::other("no connection")))?;
    Ok((client, rows))
}
