//! Moderation in the client: `/kick`, `/ban`, `/unban`, `/op`, `/deop` and
//! `/topic` send their frames for the current room, names complete as
//! elsewhere, admins are marked in the member list, and `KICKED` leaves the
//! room in the sidebar, not joined, with a line saying why.

use chaty_proto::{RoomKind, ServerFrame};
use chaty_tui::app::App;
use crossterm::event::KeyCode;
use serde_json::json;
use tokio::time::Instant;

use crate::support::*;

const T: &str = "2024-03-28T12:00:00.000Z";

/// alice in #general (carol is its admin) and a DM with bob.
fn general() -> App {
    let now = Instant::now();
    let mut app = signed_in(&[("general", RoomKind::Room, "all hands"), ("dm:alice:bob", RoomKind::Dm, "")]);
    let names = |list: &[&str]| list.iter().map(|m| (*m).to_string()).collect();
    app.update(
        frame(ServerFrame::RoomMembersUpdate {
            room_id: "general".into(),
            members: names(&["alice", "bob", "carol", "dave"]),
            online: names(&["alice", "bob", "carol"]),
            away: vec![],
            last_seen: Default::default(),
            read: Default::default(),
            display_names: Default::default(),
            status_texts: Default::default(),
            admins: names(&["carol"]),
        }),
        now,
    );
    app.update(frame(ServerFrame::ChatMessage(message("general", 1, "bob", "buy now!!", T))), now);
    app
}

fn command(app: &mut App, line: &str) -> Vec<serde_json::Value> {
    let now = Instant::now();
    type_text(app, line, now);
    sent(&app.update(key(KeyCode::Enter), now))
}

#[test]
fn moderation_commands_send_their_frames_for_the_current_room() {
    let mut app = general();
    assert_eq!(
        command(&mut app, "/kick @bob spamming links"),
        [json!({"type": "KICK", "roomId": "general", "userId": "bob", "reason": "spamming links"})]
    );
    assert_eq!(command(&mut app, "/ban bob"), [json!({"type": "BAN", "roomId": "general", "userId": "bob"})]);
    assert_eq!(command(&mut app, "/unban bob"), [json!({"type": "UNBAN", "roomId": "general", "userId": "bob"})]);
    assert_eq!(
        command(&mut app, "/op dave"),
        [json!({"type": "SET_ROLE", "roomId": "general", "userId": "dave", "role": "admin"})]
    );
    assert_eq!(
        command(&mut app, "/deop carol"),
        [json!({"type": "SET_ROLE", "roomId": "general", "userId": "carol", "role": "member"})]
    );
    assert_eq!(
        command(&mut app, "/topic launch week"),
        [json!({"type": "SET_TOPIC", "roomId": "general", "topic": "launch week"})]
    );
    // A refusal is a notice, like any other.
    app.update(
        frame(ServerFrame::error(chaty_proto::ErrorCode::Forbidden, "you are not an admin of \"general\"")),
        Instant::now(),
    );
    assert_eq!(app.notice, Some(("you are not an admin of \"general\"".into(), true)));

    // DMs have no admins: nothing is sent.
    app.current = app.rooms.iter().position(|r| r.kind == RoomKind::Dm).unwrap_or(0);
    assert!(command(&mut app, "/kick bob").is_empty());
    assert!(app.notice.as_ref().is_some_and(|(n, err)| *err && n.contains("no admins")));
}

#[test]
fn names_complete_after_a_moderation_command() {
    let now = Instant::now();
    let mut app = general();
    type_text(&mut app, "/kick da", now);
    app.update(key(KeyCode::Tab), now);
    assert_eq!(app.input.text(), "/kick dave ");
    app.input.take();
    type_text(&mut app, "/deo", now);
    app.update(key(KeyCode::Tab), now);
    assert_eq!(app.input.text(), "/deop ");
}

#[test]
fn kicked_keeps_the_room_with_why_and_join_brings_it_back() {
    let now = Instant::now();
    let mut app = general();
    let kicked = ServerFrame::Kicked {
        room_id: "general".into(),
        by: "carol".into(),
        reason: Some("spam".into()),
        banned: false,
    };
    app.update(frame(kicked), now);
    let room = &app.rooms[app.current];
    assert_eq!(
        (room.id.as_str(), room.removed.as_deref()),
        ("general", Some("you were removed from #general by carol: spam"))
    );
    assert!(room.members.is_empty() && room.admins.is_empty(), "no longer a member");
    let screen = format!("{:?}", render(&mut app, 100, 20).backend());
    assert!(screen.contains("you were removed from #general by carol: spam"), "{screen}");
    assert!(screen.contains("buy now!!"), "the transcript stays");

    // /join sends JOIN_ROOM again (rather than only showing the room); its ROOM reloads it.
    assert_eq!(command(&mut app, "/join general"), [json!({"type": "JOIN_ROOM", "roomId": "general", "ref": "join"})]);
    let room = ServerFrame::Room {
        room_id: "general".into(),
        topic: "all hands".into(),
        private: false,
        kind: RoomKind::Room,
    };
    let cmds = sent(&app.update(reply(room, "join"), now));
    assert!(cmds.iter().any(|f| f["type"] == "HISTORY" && f["roomId"] == "general"), "{cmds:?}");
    assert_eq!(app.rooms[app.current].removed, None);

    // A ban says so; /leave then forgets the room without asking the server.
    let banned = ServerFrame::Kicked { room_id: "general".into(), by: "carol".into(), reason: None, banned: true };
    app.update(frame(banned), now);
    assert_eq!(app.rooms[app.current].removed.as_deref(), Some("you were banned from #general by carol"));
    assert!(command(&mut app, "/leave").is_empty());
    assert!(app.rooms.iter().all(|r| r.id != "general"));
}

#[test]
fn a_member_list_with_an_admin() {
    let mut app = general();
    insta::assert_snapshot!(render(&mut app, 100, 14).backend());
}
