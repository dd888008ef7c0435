//! A client written for the seed protocol works unchanged in guest mode.

use anyhow::Result;
use chaty_tests::{Client, TestServer, guests};
use serde_json::json;

#[tokio::test]
async fn seed_flow_with_the_exact_seed_frames() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), guests()).await?;
    let mut alice = Client::connect(&server.url()).await?;
    assert!(alice.welcome["message"].as_str().unwrap_or("").starts_with("Connected to WebSocket server with ID: "));
    assert_eq!(alice.welcome["authRequired"], false);

    alice.send(json!({"type": "JOIN_ROOM", "roomId": "general", "userId": "alice"})).await?;
    assert_eq!(alice.recv().await?, json!({"type": "USER_JOINED", "roomId": "general", "userId": "alice"}));
    let update = alice.recv().await?;
    assert_eq!(update["type"], "ROOM_MEMBERS_UPDATE");
    assert_eq!(update["members"], json!(["alice"]));

    let mut bob = Client::connect(&server.url()).await?;
    bob.send(json!({"type": "JOIN_ROOM", "roomId": "general", "userId": "bob"})).await?;
    assert_eq!(alice.recv().await?, json!({"type": "USER_JOINED", "roomId": "general", "userId": "bob"}));
    assert_eq!(alice.recv().await?["members"], json!(["alice", "bob"]));

    alice
        .send(json!({"type": "CHAT_MESSAGE", "roomId": "general", "userId": "alice", "userName": "Alice", "content": "Hello, world!"}))
        .await?;
    for client in [&mut alice, &mut bob] {
        let msg = client.recv_type("CHAT_MESSAGE").await?;
        for field in ["id", "roomId", "userId", "userName", "content", "timestamp"] {
            assert!(msg.get(field).is_some(), "CHAT_MESSAGE lacks {field}: {msg}");
        }
        assert_eq!(
            (&msg["userId"], &msg["userName"], &msg["content"]),
            (&json!("alice"), &json!("Alice"), &json!("Hello, world!"))
        );
    }

    bob.send(json!({"type": "LEAVE_ROOM", "roomId": "general"})).await?;
    assert_eq!(alice.recv().await?, json!({"type": "USER_LEFT", "roomId": "general", "userId": "bob"}));
    assert_eq!(alice.recv().await?["members"], json!(["alice"]));

    // A disconnect is a leave for the others, too.
    let mut carol = Client::connect(&server.url()).await?;
    carol.send(json!({"type": "JOIN_ROOM", "roomId": "general", "userId": "carol"})).await?;
    alice.recv_type("USER_JOINED").await?;
    drop(carol);
    assert_eq!(
        alice.recv_type("USER_LEFT").await?,
        json!({"type": "USER_LEFT", "roomId": "general", "userId": "carol"})
    );
    assert_eq!(alice.recv().await?["online"], json!(["alice"]));
    server.stop().await
}

#[tokio::test]
async fn guests_cannot_take_or_impersonate_registered_names() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), guests()).await?;
    let (_alice, _) = Client::register(&server.url(), "alice").await?;

    let mut guest = Client::connect(&server.url()).await?;
    let e = guest.expect_error(json!({"type": "JOIN_ROOM", "roomId": "general", "userId": "Alice"})).await?;
    assert_eq!(e["code"], "conflict");

    guest.send(json!({"type": "JOIN_ROOM", "roomId": "general", "userId": "mallory"})).await?;
    guest.recv_type("ROOM_MEMBERS_UPDATE").await?;
    let e = guest
        .expect_error(json!({"type": "CHAT_MESSAGE", "roomId": "general", "userName": "alice", "content": "I am alice", "ref": "r"}))
        .await?;
    assert_eq!((&e["code"], &e["ref"]), (&json!("conflict"), &json!("r")));
    let e = guest
        .expect_error(json!({"type": "CHAT_MESSAGE", "roomId": "general", "userId": "alice", "content": "hi"}))
        .await?;
    assert_eq!(e["code"], "forbidden");
    // A name of their own choosing is fine.
    guest.send(json!({"type": "CHAT_MESSAGE", "roomId": "general", "userName": "Mal", "content": "hi"})).await?;
    assert_eq!(guest.recv_type("CHAT_MESSAGE").await?["userName"], "Mal");
    server.stop().await
}

#[tokio::test]
async fn without_guest_mode_the_seed_join_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), chaty_tests::Config::default()).await?;
    let mut c = Client::connect(&server.url()).await?;
    assert_eq!(c.welcome["authRequired"], true);
    let e = c.expect_error(json!({"type": "JOIN_ROOM", "roomId": "general", "userId": "alice"})).await?;
    assert_eq!(e["code"], "unauthorized");
    server.stop().await
}

#[tokio::test]
async fn a_guest_on_two_connections_leaves_once_and_its_name_frees_up() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), guests()).await?;
    let mut watcher = Client::connect(&server.url()).await?;
    watcher.send(json!({"type": "JOIN_ROOM", "roomId": "general", "userId": "watcher"})).await?;
    watcher.recv_type("ROOM_MEMBERS_UPDATE").await?;
    let mut tab1 = Client::connect(&server.url()).await?;
    tab1.send(json!({"type": "JOIN_ROOM", "roomId": "general", "userId": "gus"})).await?;
    tab1.recv_type("ROOM_MEMBERS_UPDATE").await?;
    assert_eq!(watcher.recv_type("USER_JOINED").await?["userId"], "gus");
    watcher.recv_type("ROOM_MEMBERS_UPDATE").await?;
    let mut tab2 = Client::connect(&server.url()).await?;
    tab2.send(json!({"type": "JOIN_ROOM", "roomId": "lobby", "userId": "gus"})).await?;
    tab2.recv_type("ROOM_MEMBERS_UPDATE").await?;
    // The second tab is in #general too: it hears what is said there.
    watcher.send(json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": "hi gus"})).await?;
    assert_eq!(tab2.recv_type("CHAT_MESSAGE").await?["content"], "hi gus");
    watcher.recv_type("CHAT_MESSAGE").await?;
    drop(tab1);
    // Once the server has closed the first tab, nothing was said about gus leaving.
    let deadline = tokio::time::Instant::now() + chaty_tests::WAIT;
    while server.health().await?["connections"] != 2 {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "tab 1 never closed");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    watcher.assert_nothing_pending().await?;
    drop(tab2);
    assert_eq!(watcher.recv_type("USER_LEFT").await?["userId"], "gus");
    watcher.recv_type("ROOM_MEMBERS_UPDATE").await?;
    watcher.assert_nothing_pending().await?;
    // With gus gone, somebody may register the name.
    let (_, ok) = Client::register(&server.url(), "gus").await?;
    assert_eq!(ok["userName"], "gus");
    server.stop().await
}
