//! People: display names and status texts in the room, `/nick`, `/status`,
//! `/whois`, the `/users` list, people in the Ctrl-K switcher and
//! @-completion on display names.

use std::collections::BTreeMap;
use std::time::Duration;

use chaty_proto::{ErrorCode, PresenceStatus, RoomKind, ServerFrame, UserProfile};
use chaty_tui::app::{App, Msg};
use crossterm::event::KeyCode;
use serde_json::json;
use tokio::time::Instant;

use crate::support::*;

const T: &str = "2024-03-28T12:00:00.000Z";

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
}

fn members(online: &[&str], names: &[(&str, &str)], statuses: &[(&str, &str)]) -> Msg {
    let all = ["alice", "alex1", "alex2", "bob", "carol", "dave"];
    frame(ServerFrame::RoomMembersUpdate {
        room_id: "general".into(),
        members: all.iter().map(|m| (*m).to_string()).collect(),
        online: online.iter().map(|m| (*m).to_string()).collect(),
        away: vec!["carol".into()],
        last_seen: map(&[("dave", "2024-03-28T12:00:00.000Z")]),
        read: BTreeMap::new(),
        display_names: map(names),
        status_texts: map(statuses),
        admins: vec![],
    })
}

fn said(seq: u64, user: &str, name: &str, text: &str) -> Msg {
    let mut m = message("general", seq, user, text, T);
    m.user_name = name.into();
    frame(ServerFrame::ChatMessage(m))
}

/// #general with display names: emoji, CJK, two people called Alex, status texts.
fn named_room() -> App {
    let now = Instant::now();
    let mut app = signed_in(&[("general", RoomKind::Room, "all hands")]);
    app.wall_ms = chaty_proto::time::parse_millis("2024-03-28T14:00:00.000Z").unwrap_or(0);
    app.update(
        members(
            &["alice", "alex1", "alex2", "bob", "carol"],
            &[("alex1", "Alex"), ("alex2", "Alex"), ("bob", "Bob 🎸"), ("carol", "山田 花子")],
            &[("bob", "on stage until 9"), ("carol", "東京にいます — back Monday"), ("alex2", "🌴 out of office")],
        ),
        now,
    );
    for (seq, user, name, text) in [
        (1, "alex1", "Alex", "deploy is green"),
        (2, "alex2", "Alex", "which Alex are you?"),
        (3, "bob", "Bob 🎸", "@alice soundcheck at 5"),
        (4, "carol", "山田 花子", "了解です"),
        (5, "dave", "dave", "/me waves"),
    ] {
        app.update(said(seq, user, name, text), now);
    }
    app
}

fn profile(user: &str, shown: &str, status: &str) -> ServerFrame {
    ServerFrame::Profile { user_id: user.into(), display_name: shown.into(), status_text: status.into() }
}

fn person(user: &str, shown: &str, status: &str, presence: Option<PresenceStatus>) -> UserProfile {
    UserProfile {
        user_id: user.into(),
        display_name: shown.into(),
        status_text: status.into(),
        status: presence,
        last_seen: None,
    }
}

fn enter_line(app: &mut App, text: &str, now: Instant) -> Vec<serde_json::Value> {
    app.update(ctrl('u'), now);
    type_text(app, text, now);
    sent(&app.update(key(KeyCode::Enter), now))
}

#[test]
fn nick_and_status_send_set_profile_and_bad_input_stays_local() {
    let now = Instant::now();
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    assert_eq!(
        enter_line(&mut app, "/nick Ana María 🌸", now),
        [json!({"type": "SET_PROFILE", "displayName": "Ana María 🌸", "ref": "profile:nick"})]
    );
    app.update(reply(profile("alice", "Ana María 🌸", ""), "profile:nick"), now);
    assert_eq!(app.my_name(), "Ana María 🌸");
    assert_eq!(app.notice, Some(("you are now shown as Ana María 🌸".into(), false)));
    let screen = format!("{:?}", render(&mut app, 80, 24).backend());
    assert!(screen.contains(" Ana María 🌸 · alice@127.0.0.1:8181 "), "the status bar says who you are: {screen}");

    // Refused before sending: the text stays in the input to be fixed.
    assert!(enter_line(&mut app, "/nick evil\u{202E}gnp.exe", now).is_empty());
    assert!(app.notice.as_ref().is_some_and(|(n, err)| *err && n.contains("bidirectional")), "{:?}", app.notice);
    assert_eq!(app.input.text(), "/nick evil\u{202E}gnp.exe");
    assert!(enter_line(&mut app, &format!("/nick {}", "x".repeat(65)), now).is_empty());
    assert!(app.notice.as_ref().is_some_and(|(n, _)| n.contains("limit is 64")));
    assert!(enter_line(&mut app, &format!("/status {}", "y".repeat(101)), now).is_empty());
    assert!(app.notice.as_ref().is_some_and(|(n, _)| n.contains("limit is 100")));

    assert_eq!(
        enter_line(&mut app, "/status in a meeting", now),
        [json!({"type": "SET_PROFILE", "statusText": "in a meeting", "ref": "profile:status"})]
    );
    app.update(reply(profile("alice", "Ana María 🌸", "in a meeting"), "profile:status"), now);
    assert_eq!(app.people.status_text, "in a meeting");
    assert_eq!(
        enter_line(&mut app, "/status", now),
        [json!({"type": "SET_PROFILE", "statusText": "", "ref": "profile:status"})]
    );

    // The server's refusal is shown too.
    app.update(reply(ServerFrame::error(ErrorCode::RateLimited, "slow down"), "profile:status"), now);
    assert_eq!(app.notice, Some(("could not change your status text: slow down".into(), true)));

    // A change made on another device arrives without a ref.
    app.update(frame(profile("alice", "Ana", "")), now);
    assert_eq!((app.my_name(), app.people.status_text.as_str()), ("Ana", ""));
}

#[test]
fn sign_in_and_profile_frames_keep_names_current() {
    let now = Instant::now();
    let mut app = named_room();
    assert_eq!(app.my_name(), "alice", "AUTH_OK's display name");
    let room = app.current_room().expect("room");
    assert_eq!((room.display_name("bob"), room.status_text("bob")), ("Bob 🎸", "on stage until 9"));

    app.update(frame(profile("bob", "Robert", "")), now);
    let room = app.current_room().expect("room");
    assert_eq!((room.display_name("bob"), room.status_text("bob")), ("Robert", ""));
    app.update(frame(profile("bob", "bob", "back")), now);
    let room = app.current_room().expect("room");
    assert_eq!((room.display_name("bob"), room.status_text("bob")), ("bob", "back"));
    assert!(!room.display_names.contains_key("bob"), "a display name equal to the login is no display name");

    let who = enter_line(&mut app, "/who", now);
    assert!(who.is_empty());
    let lines = app.overlay.as_ref().map(|o| o.lines.clone()).unwrap_or_default();
    assert!(lines.contains(&"● Alex (alex2) — 🌴 out of office".to_string()), "{lines:?}");
    assert!(lines.contains(&"● bob — back".to_string()), "{lines:?}");
}

#[test]
fn shared_display_names_are_told_apart_and_typing_uses_display_names() {
    let now = Instant::now();
    let mut app = named_room();
    let typing = |user: &str, name: &str| {
        frame(ServerFrame::Typing {
            room_id: "general".into(),
            user_id: user.into(),
            user_name: name.into(),
            typing: true,
        })
    };
    app.update(typing("alex2", "Alex"), now);
    assert_eq!(app.typing_text().as_deref(), Some("Alex (alex2) is typing…"));
    app.update(typing("bob", "Bob 🎸"), now);
    assert_eq!(app.typing_text().as_deref(), Some("Alex (alex2) and Bob 🎸 are typing…"));

    // alex1 takes another name: the messages sent as "Alex" still say which Alex.
    app.update(frame(profile("alex1", "Alexander", "")), now);
    let text = format!("{:?}", render(&mut app, 120, 30).backend());
    assert!(text.contains("Alex (alex1)"), "alex1's old messages still say which Alex");
    assert!(text.contains("Alex (alex2)"), "alex1 went by Alex here too");
    assert!(text.contains("Alexander"), "member list: the new name");
    assert!(text.contains("Bob 🎸 bob"), "member list: the login, when it fits");
}

#[test]
fn whois_asks_the_directory_with_a_ref_and_shows_a_card() {
    let now = Instant::now();
    let mut app = named_room();
    assert_eq!(
        enter_line(&mut app, "/whois @bob", now),
        [json!({"type": "USERS", "userIds": ["bob"], "ref": "whois:1"})]
    );
    // A display name works too when one person goes by it; a shared one is explained.
    assert_eq!(enter_line(&mut app, "/whois Bob 🎸", now)[0]["userIds"], json!(["bob"]));
    assert!(enter_line(&mut app, "/whois Alex", now).is_empty());
    assert_eq!(app.notice, Some(("2 people go by “Alex”: @alex1, @alex2".into(), true)));

    // Only the newest /whois answer counts.
    app.update(reply(ServerFrame::Users { users: vec![person("zed", "Zed", "", None)] }, "whois:1"), now);
    assert!(app.people.whois.is_none(), "a stale answer is ignored");
    let bob = person("bob", "Bob 🎸", "on stage until 9", Some(PresenceStatus::Online));
    app.update(reply(ServerFrame::Users { users: vec![bob] }, "whois:2"), now);
    let card = app.people.whois.clone().expect("whois card");
    assert_eq!((card.person.user_id.as_str(), card.rooms.clone()), ("bob", vec!["#general".to_string()]));
    insta::assert_snapshot!(render(&mut app, 80, 24).backend());
    app.update(key(KeyCode::Esc), now);
    assert!(app.people.whois.is_none());

    // Not in the directory (a guest): what the room knows; nobody at all: say so.
    enter_line(&mut app, "/whois dave", now);
    app.update(reply(ServerFrame::Users { users: vec![] }, "whois:3"), now);
    let card = app.people.whois.clone().expect("local card");
    assert_eq!((card.person.status, card.person.last_seen.as_deref()), (Some(PresenceStatus::Offline), Some(T)));
    app.update(key(KeyCode::Esc), now);
    enter_line(&mut app, "/whois nobody", now);
    app.update(reply(ServerFrame::Users { users: vec![] }, "whois:4"), now);
    assert!(app.people.whois.is_none());
    assert!(app.notice.as_ref().is_some_and(|(n, e)| *e && n.starts_with("no user “nobody”")));
}

fn directory() -> Vec<UserProfile> {
    vec![
        person("ali", "Ali Baba", "", None),
        person("alice", "Alice Liddell", "down the rabbit hole", Some(PresenceStatus::Online)),
        person("alina", "Алина Петрова", "", Some(PresenceStatus::Offline)),
        person("sal", "Salvador ali", "hola", None),
    ]
}

#[test]
fn users_lists_the_directory_and_enter_opens_a_dm() {
    let now = Instant::now();
    let mut app = named_room();
    assert_eq!(
        enter_line(&mut app, "/users ali", now),
        [json!({"type": "USERS", "query": "ali", "limit": 50, "ref": "users:1"})]
    );
    let picker = app.people.picker.as_ref().expect("picker");
    assert!(picker.loading() && picker.shown().is_empty());
    app.update(reply(ServerFrame::Users { users: directory() }, "users:1"), now);
    assert_eq!(app.people.picker.as_ref().map(|p| p.shown().len()), Some(4));
    insta::assert_snapshot!("users_list", render(&mut app, 80, 24).backend());

    // Typing narrows the list at once and asks again after a pause.
    assert!(type_text(&mut app, "n", now).is_empty());
    let names: Vec<String> =
        app.people.picker.as_ref().map(|p| p.shown().iter().map(|u| u.user_id.clone()).collect()).unwrap_or_default();
    assert_eq!(names, ["alina"]);
    assert!(sent(&app.update(Msg::Tick, now + Duration::from_millis(50))).is_empty(), "still typing");
    assert_eq!(
        sent(&app.update(Msg::Tick, now + Duration::from_millis(300))),
        [json!({"type": "USERS", "query": "alin", "limit": 50, "ref": "users:2"})]
    );
    app.update(key(KeyCode::Backspace), now);
    app.update(key(KeyCode::Down), now);
    app.update(key(KeyCode::Down), now);
    let cmds = app.update(key(KeyCode::Enter), now);
    assert_eq!(sent(&cmds), [json!({"type": "OPEN_DM", "userId": "alina", "ref": "open"})]);
    assert!(app.people.picker.is_none());
    app.update(
        reply(
            ServerFrame::Room {
                room_id: "dm:alice:alina".into(),
                topic: String::new(),
                private: true,
                kind: RoomKind::Dm,
            },
            "open",
        ),
        now,
    );
    assert_eq!(app.current_room().map(|r| r.id.as_str()), Some("dm:alice:alina"));

    // A refusal shows in the list; Esc closes it.
    enter_line(&mut app, "/users", now);
    app.update(reply(ServerFrame::error(ErrorCode::RateLimited, "slow down"), "users:3"), now);
    assert_eq!(app.people.picker.as_ref().and_then(|p| p.error.clone()).as_deref(), Some("slow down"));
    app.update(key(KeyCode::Esc), now);
    assert!(app.people.picker.is_none());
}

#[test]
fn the_switcher_finds_people_after_rooms() {
    let now = Instant::now();
    let mut app = named_room();
    app.update(ctrl('k'), now);
    type_text(&mut app, "ca", now);
    assert!(app.switcher_matches().is_empty(), "no room matches");
    let found: Vec<String> = app.switcher_people().iter().map(|p| p.user_id.clone()).collect();
    assert_eq!(found, ["carol"], "a member, by login");
    let cmds = app.update(Msg::Tick, now + Duration::from_millis(300));
    assert_eq!(sent(&cmds), [json!({"type": "USERS", "query": "ca", "limit": 10, "ref": "find:1"})]);
    let directory = vec![person("caspar", "Caspar David", "", None), person("carol", "山田 花子", "", None)];
    app.update(reply(ServerFrame::Users { users: directory }, "find:1"), now);
    let found: Vec<String> = app.switcher_people().iter().map(|p| p.user_id.clone()).collect();
    assert_eq!(found, ["carol", "caspar"], "people in your rooms first, each once");
    app.update(key(KeyCode::Down), now);
    let cmds = app.update(key(KeyCode::Enter), now);
    assert_eq!(sent(&cmds), [json!({"type": "OPEN_DM", "userId": "caspar", "ref": "open"})]);

    // Display-name words match; you are never listed.
    app.update(ctrl('k'), now);
    type_text(&mut app, "ali", now);
    assert!(app.switcher_people().is_empty(), "alice is you");
    app.update(key(KeyCode::Esc), now);
    app.update(ctrl('k'), now);
    type_text(&mut app, "gen", now);
    assert_eq!(app.switcher_matches().len(), 1, "rooms first");
}

#[test]
fn tab_completes_display_names_to_logins() {
    let now = Instant::now();
    let mut app = named_room();
    type_text(&mut app, "hi @Bo", now);
    app.update(key(KeyCode::Tab), now);
    assert_eq!(app.input.text(), "hi @bob ");
    app.update(ctrl('u'), now);
    type_text(&mut app, "@山", now);
    app.update(key(KeyCode::Tab), now);
    assert_eq!(app.input.text(), "@carol ", "CJK display name to the login");
    app.update(ctrl('u'), now);
    type_text(&mut app, "@alex", now);
    app.update(key(KeyCode::Tab), now);
    assert_eq!(app.input.text(), "@alex", "alex1 and alex2 share no longer prefix");
    assert_eq!(app.notice, Some(("Alex (alex1)  Alex (alex2)".into(), false)));
    type_text(&mut app, "2", now);
    app.update(key(KeyCode::Tab), now);
    assert_eq!(app.input.text(), "@alex2 ");
}

#[test]
fn a_room_with_display_names_and_status_texts() {
    insta::assert_snapshot!(render(&mut named_room(), 120, 30).backend());
}

#[test]
fn hostile_display_names_and_status_texts_are_inert() {
    let now = Instant::now();
    let mut app = named_room();
    let hostile_name = "\u{1b}]0;pwned\u{7}Bob\u{202E}kcab\u{1b}[2J";
    let hostile_status = "\u{1b}]52;c;ZXZpbA==\u{7}clip\u{2066}board\u{200B}\u{9b}2J";
    app.update(frame(profile("bob", hostile_name, hostile_status)), now);
    app.update(said(6, "bob", hostile_name, "hi"), now);
    app.update(
        frame(ServerFrame::Typing {
            room_id: "general".into(),
            user_id: "bob".into(),
            user_name: hostile_name.into(),
            typing: true,
        }),
        now,
    );
    let terminal = render(&mut app, 120, 30);
    for cell in terminal.backend().buffer().content() {
        let bad = |c: char| {
            c.is_control() || ('\u{202A}'..='\u{202E}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c)
        };
        assert!(!cell.symbol().chars().any(bad), "{:?}", cell.symbol());
    }
    insta::assert_snapshot!(terminal.backend());
    enter_line(&mut app, "/whois bob", now);
    app.update(
        reply(ServerFrame::Users { users: vec![person("bob", hostile_name, hostile_status, None)] }, "whois:1"),
        now,
    );
    let text = format!("{:?}", render(&mut app, 80, 24).backend());
    assert!(text.contains("Bobkcab") && text.contains("clipboard"), "{text}");
}

#[test]
fn the_switcher_lists_people_under_rooms() {
    let now = Instant::now();
    let mut app = named_room();
    app.update(ctrl('k'), now);
    type_text(&mut app, "a", now);
    app.update(Msg::Tick, now + Duration::from_millis(300));
    app.update(reply(ServerFrame::Users { users: directory() }, "find:1"), now);
    app.update(key(KeyCode::Down), now);
    insta::assert_snapshot!(render(&mut app, 80, 24).backend());
}
