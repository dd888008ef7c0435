//! Transport limits, health check and graceful shutdown.

use anyhow::Result;
use chaty_tests::{Client, Config, TestServer};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_frame_over_64_kib_closes_with_1009_and_others_carry_on() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), Config::default()).await?;
    let mut big = Client::connect(&server.url()).await?;
    big.send_text(&format!(r#"{{"type":"PING","pad":"{}"}}"#, "x".repeat(70 * 1024))).await?;
    assert_eq!(big.closed().await?, Some(1009));
    // Just under the limit is fine.
    let mut ok = Client::connect(&server.url()).await?;
    ok.send_text(&format!(r#"{{"type":"PING","pad":"{}"}}"#, "x".repeat(60 * 1024))).await?;
    assert_eq!(ok.recv().await?["type"], "PONG");
    server.stop().await
}

#[tokio::test]
async fn healthz_reports_version_and_connections() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), Config::default()).await?;
    let _c = Client::connect(&server.url()).await?;
    let body = server.health().await?;
    assert_eq!((&body["status"], &body["connections"]), (&json!("ok"), &json!(1)));
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    server.stop().await
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001_after_committing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("chaty.db");
    let server = TestServer::start_at(&db, Config::default()).await?;
    let (mut alice, _) = Client::register(&server.url(), "alice").await?;
    alice.join("general").await?;
    for i in 0..20 {
        alice.send(json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": format!("m{i}"), "clientId": format!("c{i}")})).await?;
    }
    let mut echoed = Vec::new();
    while echoed.len() < 20 {
        echoed.push(alice.recv_type("CHAT_MESSAGE").await?["clientId"].clone());
    }
    let stopping = tokio::spawn(server.stop());
    assert_eq!(alice.closed().await?, Some(1001));
    stopping.await??;
    let server = TestServer::start_at(&db, Config::default()).await?;
    let mut again = Client::login(&server.url(), "alice").await?;
    again.send(json!({"type": "HISTORY", "roomId": "general"})).await?;
    let stored = again.recv_type("HISTORY").await?;
    let ids: Vec<_> = stored["messages"].as_array().into_iter().flatten().map(|m| m["clientId"].clone()).collect();
    assert_eq!(ids, echoed);
    server.stop().await
}

#[tokio::test]
async fn a_plain_http_get_on_the_websocket_path_explains_itself() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), Config::default()).await?;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await?;
    tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
    let mut response = String::new();
    tokio::time::timeout(chaty_tests::WAIT, tcp.read_to_string(&mut response)).await??;
    assert!(response.starts_with("HTTP/1.1 426"), "{response}");
    assert!(response.contains("websocat"), "{response}");
    server.stop().await
}

#[tokio::test]
async fn a_close_the_client_starts_is_answered_with_the_same_code() -> Result<()> {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), Config::default()).await?;
    let (mut alice, _) = Client::register(&server.url(), "alice").await?;
    let bye = CloseFrame { code: CloseCode::Normal, reason: "bye".into() };
    alice.send_message(tokio_tungstenite::tungstenite::Message::Close(Some(bye))).await?;
    assert_eq!(alice.closed().await?, Some(1000), "a clean close, not a dropped connection");
    let mut bob = Client::connect(&server.url()).await?;
    let away = CloseFrame { code: CloseCode::Away, reason: "".into() };
    bob.send_message(tokio_tungstenite::tungstenite::Message::Close(Some(away))).await?;
    assert_eq!(bob.closed().await?, Some(1001));
    server.stop().await
}
