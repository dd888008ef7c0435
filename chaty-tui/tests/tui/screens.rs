//! Screens as a person sees them: insta snapshots on ratatui's TestBackend.

use std::time::Duration;

use chaty_proto::{RoomKind, ServerFrame};
use chaty_tui::app::{App, Msg, NetEvent};
use chaty_tui::{transcript, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::time::Instant;

use crate::support::*;

pub(crate) fn render(app: &mut App, width: u16, height: u16, now: Instant) -> Terminal<TestBackend> {
    app.update(Msg::Resize(width, height), now);
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal.draw(|f| view::draw(f, app, now)).expect("draw");
    terminal
}

/// A room with some history: two days, grouped senders, wide characters,
/// a mention, an action, a pending message, members and a DM with unread.
pub(crate) fn busy() -> App {
    let now = Instant::now();
    let mut app = signed_in(&[
        ("general", RoomKind::Room, "all hands"),
        ("ops", RoomKind::Room, "on call"),
        ("dm:alice:bob", RoomKind::Dm, ""),
    ]);
    let lines = [
        (1, "bob", "morning all", "2024-03-27T08:59:00.000Z"),
        (
            2,
            "carol",
            "anyone seen the deploy logs? the canary looked odd around 8:40 and I want to be sure before we roll forward",
            "2024-03-27T09:01:00.000Z",
        ),
        (3, "carol", "found them, never mind", "2024-03-27T09:02:00.000Z"),
        (4, "bob", "today's menu: 寿司 and ラーメン 🍜🍣", "2024-03-28T12:00:00.000Z"),
        (5, "dave", "/me waves", "2024-03-28T12:01:00.000Z"),
        (6, "carol", "@alice can you review #42?", "2024-03-28T12:02:00.000Z"),
    ];
    let messages = lines.iter().map(|(seq, user, text, at)| message("general", *seq, user, text, at)).collect();
    app.update(
        reply(ServerFrame::History { room_id: "general".into(), messages, has_more: false }, "latest:general"),
        now,
    );
    app.update(members("general", &["alice", "bob", "carol", "dave"], &["alice", "carol"]), now);
    app.update(
        frame(ServerFrame::ChatMessage(message("dm:alice:bob", 1, "bob", "lunch?", "2024-03-28T12:03:00.000Z"))),
        now,
    );
    type_text(&mut app, "on it", now);
    app.update(key(crossterm::event::KeyCode::Enter), now);
    type_text(&mut app, "draft reply", now);
    app
}

#[test]
fn sign_in_screen() {
    let now = Instant::now();
    let mut app = App::new("ws://127.0.0.1:8181/ws", "", None, "t");
    app.update(Msg::Net(NetEvent::Connected), now);
    type_text(&mut app, "alice", now);
    insta::assert_snapshot!(render(&mut app, 80, 24, now).backend());
}

#[test]
fn empty_first_run() {
    let now = Instant::now();
    let mut app = signed_in(&[]);
    insta::assert_snapshot!(render(&mut app, 80, 24, now).backend());
}

#[test]
fn busy_room_120x30() {
    let now = Instant::now();
    insta::assert_snapshot!(render(&mut busy(), 120, 30, now).backend());
}

#[test]
fn busy_room_80x24() {
    let now = Instant::now();
    insta::assert_snapshot!(render(&mut busy(), 80, 24, now).backend());
}

#[test]
fn busy_room_50x20() {
    let now = Instant::now();
    insta::assert_snapshot!(render(&mut busy(), 50, 20, now).backend());
}

#[test]
fn typing_line() {
    let now = Instant::now();
    let mut app = busy();
    for user in ["bob", "carol"] {
        app.update(
            frame(ServerFrame::Typing {
                room_id: "general".into(),
                user_id: user.into(),
                user_name: user.into(),
                typing: true,
            }),
            now,
        );
    }
    insta::assert_snapshot!(render(&mut app, 80, 24, now).backend());
}

#[test]
fn reconnecting_status_bar() {
    let now = Instant::now();
    let mut app = busy();
    app.update(
        Msg::Net(NetEvent::Disconnected {
            reason: "connection refused".into(),
            retry_at: now + Duration::from_secs(3),
            attempt: 2,
        }),
        now,
    );
    insta::assert_snapshot!(render(&mut app, 80, 24, now).backend());
}

#[test]
fn hostile_text_is_rendered_inert() {
    let now = Instant::now();
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    let hostile = [
        "clear\u{1b}[2Jscreen",
        "clip\u{1b}]52;c;ZXZpbA==\u{7}board",
        "\u{1b}]8;;http://evil\u{1b}\\link\u{1b}]8;;\u{1b}\\",
        "\u{1b}]0;pwned title\u{7}title",
        "report\u{1b}[21t",
        "\u{1b}Pq#0;2;0;0;0\u{1b}\\dcs",
        "safe\rEVIL",
        "unterminated\u{1b}]0;rest",
        "right\u{202E}tfel",
        "\u{2066}isolate\u{2069}",
        "zero\u{200B}width",
        &format!("z{}algo", "\u{301}".repeat(500)),
    ];
    let messages = hostile
        .iter()
        .enumerate()
        .map(|(i, text)| message("general", i as u64 + 1, "m\u{1b}[31mallory", text, "2024-03-28T12:00:00.000Z"))
        .collect();
    app.update(
        reply(ServerFrame::History { room_id: "general".into(), messages, has_more: false }, "latest:general"),
        now,
    );
    let terminal = render(&mut app, 80, 24, now);
    for cell in terminal.backend().buffer().content() {
        assert!(
            !cell.symbol().chars().any(|c| c.is_control() || ('\u{202A}'..='\u{202E}').contains(&c)),
            "{:?}",
            cell.symbol()
        );
    }
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn any_size_draws_without_panicking() {
    let now = Instant::now();
    let mut app = busy();
    for (w, h) in [(1, 1), (2, 1), (1, 5), (10, 3), (59, 10), (60, 4), (250, 80)] {
        render(&mut app, w, h, now);
    }
}

#[test]
fn a_selected_message_stays_readable() {
    let now = Instant::now();
    let mut app = busy();
    app.input.take();
    app.update(key(crossterm::event::KeyCode::Esc), now);
    let selected = app.selected().map(|m| m.content.clone()).expect("a message is selected");
    let terminal = render(&mut app, 80, 24, now);
    let buffer = terminal.backend().buffer();
    let mut rows = 0;
    for y in 0..buffer.area.height {
        let row: Vec<_> = (0..buffer.area.width).map(|x| &buffer[(x, y)]).collect();
        if !row.iter().any(|c| c.bg == transcript::SELECTED_BG) || y + 1 == buffer.area.height {
            continue;
        }
        rows += 1;
        let text: String = row.iter().map(|c| c.symbol()).collect();
        for cell in row.iter().filter(|c| c.bg == transcript::SELECTED_BG && !c.symbol().trim().is_empty()) {
            assert_ne!(cell.fg, cell.bg, "{:?} cannot be read on the selection in {text:?}", cell.symbol());
        }
        if rows == 1 {
            assert!(text.contains("12:02"), "the selected line shows its time: {text:?}");
        }
    }
    assert!(rows > 0, "the selected message ({selected:?}) is highlighted");
}

fn screen_text(terminal: &Terminal<TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            text.push_str(buffer[(x, y)].symbol());
        }
        text.push('\n');
    }
    text
}

/// The screen's words in reading order, borders dropped: text wrapped over
/// lines of a box reads as one.
fn flowing_text(terminal: &Terminal<TestBackend>) -> String {
    screen_text(terminal).replace('│', " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn counts_are_singular_for_one() {
    let now = Instant::now();
    let mut app = signed_in(&[("solo", RoomKind::Room, "")]);
    app.update(members("solo", &["alice"], &["alice"]), now);
    let text = screen_text(&render(&mut app, 80, 24, now));
    assert!(text.contains(" 1 member ") && !text.contains("1 members"), "{text}");

    let mut one = summary("solo", RoomKind::Room, "just me");
    one.member_count = 1;
    let two = summary("pair", RoomKind::Room, "us two");
    app.update(reply(ServerFrame::Rooms { rooms: vec![one, two] }, "rooms"), now);
    let text = screen_text(&render(&mut app, 80, 24, now));
    assert!(text.contains("  1 member   just me"), "{text}");
    assert!(text.contains("  2 members  us two"), "{text}");
}

#[test]
fn sign_in_errors_wrap_inside_the_box() {
    let now = Instant::now();
    let session = chaty_tui::config::Session {
        server: "ws://127.0.0.1:8181/ws".into(),
        user: "alice".into(),
        token: "ca_old".into(),
        refresh_token: "cr_old".into(),
    };
    let mut app = App::new("ws://127.0.0.1:8181/ws", "alice", Some(session), "t");
    app.update(Msg::Net(NetEvent::Connected), now);
    let message = "that token is not valid; LOGIN again with your password, or REFRESH with a refresh token \
                   that this server issued to you (tokens from another server or an older database do not work)";
    app.update(reply(ServerFrame::error(chaty_proto::ErrorCode::Unauthorized, message), "auth"), now);
    let terminal = render(&mut app, 80, 24, now);
    let text = flowing_text(&terminal);
    assert!(text.contains("older database do not work)"), "the end of the error shows: {text}");
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn a_bad_server_url_and_a_network_error_are_shown_whole() {
    let now = Instant::now();
    let mut app = App::new("ws://127.0.0.1:8181/ws", "alice", None, "t");
    app.update(key(crossterm::event::KeyCode::Up), now);
    app.update(key(crossterm::event::KeyCode::Up), now);
    type_text(&mut app, "/bad path with spaces and more words to make it long", now);
    app.update(key(crossterm::event::KeyCode::Enter), now);
    let error = app.signin.error.clone().expect("the URL is refused");
    let reason = error.rsplit(": ").next().expect("a reason").to_string();
    let text = flowing_text(&render(&mut app, 80, 24, now));
    assert!(text.contains(&reason), "{reason:?} shows in {text}");

    let mut app = App::new("ws://chat.example:8181/ws", "alice", None, "t");
    let reason = "failed to lookup address information: Temporary failure in name resolution";
    app.update(
        Msg::Net(NetEvent::Disconnected { reason: reason.into(), retry_at: now + Duration::from_secs(3), attempt: 4 }),
        now,
    );
    let text = flowing_text(&render(&mut app, 80, 24, now));
    assert!(text.contains("Temporary failure in name resolution: reconnecting in 3 s, attempt 4"), "{text}");
}

fn help(width: u16, height: u16) -> (App, Instant) {
    let now = Instant::now();
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    app.update(Msg::Resize(width, height), now);
    type_text(&mut app, "/help", now);
    app.update(key(crossterm::event::KeyCode::Enter), now);
    (app, now)
}

#[test]
fn help_fits_80x24_and_scrolls_to_its_end() {
    let (mut app, now) = help(80, 24);
    insta::assert_snapshot!("help_80x24_top", render(&mut app, 80, 24, now).backend());
    app.update(key(crossterm::event::KeyCode::PageDown), now);
    app.update(key(crossterm::event::KeyCode::PageDown), now);
    app.update(key(crossterm::event::KeyCode::PageDown), now);
    let terminal = render(&mut app, 80, 24, now);
    assert!(screen_text(&terminal).contains("Esc close a popup · Ctrl-C quit"), "the last line is reachable");
    insta::assert_snapshot!("help_80x24_end", terminal.backend());
    app.update(key(crossterm::event::KeyCode::Home), now);
    app.update(Msg::ScrollDown, now);
    assert_eq!(app.overlay_scroll, 3, "the wheel scrolls the help, not the room");
    app.update(key(crossterm::event::KeyCode::Esc), now);
    assert!(app.overlay.is_none());
    assert_eq!(app.overlay_scroll, 0, "the next popup starts at its top");
}

#[test]
fn help_at_100x30_loses_no_line_ends() {
    let (mut app, now) = help(100, 30);
    // Taller than the screen: every page of it, to the end.
    let mut text = screen_text(&render(&mut app, 100, 30, now));
    loop {
        let at = app.overlay_scroll;
        app.update(key(crossterm::event::KeyCode::PageDown), now);
        if app.overlay_scroll == at {
            break;
        }
        text.push_str(&screen_text(&render(&mut app, 100, 30, now)));
    }
    for key_line in chaty_tui::command::KEYS {
        let last = key_line.split_whitespace().last().expect("a word");
        assert!(text.contains(last), "{key_line:?} ends on screen:\n{text}");
    }
    assert!(text.contains("c copy, s save file"), "{text}");
}

#[test]
fn an_untrusted_certificate_is_shown_whole_and_enter_tries_again() {
    let now = Instant::now();
    let reason = "the server's certificate is not trusted: it is a self-signed CA certificate (CA:TRUE), and not one \
                  given with --ca — pass --ca FILE with the server's certificate";
    let mut app = App::new("wss://chat.example/ws", "alice", None, "t");
    app.update(Msg::Net(NetEvent::Failed { reason: reason.into() }), now);
    let terminal = render(&mut app, 80, 24, now);
    assert!(flowing_text(&terminal).contains(&format!("{reason} (Enter tries again)")), "{}", flowing_text(&terminal));
    insta::assert_snapshot!(terminal.backend());
    type_text(&mut app, "pw", now);
    let cmds = app.update(key(crossterm::event::KeyCode::Enter), now);
    assert_eq!(cmds, [chaty_tui::app::Cmd::Connect("wss://chat.example/ws".into())]);

    // Signed in when the server's certificate changes: a popup says why it stopped.
    let mut app = busy();
    app.update(Msg::Net(NetEvent::Failed { reason: reason.into() }), now);
    let text = flowing_text(&render(&mut app, 80, 24, now));
    assert!(text.contains(reason) && text.contains("not connected"), "{text}");
}

#[test]
fn the_local_server_is_always_on_screen() {
    let now = Instant::now();
    let status = "local server 127.0.0.1:40123 (8181 is taken, not by chaty)";
    let mut app = App::new("ws://127.0.0.1:40123/ws", "alice", None, "t");
    app.local_server = Some(status.into());
    assert!(flowing_text(&render(&mut app, 80, 24, now)).contains(status), "on the sign-in screen");
    let mut app = busy();
    app.local_server = Some(status.into());
    let terminal = render(&mut app, 120, 30, now);
    let bottom = screen_text(&terminal).lines().last().map(str::to_string).unwrap_or_default();
    assert!(bottom.contains(status), "in the status bar: {bottom}");
}
