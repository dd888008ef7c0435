//! When a desktop notification (and the bell) goes out, and what it carries.

use chaty_proto::{NotifyLevel, RoomKind, ServerFrame};
use chaty_tui::app::{App, Cmd, Msg};
use chaty_tui::notify;
use tokio::time::Instant;

use crate::support::{frame, message, signed_in};

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
