//! Jumping to what is new (Alt-A) and the mouse.

use chaty_proto::{NotifyLevel, RoomKind, ServerFrame};
use chaty_tui::app::{App, Msg};
use crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use tokio::time::Instant;

use crate::support::{alt, frame, members, message, signed_in};

const T: &str = "2024-03-28T12:00:00.000Z";

fn current(app: &App) -> &str {
    app.current_room().map_or("", |r| r.id.as_str())
}

fn set(app: &mut App, id: &str, unread: usize, mentions: usize, notify: NotifyLevel) {
    let room = app.rooms.iter_mut().find(|r| r.id == id).expect(id);
    (room.unread, room.mentions, room.notify) = (unread, mentions, notify);
}

#[test]
fn alt_a_goes_to_mentions_then_dms_then_unread_rooms_and_back() {
    let now = Instant::now();
    let mut app = signed_in(&[
        ("general", RoomKind::Room, ""),
        ("ops", RoomKind::Room, ""),
        ("quiet", RoomKind::Room, ""),
        ("zz", RoomKind::Room, ""),
        ("dm:alice:bob", RoomKind::Dm, ""),
        ("dm:alice:carol", RoomKind::Dm, ""),
        ("aa", RoomKind::Room, ""),
    ]);
    let sidebar: Vec<&str> = app.rooms.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(sidebar, ["aa", "general", "ops", "quiet", "zz", "dm:alice:bob", "dm:alice:carol"]);
    app.update(alt(KeyCode::Char('2')), now);
    assert_eq!(current(&app), "general");
    set(&mut app, "aa", 1, 0, NotifyLevel::Mentions);
    set(&mut app, "ops", 3, 0, NotifyLevel::All);
    set(&mut app, "quiet", 9, 2, NotifyLevel::None);
    set(&mut app, "zz", 1, 1, NotifyLevel::Mentions);
    set(&mut app, "dm:alice:bob", 2, 0, NotifyLevel::All);
    set(&mut app, "dm:alice:carol", 1, 1, NotifyLevel::All);
    let mut visited = Vec::new();
    for _ in 0..7 {
        app.update(alt(KeyCode::Char('a')), now);
        visited.push(current(&app).to_string());
    }
    // Mentions (in sidebar order), DMs, unread rooms; never the `none` room;
    // then back to where the jumping started, and there it stays.
    assert_eq!(visited, ["zz", "dm:alice:carol", "dm:alice:bob", "aa", "ops", "general", "general"]);
    assert_eq!(app.notice.as_ref().map(|(n, _)| n.as_str()), Some("no other room has activity"));
    assert_eq!(app.rooms.iter().find(|r| r.id == "quiet").map(|r| r.unread), Some(9), "skipped");
}

fn mouse(kind: MouseEventKind, column: u16, row: u16) -> Msg {
    Msg::Mouse(MouseEvent { kind, column, row, modifiers: KeyModifiers::NONE })
}

#[test]
fn clicks_open_rooms_and_select_messages_and_the_wheel_scrolls_what_is_under_it() {
    let now = Instant::now();
    let mut app =
        signed_in(&[("general", RoomKind::Room, ""), ("ops", RoomKind::Room, ""), ("dm:alice:bob", RoomKind::Dm, "")]);
    app.update(Msg::Resize(80, 24), now);
    // Sidebar rows: #general, #ops, "Direct", @bob.
    app.update(mouse(MouseEventKind::Down(MouseButton::Left), 3, 1), now);
    assert_eq!(current(&app), "ops");
    app.update(mouse(MouseEventKind::Down(MouseButton::Left), 3, 2), now);
    assert_eq!(current(&app), "ops", "the heading is no room");
    app.update(mouse(MouseEventKind::Down(MouseButton::Left), 3, 3), now);
    assert_eq!(current(&app), "dm:alice:bob");
    app.update(alt(KeyCode::Char('1')), now);
    for seq in 1..=40 {
        app.update(frame(ServerFrame::ChatMessage(message("general", seq, "bob", &format!("m{seq}"), T))), now);
    }
    // The pane shows the last messages, one line each, the newest at the bottom.
    let bottom = app.areas().messages.bottom() - 1;
    app.update(mouse(MouseEventKind::Down(MouseButton::Left), 30, bottom), now);
    assert_eq!(app.selected().map(|m| m.content.as_str()), Some("m40"));
    app.update(mouse(MouseEventKind::Down(MouseButton::Left), 30, bottom - 1), now);
    assert_eq!(app.selected().map(|m| m.content.as_str()), Some("m39"));
    // The wheel over the transcript scrolls it; over the member list, the list.
    app.update(mouse(MouseEventKind::ScrollUp, 30, 5), now);
    assert_eq!(app.current_room().map(|r| r.scroll), Some(3));
    let names: Vec<String> = (0..40).map(|i| format!("user{i:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    app.update(members("general", &names, &[]), now);
    app.update(mouse(MouseEventKind::ScrollDown, 70, 5), now);
    assert_eq!((app.members_scroll, app.current_room().map(|r| r.scroll)), (3, Some(3)));
    app.update(mouse(MouseEventKind::ScrollUp, 70, 5), now);
    assert_eq!(app.members_scroll, 0);
}
