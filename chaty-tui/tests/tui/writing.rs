//! Writing messages: the cursor by grapheme cluster, new lines, undo, pastes
//! (one draft; a long one asks), and the draft in `$EDITOR` and back.

use chaty_proto::{RoomKind, ServerFrame};
use chaty_tui::app::{App, Cmd, Msg};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::time::Instant;

use crate::support::*;

const T: &str = "2024-03-28T12:00:00.000Z";

fn in_general() -> App {
    signed_in(&[("general", RoomKind::Room, "")])
}

fn shift(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::SHIFT))
}

/// The contents of the chat messages among `cmds`.
fn said(cmds: &[Cmd]) -> Vec<String> {
    sent(cmds)
        .iter()
        .filter(|f| f["type"] == "CHAT_MESSAGE")
        .map(|f| f["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_cursor_moves_and_deletes_by_grapheme_cluster() {
    let now = Instant::now();
    // e + COMBINING ACUTE ACCENT, the French flag, a ZWJ family: three
    // clusters of 2, 2 and 5 chars.
    for cluster in ["e\u{301}", "🇫🇷", "👨\u{200d}👩\u{200d}👧"] {
        let mut app = in_general();
        type_text(&mut app, &format!("a{cluster}b"), now);
        app.update(key(KeyCode::Left), now);
        app.update(key(KeyCode::Left), now);
        // Between `a` and the cluster: typing lands there.
        type_text(&mut app, "|", now);
        assert_eq!(app.input.text(), format!("a|{cluster}b"), "{cluster:?}: one Left over it");
        app.update(key(KeyCode::Right), now);
        type_text(&mut app, "|", now);
        assert_eq!(app.input.text(), format!("a|{cluster}|b"), "{cluster:?}: one Right over it");
        app.update(key(KeyCode::Backspace), now);
        app.update(key(KeyCode::Backspace), now);
        assert_eq!(app.input.text(), "a|b", "{cluster:?}: one Backspace removes it whole");
        app.update(key(KeyCode::Left), now);
        type_text(&mut app, cluster, now);
        app.update(key(KeyCode::Left), now);
        app.update(key(KeyCode::Delete), now);
        assert_eq!(app.input.text(), "a|b", "{cluster:?}: one Delete removes it whole");
    }
}

#[test]
fn alt_enter_and_shift_enter_start_a_new_line_and_enter_sends_them_all() {
    let now = Instant::now();
    let mut app = in_general();
    type_text(&mut app, "one", now);
    app.update(alt(KeyCode::Enter), now);
    type_text(&mut app, "two", now);
    app.update(shift(KeyCode::Enter), now);
    type_text(&mut app, "three", now);
    assert_eq!(app.input.text(), "one\ntwo\nthree");
    let cmds = app.update(key(KeyCode::Enter), now);
    assert_eq!(said(&cmds), ["one\ntwo\nthree"], "one message with its newlines");
    assert!(app.input.is_empty());
}

#[test]
fn undo_and_redo() {
    let now = Instant::now();
    let mut app = in_general();
    type_text(&mut app, "hello world", now);
    app.update(ctrl('w'), now);
    assert_eq!(app.input.text(), "hello ");
    // Ctrl-_ arrives as Ctrl-7 from most terminals.
    app.update(ctrl('7'), now);
    assert_eq!(app.input.text(), "hello world");
    app.update(alt(KeyCode::Char('_')), now);
    assert_eq!(app.input.text(), "hello ");
    app.update(ctrl('_'), now);
    assert_eq!(app.input.text(), "hello world");
}

#[test]
fn a_multi_line_paste_is_one_draft_and_one_message() {
    let now = Instant::now();
    let mut app = in_general();
    type_text(&mut app, "look: ", now);
    // Terminals send Enter as \r, in pastes too: still line breaks, never Enter.
    let cmds = app.update(Msg::Paste("fn main() {\r    go();\r}\r\n".into()), now);
    assert!(said(&cmds).is_empty(), "a paste sends nothing");
    assert_eq!(app.input.text(), "look: fn main() {\n    go();\n}\n");
    app.update(key(KeyCode::Backspace), now);
    let cmds = app.update(key(KeyCode::Enter), now);
    assert_eq!(said(&cmds), ["look: fn main() {\n    go();\n}"]);
}

#[test]
fn a_paste_of_more_than_20_lines_asks_before_it_is_sent() {
    let now = Instant::now();
    let mut app = in_general();
    let long: Vec<String> = (1..=25).map(|i| format!("line {i}")).collect();
    app.update(Msg::Paste(long.join("\n")), now);
    let cmds = app.update(key(KeyCode::Enter), now);
    assert!(said(&cmds).is_empty(), "the first Enter asks");
    assert!(app.confirm_send);
    let (notice, _) = app.notice.clone().expect("a question");
    assert!(notice.contains("send all 25 lines?"), "{notice}");
    // Any other key goes back to the draft; Enter asks again.
    app.update(key(KeyCode::End), now);
    assert!(!app.confirm_send);
    assert!(said(&app.update(key(KeyCode::Enter), now)).is_empty());
    let cmds = app.update(key(KeyCode::Enter), now);
    assert_eq!(said(&cmds), [long.join("\n")], "the second Enter sends it, as one message");
    assert!(app.input.is_empty() && !app.confirm_send);
    // 20 lines go straight away.
    let twenty: Vec<String> = (1..=20).map(|i| format!("l{i}")).collect();
    app.update(Msg::Paste(twenty.join("\n")), now);
    assert_eq!(said(&app.update(key(KeyCode::Enter), now)), [twenty.join("\n")]);
}

#[test]
fn ctrl_x_ctrl_e_and_slash_edit_hand_the_draft_to_the_editor_and_take_back_what_was_saved() {
    let now = Instant::now();
    let mut app = in_general();
    type_text(&mut app, "a draft", now);
    app.update(ctrl('x'), now);
    let cmds = app.update(ctrl('e'), now);
    assert_eq!(cmds, [Cmd::EditDraft("a draft".into())]);
    app.update(Msg::Edited(Ok(Some("first\nsecond".into()))), now);
    assert_eq!(app.input.text(), "first\nsecond");
    // An empty file, or a failed editor, keeps the draft.
    app.update(Msg::Edited(Ok(None)), now);
    assert_eq!(app.input.text(), "first\nsecond");
    app.update(Msg::Edited(Err("vi failed (exit status: 1); the draft is unchanged".into())), now);
    assert_eq!(app.input.text(), "first\nsecond");
    assert!(app.notice.as_ref().is_some_and(|(n, error)| *error && n.contains("vi failed")));
    // Ctrl-E alone is still end of line.
    assert!(app.update(ctrl('e'), now).iter().all(|c| !matches!(c, Cmd::EditDraft(_))));
    assert_eq!(said(&app.update(key(KeyCode::Enter), now)), ["first\nsecond"]);
    type_text(&mut app, "/edit", now);
    assert_eq!(app.update(key(KeyCode::Enter), now), [Cmd::EditDraft(String::new())]);
}

#[test]
fn a_multi_line_message_is_several_lines_in_the_transcript() {
    let now = Instant::now();
    let mut app = in_general();
    app.update(frame(ServerFrame::ChatMessage(message("general", 1, "bob", "first line\nsecond line\nthird", T))), now);
    let terminal = render(&mut app, 80, 24);
    let rows: Vec<String> =
        (0..24).map(|y| (0..80).map(|x| terminal.backend().buffer()[(x, y)].symbol().to_string()).collect()).collect();
    let at = |text: &str| rows.iter().position(|r| r.contains(text));
    let (a, b, c) = (at("first line"), at("second line"), at("third"));
    assert!(a.is_some() && b == a.map(|y| y + 1) && c == a.map(|y| y + 2), "{rows:#?}");
}

/// `EDITOR` as a script: the round trip through a real process and file.
#[cfg(unix)]
mod external {
    use std::os::unix::fs::PermissionsExt;

    use chaty_tui::editor;

    fn script(dir: &std::path::Path, body: &str) -> String {
        let path = dir.join("fake-editor.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path.display().to_string()
    }

    #[test]
    fn the_draft_round_trips_through_editor_as_a_script() {
        let dir = tempfile::tempdir().expect("tempdir");
        let seen = dir.path().join("seen");
        // Records what it was given and the file's mode, then rewrites the file.
        let body = format!(
            "cp \"$1\" '{seen}'; stat -c %a \"$1\" > '{seen}.mode'; printf 'rewritten\\nby the editor\\n' > \"$1\"",
            seen = seen.display()
        );
        let editor = script(dir.path(), &body);
        let command = editor::command(|name| (name == "EDITOR").then(|| editor.clone()));
        assert_eq!(command, editor, "no VISUAL: EDITOR");
        let out = editor::edit(&command, "my draft\nline two", dir.path()).expect("edit");
        assert_eq!(out.as_deref(), Some("rewritten\nby the editor"), "the final newline goes");
        assert_eq!(std::fs::read_to_string(&seen).expect("seen"), "my draft\nline two");
        assert_eq!(std::fs::read_to_string(format!("{}.mode", seen.display())).expect("mode").trim(), "600");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("chaty-draft-"))
            .collect();
        assert!(left.is_empty(), "the temp file is removed: {left:?}");
    }

    #[test]
    fn an_empty_file_or_a_failing_editor_leaves_the_draft() {
        let dir = tempfile::tempdir().expect("tempdir");
        let emptying = script(dir.path(), ": > \"$1\"");
        assert_eq!(editor::edit(&emptying, "keep me", dir.path()).expect("edit"), None);
        let failing = script(dir.path(), "echo changed > \"$1\"; exit 3");
        let err = format!("{:#}", editor::edit(&failing, "keep me", dir.path()).expect_err("fails"));
        assert!(err.contains("failed") && err.contains("unchanged"), "{err}");
        // An editor with arguments, as $VISUAL often is.
        let with_args = script(dir.path(), "printf '%s' \"$1\" > \"$2\"");
        let out = editor::edit(&format!("{with_args} hello"), "", dir.path()).expect("edit");
        assert_eq!(out.as_deref(), Some("hello"));
    }
}
