//! People: guests named the way web apps name them, display names and status
//! texts, and the `USERS` directory.

use anyhow::Result;
use chaty_tests::{Client, TestServer, guests};
use serde_json::{Value, json};

async fn server(config: chaty_tests::Config) -> Result<(tempfile::TempDir, TestServer)> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), config).await?;
    Ok((dir, server))
}

/// The messages of a `HISTORY` reply.
async fn history(c: &mut Client, room: &str) -> Result<Vec<Value>> {
    c.send(json!({"type": "HISTORY", "roomId": room, "ref": "h"})).await?;
    let page = c.recv_type("HISTORY").await?;
    Ok(page["messages"].as_array().cloned().unwrap_or_default())
}

async fn search(c: &mut Client, query: &str) -> Result<Vec<Value>> {
    c.send(json!({"type": "SEARCH", "query": query, "ref": "s"})).await?;
    let found = c.recv_type("SEARCH_RESULTS").await?;
    Ok(found["messages"].as_array().cloned().unwrap_or_default())
}

async fn users(c: &mut Client, ask: Value) -> Result<Vec<Value>> {
    let mut frame = ask;
    frame["type"] = json!("USERS");
    frame["ref"] = json!("u");
    c.send(frame).await?;
    let reply = c.recv_type("USERS").await?;
    assert_eq!(reply["ref"], "u");
    Ok(reply["users"].as_array().cloned().unwrap_or_default())
}

fn ids(users: &[Value]) -> Vec<&str> {
    users.iter().filter_map(|u| u["userId"].as_str()).collect()
}

#[tokio::test]
async fn the_seed_readme_example_values_chat_through_guest_mode() -> Result<()> {
    let (_dir, server) = server(guests()).await?;
    let uuid = "3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b";
    let object_id = "507f1f77bcf86cd799439011";
    let email = "first.last+chat@example.com";
    let mut listener = Client::connect(&server.url()).await?;
    listener.send(json!({"type": "JOIN_ROOM", "roomId": "r", "userId": object_id})).await?;
    listener.recv_type("ROOM_MEMBERS_UPDATE").await?;
    for (user_id, user_name) in [("u1", "User Name"), (uuid, "User One"), (email, "Zoë 山田 🎸")] {
        let mut seed = Client::connect(&server.url()).await?;
        seed.send(json!({"type": "JOIN_ROOM", "roomId": "r", "userId": user_id})).await?;
        assert_eq!(seed.recv_type("USER_JOINED").await?["userId"], user_id);
        // The seed client's frame, exactly as its README gives it.
        seed.send(json!({"type": "CHAT_MESSAGE", "roomId": "r", "userId": user_id, "userName": user_name, "content": format!("hi from {user_id}")}))
            .await?;
        for c in [&mut seed, &mut listener] {
            let m = c.recv_type("CHAT_MESSAGE").await?;
            assert_eq!((&m["userId"], &m["userName"]), (&json!(user_id), &json!(user_name)), "{m}");
        }
        let stored = history(&mut seed, "r").await?;
        let last = stored.last().cloned().unwrap_or_default();
        assert_eq!((&last["userId"], &last["userName"]), (&json!(user_id), &json!(user_name)));
        let hits = search(&mut seed, "hi").await?;
        assert_eq!(hits[0]["userName"], user_name, "SEARCH returns the name byte for byte");
    }
    server.stop().await
}

#[tokio::test]
async fn guest_names_that_hide_or_reorder_text_are_refused_and_nothing_is_sent() -> Result<()> {
    let (_dir, server) = server(guests()).await?;
    let mut listener = Client::connect(&server.url()).await?;
    listener.send(json!({"type": "JOIN_ROOM", "roomId": "r", "userId": "listener"})).await?;
    listener.recv_type("ROOM_MEMBERS_UPDATE").await?;
    let mut guest = Client::connect(&server.url()).await?;
    let e = guest.expect_error(json!({"type": "JOIN_ROOM", "roomId": "r", "userId": "a b"})).await?;
    assert_eq!(e["code"], "invalid");
    assert!(e["message"].as_str().unwrap_or("").contains("`userId`"), "{e}");
    guest.send(json!({"type": "JOIN_ROOM", "roomId": "r", "userId": "g1"})).await?;
    guest.recv_type("ROOM_MEMBERS_UPDATE").await?;
    listener.recv_type("ROOM_MEMBERS_UPDATE").await?;
    for bad in ["evil\u{202E}gnp.exe", "line\nbreak", "ad\u{200B}min", "\u{1b}[31mred", &"x".repeat(65)] {
        let e = guest
            .expect_error(json!({"type": "CHAT_MESSAGE", "roomId": "r", "userName": bad, "content": "hi", "ref": "m"}))
            .await?;
        assert_eq!((&e["code"], &e["ref"]), (&json!("invalid"), &json!("m")), "{bad:?}: {e}");
        assert!(e["message"].as_str().unwrap_or("").starts_with("`userName`"), "{e}");
    }
    listener.assert_nothing_pending().await?;
    server.stop().await
}

#[tokio::test]
async fn display_names_round_trip_exactly_and_messages_keep_the_name_they_were_sent_with() -> Result<()> {
    let (_dir, server) = server(chaty_tests::Config::default()).await?;
    let mut alice = Client::connect(&server.url()).await?;
    alice
        .send(json!({"type": "REGISTER", "userName": "alice", "password": "alice-password", "displayName": "Alice Liddell"}))
        .await?;
    let ok = alice.recv_type("AUTH_OK").await?;
    assert_eq!(
        (&ok["userId"], &ok["displayName"], &ok["statusText"]),
        (&json!("alice"), &json!("Alice Liddell"), &json!(""))
    );
    alice.join("general").await?;
    let (mut bob, _) = Client::register(&server.url(), "bob").await?;
    bob.join("general").await?;
    let names = ["Zoë Saldaña 👩\u{200D}💻", "山田 太郎", "محمد علي", "e\u{301}tienne", "🇫🇷 Marie", &"名".repeat(64)];
    for (i, name) in names.iter().enumerate() {
        alice.send(json!({"type": "SET_PROFILE", "displayName": name, "ref": "p"})).await?;
        let p = alice.recv_type("PROFILE").await?;
        assert_eq!((&p["displayName"], &p["ref"]), (&json!(name), &json!("p")));
        // A userName on a registered user's frame is ignored: messages never show someone else's name.
        let frame = json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": format!("n{i}"), "clientId": format!("c{i}"), "userName": "bob"});
        alice.send(frame).await?;
        assert_eq!(alice.recv_echo(&format!("c{i}")).await?["userName"], *name);
        assert_eq!(bob.recv_type("CHAT_MESSAGE").await?["userName"], *name);
    }
    let stored = history(&mut bob, "general").await?;
    let shown: Vec<&str> = stored.iter().filter_map(|m| m["userName"].as_str()).collect();
    assert_eq!(shown, names, "each message keeps the name it was sent with");
    let hits = search(&mut bob, "n0").await?;
    assert_eq!(hits[0]["userName"], names[0]);
    // The same rules as for guests; the error names the field.
    for bad in ["bell\u{7}", "a\u{2066}b", "", " padded"] {
        let e = alice.expect_error(json!({"type": "SET_PROFILE", "displayName": bad})).await?;
        assert_eq!(e["code"], "invalid", "{bad:?}");
        assert!(e["message"].as_str().unwrap_or("").starts_with("`displayName`"), "{e}");
    }
    let e = alice.expect_error(json!({"type": "SET_PROFILE", "statusText": "x".repeat(101)})).await?;
    assert!(e["message"].as_str().unwrap_or("").contains("limit is 100"), "{e}");
    let e = alice.expect_error(json!({"type": "SET_PROFILE"})).await?;
    assert_eq!(e["code"], "invalid");
    // Login names stay the identity; two people may share a display name.
    bob.send(json!({"type": "SET_PROFILE", "displayName": names[5], "ref": "same"})).await?;
    assert_eq!(bob.recv_type("PROFILE").await?["userId"], "bob");
    server.stop().await
}

#[tokio::test]
async fn a_profile_change_reaches_room_mates_and_only_them() -> Result<()> {
    let (_dir, server) = server(chaty_tests::Config::default()).await?;
    let (mut alice, _) = Client::register(&server.url(), "alice").await?;
    let mut alice_phone = Client::login(&server.url(), "alice").await?;
    let (mut bob, _) = Client::register(&server.url(), "bob").await?;
    let (mut carol, _) = Client::register(&server.url(), "carol").await?;
    alice.join("team").await?;
    alice_phone.recv_type("ROOM_MEMBERS_UPDATE").await?;
    bob.join("team").await?;
    carol.join("elsewhere").await?;
    alice
        .send(json!({"type": "SET_PROFILE", "displayName": "Alice 🌷", "statusText": "in a meeting", "ref": "p"}))
        .await?;
    let expected =
        json!({"type": "PROFILE", "userId": "alice", "displayName": "Alice 🌷", "statusText": "in a meeting"});
    let mut answer = alice.recv_type("PROFILE").await?;
    assert_eq!(answer.as_object_mut().and_then(|o| o.remove("ref")), Some(json!("p")));
    assert_eq!(answer, expected);
    assert_eq!(bob.recv_type("PROFILE").await?, expected);
    assert_eq!(alice_phone.recv_type("PROFILE").await?, expected, "the user's other devices hear it too");
    carol.assert_nothing_pending().await?;
    alice.assert_nothing_pending().await?;
    // Room mates see it in the member list; a new sign-in gets it in AUTH_OK.
    let update = bob.join("team").await?;
    assert_eq!(update["displayNames"], json!({"alice": "Alice 🌷"}));
    assert_eq!(update["statusTexts"], json!({"alice": "in a meeting"}));
    let mut again = Client::connect(&server.url()).await?;
    again.send(json!({"type": "LOGIN", "userName": "alice", "password": "alice-password"})).await?;
    let ok = again.recv_type("AUTH_OK").await?;
    assert_eq!((&ok["displayName"], &ok["statusText"]), (&json!("Alice 🌷"), &json!("in a meeting")));
    // Typing shows the display name; an empty status text clears it.
    alice.send(json!({"type": "TYPING", "roomId": "team", "typing": true})).await?;
    assert_eq!(bob.recv_type("TYPING").await?["userName"], "Alice 🌷");
    alice.send(json!({"type": "SET_PROFILE", "statusText": ""})).await?;
    assert_eq!(bob.recv_type("PROFILE").await?["statusText"], "");
    server.stop().await
}

#[tokio::test]
async fn the_directory_finds_people_by_name_and_says_no_more_than_presence_would() -> Result<()> {
    let (_dir, server) = server(guests()).await?;
    let (mut alice, _) = Client::register(&server.url(), "alice").await?;
    let (mut bob, _) = Client::register(&server.url(), "bob").await?;
    let (mut zoe, _) = Client::register(&server.url(), "zsaldana").await?;
    zoe.send(json!({"type": "SET_PROFILE", "displayName": "Zoë Saldaña", "statusText": "on set"})).await?;
    zoe.recv_type("PROFILE").await?;
    alice.join("team").await?;
    bob.join("team").await?;
    let mut guest = Client::connect(&server.url()).await?;
    guest.send(json!({"type": "JOIN_ROOM", "roomId": "team", "userId": "alfred"})).await?;
    guest.recv_type("ROOM_MEMBERS_UPDATE").await?;

    assert_eq!(ids(&users(&mut alice, json!({"query": "AL"})).await?), ["alice"], "guests are never listed");
    let found = users(&mut alice, json!({"query": "sald"})).await?;
    assert_eq!(found, [json!({"userId": "zsaldana", "displayName": "Zoë Saldaña", "statusText": "on set"})]);
    assert_eq!(ids(&users(&mut alice, json!({"query": "zoë"})).await?), ["zsaldana"]);
    assert!(users(&mut alice, json!({"query": "aldaña"})).await?.is_empty(), "prefixes of words, not infixes");
    // Presence only for people alice shares a room with (bob), as PRESENCE would tell her.
    let looked_up = users(&mut alice, json!({"userIds": ["bob", "zsaldana", "alfred", "nobody"]})).await?;
    assert_eq!(ids(&looked_up), ["bob", "zsaldana"]);
    assert_eq!(looked_up[0]["status"], "online");
    assert!(looked_up[1].get("status").is_none() && looked_up[1].get("lastSeen").is_none(), "{}", looked_up[1]);
    assert_eq!(users(&mut alice, json!({"limit": 0})).await?.len(), 1, "limit is clamped to at least 1");
    assert_eq!(users(&mut alice, json!({"limit": 1_000_000})).await?.len(), 3);
    drop(bob);
    alice.recv_type("PRESENCE").await?;
    let offline = users(&mut alice, json!({"userIds": ["bob"]})).await?;
    assert_eq!(offline[0]["status"], "offline");
    assert!(offline[0]["lastSeen"].is_string(), "{}", offline[0]);
    // Guests cannot browse the directory.
    let e = guest.expect_error(json!({"type": "USERS", "query": "a"})).await?;
    assert_eq!(e["code"], "forbidden");
    server.stop().await
}

#[tokio::test]
async fn directory_reads_are_charged_to_the_history_budget() -> Result<()> {
    let config = chaty_tests::Config { history_burst: 3, history_per_sec: 1, ..chaty_tests::Config::default() };
    let (_dir, server) = server(config).await?;
    let (mut alice, _) = Client::register(&server.url(), "alice").await?;
    for i in 0..4 {
        alice.send(json!({"type": "USERS", "query": "a", "ref": format!("u{i}")})).await?;
    }
    for i in 0..3 {
        let reply = alice.recv().await?;
        assert_eq!((&reply["type"], &reply["ref"]), (&json!("USERS"), &json!(format!("u{i}"))));
    }
    let refused = alice.recv().await?;
    assert_eq!((&refused["code"], &refused["ref"]), (&json!("rate_limited"), &json!("u3")), "{refused}");
    server.stop().await
}
