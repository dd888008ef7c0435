//! Two and three nodes on one PostgreSQL database and one Redis, with the
//! members of a room on different nodes: every kind of traffic crosses
//! between them, `seq` stays gap-free under concurrent senders, Redis can
//! die and come back, and login throttling is shared. (These run on
//! PostgreSQL and Redis whatever `CHATY_TEST_BACKEND` says.)

use std::collections::HashMap;

use anyhow::{Result, ensure};
use chaty_tests::services::{Postgres, Redis};
use chaty_tests::{Client, Config, TestServer};
use serde_json::{Value, json};

/// `n` nodes sharing a fresh database and the shared Redis.
async fn nodes(n: usize, redis: &str) -> Result<Vec<TestServer>> {
    let url = Postgres::shared().await?.database().await?;
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(TestServer::start_node(&url, redis, Config::default()).await?);
    }
    Ok(nodes)
}

/// True if no `CHAT_MESSAGE` is queued for `client`: a `PING` sent now is
/// answered after anything delivered before it.
async fn no_more_messages(client: &mut Client) -> Result<bool> {
    client.send(json!({"type": "PING", "ref": "sync"})).await?;
    loop {
        let frame = client.recv().await?;
        match frame["type"].as_str() {
            Some("PONG") => return Ok(true),
            Some("CHAT_MESSAGE") => return Ok(false),
            _ => {}
        }
    }
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array().into_iter().flatten().filter_map(Value::as_str).collect()
}

/// All of `room`'s `HISTORY`, page by page, as the messages' (seq, id, content).
async fn history(client: &mut Client, room: &str) -> Result<Vec<(u64, u64, String)>> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |m: &(u64, u64, String)| m.0);
        client.send(json!({"type": "HISTORY", "roomId": room, "after": after, "limit": 200, "ref": "h"})).await?;
        let page = client.recv_type("HISTORY").await?;
        all.extend(page["messages"].as_array().into_iter().flatten().map(|m| {
            let n = |k: &str| m[k].as_u64().unwrap_or_default();
            (n("seq"), n("id"), m["content"].as_str().unwrap_or_default().to_string())
        }));
        if page["hasMore"] != true {
            return Ok(all);
        }
    }
}

#[tokio::test]
async fn every_kind_of_traffic_crosses_between_two_nodes() -> Result<()> {
    let redis = Redis::shared().await?.url();
    let nodes = nodes(2, &redis).await?;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (mut alice, ok_alice) = Client::register(&a.url(), "alice").await?;
    let (mut bob, ok_bob) = Client::register(&b.url(), "bob").await?;

    // Joining on B is heard on A, with B's user online in the member list.
    alice.join("team").await?;
    bob.join("team").await?;
    assert_eq!(alice.recv_type("USER_JOINED").await?["userId"], "bob");
    let members = alice.recv_type("ROOM_MEMBERS_UPDATE").await?;
    assert_eq!(names(&members["online"]), ["alice", "bob"], "{members}");

    // Messages both ways, live, in one `seq` order.
    alice.send(json!({"type": "CHAT_MESSAGE", "roomId": "team", "content": "hello from A", "clientId": "a1"})).await?;
    let first = bob.recv_type("CHAT_MESSAGE").await?;
    assert_eq!((&first["content"], &first["seq"]), (&json!("hello from A"), &json!(1)));
    bob.send(json!({"type": "CHAT_MESSAGE", "roomId": "team", "content": "hello from B", "clientId": "b1"})).await?;
    alice.recv_echo("a1").await?;
    let second = alice.recv_type("CHAT_MESSAGE").await?;
    assert_eq!((&second["content"], &second["seq"]), (&json!("hello from B"), &json!(2)));
    let first_id = first["id"].clone();

    // Typing, presence and the directory.
    bob.send(json!({"type": "TYPING", "roomId": "team", "typing": true})).await?;
    let typing = alice.recv_type("TYPING").await?;
    assert_eq!((&typing["userId"], &typing["typing"]), (&json!("bob"), &json!(true)));
    bob.send(json!({"type": "SET_PRESENCE", "status": "away"})).await?;
    let presence = alice.recv_type("PRESENCE").await?;
    assert_eq!((&presence["userId"], &presence["status"]), (&json!("bob"), &json!("away")));
    alice.send(json!({"type": "USERS", "userIds": ["bob"], "ref": "u"})).await?;
    assert_eq!(alice.recv_type("USERS").await?["users"][0]["status"], "away");

    // Read state, reactions, edits, deletes.
    alice.send(json!({"type": "MARK_READ", "roomId": "team", "seq": 2})).await?;
    let read = bob.recv_type("READ").await?;
    assert_eq!((&read["userId"], &read["seq"]), (&json!("alice"), &json!(2)));
    bob.send(json!({"type": "REACT", "messageId": first_id, "emoji": "👍"})).await?;
    let reaction = alice.recv_type("REACTION").await?;
    assert_eq!((&reaction["userId"], &reaction["emoji"]), (&json!("bob"), &json!("👍")));
    alice.send(json!({"type": "EDIT_MESSAGE", "messageId": first_id, "content": "hello (edited)"})).await?;
    assert_eq!(bob.recv_type("MESSAGE_EDITED").await?["content"], "hello (edited)");
    bob.send(json!({"type": "CHAT_MESSAGE", "roomId": "team", "content": "oops", "clientId": "b2"})).await?;
    let oops = bob.recv_echo("b2").await?;
    bob.send(json!({"type": "DELETE_MESSAGE", "messageId": oops["id"]})).await?;
    assert_eq!(alice.recv_type("MESSAGE_DELETED").await?["messageId"], oops["id"]);

    // A DM opened on A reaches B's user, and its messages too.
    alice.send(json!({"type": "OPEN_DM", "userId": "bob", "ref": "dm"})).await?;
    let dm = alice.recv_type("ROOM").await?;
    let dm_id = dm["roomId"].as_str().unwrap_or_default().to_string();
    assert_eq!(bob.recv_type("ROOM").await?["roomId"], dm_id.as_str());
    alice.send(json!({"type": "CHAT_MESSAGE", "roomId": dm_id, "content": "psst", "clientId": "d1"})).await?;
    let whisper = bob.recv_type("CHAT_MESSAGE").await?;
    assert_eq!((&whisper["roomId"], &whisper["content"]), (&json!(dm_id), &json!("psst")));

    // A private room and an invitation across nodes.
    alice.send(json!({"type": "CREATE_ROOM", "roomId": "secret", "private": true})).await?;
    alice.recv_type("ROOM").await?;
    alice.send(json!({"type": "INVITE", "roomId": "secret", "userId": "bob"})).await?;
    assert_eq!(bob.recv_type("ROOM").await?["roomId"], "secret");
    alice.send(json!({"type": "CHAT_MESSAGE", "roomId": "secret", "content": "in here", "clientId": "s1"})).await?;
    assert_eq!(bob.recv_type("CHAT_MESSAGE").await?["roomId"], "secret");

    // Search on B finds what was written on A.
    bob.send(json!({"type": "SEARCH", "query": "edited", "ref": "s"})).await?;
    let hits = bob.recv_type("SEARCH_RESULTS").await?;
    assert_eq!(hits["messages"][0]["id"], first_id, "{hits}");

    // A file uploaded through A is served by B, to a member.
    let bearer = |ok: &Value| format!("Bearer {}", ok["token"].as_str().unwrap_or_default());
    let body = b"shared without a shared disk\n";
    let (status, created) = a
        .http(
            "PUT",
            "/files?name=notes.txt",
            &[("Authorization", &bearer(&ok_alice)), ("Content-Type", "text/plain")],
            body,
        )
        .await?;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&created));
    let attachment: Value = serde_json::from_slice(&created)?;
    alice
        .send(json!({"type": "CHAT_MESSAGE", "roomId": "team", "content": "notes", "attachment": attachment, "clientId": "f1"}))
        .await?;
    let shared = loop {
        let m = bob.recv_type("CHAT_MESSAGE").await?;
        if m["clientId"] == "f1" {
            break m;
        }
    };
    assert_eq!(shared["attachment"], attachment);
    let path = format!("/files/{}", attachment["fileId"].as_str().unwrap_or_default());
    assert_eq!(b.http("GET", &path, &[("Authorization", &bearer(&ok_bob))], b"").await?, (200, body.to_vec()));

    // HISTORY is the same from either node.
    let from_a = history(&mut alice, "team").await?;
    let from_b = history(&mut bob, "team").await?;
    assert_eq!(from_a, from_b);
    assert_eq!(from_a.iter().map(|m| m.0).collect::<Vec<_>>(), [1, 2, 3, 4]);

    // B's user leaves for good: A hears them go offline and leave each room.
    drop(bob);
    let offline = alice.recv_type("PRESENCE").await?;
    assert_eq!((&offline["userId"], &offline["status"]), (&json!("bob"), &json!("offline")));
    let mut left = Vec::new();
    for _ in 0..3 {
        let frame = alice.recv_type("USER_LEFT").await?;
        assert_eq!(frame["userId"], "bob");
        left.push(frame["roomId"].as_str().unwrap_or_default().to_string());
    }
    left.sort();
    let mut expected = vec![dm_id, "secret".to_string(), "team".to_string()];
    expected.sort();
    assert_eq!(left, expected);
    for node in nodes {
        node.stop().await?;
    }
    Ok(())
}

#[tokio::test]
async fn concurrent_senders_on_three_nodes_give_every_receiver_the_same_gap_free_order() -> Result<()> {
    const PER_SENDER: usize = 25;
    const SENDERS_PER_NODE: usize = 3;
    let redis = Redis::shared().await?.url();
    let nodes = nodes(3, &redis).await?;
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        for j in 0..SENDERS_PER_NODE {
            let (mut s, _) = Client::register(&node.url(), &format!("sender{i}x{j}")).await?;
            s.join("busy").await?;
            senders.push(s);
        }
        let (mut r, _) = Client::register(&node.url(), &format!("reader{i}")).await?;
        r.join("busy").await?;
        receivers.push(r);
    }
    let total = PER_SENDER * senders.len();
    // Every sender writes at once; each waits for its own echo, so every
    // message is acknowledged.
    let sending = senders.into_iter().enumerate().map(|(i, mut s)| {
        tokio::spawn(async move {
            for n in 0..PER_SENDER {
                let id = format!("{i}-{n}");
                s.send(json!({"type": "CHAT_MESSAGE", "roomId": "busy", "content": id, "clientId": id})).await?;
            }
            for n in 0..PER_SENDER {
                s.recv_echo(&format!("{i}-{n}")).await?;
            }
            anyhow::Ok(s)
        })
    });
    let reading = receivers.into_iter().map(|mut r| {
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while seen.len() < total {
                let m = r.recv_type("CHAT_MESSAGE").await?;
                seen.push((
                    m["seq"].as_u64().unwrap_or_default(),
                    m["content"].as_str().unwrap_or_default().to_string(),
                ));
            }
            ensure!(no_more_messages(&mut r).await?, "a receiver got a message twice");
            anyhow::Ok((r, seen))
        })
    });
    let reading: Vec<_> = reading.collect();
    for s in sending.collect::<Vec<_>>() {
        s.await??;
    }
    let mut orders = Vec::new();
    let mut last_reader = None;
    for r in reading {
        let (reader, seen) = r.await??;
        let seqs: Vec<u64> = seen.iter().map(|m| m.0).collect();
        ensure!(seqs == (1..=total as u64).collect::<Vec<_>>(), "a receiver saw seqs {seqs:?}");
        orders.push(seen);
        last_reader = Some(reader);
    }
    ensure!(orders.windows(2).all(|w| w[0] == w[1]), "receivers on different nodes saw different orders");
    let mut reader = last_reader.ok_or_else(|| anyhow::anyhow!("no reader"))?;
    let stored: Vec<(u64, String)> = history(&mut reader, "busy").await?.into_iter().map(|m| (m.0, m.2)).collect();
    assert_eq!(stored, orders[0], "live order equals HISTORY");
    let per_sender = stored.iter().fold(HashMap::<String, usize>::new(), |mut m, (_, c)| {
        *m.entry(c.split('-').next().unwrap_or_default().to_string()).or_default() += 1;
        m
    });
    assert!(per_sender.values().all(|n| *n == PER_SENDER), "each sender's messages stored once: {per_sender:?}");
    for node in nodes {
        node.stop().await?;
    }
    Ok(())
}

#[tokio::test]
async fn redis_killed_under_load_and_restarted_leaves_no_hole_in_live_delivery() -> Result<()> {
    const MESSAGES: u64 = 60;
    let mut redis = Redis::start().await?;
    let nodes = nodes(2, &redis.url()).await?;
    let (mut writer, _) = Client::register(&nodes[0].url(), "writer").await?;
    let (mut reader, _) = Client::register(&nodes[1].url(), "reader").await?;
    writer.join("ops").await?;
    reader.join("ops").await?;
    let mut seen = Vec::new();
    for n in 1..=MESSAGES {
        if n == 20 {
            redis.kill()?;
        }
        if n == 40 {
            redis.restart().await?;
        }
        let id = format!("m{n}");
        writer.send(json!({"type": "CHAT_MESSAGE", "roomId": "ops", "content": id, "clientId": id})).await?;
        writer.recv_echo(&id).await?;
        // Read as we go, so delivery after the kill is live, not a backlog.
        if n % 10 == 0 {
            while (seen.len() as u64) < n {
                seen.push(reader.recv_type("CHAT_MESSAGE").await?["seq"].as_u64().unwrap_or_default());
            }
        }
    }
    assert_eq!(seen, (1..=MESSAGES).collect::<Vec<_>>());
    assert!(no_more_messages(&mut reader).await?, "a message was delivered twice");
    for node in nodes {
        node.stop().await?;
    }
    Ok(())
}

#[tokio::test]
async fn failed_logins_spread_over_nodes_are_counted_together() -> Result<()> {
    let redis = Redis::shared().await?.url();
    let nodes = nodes(2, &redis).await?;
    Client::register(&nodes[0].url(), "target").await?;
    // Five free failures in all, alternating between the nodes; the sixth
    // locks the name on both.
    for attempt in 0..6 {
        let mut c = Client::connect(&nodes[attempt % 2].url()).await?;
        let e = c.expect_error(json!({"type": "LOGIN", "userName": "target", "password": "guess"})).await?;
        assert_eq!(e["code"], "unauthorized", "attempt {attempt}: {e}");
    }
    for node in &nodes {
        let mut c = Client::connect(&node.url()).await?;
        let e = c.expect_error(json!({"type": "LOGIN", "userName": "target", "password": "guess"})).await?;
        assert_eq!(e["code"], "rate_limited", "{e}");
    }
    for node in nodes {
        node.stop().await?;
    }
    Ok(())
}

#[tokio::test]
async fn what_a_redis_outage_hid_is_told_when_it_is_back() -> Result<()> {
    let mut redis = Redis::start().await?;
    let nodes = nodes(2, &redis.url()).await?;
    let (mut alice, _) = Client::register(&nodes[0].url(), "alice").await?;
    alice.join("lobby").await?;
    redis.kill()?;
    // Everything B publishes now is lost: bob coming online, joining.
    let (mut bob, _) = Client::register(&nodes[1].url(), "bob").await?;
    bob.join("lobby").await?;
    redis.restart().await?;
    // Back on Redis, A's node learns from B's snapshot and tells alice.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let (mut online, mut listed) = (false, false);
    while !(online && listed) {
        ensure!(tokio::time::Instant::now() < deadline, "alice never heard of bob (online {online}, listed {listed})");
        let frame = alice.recv().await?;
        match frame["type"].as_str() {
            Some("PRESENCE") if frame["userId"] == "bob" => online = frame["status"] == "online",
            Some("ROOM_MEMBERS_UPDATE") => {
                listed = names(&frame["members"]).contains(&"bob") && names(&frame["online"]).contains(&"bob");
            }
            _ => {}
        }
    }
    // And live again: bob leaving is heard at once.
    drop(bob);
    let offline = alice.recv_type("PRESENCE").await?;
    assert_eq!((&offline["userId"], &offline["status"]), (&json!("bob"), &json!("offline")));
    for node in nodes {
        node.stop().await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_node_stopped_cleanly_hands_its_users_over_without_a_flicker() -> Result<()> {
    let redis = Redis::shared().await?.url();
    let mut nodes = nodes(2, &redis).await?;
    let (mut alice, _) = Client::register(&nodes[0].url(), "alice").await?;
    let (mut carol, _) = Client::register(&nodes[0].url(), "carol").await?;
    let (mut bob, _) = Client::register(&nodes[1].url(), "bob").await?;
    for c in [&mut alice, &mut carol, &mut bob] {
        c.join("team").await?;
    }
    // A rolling restart: the first node stops; alice comes back on the
    // other at once, carol does not come back.
    nodes.remove(0).stop().await?;
    let mut alice = Client::login(&nodes[0].url(), "alice").await?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(25);
    let (mut carol_offline, mut carol_left) = (false, false);
    while !(carol_offline && carol_left) {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "carol never left (offline {carol_offline}, left {carol_left})"
        );
        let frame = bob.recv().await?;
        match (frame["type"].as_str(), frame["userId"].as_str()) {
            (Some("PRESENCE" | "USER_LEFT"), Some("alice")) => anyhow::bail!("alice flickered: {frame}"),
            (Some("PRESENCE"), Some("carol")) => carol_offline = frame["status"] == "offline",
            (Some("USER_LEFT"), Some("carol")) => carol_left = true,
            _ => {}
        }
    }
    alice.send(json!({"type": "CHAT_MESSAGE", "roomId": "team", "content": "back", "clientId": "b"})).await?;
    assert_eq!(bob.recv_type("CHAT_MESSAGE").await?["content"], "back");
    drop(carol);
    for node in nodes {
        node.stop().await?;
    }
    Ok(())
}
