//! Registered users chatting: delivery, membership, history across restarts.

use anyhow::Result;
use chaty_tests::{Client, Config, TestServer};
use serde_json::{Value, json};

async fn server() -> Result<(TestServer, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), Config::default()).await?;
    Ok((server, dir))
}

fn say(room: &str, content: &str, client_id: &str) -> Value {
    json!({"type": "CHAT_MESSAGE", "roomId": room, "content": content, "clientId": client_id})
}

#[tokio::test]
async fn two_users_chat_and_a_non_member_hears_nothing() -> Result<()> {
    let (server, _dir) = server().await?;
    let url = server.url();
    let (mut alice, _) = Client::register(&url, "alice").await?;
    let (mut bob, _) = Client::register(&url, "bob").await?;
    let (mut eve, _) = Client::register(&url, "eve").await?;

    alice.send(json!({"type": "CREATE_ROOM", "roomId": "team", "topic": "our room"})).await?;
    assert_eq!(alice.recv_type("ROOM").await?["topic"], "our room");
    bob.send(json!({"type": "JOIN_ROOM", "roomId": "team"})).await?;
    assert_eq!(bob.recv_type("ROOM_MEMBERS_UPDATE").await?["members"], json!(["alice", "bob"]));

    alice.send(say("team", "hi bob", "a1")).await?;
    let echo = alice.recv_type("CHAT_MESSAGE").await?;
    assert_eq!((&echo["clientId"], &echo["seq"], &echo["userId"]), (&json!("a1"), &json!(1), &json!("alice")));
    let got = bob.recv_type("CHAT_MESSAGE").await?;
    assert_eq!(got, echo);
    bob.send(say("team", "hi alice", "b1")).await?;
    assert_eq!(alice.recv_type("CHAT_MESSAGE").await?["content"], "hi alice");

    // Eve was never in the room: nothing reached her.
    eve.assert_nothing_pending().await?;
    server.stop().await
}

#[tokio::test]
async fn every_device_of_a_member_gets_the_message_and_retries_are_stored_once() -> Result<()> {
    let (server, _dir) = server().await?;
    let url = server.url();
    let (mut phone, _) = Client::register(&url, "alice").await?;
    phone.join("general").await?;
    let mut laptop = Client::login(&url, "alice").await?;

    phone.send(say("general", "once", "same-id")).await?;
    let first = phone.recv_type("CHAT_MESSAGE").await?;
    assert_eq!(laptop.recv_type("CHAT_MESSAGE").await?, first);
    phone.send(say("general", "once", "same-id")).await?;
    let again = phone.recv_type("CHAT_MESSAGE").await?;
    assert_eq!((&again["id"], &again["seq"]), (&first["id"], &first["seq"]));
    // The retry is answered to the sender only, and stored once.
    laptop.assert_nothing_pending().await?;
    laptop.send(json!({"type": "HISTORY", "roomId": "general"})).await?;
    assert_eq!(laptop.recv_type("HISTORY").await?["messages"].as_array().map(Vec::len), Some(1));
    server.stop().await
}

#[tokio::test]
async fn history_survives_a_restart_with_the_same_ids_and_order() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("chaty.db");
    let server = TestServer::start_at(&db, Config::default()).await?;
    let (mut alice, _) = Client::register(&server.url(), "alice").await?;
    let (mut bob, _) = Client::register(&server.url(), "bob").await?;
    for c in [&mut alice, &mut bob] {
        c.join("general").await?;
    }
    let mut sent = Vec::new();
    for i in 0..30 {
        let (c, who) = if i % 3 == 0 { (&mut bob, "b") } else { (&mut alice, "a") };
        let client_id = format!("{who}{i}");
        c.send(say("general", &format!("message {i}"), &client_id)).await?;
        sent.push(c.recv_echo(&client_id).await?);
    }
    let before: Value = {
        alice.send(json!({"type": "HISTORY", "roomId": "general", "limit": 200})).await?;
        alice.recv_type("HISTORY").await?["messages"].clone()
    };
    let epoch = alice.welcome["epoch"].clone();
    drop((alice, bob));
    server.stop().await?;

    let server = TestServer::start_at(&db, Config::default()).await?;
    let mut alice = Client::login(&server.url(), "alice").await?;
    assert_eq!(alice.welcome["epoch"], epoch, "same database, same epoch");
    alice.send(json!({"type": "HISTORY", "roomId": "general", "limit": 200})).await?;
    let after = alice.recv_type("HISTORY").await?["messages"].clone();
    assert_eq!(after, before);
    let seqs: Vec<u64> = after.as_array().into_iter().flatten().filter_map(|m| m["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=30).collect::<Vec<_>>());
    let contents: Vec<&Value> = after.as_array().into_iter().flatten().map(|m| &m["content"]).collect();
    assert_eq!(contents, sent.iter().map(|m| &m["content"]).collect::<Vec<_>>());
    server.stop().await
}

#[tokio::test]
async fn rejoining_with_since_returns_exactly_what_was_missed() -> Result<()> {
    let (server, _dir) = server().await?;
    let url = server.url();
    let (mut alice, _) = Client::register(&url, "alice").await?;
    let (mut bob, _) = Client::register(&url, "bob").await?;
    for c in [&mut alice, &mut bob] {
        c.join("general").await?;
    }
    alice.send(say("general", "before", "a0")).await?;
    let last_seen = bob.recv_type("CHAT_MESSAGE").await?["seq"].as_u64().unwrap_or(0);
    drop(bob);
    for i in 1..=5 {
        alice.send(say("general", &format!("missed {i}"), &format!("a{i}"))).await?;
        alice.recv_type("CHAT_MESSAGE").await?;
    }
    let mut bob = Client::login(&url, "bob").await?;
    bob.send(json!({"type": "JOIN_ROOM", "roomId": "general", "since": last_seen})).await?;
    let history = bob.recv_type("HISTORY").await?;
    let contents: Vec<&str> =
        history["messages"].as_array().into_iter().flatten().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(contents, ["missed 1", "missed 2", "missed 3", "missed 4", "missed 5"]);
    assert_eq!(history["hasMore"], false);
    server.stop().await
}

#[tokio::test]
async fn a_third_user_can_neither_read_join_page_nor_write_a_dm_or_private_room() -> Result<()> {
    let (server, _dir) = server().await?;
    let url = server.url();
    let (mut alice, _) = Client::register(&url, "alice").await?;
    let (mut bob, _) = Client::register(&url, "bob").await?;
    let (mut eve, _) = Client::register(&url, "eve").await?;

    alice.send(json!({"type": "OPEN_DM", "userId": "bob"})).await?;
    assert_eq!(alice.recv_type("ROOM").await?["roomId"], "dm:alice:bob");
    assert_eq!(bob.recv_type("ROOM").await?["kind"], "dm");
    alice.send(json!({"type": "CREATE_ROOM", "roomId": "secret", "private": true})).await?;
    alice.recv_type("ROOM").await?;
    alice.send(json!({"type": "INVITE", "roomId": "secret", "userId": "bob"})).await?;
    assert_eq!(bob.recv_type("ROOM").await?["roomId"], "secret");
    for room in ["dm:alice:bob", "secret"] {
        alice.send(say(room, &format!("private words in {room}"), room)).await?;
        assert_eq!(bob.recv_type("CHAT_MESSAGE").await?["roomId"], room);
    }

    // Eve hears the same about a private room or DM as about one that does not exist.
    let nowhere = eve.expect_error(json!({"type": "JOIN_ROOM", "roomId": "dm:eve:nobody"})).await?;
    for room in ["dm:alice:bob", "secret"] {
        let join = eve.expect_error(json!({"type": "JOIN_ROOM", "roomId": room})).await?;
        assert_eq!(join["code"], nowhere["code"], "{room}: {join}");
        assert_eq!(join["code"], "not_found");
        for frame in [
            json!({"type": "HISTORY", "roomId": room}),
            json!({"type": "HISTORY", "roomId": room, "after": 0}),
            say(room, "let me in", "e1"),
            json!({"type": "TYPING", "roomId": room, "typing": true}),
            json!({"type": "LEAVE_ROOM", "roomId": room}),
        ] {
            let e = eve.expect_error(frame.clone()).await?;
            assert_eq!(e["code"], "not_found", "{frame}: {e}");
            assert!(!e.to_string().contains("private words"));
        }
        let e = eve.expect_error(json!({"type": "INVITE", "roomId": room, "userId": "eve"})).await?;
        assert!(e["code"] == "not_found" || e["code"] == "forbidden", "{e}");
    }
    // Nor is the private room or the DM listed to her.
    eve.send(json!({"type": "LIST_ROOMS"})).await?;
    let rooms = eve.recv_type("ROOMS").await?;
    assert!(!rooms.to_string().contains("secret") && !rooms.to_string().contains("dm:"), "{rooms}");
    eve.assert_nothing_pending().await?;

    // After leaving, nothing more arrives.
    bob.send(json!({"type": "LEAVE_ROOM", "roomId": "secret"})).await?;
    bob.recv_type("USER_LEFT").await?;
    alice.send(say("secret", "after bob left", "late")).await?;
    alice.recv_type("CHAT_MESSAGE").await?;
    bob.assert_nothing_pending().await?;
    server.stop().await
}

#[tokio::test]
async fn rooms_are_remembered_and_listed_on_login() -> Result<()> {
    let (server, _dir) = server().await?;
    let url = server.url();
    let (mut alice, _) = Client::register(&url, "alice").await?;
    alice.send(json!({"type": "CREATE_ROOM", "roomId": "ops", "private": true, "topic": "on call"})).await?;
    alice.recv_type("ROOM").await?;
    alice.join("general").await?;
    drop(alice);

    let mut again = Client::connect(&url).await?;
    again.send(json!({"type": "LOGIN", "userName": "alice", "password": "alice-password"})).await?;
    again.recv_type("AUTH_OK").await?;
    let rooms = again.recv_type("ROOMS").await?;
    let joined: Vec<&str> = rooms["rooms"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["joined"] == true)
        .filter_map(|r| r["roomId"].as_str())
        .collect();
    assert_eq!(joined, ["general", "ops"]);
    server.stop().await
}

/// Messages pipelined into one room are committed together (SQLite's group
/// commit, PostgreSQL's per-room batches); one refused among them refuses
/// only itself, and the others keep their order and a gap-free `seq`.
#[tokio::test]
async fn a_refused_message_among_pipelined_ones_refuses_only_itself() -> Result<()> {
    let (server, _dir) = server().await?;
    let (mut alice, _) = Client::register(&server.url(), "alice").await?;
    alice.join("pipe").await?;
    for n in 0..30 {
        let mut frame = json!({"type": "CHAT_MESSAGE", "roomId": "pipe", "content": format!("m{n}"), "clientId": format!("c{n}"), "ref": format!("r{n}")});
        if n % 10 == 5 {
            frame["replyTo"] = json!(987_654);
        }
        alice.send(frame).await?;
    }
    let (mut stored, mut refused) = (Vec::new(), Vec::new());
    while stored.len() + refused.len() < 30 {
        let frame = alice.recv().await?;
        match frame["type"].as_str() {
            Some("CHAT_MESSAGE") => stored.push((frame["seq"].as_u64().unwrap_or(0), frame["content"].to_string())),
            Some("ERROR") => refused.push((frame["code"].to_string(), frame["ref"].to_string())),
            _ => {}
        }
    }
    assert_eq!(refused, [5, 15, 25].map(|n| ("\"not_found\"".to_string(), format!("\"r{n}\""))));
    let kept: Vec<String> = (0..30).filter(|n| n % 10 != 5).map(|n| format!("\"m{n}\"")).collect();
    assert_eq!(stored.iter().map(|m| m.1.clone()).collect::<Vec<_>>(), kept);
    assert_eq!(stored.iter().map(|m| m.0).collect::<Vec<_>>(), (1..=27).collect::<Vec<_>>());
    server.stop().await
}
