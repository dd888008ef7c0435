//! Moderation over real sockets: room admins (the creator, and whoever an
//! admin promotes) and server admins kick, ban, unban, set roles and topics
//! and delete others' messages; everyone else is refused.

use anyhow::Result;
use chaty_tests::{Client, Config, TestServer};
use serde_json::{Value, json};

/// A server with a room `lobby` that `alice` made; `others` joined it.
async fn lobby(others: &[&str]) -> Result<(TestServer, tempfile::TempDir, Client, Vec<Client>)> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), Config::default()).await?;
    let (alice, others) = room_of(&server.url(), "lobby", others).await?;
    Ok((server, dir, alice, others))
}

/// `alice` creates `room` (and so is its admin); the others join it. Each
/// has read up to their own join's member list.
async fn room_of(url: &str, room: &str, others: &[&str]) -> Result<(Client, Vec<Client>)> {
    let (mut alice, _) = Client::register(url, "alice").await?;
    alice.send(json!({"type": "CREATE_ROOM", "roomId": room})).await?;
    alice.recv_type("ROOM_MEMBERS_UPDATE").await?;
    let mut clients = Vec::new();
    for name in others {
        let (mut c, _) = Client::register(url, name).await?;
        c.join(room).await?;
        clients.push(c);
        // Alice hears each join, so her next frames are about what follows.
        loop {
            let update = alice.recv_type("ROOM_MEMBERS_UPDATE").await?;
            if names(&update["members"]).contains(&(*name).to_string()) {
                break;
            }
        }
    }
    Ok((alice, clients))
}

async fn private_room(c: &mut Client, room: &str) -> Result<()> {
    c.send(json!({"type": "CREATE_ROOM", "roomId": room, "private": true})).await?;
    c.recv_type("ROOM_MEMBERS_UPDATE").await.map(drop)
}

fn names(list: &Value) -> Vec<String> {
    list.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect()
}

/// Sends `frame`, which must be refused with `code`; returns the `ERROR`.
async fn refused(c: &mut Client, frame: Value, code: &str) -> Result<Value> {
    let e = c.expect_error(frame.clone()).await?;
    anyhow::ensure!(e["code"] == code, "{frame}: expected {code}, got {e}");
    Ok(e)
}

/// Skips frames until the answer to the request with this `ref`.
async fn answer(c: &mut Client, reference: &str) -> Result<Value> {
    loop {
        let frame = c.recv().await?;
        if frame["ref"] == reference {
            return Ok(frame);
        }
    }
}

fn said(e: &Value) -> &str {
    e["message"].as_str().unwrap_or("")
}

async fn say(c: &mut Client, room: &str, content: &str) -> Result<Value> {
    let cid = format!("{room}-{content}");
    c.send(json!({"type": "CHAT_MESSAGE", "roomId": room, "content": content, "clientId": cid})).await?;
    c.recv_echo(&cid).await
}

#[tokio::test]
async fn kick_removes_a_member_on_all_their_devices_and_tells_the_room() -> Result<()> {
    let (server, _dir, mut alice, mut others) = lobby(&["bob", "carol"]).await?;
    let url = server.url();
    let mut bob_laptop = Client::login(&url, "bob").await?;
    let (mut bob, mut carol) = (others.remove(0), others.remove(0));
    // The creator is the room's admin, and the member list says so.
    let update = carol.join("lobby").await?;
    assert_eq!(update["admins"], json!(["alice"]), "{update}");

    alice.send(json!({"type": "KICK", "roomId": "lobby", "userId": "bob", "reason": "too loud", "ref": "k1"})).await?;
    let kicked = json!({"type": "KICKED", "roomId": "lobby", "by": "alice", "reason": "too loud"});
    assert_eq!(bob.recv_type("KICKED").await?, kicked);
    assert_eq!(bob_laptop.recv_type("KICKED").await?, kicked);
    assert_eq!(carol.recv_type("USER_LEFT").await?, json!({"type": "USER_LEFT", "roomId": "lobby", "userId": "bob"}));
    assert_eq!(names(&carol.recv_type("ROOM_MEMBERS_UPDATE").await?["members"]), ["alice", "carol"]);
    // The moderator's reply carries the ref.
    let update = answer(&mut alice, "k1").await?;
    assert_eq!(
        (&update["type"], names(&update["members"])),
        (&json!("ROOM_MEMBERS_UPDATE"), vec!["alice".into(), "carol".into()])
    );

    // Bob left the room in the hub too: nothing said there reaches him, and he cannot post.
    say(&mut carol, "lobby", "quiet now").await?;
    bob.assert_nothing_pending().await?;
    bob_laptop.assert_nothing_pending().await?;
    refused(&mut bob, json!({"type": "CHAT_MESSAGE", "roomId": "lobby", "content": "hey"}), "not_found").await?;
    // A kick is not a ban: he may come back.
    bob.join("lobby").await?;
    assert_eq!(carol.recv_type("USER_JOINED").await?["userId"], "bob");

    // Kicking someone who is not a member, or yourself, is refused with words.
    refused(&mut alice, json!({"type": "KICK", "roomId": "lobby", "userId": "nobody"}), "not_found").await?;
    refused(&mut alice, json!({"type": "KICK", "roomId": "lobby", "userId": "alice"}), "invalid").await?;
    server.stop().await
}

#[tokio::test]
async fn a_banned_user_stays_out_until_unbanned() -> Result<()> {
    let (server, _dir, mut alice, mut others) = lobby(&["bob"]).await?;
    let url = server.url();
    let mut bob = others.remove(0);
    alice.send(json!({"type": "BAN", "roomId": "lobby", "userId": "bob"})).await?;
    assert_eq!(
        bob.recv_type("KICKED").await?,
        json!({"type": "KICKED", "roomId": "lobby", "by": "alice", "banned": true})
    );
    assert_eq!(alice.recv_type("USER_LEFT").await?["userId"], "bob");

    let e = bob.expect_error(json!({"type": "JOIN_ROOM", "roomId": "lobby", "ref": "j"})).await?;
    assert_eq!((&e["code"], &e["ref"]), (&json!("forbidden"), &json!("j")), "{e}");
    assert!(said(&e).contains("banned from \"lobby\""), "{e}");
    // Nor may anyone invite him back.
    let e = refused(&mut alice, json!({"type": "INVITE", "roomId": "lobby", "userId": "bob"}), "forbidden").await?;
    assert!(said(&e).contains("\"bob\" is banned"), "{e}");

    // A pre-emptive ban of someone who never joined.
    let (mut dave, _) = Client::register(&url, "dave").await?;
    alice.send(json!({"type": "BAN", "roomId": "lobby", "userId": "dave", "ref": "b2"})).await?;
    assert_eq!(answer(&mut alice, "b2").await?["type"], "ROOM_MEMBERS_UPDATE");
    refused(&mut dave, json!({"type": "JOIN_ROOM", "roomId": "lobby"}), "forbidden").await?;

    alice.send(json!({"type": "UNBAN", "roomId": "lobby", "userId": "bob"})).await?;
    alice.recv_type("ROOM_MEMBERS_UPDATE").await?;
    bob.join("lobby").await?;
    assert_eq!(alice.recv_type("USER_JOINED").await?["userId"], "bob");
    refused(&mut alice, json!({"type": "UNBAN", "roomId": "lobby", "userId": "bob"}), "not_found").await?;
    server.stop().await
}

#[tokio::test]
async fn set_topic_tells_the_room() -> Result<()> {
    let (server, _dir, mut alice, mut others) = lobby(&["bob"]).await?;
    let mut bob = others.remove(0);
    alice.send(json!({"type": "SET_TOPIC", "roomId": "lobby", "topic": "release day 🚀", "ref": "t"})).await?;
    let room = json!({"type": "ROOM", "roomId": "lobby", "topic": "release day 🚀", "private": false, "kind": "room"});
    assert_eq!(bob.recv_type("ROOM").await?, room);
    refused(&mut bob, json!({"type": "SET_TOPIC", "roomId": "lobby", "topic": "mine now"}), "forbidden").await?;
    refused(&mut bob, json!({"type": "SET_TOPIC", "roomId": "lobby", "topic": "a\u{202e}b"}), "invalid").await?;
    bob.send(json!({"type": "LIST_ROOMS"})).await?;
    let rooms = bob.recv_type("ROOMS").await?;
    let lobby = rooms["rooms"].as_array().and_then(|r| r.iter().find(|r| r["roomId"] == "lobby")).cloned();
    let lobby = lobby.unwrap_or_default();
    assert_eq!((&lobby["topic"], &lobby["role"]), (&json!("release day 🚀"), &json!("member")), "{lobby}");
    alice.send(json!({"type": "LIST_ROOMS"})).await?;
    let rooms = alice.recv_type("ROOMS").await?;
    let lobby = rooms["rooms"].as_array().and_then(|r| r.iter().find(|r| r["roomId"] == "lobby")).cloned();
    assert_eq!(lobby.unwrap_or_default()["role"], "admin");
    server.stop().await
}

#[tokio::test]
async fn a_promoted_member_may_kick_and_an_admin_is_safe_from_other_admins() -> Result<()> {
    let (server, _dir, mut alice, mut others) = lobby(&["bob", "carol"]).await?;
    let (mut bob, mut carol) = (others.remove(0), others.remove(0));
    refused(&mut bob, json!({"type": "KICK", "roomId": "lobby", "userId": "carol"}), "forbidden").await?;
    refused(&mut bob, json!({"type": "SET_ROLE", "roomId": "lobby", "userId": "bob", "role": "admin"}), "forbidden")
        .await?;
    let owner = json!({"type": "SET_ROLE", "roomId": "lobby", "userId": "bob", "role": "owner"});
    let e = refused(&mut alice, owner, "invalid").await?;
    assert!(said(&e).starts_with("`role`"), "{e}");

    alice.send(json!({"type": "SET_ROLE", "roomId": "lobby", "userId": "bob", "role": "admin"})).await?;
    let update = carol.recv_type("ROOM_MEMBERS_UPDATE").await?;
    assert_eq!(update["admins"], json!(["alice", "bob"]), "{update}");
    bob.recv_type("ROOM_MEMBERS_UPDATE").await?;

    bob.send(json!({"type": "KICK", "roomId": "lobby", "userId": "carol"})).await?;
    assert_eq!(carol.recv_type("KICKED").await?["by"], "bob");
    // Admins cannot remove or demote each other; only a server admin can.
    refused(&mut bob, json!({"type": "KICK", "roomId": "lobby", "userId": "alice"}), "forbidden").await?;
    refused(&mut bob, json!({"type": "BAN", "roomId": "lobby", "userId": "alice"}), "forbidden").await?;
    let demote = json!({"type": "SET_ROLE", "roomId": "lobby", "userId": "alice", "role": "member"});
    refused(&mut bob, demote, "forbidden").await?;
    // Stepping down is allowed.
    bob.send(json!({"type": "SET_ROLE", "roomId": "lobby", "userId": "bob", "role": "member", "ref": "down"})).await?;
    assert_eq!(answer(&mut bob, "down").await?["admins"], json!(["alice"]));
    server.stop().await
}

#[tokio::test]
async fn room_admins_delete_others_messages() -> Result<()> {
    let (server, _dir, mut alice, mut others) = lobby(&["bob", "carol"]).await?;
    let (mut bob, mut carol) = (others.remove(0), others.remove(0));
    let spam = say(&mut bob, "lobby", "buy now").await?;
    refused(&mut carol, json!({"type": "DELETE_MESSAGE", "messageId": spam["id"]}), "forbidden").await?;
    alice.send(json!({"type": "DELETE_MESSAGE", "messageId": spam["id"]})).await?;
    let deleted = json!({"type": "MESSAGE_DELETED", "roomId": "lobby", "messageId": spam["id"]});
    assert_eq!(bob.recv_type("MESSAGE_DELETED").await?, deleted);
    assert_eq!(carol.recv_type("MESSAGE_DELETED").await?, deleted);
    server.stop().await
}

#[tokio::test]
async fn non_admins_are_refused_and_private_rooms_stay_hidden() -> Result<()> {
    let (server, _dir, mut alice, mut others) = lobby(&["bob"]).await?;
    let url = server.url();
    let mut bob = others.remove(0);
    private_room(&mut alice, "secret").await?;
    let (mut eve, _) = Client::register(&url, "eve").await?;
    for (frame, code) in [
        (json!({"type": "KICK", "roomId": "lobby", "userId": "alice"}), "forbidden"),
        (json!({"type": "BAN", "roomId": "lobby", "userId": "bob"}), "forbidden"),
        (json!({"type": "UNBAN", "roomId": "lobby", "userId": "bob"}), "forbidden"),
        (json!({"type": "SET_TOPIC", "roomId": "lobby", "topic": "x"}), "forbidden"),
        (json!({"type": "KICK", "roomId": "secret", "userId": "alice"}), "not_found"),
        (json!({"type": "SET_ROLE", "roomId": "secret", "userId": "eve", "role": "admin"}), "not_found"),
        (json!({"type": "SET_TOPIC", "roomId": "secret", "topic": "x"}), "not_found"),
        (json!({"type": "SET_TOPIC", "roomId": "no-such-room", "topic": "x"}), "not_found"),
    ] {
        refused(&mut eve, frame, code).await?;
    }
    // The same words for a private room as for one that does not exist.
    let hidden = eve.expect_error(json!({"type": "SET_TOPIC", "roomId": "secret", "topic": "x"})).await?;
    let missing = eve.expect_error(json!({"type": "SET_TOPIC", "roomId": "nothing", "topic": "x"})).await?;
    assert_eq!(
        hidden["message"].as_str().map(|m| m.replace("secret", "?")),
        missing["message"].as_str().map(|m| m.replace("nothing", "?"))
    );
    // A member of a room is refused too (and told why), and DMs have no admins.
    let e = refused(&mut bob, json!({"type": "KICK", "roomId": "lobby", "userId": "alice"}), "forbidden").await?;
    assert!(said(&e).contains("not an admin"), "{e}");
    bob.send(json!({"type": "OPEN_DM", "userId": "alice"})).await?;
    bob.recv_type("ROOM").await?;
    refused(&mut bob, json!({"type": "KICK", "roomId": "dm:alice:bob", "userId": "alice"}), "forbidden").await?;
    server.stop().await
}

#[tokio::test]
async fn a_server_admin_moderates_a_room_they_did_not_create() -> Result<()> {
    let (server, _dir, mut alice, mut others) = lobby(&["bob"]).await?;
    let url = server.url();
    let mut bob = others.remove(0);
    private_room(&mut alice, "secret").await?;
    alice.send(json!({"type": "INVITE", "roomId": "secret", "userId": "bob"})).await?;
    bob.recv_type("ROOM").await?;
    let (mut root, _) = Client::register(&url, "root").await?;
    refused(&mut root, json!({"type": "KICK", "roomId": "lobby", "userId": "bob"}), "forbidden").await?;
    server.store.set_admin("root".into(), true).await?;
    assert!(server.store.set_admin("nobody".into(), true).await.is_err(), "no such user");

    // Without joining: a topic, a kick of the room's own admin, in a private room too.
    root.send(json!({"type": "SET_TOPIC", "roomId": "lobby", "topic": "moderated", "ref": "t"})).await?;
    assert_eq!(root.recv_type("ROOM").await?["ref"], "t");
    assert_eq!(bob.recv_type("ROOM").await?["topic"], "moderated");
    root.send(json!({"type": "KICK", "roomId": "secret", "userId": "alice", "reason": "audit"})).await?;
    let kicked = alice.recv_type("KICKED").await?;
    assert_eq!(
        (&kicked["roomId"], &kicked["by"], &kicked["reason"]),
        (&json!("secret"), &json!("root"), &json!("audit"))
    );
    assert_eq!(bob.recv_type("USER_LEFT").await?, json!({"type": "USER_LEFT", "roomId": "secret", "userId": "alice"}));

    // Joined: they delete anyone's message there.
    root.join("lobby").await?;
    let m = say(&mut bob, "lobby", "off topic").await?;
    root.send(json!({"type": "DELETE_MESSAGE", "messageId": m["id"]})).await?;
    assert_eq!(bob.recv_type("MESSAGE_DELETED").await?["messageId"], m["id"]);
    // A room admin cannot remove a server admin.
    refused(&mut alice, json!({"type": "KICK", "roomId": "lobby", "userId": "root"}), "forbidden").await?;
    server.stop().await
}
