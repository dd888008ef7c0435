//! A client that never reads is cut off once its queue fills; the reader next
//! to it loses nothing, and the server's memory stays bounded (measured on the
//! server process itself).

mod common;

use std::time::Duration;

use common::{connect, free_port, next, recv_type, rss_kib, send, start};
use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

const FLOOD: usize = 3_000;

#[tokio::test]
async fn a_client_that_never_reads_is_cut_off_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut server = start(port, &dir.path().join("chaty.db"), &["--rate-limit", "100000"]);
    let url = format!("ws://127.0.0.1:{port}/ws");
    let mut clients = Vec::new();
    for name in ["sender", "reader", "sleeper"] {
        let mut ws = connect(&url).await;
        send(&mut ws, json!({"type": "REGISTER", "userName": name, "password": "long enough"})).await;
        recv_type(&mut ws, "ROOMS").await;
        send(&mut ws, json!({"type": "JOIN_ROOM", "roomId": "flood"})).await;
        recv_type(&mut ws, "ROOM_MEMBERS_UPDATE").await;
        clients.push(ws);
    }
    let (mut sleeper, mut reader, mut sender) = match (clients.pop(), clients.pop(), clients.pop()) {
        (Some(c), Some(b), Some(a)) => (c, b, a),
        _ => panic!("three clients"),
    };
    let before = rss_kib(server.id());

    let big = "x".repeat(3_900);
    let mut got = 0;
    for i in 0..FLOOD {
        send(
            &mut sender,
            json!({"type": "CHAT_MESSAGE", "roomId": "flood", "content": big, "clientId": format!("f{i}")}),
        )
        .await;
        // The reader (and the sender, for its echoes) keep up; the sleeper never reads.
        while let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(Duration::ZERO, reader.next()).await {
            got += usize::from(t.contains(r#""type":"CHAT_MESSAGE""#));
        }
        while let Ok(Some(_)) = tokio::time::timeout(Duration::ZERO, sender.next()).await {}
    }
    while got < FLOOD {
        let frame = next(&mut reader).await.expect("the reader is still served");
        got += usize::from(frame["type"] == "CHAT_MESSAGE");
    }
    let grown_mib = rss_kib(server.id()).saturating_sub(before) / 1024;

    // The sleeper finds part of the flood, then the end of its connection.
    let mut slept_through = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), sleeper.next()).await.expect("in time") {
            Some(Ok(Message::Text(t))) => slept_through += usize::from(t.contains("CHAT_MESSAGE")),
            Some(Ok(Message::Close(frame))) => {
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(1008));
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    server.kill().expect("stop");
    server.wait().expect("reaped");
    assert_eq!(got, FLOOD, "the reading client lost nothing");
    assert!(slept_through < FLOOD, "the sleeper was never cut off");
    // 3,000 × 4 KB went to a client that never read: far less than that stayed in memory.
    assert!(grown_mib < 32, "server memory grew by {grown_mib} MiB");
}
