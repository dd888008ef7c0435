//! Typing notifications over real sockets: relayed to the others, stopped
//! explicitly or by a message. (Expiry is tested on paused time in
//! `chaty-server`'s connection tests, where no socket I/O can race the clock.)

use anyhow::Result;
use chaty_tests::{Client, Config, TestServer};
use serde_json::json;

async fn two_in_a_room() -> Result<(TestServer, tempfile::TempDir, Client, Client)> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), Config::default()).await?;
    let (mut alice, _) = Client::register(&server.url(), "alice").await?;
    let (mut bob, _) = Client::register(&server.url(), "bob").await?;
    // One after the other: had they joined at once, bob's announcement
    // could go out before alice was in the room, and she would never see it.
    alice.join("general").await?;
    bob.join("general").await?;
    alice.recv_type("USER_JOINED").await?;
    alice.recv_type("ROOM_MEMBERS_UPDATE").await?;
    Ok((server, dir, alice, bob))
}

fn typing(on: bool) -> serde_json::Value {
    json!({"type": "TYPING", "roomId": "general", "typing": on})
}

#[tokio::test]
async fn typing_start_and_stop_reach_the_others_only() -> Result<()> {
    let (server, _dir, mut alice, mut bob) = two_in_a_room().await?;
    alice.send(typing(true)).await?;
    let t = bob.recv_type("TYPING").await?;
    assert_eq!(
        t,
        json!({"type": "TYPING", "roomId": "general", "userId": "alice", "userName": "alice", "typing": true})
    );
    alice.send(typing(false)).await?;
    assert_eq!(bob.recv_type("TYPING").await?["typing"], false);
    alice.assert_nothing_pending().await?;

    // Sending a message clears typing before the message arrives.
    alice.send(typing(true)).await?;
    bob.recv_type("TYPING").await?;
    alice.send(json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": "done"})).await?;
    let next = bob.recv().await?;
    assert_eq!((&next["type"], &next["typing"]), (&json!("TYPING"), &json!(false)));
    assert_eq!(bob.recv().await?["type"], "CHAT_MESSAGE");
    server.stop().await
}
