//! When a desktop notification (and the bell) goes out, and what it carries.

use chaty_proto::{NotifyLevel, RoomKind, ServerFrame};
use chaty_tui::app::{App, Cmd, Msg};
use chaty_tui::notify;
use crossterm::event::KeyCode;
use ratatui::style::{Color, Modifier};
use tokio::time::Instant;

use crate::support::{frame, key, message, render, sent, signed_in, type_text};

const T: &str = "2024-03-28T12:00:00.000Z";

fn app() -> App {
    // #general is shown (the first room); #ops and the DM are elsewhere.
    signed_in(&[("general", RoomKind::Room, ""), ("ops", RoomKind::Room, ""), ("dm:alice:bob", RoomKind::Dm, "")])
}

fn say(app: &mut App, room: &str, seq: u64, user: &str, text: &str) -> Vec<Cmd> {
    app.update(frame(ServerFrame::ChatMessage(message(room, seq, user, text, T))), Instant::now())
}

fn notes(cmds: &[Cmd]) -> Vec<(String, String)> {
    cmds.iter()
        .filter_map(|c| match c {
            Cmd::Notify { title, body } => Some((title.clone(), body.clone())),
            _ => None,
        })
        .collect()
}

/// Neither a notification nor the bell.
fn quiet(cmds: &[Cmd]) -> bool {
    !cmds.iter().any(|c| matches!(c, Cmd::Notify { .. } | Cmd::Bell))
}

fn level(app: &mut App, room: &str, level: NotifyLevel) {
    app.update(frame(ServerFrame::Notify { room_id: room.into(), level }), Instant::now());
}

#[test]
fn a_mention_elsewhere_notifies_and_rings() {
    let mut app = app();
    let cmds = say(&mut app, "ops", 1, "bob", "@alice deploy?");
    assert_eq!(notes(&cmds), [("bob in #ops".to_string(), "@alice deploy?".to_string())]);
    assert!(cmds.contains(&Cmd::Bell), "{cmds:?}");
    // Plain chatter in a `mentions` room (the default) does neither.
    assert!(quiet(&say(&mut app, "ops", 2, "bob", "anyone?")));
}

#[test]
fn the_room_on_screen_notifies_only_when_the_terminal_is_not_focused() {
    let mut app = app();
    assert!(quiet(&say(&mut app, "general", 1, "bob", "hi @alice")), "focused and shown");
    app.update(Msg::Focus(false), Instant::now());
    assert_eq!(notes(&say(&mut app, "general", 2, "bob", "@alice?")).len(), 1);
    app.update(Msg::Focus(true), Instant::now());
    assert!(quiet(&say(&mut app, "general", 3, "bob", "@alice!")));
}

#[test]
fn a_dm_notifies_and_own_messages_never_do() {
    let mut app = app();
    assert_eq!(
        notes(&say(&mut app, "dm:alice:bob", 1, "bob", "lunch?")),
        [("bob in @bob".to_string(), "lunch?".to_string())]
    );
    app.update(Msg::Focus(false), Instant::now());
    assert!(quiet(&say(&mut app, "dm:alice:bob", 2, "alice", "sure, alice is hungry")));
    assert!(quiet(&say(&mut app, "ops", 3, "alice", "@alice note to self")));
}

#[test]
fn room_levels_decide_all_mentions_and_none() {
    let mut app = app();
    level(&mut app, "ops", NotifyLevel::All);
    let cmds = say(&mut app, "ops", 1, "bob", "anyone?");
    assert_eq!(notes(&cmds).len(), 1, "every message in an `all` room");
    assert!(!cmds.contains(&Cmd::Bell), "the bell is for mentions and DMs");
    level(&mut app, "ops", NotifyLevel::None);
    assert!(quiet(&say(&mut app, "ops", 2, "bob", "@alice urgent")), "a `none` room never rings");
    level(&mut app, "dm:alice:bob", NotifyLevel::None);
    assert!(quiet(&say(&mut app, "dm:alice:bob", 3, "bob", "hello?")));
    // Unread still counts, shown dim.
    assert_eq!(app.rooms.iter().find(|r| r.id == "ops").map(|r| (r.unread, r.mentions)), Some((2, 1)));
}

#[test]
fn notifications_off_keep_the_bell() {
    let mut app = app();
    app.notifications = false;
    assert_eq!(say(&mut app, "ops", 1, "bob", "@alice?"), [Cmd::Bell]);
    app.bell = false;
    assert!(quiet(&say(&mut app, "ops", 2, "bob", "@alice??")));
}

#[test]
fn a_hostile_message_cannot_end_the_sequence_or_start_its_own() {
    let mut app = app();
    let hostile = "@alice \u{7}\u{1b}]52;c;ZXZpbA==\u{7}look; \u{1b}]0;pwned\u{7}x\u{1b}";
    app.update(
        frame(ServerFrame::ChatMessage(chaty_proto::Message {
            user_name: "b;o\u{7}b\u{1b}]2;t\u{7}".into(),
            ..message("ops", 1, "bob", hostile, T)
        })),
        Instant::now(),
    );
    let cmds = say(&mut app, "ops", 2, "bob", hostile);
    let [(title, body)] = notes(&cmds).try_into().expect("one notification");
    assert_eq!((title.as_str(), body.as_str()), ("bob in #ops", "@alice look x"));
    assert_eq!(
        notify::osc(&title, &body, false),
        b"\x1b]777;notify;bob in #ops;@alice look x\x07\x1b]9;bob in #ops: @alice look x\x07".to_vec()
    );
    // Even handed raw text, the payload never carries `;`, BEL or ESC of its own.
    let raw = notify::osc("b;o\u{7}b", hostile, false);
    assert_eq!(raw, b"\x1b]777;notify;bob;@alice look x\x07\x1b]9;bob: @alice look x\x07".to_vec());
}

#[test]
fn the_body_is_the_first_200_characters() {
    let mut app = app();
    let long = format!("@alice {}", "é".repeat(300));
    let [(_, body)] = notes(&say(&mut app, "ops", 1, "bob", &long)).try_into().expect("one");
    assert_eq!(body.chars().count(), notify::BODY_CHARS);
    assert!(body.starts_with("@alice éé"));
}

#[test]
fn slash_notify_sets_the_current_room_and_the_sidebar_shows_it() {
    let mut app = app();
    let command = |app: &mut App, line: &str| {
        type_text(app, line, Instant::now());
        sent(&app.update(key(KeyCode::Enter), Instant::now()))
    };
    let set = command(&mut app, "/notify none");
    assert_eq!(set, [serde_json::json!({"type": "SET_NOTIFY", "roomId": "general", "level": "none"})]);
    assert!(command(&mut app, "/notify loud").is_empty());
    assert!(
        app.notice.as_ref().is_some_and(|(n, error)| n.starts_with("usage: /notify") && *error),
        "{:?}",
        app.notice
    );
    // The server's answer (to every connection) is what changes the room.
    level(&mut app, "general", NotifyLevel::None);
    assert_eq!(
        app.notice.as_ref().map(|(n, _)| n.as_str()),
        Some("#general: notifies you of nothing (its unread count shows dim)")
    );
    level(&mut app, "ops", NotifyLevel::None);
    say(&mut app, "ops", 1, "bob", "@alice hi");
    say(&mut app, "dm:alice:bob", 2, "bob", "@alice hi");
    let terminal = render(&mut app, 80, 24);
    let buffer = terminal.backend().buffer();
    let row = |y: u16| (0..17).map(|x| buffer[(x, y)].symbol().to_string()).collect::<String>();
    assert_eq!((row(1), row(2)), (" #ops        @1 1".to_string(), " Direct          ".to_string()));
    assert_eq!(row(3), " @bob        @1 1");
    // The `none` room's counts are dim; elsewhere the mention count stands out.
    assert!(buffer[(16, 1)].modifier.contains(Modifier::DIM) || buffer[(16, 1)].fg == Color::DarkGray);
    assert_eq!(buffer[(13, 3)].fg, Color::Yellow);
    assert!(buffer[(16, 3)].modifier.contains(Modifier::BOLD) && buffer[(16, 3)].fg != Color::DarkGray);
}
