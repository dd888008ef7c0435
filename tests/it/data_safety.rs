//! What an operator relies on when the server stops: the database file alone
//! is the whole database, private files stay private (both about the
//! embedded SQLite store's files, so they run on SQLite whatever the
//! backend), and a stop in the middle of traffic loses nothing that was
//! acknowledged (on the configured backend).

use std::collections::HashMap;

use anyhow::{Context, Result, ensure};
use chaty_tests::{Client, Config, TestServer, WAIT};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Every message of `room` in the database at `db`, oldest first, as alice
/// reads it from a server started on that file.
async fn stored(db: &std::path::Path, room: &str, sqlite: bool) -> Result<Vec<Value>> {
    let server = if sqlite {
        TestServer::start_sqlite_at(db, Config::default()).await?
    } else {
        TestServer::start_at(db, Config::default()).await?
    };
    let mut alice = Client::login(&server.url(), "alice").await?;
    let mut all = Vec::new();
    loop {
        let after = all.last().and_then(|m: &Value| m["seq"].as_u64()).unwrap_or(0);
        alice.send(json!({"type": "HISTORY", "roomId": room, "after": after, "limit": 200})).await?;
        let page = alice.recv_type("HISTORY").await?;
        all.extend(page["messages"].as_array().cloned().unwrap_or_default());
        if page["hasMore"] != true {
            break;
        }
    }
    server.stop().await?;
    Ok(all)
}

#[tokio::test]
async fn after_a_clean_stop_a_copy_of_the_database_file_alone_has_every_message() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("chaty.db");
    let server = TestServer::start_sqlite_at(&db, Config::default()).await?;
    let (mut alice, _) = Client::register(&server.url(), "alice").await?;
    alice.join("general").await?;
    for i in 0..3 {
        alice.send(json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": format!("m{i}"), "clientId": format!("c{i}")})).await?;
        alice.recv_echo(&format!("c{i}")).await?;
    }
    server.stop().await?;
    let wal = dir.path().join("chaty.db-wal");
    ensure!(!wal.exists() || std::fs::metadata(&wal)?.len() == 0, "the WAL still holds data after a clean stop");
    // What an operator does: copy the one file of a stopped service.
    let copy_dir = tempfile::tempdir()?;
    let copy = copy_dir.path().join("chaty.db");
    std::fs::copy(&db, &copy)?;
    let stored = stored(&copy, "general", true).await?;
    let contents: Vec<&str> = stored.iter().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(contents, ["m0", "m1", "m2"]);
    Ok(())
}

#[cfg(unix)]
#[tokio::test]
async fn uploads_and_their_directory_are_private() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_sqlite_at(&dir.path().join("chaty.db"), Config::default()).await?;
    let (_alice, ok) = Client::register(&server.url(), "alice").await?;
    let bearer = format!("Bearer {}", ok["token"].as_str().unwrap_or_default());
    let (status, body) =
        server.http("PUT", "/files?name=secret.txt", &[("Authorization", &bearer)], b"payroll numbers").await?;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let attachment: Value = serde_json::from_slice(&body)?;
    let files = dir.path().join("files");
    let stored = files.join(attachment["fileId"].as_str().context("fileId")?);
    let mode = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
    assert_eq!((mode(&files)?, mode(&stored)?), (0o700, 0o600));
    server.stop().await
}

/// Messages really in flight when the server is told to stop: a sender keeps
/// pipelining while the stop happens. Each message is either acknowledged
/// and stored with the acknowledged `id` and `seq`, or never acknowledged.
#[tokio::test]
async fn a_stop_in_the_middle_of_traffic_keeps_every_acknowledged_message() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("chaty.db");
    let server = TestServer::start_at(&db, Config::default()).await?;
    let (mut alice, _) = Client::register(&server.url(), "alice").await?;
    alice.join("general").await?;
    drop(alice);
    let (ws, _) = tokio_tungstenite::connect_async(server.url()).await?;
    let (mut sink, mut stream) = ws.split();
    let login = json!({"type": "LOGIN", "userName": "alice", "password": "alice-password"});
    sink.send(Message::Text(login.to_string().into())).await?;
    // The sender never waits for echoes; it stops when the socket is gone.
    let sender = tokio::spawn(async move {
        let mut sent = 0u32;
        loop {
            let frame = json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": format!("m{sent}"), "clientId": format!("c{sent}")});
            if sink.send(Message::Text(frame.to_string().into())).await.is_err() || sent >= 20_000 {
                return sent;
            }
            sent += 1;
        }
    });
    let mut acked: HashMap<String, (u64, u64)> = HashMap::new();
    let mut stopping = None;
    let mut server = Some(server);
    let close_code = loop {
        let next = tokio::time::timeout(WAIT, stream.next()).await.context("no close after the stop")?;
        match next {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text)?;
                if frame["type"] == "CHAT_MESSAGE" {
                    let key = frame["clientId"].as_str().unwrap_or_default().to_string();
                    acked.insert(key, (frame["id"].as_u64().unwrap_or(0), frame["seq"].as_u64().unwrap_or(0)));
                    // Stop once traffic is flowing, with more on the way.
                    if acked.len() == 50 {
                        stopping = server.take().map(|s| tokio::spawn(s.stop()));
                    }
                }
            }
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break None,
        }
    };
    // 1001, unless the flood made the close frame's TCP segment lose the race
    // with a reset (the server drops the socket with our unread frames in it).
    assert!(matches!(close_code, None | Some(1001)), "closed with {close_code:?}");
    stopping.context("traffic never reached 50 acknowledgements")?.await??;
    let sent = sender.await?;
    ensure!(sent as usize > acked.len(), "nothing was in flight: {sent} sent, {} acknowledged", acked.len());

    let stored = stored(&db, "general", false).await?;
    let by_client: HashMap<String, (u64, u64)> = stored
        .iter()
        .filter_map(|m| Some((m["clientId"].as_str()?.to_string(), (m["id"].as_u64()?, m["seq"].as_u64()?))))
        .collect();
    for (client_id, ack) in &acked {
        assert_eq!(by_client.get(client_id), Some(ack), "{client_id} was acknowledged as {ack:?}");
    }
    let seqs: Vec<u64> = stored.iter().filter_map(|m| m["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=stored.len() as u64).collect::<Vec<_>>(), "seq is gap-free");
    Ok(())
}
