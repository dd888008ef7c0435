//! The server's `overloaded` answer: the message stays "sending…" and goes
//! again by itself, with the same clientId, after the wait it asked for.

use std::time::Duration;

use chaty_proto::{ErrorCode, RoomKind, ServerFrame};
use chaty_tui::app::{App, Msg};
use crossterm::event::KeyCode;
use tokio::time::Instant;

use crate::support::*;

const T: &str = "2024-03-28T12:00:00.000Z";

fn overloaded(ms: u64) -> ServerFrame {
    ServerFrame::Error {
        code: ErrorCode::Overloaded,
        message: "the server is busy; try again shortly".into(),
        retry_after_ms: Some(ms),
    }
}

fn chat_ids(cmds: &[chaty_tui::app::Cmd]) -> Vec<String> {
    sent(cmds)
        .iter()
        .filter(|f| f["type"] == "CHAT_MESSAGE")
        .map(|f| {
            assert_eq!(f["ref"], f["clientId"], "the ref is the clientId: {f}");
            f["clientId"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

/// alice in #general has just sent "hello": the app and its clientId.
fn sent_hello(now: Instant) -> (App, String) {
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    type_text(&mut app, "hello", now);
    let sent = chat_ids(&app.update(key(KeyCode::Enter), now));
    let [cid] = sent.as_slice() else { panic!("one message sent: {sent:?}") };
    (app, cid.clone())
}

#[test]
fn an_overloaded_message_stays_pending_and_is_resent_with_the_same_client_id() {
    let now = Instant::now();
    let (mut app, cid) = sent_hello(now);

    // Refused twice: never failed, never a notice, resent after each wait.
    let mut at = now;
    for _ in 0..2 {
        app.update(reply(overloaded(400), &cid), at);
        let room = app.current_room().expect("room");
        assert_eq!(room.pending.len(), 1);
        assert_eq!(room.pending[0].failed, None, "not failed");
        assert_eq!(app.notice, None);
        // Not before the server's 400 ms.
        assert!(chat_ids(&app.update(Msg::Tick, at + Duration::from_millis(399))).is_empty());
        // Within 400 ms plus the jitter: once, with the same clientId.
        let resent = chat_ids(&app.update(Msg::Tick, at + Duration::from_millis(700)));
        assert_eq!(resent, std::slice::from_ref(&cid));
        assert!(chat_ids(&app.update(Msg::Tick, at + Duration::from_secs(10))).is_empty(), "once per refusal");
        at += Duration::from_secs(10);
    }

    // Taken at last: the echo ends it.
    let mut echo = message("general", 1, "alice", "hello", T);
    echo.client_id = Some(cid);
    app.update(frame(ServerFrame::ChatMessage(echo)), at);
    let room = app.current_room().expect("room");
    assert!(room.pending.is_empty());
    assert_eq!(room.messages.len(), 1);
    assert!(chat_ids(&app.update(Msg::Tick, at + Duration::from_secs(10))).is_empty());
}

#[test]
fn a_long_wait_is_capped_and_other_errors_still_fail_the_message() {
    let now = Instant::now();
    let (mut app, cid) = sent_hello(now);
    app.update(reply(overloaded(3_600_000), &cid), now);
    assert_eq!(
        chat_ids(&app.update(Msg::Tick, now + Duration::from_secs(5))),
        std::slice::from_ref(&cid),
        "at most 5 s"
    );

    app.update(reply(ServerFrame::error(ErrorCode::Forbidden, "no"), &cid), now);
    assert_eq!(app.current_room().and_then(|r| r.pending[0].failed.clone()).as_deref(), Some("no"));
    // An overloaded answer to something else is an ordinary notice.
    app.update(reply(overloaded(100), "search"), now);
    assert!(app.notice.as_ref().is_some_and(|(text, error)| text.contains("busy") && *error));
}
