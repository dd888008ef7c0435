//! Read state, edits, deletes, reactions, replies, search, files and presence
//! over real sockets, including what a non-member may not see or do.

use anyhow::Result;
use chaty_tests::{Client, Config, TestServer};
use serde_json::{Value, json};

async fn server() -> Result<(TestServer, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), Config::default()).await?;
    Ok((server, dir))
}

async fn say(c: &mut Client, room: &str, content: &str) -> Result<Value> {
    let cid = format!("{room}-{content}");
    c.send(json!({"type": "CHAT_MESSAGE", "roomId": room, "content": content, "clientId": cid})).await?;
    c.recv_echo(&cid).await
}

fn room<'a>(rooms: &'a Value, id: &str) -> &'a Value {
    rooms["rooms"].as_array().and_then(|r| r.iter().find(|r| r["roomId"] == id)).unwrap_or(&Value::Null)
}

#[tokio::test]
async fn unread_counts_and_mentions_are_the_servers_and_survive_restarts() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("chaty.db");
    let server = TestServer::start_at(&db, Config::default()).await?;
    let url = server.url();
    let (mut alice, _) = Client::register(&url, "alice").await?;
    let (mut bob_phone, _) = Client::register(&url, "bob").await?;
    alice.join("general").await?;
    bob_phone.join("general").await?;
    for text in ["one", "two", "hey @Bob look", "four"] {
        say(&mut alice, "general", text).await?;
    }
    let mut bob_laptop = Client::login(&url, "bob").await?;
    bob_laptop.send(json!({"type": "LIST_ROOMS"})).await?;
    let rooms = bob_laptop.recv_type("ROOMS").await?;
    let general = room(&rooms, "general");
    assert_eq!(
        (&general["lastSeq"], &general["readSeq"], &general["unread"], &general["mentions"]),
        (&json!(4), &json!(0), &json!(4), &json!(1))
    );

    // Reading on the phone: everyone in the room learns the cursor, the laptop included.
    bob_phone.send(json!({"type": "MARK_READ", "roomId": "general", "seq": 3})).await?;
    let read = bob_laptop.recv_type("READ").await?;
    assert_eq!(read, json!({"type": "READ", "roomId": "general", "userId": "bob", "seq": 3}));
    assert_eq!(alice.recv_type("READ").await?["seq"], 3);
    // Backwards or beyond the end: the cursor only moves forward, up to the last message.
    bob_phone.send(json!({"type": "MARK_READ", "roomId": "general", "seq": 1})).await?;
    bob_phone.send(json!({"type": "MARK_READ", "roomId": "general", "seq": 99})).await?;
    assert_eq!(bob_laptop.recv_type("READ").await?["seq"], 4);
    drop((alice, bob_phone, bob_laptop));
    server.stop().await?;

    let server = TestServer::start_at(&db, Config::default()).await?;
    let mut bob = Client::connect(&server.url()).await?;
    bob.send(json!({"type": "LOGIN", "userName": "bob", "password": "bob-password"})).await?;
    bob.recv_type("AUTH_OK").await?;
    let rooms = bob.recv_type("ROOMS").await?;
    let general = room(&rooms, "general");
    assert_eq!((&general["readSeq"], &general["unread"], &general["mentions"]), (&json!(4), &json!(0), &json!(0)));
    let e = bob.expect_error(json!({"type": "MARK_READ", "roomId": "elsewhere", "seq": 1})).await?;
    assert_eq!(e["code"], "not_found");
    server.stop().await
}

#[tokio::test]
async fn edits_deletes_reactions_and_replies() -> Result<()> {
    let (server, _dir) = server().await?;
    let url = server.url();
    let (mut alice, _) = Client::register(&url, "alice").await?;
    let (mut bob, _) = Client::register(&url, "bob").await?;
    let (mut eve, _) = Client::register(&url, "eve").await?;
    alice.send(json!({"type": "CREATE_ROOM", "roomId": "team"})).await?;
    alice.recv_type("ROOM").await?;
    bob.join("team").await?;
    let first = say(&mut alice, "team", "helo").await?;
    let id = first["id"].clone();

    alice.send(json!({"type": "EDIT_MESSAGE", "messageId": id, "content": "hello"})).await?;
    let edited = bob.recv_type("MESSAGE_EDITED").await?;
    assert_eq!((&edited["messageId"], &edited["content"], &edited["roomId"]), (&id, &json!("hello"), &json!("team")));
    assert!(edited["editedAt"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(
        bob.expect_error(json!({"type": "EDIT_MESSAGE", "messageId": id, "content": "mine now"})).await?["code"],
        "forbidden"
    );

    bob.send(json!({"type": "REACT", "messageId": id, "emoji": "👍"})).await?;
    let reaction = alice.recv_type("REACTION").await?;
    assert_eq!(
        reaction,
        json!({"type": "REACTION", "roomId": "team", "messageId": id, "userId": "bob", "emoji": "👍", "added": true})
    );
    alice.send(json!({"type": "REACT", "messageId": id, "emoji": "👍"})).await?;
    bob.recv_type("REACTION").await?;
    let reply = {
        bob.send(
            json!({"type": "CHAT_MESSAGE", "roomId": "team", "content": "agreed", "replyTo": id, "clientId": "r1"}),
        )
        .await?;
        bob.recv_echo("r1").await?
    };
    assert_eq!(reply["replyTo"], id);

    // Outsiders learn nothing and can do nothing.
    for frame in [
        json!({"type": "EDIT_MESSAGE", "messageId": id, "content": "x"}),
        json!({"type": "DELETE_MESSAGE", "messageId": id}),
        json!({"type": "REACT", "messageId": id, "emoji": "💩"}),
        json!({"type": "REACT", "messageId": 999_999, "emoji": "💩"}),
        json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": "x", "replyTo": id}),
    ] {
        eve.send(json!({"type": "JOIN_ROOM", "roomId": "general"})).await?;
        let e = eve.expect_error(frame.clone()).await?;
        assert_eq!(e["code"], "not_found", "{frame}: {e}");
        assert!(!e.to_string().contains("hello"));
    }

    alice.send(json!({"type": "HISTORY", "roomId": "team"})).await?;
    let history = alice.recv_type("HISTORY").await?;
    let m = &history["messages"][0];
    assert_eq!((&m["content"], &m["reactions"][0]["emoji"]), (&json!("hello"), &json!("👍")));
    let mut users: Vec<&str> =
        m["reactions"][0]["users"].as_array().into_iter().flatten().filter_map(|u| u.as_str()).collect();
    users.sort_unstable();
    assert_eq!(users, ["alice", "bob"], "{m}");
    assert!(m["editedAt"].is_string());

    // Bob may not delete Alice's message; Alice (the room's admin) may delete Bob's.
    assert_eq!(bob.expect_error(json!({"type": "DELETE_MESSAGE", "messageId": id})).await?["code"], "forbidden");
    alice.send(json!({"type": "DELETE_MESSAGE", "messageId": reply["id"]})).await?;
    assert_eq!(
        bob.recv_type("MESSAGE_DELETED").await?,
        json!({"type": "MESSAGE_DELETED", "roomId": "team", "messageId": reply["id"]})
    );
    alice.send(json!({"type": "DELETE_MESSAGE", "messageId": id})).await?;
    bob.recv_type("MESSAGE_DELETED").await?;
    bob.send(json!({"type": "HISTORY", "roomId": "team"})).await?;
    let history = bob.recv_type("HISTORY").await?;
    for m in history["messages"].as_array().into_iter().flatten() {
        assert_eq!((&m["deleted"], &m["content"]), (&json!(true), &json!("")), "tombstone: {m}");
        assert!(m.get("reactions").is_none());
    }
    assert_eq!(
        bob.expect_error(json!({"type": "EDIT_MESSAGE", "messageId": id, "content": "x"})).await?["code"],
        "not_found"
    );
    server.stop().await
}

#[tokio::test]
async fn search_covers_only_your_rooms_newest_first() -> Result<()> {
    let (server, _dir) = server().await?;
    let url = server.url();
    let (mut alice, _) = Client::register(&url, "alice").await?;
    let (mut eve, _) = Client::register(&url, "eve").await?;
    alice.join("ops").await?;
    eve.join("secrets").await?;
    say(&mut alice, "ops", "deploy started on Café server").await?;
    say(&mut alice, "ops", "the \"deploy\" finished").await?;
    let gone = say(&mut alice, "ops", "deploy of the secret sauce").await?;
    say(&mut eve, "secrets", "deploy the launch codes").await?;
    alice.send(json!({"type": "DELETE_MESSAGE", "messageId": gone["id"]})).await?;
    alice.recv_type("MESSAGE_DELETED").await?;

    alice.send(json!({"type": "SEARCH", "query": "deploy", "ref": "s1"})).await?;
    let results = alice.recv_type("SEARCH_RESULTS").await?;
    assert_eq!(results["ref"], "s1");
    let contents: Vec<&str> =
        results["messages"].as_array().into_iter().flatten().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(contents, ["the \"deploy\" finished", "deploy started on Café server"]);
    assert_eq!(results["messages"][0]["snippet"], "the \"[deploy]\" finished");

    // Accents ignored, and the match still marked (on either store).
    alice.send(json!({"type": "SEARCH", "query": "cafe"})).await?;
    let found = alice.recv_type("SEARCH_RESULTS").await?;
    assert_eq!(found["messages"][0]["snippet"], "deploy started on [Café] server");
    for (query, expected) in [("cafe", 1), ("\"deploy started\"", 1), ("deploy NOT finished", 1), ("launch", 0)] {
        alice.send(json!({"type": "SEARCH", "query": query})).await?;
        let n = alice.recv_type("SEARCH_RESULTS").await?["messages"].as_array().map_or(0, Vec::len);
        assert_eq!(n, expected, "{query}");
    }
    let e = alice.expect_error(json!({"type": "SEARCH", "query": "\"unbalanced"})).await?;
    assert_eq!(e["code"], "invalid");
    assert!(e["message"].as_str().is_some_and(|m| m.contains("unbalanced")), "{e}");
    let e = alice.expect_error(json!({"type": "SEARCH", "query": "deploy", "roomId": "secrets"})).await?;
    assert_eq!(e["code"], "not_found");
    server.stop().await
}

#[tokio::test]
async fn files_are_served_to_the_rooms_they_were_shared_in_and_no_one_else() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = Config { max_upload_bytes: 1024, ..Config::default() };
    let server = TestServer::start_at(&dir.path().join("chaty.db"), config).await?;
    let url = server.url();
    let (mut alice, ok_a) = Client::register(&url, "alice").await?;
    let (mut bob, ok_b) = Client::register(&url, "bob").await?;
    let (_eve, ok_e) = Client::register(&url, "eve").await?;
    let bearer = |ok: &Value| format!("Bearer {}", ok["token"].as_str().unwrap_or_default());
    alice.join("team").await?;
    bob.join("team").await?;

    let body = b"quarterly numbers\n";
    let (status, created) = server
        .http(
            "PUT",
            "/files?name=report.txt",
            &[("Authorization", &bearer(&ok_a)), ("Content-Type", "text/plain")],
            body,
        )
        .await?;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&created));
    let attachment: Value = serde_json::from_slice(&created)?;
    assert_eq!(
        (&attachment["name"], &attachment["size"], &attachment["mime"]),
        (&json!("report.txt"), &json!(body.len()), &json!("text/plain"))
    );
    let path = format!("/files/{}", attachment["fileId"].as_str().unwrap_or_default());

    // Not shared yet: only the uploader may fetch it.
    assert_eq!(server.http("GET", &path, &[("Authorization", &bearer(&ok_b))], b"").await?.0, 404);
    assert_eq!(server.http("GET", &path, &[("Authorization", &bearer(&ok_a))], b"").await?, (200, body.to_vec()));
    // Bob cannot pass Alice's upload off as his.
    let e = bob
        .expect_error(json!({"type": "CHAT_MESSAGE", "roomId": "team", "content": "mine", "attachment": attachment}))
        .await?;
    assert_eq!(e["code"], "not_found");

    alice.send(json!({"type": "CHAT_MESSAGE", "roomId": "team", "content": "the report", "attachment": attachment, "clientId": "f1"})).await?;
    assert_eq!(bob.recv_type("CHAT_MESSAGE").await?["attachment"], attachment);
    assert_eq!(server.http("GET", &path, &[("Authorization", &bearer(&ok_b))], b"").await?, (200, body.to_vec()));
    let token_b = ok_b["token"].as_str().unwrap_or_default();
    assert_eq!(server.http("GET", &format!("{path}?token={token_b}"), &[], b"").await?.0, 200);
    // Eve is in no room where it was shared; an unknown id answers the same.
    assert_eq!(server.http("GET", &path, &[("Authorization", &bearer(&ok_e))], b"").await?.0, 404);
    assert_eq!(
        server.http("GET", &format!("/files/{}", "0".repeat(64)), &[("Authorization", &bearer(&ok_e))], b"").await?.0,
        404
    );
    assert_eq!(server.http("GET", &path, &[], b"").await?.0, 401);
    assert_eq!(server.http("PUT", "/files?name=x", &[], b"data").await?.0, 401);
    let (status, _) = server.http("PUT", "/files?name=big", &[("Authorization", &bearer(&ok_a))], &[0u8; 2048]).await?;
    assert_eq!(status, 413);
    server.stop().await
}

#[tokio::test]
async fn presence_reaches_only_people_who_share_a_room() -> Result<()> {
    let (server, _dir) = server().await?;
    let url = server.url();
    let (mut alice, _) = Client::register(&url, "alice").await?;
    let (mut bob, _) = Client::register(&url, "bob").await?;
    let (mut eve, _) = Client::register(&url, "eve").await?;
    alice.join("team").await?;
    bob.join("team").await?;
    eve.join("elsewhere").await?;

    alice.send(json!({"type": "SET_PRESENCE", "status": "away"})).await?;
    assert_eq!(bob.recv_type("PRESENCE").await?, json!({"type": "PRESENCE", "userId": "alice", "status": "away"}));
    bob.send(json!({"type": "JOIN_ROOM", "roomId": "team"})).await?;
    assert_eq!(bob.recv_type("ROOM_MEMBERS_UPDATE").await?["away"], json!(["alice"]));
    assert_eq!(alice.expect_error(json!({"type": "SET_PRESENCE", "status": "offline"})).await?["code"], "invalid");
    drop(alice);
    let offline = bob.recv_type("PRESENCE").await?;
    assert_eq!((&offline["userId"], &offline["status"]), (&json!("alice"), &json!("offline")));
    assert!(offline["lastSeen"].as_str().is_some_and(|t| t.ends_with('Z')));
    let update = bob.recv_type("ROOM_MEMBERS_UPDATE").await?;
    assert!(update["lastSeen"]["alice"].is_string(), "{update}");
    eve.assert_nothing_pending().await?;
    server.stop().await
}

/// `SET_NOTIFY` is kept on the server: every device of the user hears it
/// and `ROOMS` lists it; rooms default to mentions, DMs to all.
#[tokio::test]
async fn notification_levels_are_kept_for_every_device() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), Config::default()).await?;
    let (mut phone, _) = Client::register(&server.url(), "alice").await?;
    let mut laptop = Client::login(&server.url(), "alice").await?;
    Client::register(&server.url(), "bob").await?;
    phone.join("noisy").await?;
    phone.send(json!({"type": "OPEN_DM", "userId": "bob"})).await?;
    phone.recv_type("ROOM").await?;
    let levels = |rooms: &Value| -> Vec<(String, String)> {
        rooms["rooms"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| (r["kind"].as_str().unwrap_or_default().to_string(), r["notify"].to_string()))
            .collect()
    };
    phone.send(json!({"type": "LIST_ROOMS"})).await?;
    let before = levels(&phone.recv_type("ROOMS").await?);
    assert_eq!(before, [("room".into(), "\"mentions\"".into()), ("dm".into(), "\"all\"".into())]);

    phone.send(json!({"type": "SET_NOTIFY", "roomId": "noisy", "level": "none", "ref": "n"})).await?;
    let answer = phone.recv_type("NOTIFY").await?;
    assert_eq!((&answer["level"], &answer["ref"]), (&json!("none"), &json!("n")));
    let other = laptop.recv_type("NOTIFY").await?;
    assert_eq!((&other["roomId"], &other["level"]), (&json!("noisy"), &json!("none")));
    laptop.send(json!({"type": "LIST_ROOMS"})).await?;
    assert_eq!(levels(&laptop.recv_type("ROOMS").await?)[0].1, "\"none\"");
    phone.assert_nothing_pending().await?;

    let e = phone.expect_error(json!({"type": "SET_NOTIFY", "roomId": "noisy", "level": "loud"})).await?;
    assert_eq!(e["code"], "invalid");
    assert!(e["message"].as_str().unwrap_or_default().contains("must be all, mentions or none"), "{e}");
    let e = phone.expect_error(json!({"type": "SET_NOTIFY", "roomId": "elsewhere", "level": "all"})).await?;
    assert_eq!(e["code"], "not_found");
    server.stop().await
}
