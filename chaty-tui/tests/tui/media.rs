//! Links and images in messages: URLs underlined, `o` opens (asking which
//! when there are several, refusing what is not http, https or mailto), `y`
//! copies; `v` previews an image attachment, within `max_image_mib`.

use chaty_proto::{Attachment, RoomKind, ServerFrame};
use chaty_tui::app::{App, Cmd, Msg};
use chaty_tui::preview;
use crossterm::event::KeyCode;
use ratatui::style::Modifier;
use ratatui_image::picker::Picker;
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
fn help_lists_o_y_and_v() {
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    type_text(&mut app, "/help", Instant::now());
    app.update(key(KeyCode::Enter), Instant::now());
    let help = app.overlay.as_ref().expect("help").lines.join("\n");
    for key in ["o open the message's link", "y copy the link", "v view the image"] {
        assert!(help.contains(key), "{key} in {help}");
    }
}

fn png_attachment(size: u64) -> Attachment {
    Attachment { file_id: "f_quadrants".into(), name: "quadrants.png".into(), size, mime: "image/png".into() }
}

const PNG: &[u8] = include_bytes!("../fixtures/quadrants.png");

#[test]
fn v_previews_an_image_in_half_blocks() {
    let mut app = selected("a picture", Some(png_attachment(PNG.len() as u64)));
    app.update(Msg::Resize(40, 16), Instant::now());
    let cmds = press(&mut app, 'v');
    let [Cmd::Preview { attachment, cols, rows, inline: false }] = cmds.as_slice() else { panic!("{cmds:?}") };
    assert_eq!((attachment.file_id.as_str(), *cols, *rows), ("f_quadrants", 34, 10));
    // What the runner does off the UI thread, with the half-block protocol.
    let outcome = preview::picture(&Picker::halfblocks(), PNG, *cols, *rows);
    assert!(outcome.is_ok(), "{outcome:?}");
    app.update(Msg::Preview { file_id: attachment.file_id.clone(), inline: false, outcome }, Instant::now());
    let terminal = render(&mut app, 40, 16, Instant::now());
    insta::assert_debug_snapshot!(terminal.backend().buffer());
    press(&mut app, 'q');
    assert!(app.previews.open.is_none(), "any of Esc, q, v, Enter closes it");
}

#[test]
fn an_image_over_max_image_mib_is_refused_with_a_notice() {
    let mut app = selected("big", Some(png_attachment(10 * 1024 * 1024 + 1)));
    assert!(press(&mut app, 'v').is_empty(), "not fetched at all");
    let (notice, error) = app.notice.clone().unwrap_or_default();
    assert!(error && notice.contains("over max_image_mib (10 MiB)"), "{notice}");
    assert!(app.previews.open.is_none());
    // One that turns out bigger than announced, or is no image, fails with a notice too.
    let mut app = selected("liar", Some(png_attachment(100)));
    press(&mut app, 'v');
    let outcome = Err("no preview: the image is 11.0 MB, over max_image_mib (10 MiB) (and still coming)".to_string());
    app.update(Msg::Preview { file_id: "f_quadrants".into(), inline: false, outcome }, Instant::now());
    assert!(app.notice.as_ref().is_some_and(|(n, e)| *e && n.contains("still coming")));
    // Not an image at all.
    let mut app = selected("doc", Some(Attachment { mime: "application/pdf".into(), ..png_attachment(10) }));
    assert!(press(&mut app, 'v').is_empty());
    assert!(app.notice.as_ref().is_some_and(|(n, _)| n.contains("no image")));
}

#[test]
fn with_image_previews_the_newest_images_show_in_the_transcript() {
    let now = Instant::now();
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    app.previews.inline = true;
    app.update(Msg::Resize(60, 20), now);
    let mut m = message("general", 1, "bob", "look", T);
    m.attachment = Some(png_attachment(PNG.len() as u64));
    let cmds = app.update(frame(ServerFrame::ChatMessage(m)), now);
    let preview: Vec<_> = cmds.iter().filter(|c| matches!(c, Cmd::Preview { .. })).collect();
    let [Cmd::Preview { attachment, cols, rows, inline: true }] = preview.as_slice() else { panic!("{cmds:?}") };
    // Asked once: loading, not asked again on the next update.
    assert!(!app.update(Msg::Tick, now).iter().any(|c| matches!(c, Cmd::Preview { .. })));
    let outcome = preview::picture(&Picker::halfblocks(), PNG, *cols, *rows);
    app.update(Msg::Preview { file_id: attachment.file_id.clone(), inline: true, outcome }, now);
    let room = app.current_room().expect("room");
    assert_eq!(room.image_rows.get(&1001), Some(&8), "eight rows kept under the message");
    let terminal = render(&mut app, 60, 20, now);
    let screen = terminal.backend().to_string();
    assert!(screen.contains('▀'), "drawn in half-blocks:\n{screen}");
    // Too big for max_image_mib: never fetched.
    let mut m = message("general", 2, "bob", "huge", T);
    m.attachment = Some(Attachment { file_id: "f_big".into(), ..png_attachment(64 * 1024 * 1024) });
    let cmds = app.update(frame(ServerFrame::ChatMessage(m)), now);
    assert!(!cmds.iter().any(|c| matches!(c, Cmd::Preview { .. })), "{cmds:?}");
}
