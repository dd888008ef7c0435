//! Links in messages: URLs underlined, `o` opens (asking which when there
//! are several, refusing what is not http, https or mailto), `y` copies.

use chaty_proto::{Attachment, RoomKind, ServerFrame};
use chaty_tui::app::{App, Cmd};
use crossterm::event::KeyCode;
use ratatui::style::Modifier;
use tokio::time::Instant;

use crate::screens::render;
use crate::support::*;

const T: &str = "2024-03-28T12:00:00.000Z";

/// alice in #general, where bob said `text`; the message is selected.
fn selected(text: &str, attachment: Option<Attachment>) -> App {
    let now = Instant::now();
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    let mut m = message("general", 1, "bob", text, T);
    m.attachment = attachment;
    app.update(frame(ServerFrame::ChatMessage(m)), now);
    app.update(key(KeyCode::Esc), now);
    app
}

fn press(app: &mut App, c: char) -> Vec<Cmd> {
    app.update(key(KeyCode::Char(c)), Instant::now())
}

#[test]
fn links_are_underlined() {
    let mut app = selected("docs at https://example.com/guide, thanks", None);
    app.update(key(KeyCode::Esc), Instant::now());
    let terminal = render(&mut app, 80, 24, Instant::now());
    let buf = terminal.backend().buffer();
    let width = usize::from(buf.area.width);
    let row = buf
        .content
        .chunks(width)
        .find(|r| r.iter().map(|c| c.symbol()).collect::<String>().contains("https://example.com/guide"))
        .expect("shown");
    let underlined: String =
        row.iter().filter(|c| c.modifier.contains(Modifier::UNDERLINED)).map(|c| c.symbol()).collect();
    assert_eq!(underlined, "https://example.com/guide");
}

#[test]
fn o_opens_the_only_link_and_y_copies_it() {
    let mut app = selected("see https://example.com/a.", None);
    assert_eq!(press(&mut app, 'o'), [Cmd::Open("https://example.com/a".into())]);
    assert_eq!(press(&mut app, 'y'), [Cmd::Copy("https://example.com/a".into())]);
    // An address is opened as mailto.
    let mut app = selected("write to bob@example.com", None);
    assert_eq!(press(&mut app, 'o'), [Cmd::Open("mailto:bob@example.com".into())]);
}

#[test]
fn only_http_https_and_mailto_are_opened() {
    for text in ["get it at ftp://files.example.com/x", "file:///etc/passwd"] {
        let mut app = selected(text, None);
        let cmds = press(&mut app, 'o');
        assert!(cmds.is_empty(), "{text}: {cmds:?}");
        let (notice, error) = app.notice.clone().unwrap_or_default();
        assert!(error && notice.contains("only http, https and mailto"), "{text}: {notice}");
    }
    let mut app = selected("no link here", None);
    assert!(press(&mut app, 'o').is_empty());
    assert_eq!(app.notice, Some(("no link in this message".into(), true)));
}

#[test]
fn with_several_links_o_asks_which() {
    let mut app = selected("compare https://a.example/one and http://b.example/two or ftp://c.example", None);
    assert!(press(&mut app, 'o').is_empty());
    let chooser = app.link_chooser.clone().expect("asks");
    assert_eq!(chooser.urls, ["https://a.example/one", "http://b.example/two", "ftp://c.example"]);
    insta::assert_snapshot!(render(&mut app, 80, 24, Instant::now()).backend());
    // Down and Enter, or a digit.
    press(&mut app, 'j');
    assert_eq!(app.update(key(KeyCode::Enter), Instant::now()), [Cmd::Open("http://b.example/two".into())]);
    assert!(app.link_chooser.is_none());
    press(&mut app, 'o');
    assert_eq!(press(&mut app, '1'), [Cmd::Open("https://a.example/one".into())]);
    // The ftp one is refused even when chosen; Esc just closes.
    press(&mut app, 'o');
    assert!(press(&mut app, '3').is_empty());
    assert!(app.notice.as_ref().is_some_and(|(n, _)| n.contains("only http, https and mailto")));
    press(&mut app, 'y');
    assert!(app.link_chooser.is_some());
    app.update(key(KeyCode::Esc), Instant::now());
    assert!(app.link_chooser.is_none());
    press(&mut app, 'y');
    assert_eq!(press(&mut app, '2'), [Cmd::Copy("http://b.example/two".into())]);
}

#[test]
fn help_lists_o_and_y() {
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    type_text(&mut app, "/help", Instant::now());
    app.update(key(KeyCode::Enter), Instant::now());
    let help = app.overlay.as_ref().expect("help").lines.join("\n");
    for key in ["o open the message's link", "y copy the link"] {
        assert!(help.contains(key), "{key} in {help}");
    }
}
