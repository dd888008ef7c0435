//! Jumping to what is new (Alt-A) and the mouse.

use chaty_proto::{NotifyLevel, RoomKind};
use chaty_tui::app::App;
use crossterm::event::KeyCode;
use tokio::time::Instant;

use crate::support::{alt, signed_in};

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
