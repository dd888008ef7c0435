//! Store faults: while the database cannot be written, a sender gets
//! `ERROR internal` and no echo; the server stays up and recovers when the
//! fault clears, and a retry with the same clientId is stored once.

mod common;

use common::{http_get, recv_type, send};
use serde_json::json;

#[tokio::test]
async fn a_locked_database_refuses_with_internal_and_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("chaty.db");
    let store = chaty_server::Store::open(&db).expect("store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let url = format!("ws://{addr}/ws");
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(chaty_server::run(listener, store, chaty_server::Config::default(), stop.clone()));

    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.expect("connect");
    send(&mut ws, json!({"type": "REGISTER", "userName": "alice", "password": "long enough"})).await;
    recv_type(&mut ws, "ROOMS").await;
    send(&mut ws, json!({"type": "JOIN_ROOM", "roomId": "general"})).await;
    recv_type(&mut ws, "ROOM_MEMBERS_UPDATE").await;

    // Another process holds the write lock (as a backup tool or a stuck writer might).
    let blocker = rusqlite::Connection::open(&db).expect("open");
    blocker.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    send(
        &mut ws,
        json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": "hello", "clientId": "c1", "ref": "m1"}),
    )
    .await;
    let refused = recv_type(&mut ws, "ERROR").await;
    assert_eq!((&refused["code"], &refused["ref"]), (&json!("internal"), &json!("m1")), "{refused}");
    // The server is still up, and reads still work; it says it is not ready.
    send(&mut ws, json!({"type": "PING"})).await;
    recv_type(&mut ws, "PONG").await;
    let (status, body) = http_get(addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"not ready\""), "{body}");

    blocker.execute_batch("ROLLBACK").expect("unlock");
    let (status, body) = http_get(addr, "/readyz").await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ready"}"#));
    send(&mut ws, json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": "hello", "clientId": "c1"})).await;
    let echo = recv_type(&mut ws, "CHAT_MESSAGE").await;
    assert_eq!((&echo["clientId"], &echo["seq"]), (&json!("c1"), &json!(1)));
    send(&mut ws, json!({"type": "HISTORY", "roomId": "general"})).await;
    let history = recv_type(&mut ws, "HISTORY").await;
    assert_eq!(history["messages"].as_array().map(Vec::len), Some(1), "stored once: {history}");

    stop.cancel();
    server.await.expect("join").expect("server");
}
