//! Overload is explicit: when the embedded store's writer is more than
//! 250 ms behind, a new message is refused at once with `overloaded` and a
//! `retryAfterMs`, nothing is stored, and the same message sent again (same
//! `clientId`) once the store has caught up is stored exactly once.
//!
//! The writer is held up the way a real deployment's can be: another process
//! (here a plain SQLite connection, as `sqlite3` or a backup tool would) holds
//! the database's write lock.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use chaty_tests::{Client, Config, TestServer, WAIT};
use serde_json::{Value, json};

fn chat(content: &str, client_id: &str) -> Value {
    json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": content, "clientId": client_id, "ref": client_id})
}

/// Polls `/healthz` until the store's `storeBehindMs` satisfies `ok`.
async fn until_store(server: &TestServer, what: &str, ok: impl Fn(u64) -> bool) -> Result<()> {
    let started = Instant::now();
    loop {
        let health = server.health().await?;
        if ok(health["storeBehindMs"].as_u64().context("storeBehindMs in /healthz")?) {
            return Ok(());
        }
        ensure!(started.elapsed() < WAIT, "the store never got {what}: {health}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_message_refused_while_the_store_is_behind_is_stored_exactly_once_when_resent() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("chaty.db");
    // The embedded store's writer is what falls behind; on PostgreSQL every
    // post has a connection of its own.
    let server = TestServer::start_sqlite_at(&db, Config::default()).await?;
    let (mut alice, _) = Client::register(&server.url(), "alice").await?;
    alice.join("general").await?;
    let (mut bob, _) = Client::register(&server.url(), "bob").await?;
    bob.join("general").await?;
    assert_eq!(server.health().await?["storeBehindMs"].as_u64().map(|ms| ms < 250), Some(true));

    // Another process takes the write lock: the writer stalls on its next batch.
    let other = rusqlite::Connection::open(&db)?;
    other.execute_batch("BEGIN IMMEDIATE")?;
    alice.send(chat("first", "a-1")).await?;
    until_store(&server, "250 ms behind", |ms| ms > 250).await?;

    // Refused at once, with a wait, and nothing stored.
    let refused = alice.expect_error(chat("second", "a-2")).await?;
    assert_eq!(refused["code"], "overloaded", "{refused}");
    assert_eq!(refused["ref"], "a-2", "{refused}");
    let wait = refused["retryAfterMs"].as_u64().context("retryAfterMs")?;
    assert!((50..=5_000).contains(&wait), "retryAfterMs {wait}");

    // The lock goes; the first message, accepted before the stall, arrives.
    other.execute_batch("COMMIT")?;
    drop(other);
    alice.recv_echo("a-1").await?;
    until_store(&server, "back under 250 ms", |ms| ms < 250).await?;

    // The client sends the refused message again, with the same clientId.
    alice.send(chat("second", "a-2")).await?;
    let stored = alice.recv_echo("a-2").await?;
    // A second resend (say the acknowledgement was lost) stores nothing new.
    alice.send(chat("second", "a-2")).await?;
    let again = alice.recv_echo("a-2").await?;
    assert_eq!((again["id"].clone(), again["seq"].clone()), (stored["id"].clone(), stored["seq"].clone()));

    // bob saw each message once, in order; the history holds each once.
    let first = bob.recv_type("CHAT_MESSAGE").await?;
    let second = bob.recv_type("CHAT_MESSAGE").await?;
    assert_eq!((first["content"].as_str(), second["content"].as_str()), (Some("first"), Some("second")));
    bob.assert_nothing_pending().await?;
    bob.send(json!({"type": "HISTORY", "roomId": "general", "limit": 50})).await?;
    let history = bob.recv_type("HISTORY").await?;
    let contents: Vec<&str> =
        history["messages"].as_array().context("messages")?.iter().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(contents, ["first", "second"]);
    server.stop().await
}
