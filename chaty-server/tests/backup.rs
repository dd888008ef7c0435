//! `backup` while a client is sending, and `restore` into a fresh path:
//! every message acknowledged before the backup began is in it, the
//! restored database is served under a new epoch, and `restore` is refused
//! while a server runs on the database. PostgreSQL: the pg_dump refusal.

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};

use anyhow::{Result, ensure};
use chaty_tests::Client;
use serde_json::json;

/// `chaty-server ARGS --db DB`: exit code, stdout, stderr.
fn cli(db: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(common::BIN)
        .args(args)
        .arg("--db")
        .arg(db)
        .env_remove("CHATY_DB")
        .env_remove("CHATY_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run chaty-server");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// A server process, stopped when dropped.
struct Running(Child);

impl Running {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn a_backup_under_load_restores_under_a_new_epoch() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (db, snapshot, fresh) = (dir.path().join("chaty.db"), dir.path().join("snap.db"), dir.path().join("new.db"));
    let port = common::free_port();
    let mut server = Running(common::start(port, &db, &[]));
    let url = format!("ws://127.0.0.1:{port}/ws");
    common::connect(&url).await;
    let (mut c, _) = Client::register(&url, "writer").await?;
    c.join("general").await?;
    let epoch = c.welcome["epoch"].clone();

    // Batches of 20 pipelined messages, each batch acknowledged before the
    // next; the backup starts after 10 batches and runs while they go on.
    let mut acked_before: Option<HashSet<String>> = None;
    let mut acked = HashSet::new();
    let mut backup = None;
    let mut batch = 0;
    loop {
        let ids: Vec<String> = (0..20).map(|i| format!("m{batch}-{i}")).collect();
        for id in &ids {
            c.send(json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": id, "clientId": id})).await?;
        }
        for id in &ids {
            c.recv_echo(id).await?;
            acked.insert(id.clone());
        }
        batch += 1;
        if batch == 10 {
            acked_before = Some(acked.clone());
            let (db, snapshot) = (db.clone(), snapshot.clone());
            backup = Some(tokio::task::spawn_blocking(move || cli(&db, &["backup", &snapshot.to_string_lossy()])));
        }
        if backup.as_ref().is_some_and(|b| b.is_finished()) || batch > 500 {
            break;
        }
    }
    let (code, out, err) = backup.expect("started").await?;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("files"), "says to copy the uploads: {out}");

    // Everything acknowledged before the backup began is in it.
    let conn = rusqlite::Connection::open(&snapshot)?;
    let mut stmt = conn.prepare("SELECT client_id FROM messages")?;
    let stored: HashSet<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    let before = acked_before.expect("recorded");
    ensure!(before.is_subset(&stored), "{} acknowledged messages missing", before.difference(&stored).count());

    // Restored into a fresh path and served: a new epoch, the messages there.
    let (code, out, err) = cli(&fresh, &["restore", &snapshot.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("new epoch"), "{out}");
    server.stop();
    let port = common::free_port();
    let mut restored = Running(common::start(port, &fresh, &[]));
    let url = format!("ws://127.0.0.1:{port}/ws");
    common::connect(&url).await;
    let mut c = Client::login(&url, "writer").await?;
    ensure!(c.welcome["epoch"] != epoch, "the restored database kept the epoch {epoch}");
    c.send(json!({"type": "HISTORY", "roomId": "general", "after": 0, "limit": 1})).await?;
    assert_eq!(c.recv_type("HISTORY").await?["messages"][0]["clientId"], "m0-0");

    // Not while a server runs on it.
    let (code, _, err) = cli(&fresh, &["restore", &snapshot.to_string_lossy()]);
    assert_eq!(code, 2);
    assert!(err.contains("a server is running on") && err.lines().count() == 1, "{err}");
    restored.stop();
    let (code, _, err) = cli(&fresh, &["restore", &snapshot.to_string_lossy()]);
    assert_eq!(code, 0, "once stopped: {err}");
    Ok(())
}

#[test]
fn postgres_is_backed_up_with_pg_dump() {
    let url = std::path::Path::new("postgres://chaty@127.0.0.1:1/chaty");
    for command in ["backup", "restore"] {
        let (code, _, err) = cli(url, &[command, "chaty.dump"]);
        assert_eq!(code, 2);
        assert!(err.contains(if command == "backup" { "pg_dump" } else { "pg_restore" }), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
