//! Read state, delivery status, reactions, edits, deletes, replies, the
//! selection mode, search, file transfers and presence in the client.

use std::time::Duration;

use chaty_proto::{Attachment, Message, Reactions, RoomKind, RoomSummary, SearchHit, ServerFrame};
use chaty_tui::app::{App, Cmd, Compose, Mode, Msg, TransferEvent};
use crossterm::event::KeyCode;
use serde_json::json;
use tokio::time::Instant;

use crate::support::*;

const T: &str = "2024-03-28T12:00:00.000Z";

fn history(app: &mut App, room: &str, messages: Vec<Message>) {
    app.update(
        reply(ServerFrame::History { room_id: room.into(), messages, has_more: false }, &format!("latest:{room}")),
        Instant::now(),
    );
}

fn summary_with(room: &str, kind: RoomKind, last: u64, read: u64, mentions: u64) -> RoomSummary {
    RoomSummary { last_seq: last, read_seq: read, unread: last - read, mentions, ..summary(room, kind, "") }
}

#[test]
fn unread_badges_come_from_the_server_and_viewing_marks_read() {
    let now = Instant::now();
    let mut app = signed_in(&[]);
    let rooms = vec![summary_with("general", RoomKind::Room, 3, 3, 0), summary_with("ops", RoomKind::Room, 9, 4, 2)];
    app.update(frame(ServerFrame::Rooms { rooms }), now);
    let ops = app.rooms.iter().find(|r| r.id == "ops").expect("ops");
    assert_eq!((ops.unread, ops.mentions, ops.read_seq), (5, 2, 4));

    // Opening ops and seeing its newest message marks it read, once.
    let msgs = (1..=9).map(|seq| message("ops", seq, "bob", &format!("m{seq}"), T)).collect();
    app.update(alt(KeyCode::Char('2')), now);
    let cmds = app.update(
        reply(ServerFrame::History { room_id: "ops".into(), messages: msgs, has_more: false }, "latest:ops"),
        now,
    );
    assert_eq!(sent(&cmds), [json!({"type": "MARK_READ", "roomId": "ops", "seq": 9})]);
    assert!(sent(&app.update(Msg::Tick, now)).is_empty());
    let ops = app.current_room().expect("ops");
    assert_eq!((ops.unread, ops.marker), (0, Some(4)), "the new line stays above what was unread");

    // Scrolled up, new messages are not read yet.
    app.update(Msg::Resize(80, 10), now);
    app.update(key(KeyCode::PageUp), now);
    let cmds = app.update(frame(ServerFrame::ChatMessage(message("ops", 10, "bob", "later", T))), now);
    assert!(sent(&cmds).is_empty());
    let cmds = app.update(key(KeyCode::End), now);
    assert_eq!(sent(&cmds), [json!({"type": "MARK_READ", "roomId": "ops", "seq": 10})]);
}

#[test]
fn reading_on_another_device_clears_the_badge_here() {
    let now = Instant::now();
    let mut app = signed_in(&[]);
    app.update(
        frame(ServerFrame::Rooms {
            rooms: vec![summary_with("general", RoomKind::Room, 0, 0, 0), summary_with("ops", RoomKind::Room, 2, 0, 1)],
        }),
        now,
    );
    for seq in 1..=2 {
        app.update(frame(ServerFrame::ChatMessage(message("ops", seq, "bob", "hi", T))), now);
    }
    app.update(frame(ServerFrame::Read { room_id: "ops".into(), user_id: "alice".into(), seq: 2 }), now);
    let ops = app.rooms.iter().find(|r| r.id == "ops").expect("ops");
    assert_eq!((ops.unread, ops.mentions), (0, 0));
}

#[test]
fn delivery_status_goes_from_sending_to_sent_to_read() {
    let now = Instant::now();
    let mut app = signed_in(&[("dm:alice:bob", RoomKind::Dm, "")]);
    type_text(&mut app, "lunch?", now);
    let cmds = app.update(key(KeyCode::Enter), now);
    let cid = sent(&cmds).iter().find(|f| f["type"] == "CHAT_MESSAGE").map(|f| f["clientId"].clone()).expect("sent");
    let screen = |app: &mut App| format!("{:?}", render(app, 80, 12).backend());
    assert!(screen(&mut app).contains("sending…"));
    let mut echo = message("dm:alice:bob", 1, "alice", "lunch?", T);
    echo.client_id = cid.as_str().map(str::to_string);
    app.update(frame(ServerFrame::ChatMessage(echo)), now);
    assert!(screen(&mut app).contains("✓ sent"));
    app.update(frame(ServerFrame::Read { room_id: "dm:alice:bob".into(), user_id: "bob".into(), seq: 1 }), now);
    assert!(screen(&mut app).contains("✓✓ read"));
}

fn busy_thread() -> App {
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    let mut first = message("general", 1, "bob", "shipping the release today", T);
    first.reactions = vec![
        Reactions { emoji: "👍".into(), users: vec!["carol".into(), "alice".into()] },
        Reactions { emoji: "🎉".into(), users: vec!["dave".into()] },
    ];
    let mut second = message("general", 2, "alice", "great, I fixed the changelog", T);
    second.edited_at = Some(T.into());
    let mut third = message("general", 3, "carol", "", T);
    third.deleted = true;
    let mut fourth = message("general", 4, "dave", "which one is it?", T);
    fourth.reply_to = Some(1001);
    let mut fifth = message("general", 5, "bob", "the notes", T);
    fifth.attachment = Some(Attachment {
        file_id: "a".repeat(64),
        name: "notes.pdf".into(),
        size: 2_340_000,
        mime: "application/pdf".into(),
    });
    history(&mut app, "general", vec![first, second, third, fourth, fifth]);
    app
}

#[test]
fn reactions_edits_deletes_replies_and_attachments_on_screen() {
    insta::assert_snapshot!(render(&mut busy_thread(), 80, 16).backend());
}

#[test]
fn live_edits_deletes_and_reactions_change_the_transcript() {
    let now = Instant::now();
    let mut app = busy_thread();
    app.update(
        frame(ServerFrame::MessageEdited {
            room_id: "general".into(),
            message_id: 1004,
            content: "v2.1 or v2.2?".into(),
            edited_at: T.into(),
        }),
        now,
    );
    app.update(
        frame(ServerFrame::Reaction {
            room_id: "general".into(),
            message_id: 1001,
            user_id: "alice".into(),
            emoji: "👍".into(),
            added: false,
        }),
        now,
    );
    app.update(frame(ServerFrame::MessageDeleted { room_id: "general".into(), message_id: 1005 }), now);
    let room = app.current_room().expect("room");
    assert_eq!(room.messages[3].content, "v2.1 or v2.2?");
    assert_eq!(room.messages[0].reactions[0].users, ["carol"]);
    assert!(room.messages[4].deleted && room.messages[4].attachment.is_none());
}

#[test]
fn selection_mode_replies_reacts_edits_and_deletes() {
    let now = Instant::now();
    let mut app = busy_thread();
    app.update(key(KeyCode::Esc), now);
    assert_eq!(app.mode, Mode::Select { id: 1005 });
    for _ in 0..4 {
        app.update(key(KeyCode::Char('k')), now);
    }
    assert_eq!(app.selected().map(|m| m.id), Some(1001));
    // 1 toggles 👍: alice already gave it, so it is taken back.
    let cmds = app.update(key(KeyCode::Char('1')), now);
    assert_eq!(sent(&cmds), [json!({"type": "REACT", "messageId": 1001, "emoji": "👍", "remove": true})]);
    let cmds = app.update(key(KeyCode::Char('4')), now);
    assert_eq!(sent(&cmds), [json!({"type": "REACT", "messageId": 1001, "emoji": "🎉", "remove": false})]);
    app.update(key(KeyCode::Char('r')), now);
    assert_eq!((app.mode, app.compose), (Mode::Normal, Compose::Reply(1001)));
    insta::assert_snapshot!("replying", render(&mut app, 80, 16).backend());
    type_text(&mut app, "today, yes", now);
    let cmds = app.update(key(KeyCode::Enter), now);
    let chat = sent(&cmds).into_iter().find(|f| f["type"] == "CHAT_MESSAGE").expect("reply sent");
    assert_eq!(chat["replyTo"], 1001);

    // e only works on your own message; d deletes (the server decides whether you may).
    app.update(key(KeyCode::Esc), now);
    app.update(key(KeyCode::Char('e')), now);
    assert_eq!(app.compose, Compose::None, "not alice's message");
    app.update(key(KeyCode::Esc), now);
    app.update(key(KeyCode::Esc), now);
    for _ in 0..3 {
        app.update(key(KeyCode::Char('k')), now);
    }
    app.update(key(KeyCode::Char('e')), now);
    assert_eq!((app.compose, app.input.text()), (Compose::Edit(1002), "great, I fixed the changelog".to_string()));
    app.update(ctrl('u'), now);
    type_text(&mut app, "great, the changelog is fixed", now);
    let cmds = app.update(key(KeyCode::Enter), now);
    assert_eq!(
        sent(&cmds),
        [json!({"type": "EDIT_MESSAGE", "messageId": 1002, "content": "great, the changelog is fixed"})]
    );
    app.update(key(KeyCode::Esc), now);
    app.update(key(KeyCode::Char('d')), now);
    assert!(app.mode == Mode::Normal);
}

#[test]
fn up_on_an_empty_input_edits_your_last_message_and_esc_cancels() {
    let now = Instant::now();
    let mut app = busy_thread();
    app.update(key(KeyCode::Up), now);
    assert_eq!((app.compose, app.input.text()), (Compose::Edit(1002), "great, I fixed the changelog".to_string()));
    app.update(key(KeyCode::Esc), now);
    assert_eq!((app.compose, app.input.is_empty()), (Compose::None, true));
    let cmds = {
        type_text(&mut app, "/edit fixed typo", now);
        app.update(key(KeyCode::Enter), now)
    };
    assert_eq!(sent(&cmds), [json!({"type": "EDIT_MESSAGE", "messageId": 1002, "content": "fixed typo"})]);
    let cmds = {
        type_text(&mut app, "/react 🚀", now);
        app.update(key(KeyCode::Enter), now)
    };
    assert_eq!(sent(&cmds), [json!({"type": "REACT", "messageId": 1005, "emoji": "🚀", "remove": false})]);
}

#[test]
fn search_opens_a_result_in_its_room_with_context() {
    let now = Instant::now();
    let mut app = busy_thread();
    app.update(ctrl('f'), now);
    type_text(&mut app, "deploy", now);
    let cmds = app.update(key(KeyCode::Enter), now);
    assert_eq!(sent(&cmds), [json!({"type": "SEARCH", "query": "deploy", "limit": 50, "ref": "search"})]);
    let old = message("ops", 40, "carol", "deploy done for v1", "2024-03-01T09:00:00.000Z");
    let hits = vec![SearchHit { message: old.clone(), snippet: "[deploy] done for v1".into() }];
    app.update(reply(ServerFrame::SearchResults { messages: hits }, "search"), now);
    app.update(
        frame(ServerFrame::Room { room_id: "ops".into(), topic: String::new(), private: false, kind: RoomKind::Room }),
        now,
    );
    insta::assert_snapshot!("search_results", render(&mut app, 80, 16).backend());
    let cmds = app.update(key(KeyCode::Enter), now);
    assert_eq!(app.current_room().map(|r| r.id.as_str()), Some("ops"));
    assert!(
        sent(&cmds).contains(
            &json!({"type": "HISTORY", "roomId": "ops", "after": 15, "limit": 50, "ref": "context:ops:1040"})
        )
    );
    let context = (15..=64)
        .map(|seq| {
            message(
                "ops",
                seq,
                "carol",
                if seq == 40 { "deploy done for v1" } else { "chatter" },
                "2024-03-01T09:00:00.000Z",
            )
        })
        .collect();
    app.update(
        reply(ServerFrame::History { room_id: "ops".into(), messages: context, has_more: true }, "context:ops:1040"),
        now,
    );
    assert_eq!(app.selected().map(|m| m.content.as_str()), Some("deploy done for v1"));
}

#[test]
fn uploads_show_progress_then_share_the_file() {
    let now = Instant::now();
    let mut app = busy_thread();
    type_text(&mut app, "/upload /tmp/report.pdf the report", now);
    let cmds = app.update(key(KeyCode::Enter), now);
    let Some(Cmd::Upload { id, room, caption, .. }) = cmds.into_iter().find(|c| matches!(c, Cmd::Upload { .. })) else {
        panic!("no upload");
    };
    assert_eq!((room.as_str(), caption.as_deref()), ("general", Some("the report")));
    app.update(Msg::Transfer(TransferEvent::Progress { id, done: 1_200_000, total: 2_900_000 }), now);
    insta::assert_snapshot!("upload_progress", render(&mut app, 80, 16).backend());
    let attachment = Attachment {
        file_id: "b".repeat(64),
        name: "report.pdf".into(),
        size: 2_900_000,
        mime: "application/pdf".into(),
    };
    let cmds = app.update(Msg::Transfer(TransferEvent::Uploaded { id, attachment, room, caption }), now);
    let chat = sent(&cmds).into_iter().find(|f| f["type"] == "CHAT_MESSAGE").expect("shared");
    assert_eq!((&chat["content"], &chat["attachment"]["name"]), (&json!("the report"), &json!("report.pdf")));
    // Saving the attachment of the newest message that has one.
    let cmds = {
        type_text(&mut app, "/download", now);
        app.update(key(KeyCode::Enter), now)
    };
    let Some(Cmd::Download { id, .. }) = cmds.into_iter().find(|c| matches!(c, Cmd::Download { .. })) else {
        panic!("no download");
    };
    assert!(app.transfers.iter().any(|t| t.id == id && t.name == "notes.pdf"));
    let path = std::path::PathBuf::from("/home/alice/notes (1).pdf");
    app.update(Msg::Transfer(TransferEvent::Saved { id, path, note: Some("no Downloads folder".into()) }), now);
    let terminal = render(&mut app, 80, 16);
    let buffer = terminal.backend().buffer();
    let rows: Vec<String> =
        (0..16).map(|y| (0..80).map(|x| buffer[(x, y)].symbol()).collect::<String>().trim_end().to_string()).collect();
    assert!(
        rows.iter().any(|r| r == " ⇣ saved to /home/alice/notes (1).pdf (no Downloads folder)"),
        "the full path and why it is not in Downloads: {rows:#?}"
    );
}

#[test]
fn idle_means_away_and_a_key_means_back() {
    let t0 = Instant::now();
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    app.idle_away = Some(Duration::from_secs(60));
    app.update(key(KeyCode::Char('x')), t0);
    assert!(sent(&app.update(Msg::Tick, t0 + Duration::from_secs(59))).is_empty());
    let cmds = app.update(Msg::Tick, t0 + Duration::from_secs(61));
    assert_eq!(sent(&cmds), [json!({"type": "SET_PRESENCE", "status": "away"})]);
    let cmds = app.update(key(KeyCode::Char('y')), t0 + Duration::from_secs(62));
    assert_eq!(sent(&cmds)[0], json!({"type": "SET_PRESENCE", "status": "online"}));
    // /away is sticky: typing does not bring you back, /back does.
    app.update(ctrl('u'), t0);
    let cmds = {
        type_text(&mut app, "/away", t0);
        app.update(key(KeyCode::Enter), t0)
    };
    assert_eq!(sent(&cmds), [json!({"type": "SET_PRESENCE", "status": "away"})]);
    assert!(sent(&app.update(key(KeyCode::Char('z')), t0)).iter().all(|f| f["type"] != "SET_PRESENCE"));
}

#[test]
fn members_show_away_and_last_seen() {
    let now = Instant::now();
    let mut app = busy_thread();
    app.wall_ms = chaty_proto::time::parse_millis("2024-03-28T14:00:00.000Z").unwrap_or(0);
    app.update(
        frame(ServerFrame::RoomMembersUpdate {
            room_id: "general".into(),
            members: vec!["alice".into(), "bob".into(), "carol".into()],
            online: vec!["alice".into(), "bob".into()],
            away: vec!["bob".into()],
            last_seen: [("carol".to_string(), "2024-03-28T12:00:00.000Z".to_string())].into(),
            read: Default::default(),
            display_names: Default::default(),
            status_texts: Default::default(),
            admins: vec![],
        }),
        now,
    );
    insta::assert_snapshot!(render(&mut app, 100, 12).backend());
}

#[test]
fn badges_and_the_new_line() {
    let now = Instant::now();
    let mut app = signed_in(&[]);
    let rooms = vec![
        summary_with("general", RoomKind::Room, 6, 3, 0),
        summary_with("ops", RoomKind::Room, 9, 4, 2),
        summary_with("dm:alice:bob", RoomKind::Dm, 1, 0, 0),
    ];
    app.update(frame(ServerFrame::Rooms { rooms }), now);
    let messages = (1..=6)
        .map(|seq| message("general", seq, if seq % 2 == 0 { "bob" } else { "carol" }, &format!("message {seq}"), T))
        .collect();
    history(&mut app, "general", messages);
    // general, where the client lands, was read up to 3: the new line goes above 4.
    insta::assert_snapshot!(render(&mut app, 80, 14).backend());
}
