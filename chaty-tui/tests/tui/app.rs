//! `App::update`: keys and frames in, state and commands out.

use std::time::Duration;

use chaty_proto::{ErrorCode, RoomKind, ServerFrame};
use chaty_tui::app::{App, Cmd, Conn, Msg, NetEvent, Screen};
use chaty_tui::config::Session;
use crossterm::event::KeyCode;
use serde_json::json;
use tokio::time::Instant;

use crate::support::*;

const T: &str = "2024-03-28T12:00:00.000Z";

#[test]
fn signing_in_sends_login_or_register_and_opens_the_chat() {
    let now = Instant::now();
    let mut app = App::new("ws://127.0.0.1:8181/ws", "", None, "t");
    assert!(app.update(Msg::Net(NetEvent::Connected), now).is_empty(), "no session: wait for the user");
    assert_eq!(app.screen, Screen::SignIn);
    type_text(&mut app, "alice", now);
    app.update(key(KeyCode::Tab), now);
    type_text(&mut app, "correct horse", now);
    let cmds = app.update(ctrl('r'), now);
    assert_eq!(
        sent(&cmds),
        [json!({"type": "REGISTER", "userName": "alice", "password": "correct horse", "ref": "auth"})]
    );

    let refused =
        app.update(reply(ServerFrame::error(ErrorCode::Conflict, "the user name \"alice\" is taken"), "auth"), now);
    assert!(refused.is_empty());
    assert_eq!(app.signin.error.as_deref(), Some("the user name \"alice\" is taken"));
    assert_eq!(app.screen, Screen::SignIn);

    let cmds = app.update(key(KeyCode::Enter), now);
    assert_eq!(sent(&cmds)[0]["type"], "LOGIN");
    let cmds = app.update(
        reply(
            ServerFrame::AuthOk {
                user_id: "alice".into(),
                user_name: "alice".into(),
                display_name: "alice".into(),
                status_text: String::new(),
                token: "ca_1".into(),
                refresh_token: Some("cr_1".into()),
                expires_at: T.into(),
            },
            "auth",
        ),
        now,
    );
    assert_eq!(app.screen, Screen::Chat);
    assert!(cmds.iter().any(|c| matches!(c, Cmd::SaveSession(s) if s.token == "ca_1" && s.refresh_token == "cr_1")));
    assert!(app.signin.password.is_empty(), "the password is not kept");
}

fn auth_ok(user: &str) -> ServerFrame {
    ServerFrame::AuthOk {
        user_id: user.into(),
        user_name: user.into(),
        display_name: user.into(),
        status_text: String::new(),
        token: "ca_1".into(),
        refresh_token: Some("cr_1".into()),
        expires_at: T.into(),
    }
}

/// The QA walkthrough: `tmux send-keys 'dave' Tab 'correct horse' C-r
/// '/join lobby' Enter 'hello' Enter`, all before the server answers.
fn typed_while_signing_in(app: &mut App, now: Instant) -> Vec<Cmd> {
    app.update(Msg::Net(NetEvent::Connected), now);
    type_text(app, "dave", now);
    app.update(key(KeyCode::Tab), now);
    type_text(app, "correct horse", now);
    let mut cmds = app.update(ctrl('r'), now);
    assert!(app.signin.busy);
    cmds.extend(type_text(app, "/join lobby", now));
    cmds.extend(app.update(key(KeyCode::Enter), now));
    cmds.extend(app.update(ctrl('r'), now));
    cmds.extend(app.update(key(KeyCode::Tab), now));
    cmds.extend(type_text(app, "hellp", now));
    cmds.extend(app.update(key(KeyCode::Backspace), now));
    cmds.extend(type_text(app, "o", now));
    cmds.extend(app.update(key(KeyCode::Enter), now));
    cmds
}

#[test]
fn keys_typed_while_signing_in_go_to_the_chat_afterwards() {
    let now = Instant::now();
    let mut app = App::new("ws://127.0.0.1:8181/ws", "", None, "t");
    let cmds = typed_while_signing_in(&mut app, now);
    assert_eq!(
        sent(&cmds),
        [json!({"type": "REGISTER", "userName": "dave", "password": "correct horse", "ref": "auth"})],
        "one sign-in, not resent by Enter or Ctrl-R"
    );
    assert_eq!(app.signin.password.text(), "correct horse", "the form is not edited");
    assert_eq!(app.signin.user.text(), "dave");

    // Signed in: the kept keys are typed into the chat, /join goes out.
    let cmds = app.update(reply(auth_ok("dave"), "auth"), now);
    assert_eq!(app.screen, Screen::Chat);
    assert!(sent(&cmds).contains(&json!({"type": "JOIN_ROOM", "roomId": "lobby", "ref": "join"})), "{:?}", sent(&cmds));
    assert_eq!(app.input.text(), "hello", "the message waits for a room");
    assert_eq!(app.notice, None);
    let cmds = app.update(frame(ServerFrame::Rooms { rooms: vec![] }), now);
    assert!(!sent(&cmds).iter().any(|f| f["type"] == "CHAT_MESSAGE"));
    // Joined: the message goes to lobby.
    let room =
        ServerFrame::Room { room_id: "lobby".into(), topic: String::new(), private: false, kind: RoomKind::Room };
    let cmds = app.update(reply(room, "join"), now);
    let said: Vec<_> = sent(&cmds).into_iter().filter(|f| f["type"] == "CHAT_MESSAGE").collect();
    assert_eq!(said.len(), 1, "{cmds:?}");
    assert_eq!((said[0]["roomId"].as_str(), said[0]["content"].as_str()), (Some("lobby"), Some("hello")));
    assert!(app.input.is_empty());
}

#[test]
fn a_password_typed_again_while_signing_in_is_never_sent() {
    let now = Instant::now();
    let mut app = App::new("ws://127.0.0.1:8181/ws", "", None, "t");
    app.update(Msg::Net(NetEvent::Connected), now);
    type_text(&mut app, "dave", now);
    app.update(key(KeyCode::Tab), now);
    type_text(&mut app, "correct horse", now);
    app.update(ctrl('r'), now);
    // "Did Enter not work?": the password again, and Enter.
    type_text(&mut app, "correct horse", now);
    app.update(key(KeyCode::Enter), now);
    let mut cmds = app.update(reply(auth_ok("dave"), "auth"), now);
    let room =
        ServerFrame::Room { room_id: "lobby".into(), topic: String::new(), private: false, kind: RoomKind::Room };
    cmds.extend(app.update(frame(room), now));
    assert!(
        !sent(&cmds).iter().any(|f| f.to_string().contains("correct horse") && f["type"] != "REGISTER"),
        "{cmds:?}"
    );
    assert!(app.input.is_empty(), "not left in the input either: {:?}", app.input.text());
}

#[test]
fn keys_typed_while_a_sign_in_fails_are_dropped_and_it_says_so() {
    let now = Instant::now();
    let mut app = App::new("ws://127.0.0.1:8181/ws", "", None, "t");
    typed_while_signing_in(&mut app, now);
    let refused = ServerFrame::error(ErrorCode::Conflict, "the user name \"dave\" is taken");
    assert!(app.update(reply(refused, "auth"), now).is_empty());
    assert_eq!(
        app.signin.error.as_deref(),
        Some("the user name \"dave\" is taken (what you typed while signing in was dropped)")
    );
    assert_eq!(app.signin.password.text(), "correct horse");
    // The form is the form again, and nothing typed before comes back.
    type_text(&mut app, "!", now);
    assert_eq!(app.signin.password.text(), "correct horse!");
    let cmds = app.update(reply(auth_ok("dave"), "auth"), now);
    assert!(!sent(&cmds).iter().any(|f| f["type"] == "JOIN_ROOM"), "dropped for good");
    assert!(app.input.is_empty());
}

#[test]
fn bad_sign_in_input_is_refused_locally() {
    let now = Instant::now();
    let mut app = App::new("ws://127.0.0.1:8181/ws", "", None, "t");
    app.update(Msg::Net(NetEvent::Connected), now);
    type_text(&mut app, "bad name", now);
    assert!(app.update(key(KeyCode::Enter), now).is_empty());
    assert!(app.signin.error.as_deref().is_some_and(|e| e.contains("\"bad name\"")));
    app.signin.server.set("http://example.com");
    app.signin.user.set("alice");
    app.signin.password.set("x");
    assert!(app.update(key(KeyCode::Enter), now).is_empty());
    assert!(app.signin.error.as_deref().is_some_and(|e| e.contains("ws://")));
}

#[test]
fn keys_typed_while_a_saved_session_signs_in_go_to_the_chat_too() {
    let now = Instant::now();
    let session =
        Session { server: "ws://h/ws".into(), user: "alice".into(), token: "ca".into(), refresh_token: "cr".into() };
    let mut app = App::new("ws://h/ws", "alice", Some(session), "t");
    app.update(Msg::Net(NetEvent::Connected), now);
    type_text(&mut app, "hi all", now);
    assert!(app.signin.password.is_empty(), "not into the form");
    app.update(reply(auth_ok("alice"), "auth"), now);
    assert_eq!((app.screen, app.input.text().as_str()), (Screen::Chat, "hi all"));
}

#[test]
fn a_saved_session_signs_in_and_refreshes_when_expired() {
    let now = Instant::now();
    let session = Session {
        server: "ws://h/ws".into(),
        user: "alice".into(),
        token: "ca_old".into(),
        refresh_token: "cr_old".into(),
    };
    let mut app = App::new("ws://h/ws", "alice", Some(session), "t");
    let cmds = app.update(Msg::Net(NetEvent::Connected), now);
    assert_eq!(sent(&cmds), [json!({"type": "AUTH", "token": "ca_old", "ref": "auth"})]);
    let cmds = app.update(reply(ServerFrame::error(ErrorCode::TokenExpired, "expired"), "auth"), now);
    assert_eq!(sent(&cmds), [json!({"type": "REFRESH", "refreshToken": "cr_old", "ref": "auth"})]);
    let cmds = app.update(reply(ServerFrame::error(ErrorCode::Unauthorized, "revoked"), "auth"), now);
    assert!(cmds.contains(&Cmd::ClearSession));
    assert_eq!(app.screen, Screen::SignIn);
    assert!(app.signin.error.as_deref().is_some_and(|e| e.contains("revoked")));
}

#[test]
fn rooms_are_caught_up_after_sign_in() {
    let now = Instant::now();
    let mut app = signed_in(&[]);
    app.update(frame(ServerFrame::ChatMessage(message("general", 7, "bob", "hi", T))), now);
    let cmds = app.update(
        frame(ServerFrame::Rooms {
            rooms: vec![summary("general", RoomKind::Room, ""), summary("ops", RoomKind::Room, "")],
        }),
        now,
    );
    let frames = sent(&cmds);
    assert!(frames.contains(&json!({"type": "JOIN_ROOM", "roomId": "general", "since": 7, "ref": "catchup:general"})));
    assert!(frames.contains(&json!({"type": "JOIN_ROOM", "roomId": "ops", "ref": "catchup:ops"})));
    assert!(frames.contains(&json!({"type": "HISTORY", "roomId": "ops", "limit": 50, "ref": "latest:ops"})));
}

#[test]
fn typing_is_announced_once_then_refreshed_every_three_seconds_and_stopped() {
    let t0 = Instant::now();
    let mut app = signed_in(&[("general", RoomKind::Room, ""), ("ops", RoomKind::Room, "")]);
    let first = type_text(&mut app, "hel", t0);
    assert_eq!(sent(&first), [json!({"type": "TYPING", "roomId": "general", "typing": true})]);
    assert!(type_text(&mut app, "lo", t0 + Duration::from_secs(2)).is_empty());
    let refresh = type_text(&mut app, "!", t0 + Duration::from_secs(3));
    assert_eq!(sent(&refresh).len(), 1);
    // Clearing the input stops it.
    let cleared = app.update(ctrl('u'), t0 + Duration::from_secs(4));
    assert_eq!(sent(&cleared), [json!({"type": "TYPING", "roomId": "general", "typing": false})]);
    // So does switching rooms.
    type_text(&mut app, "x", t0 + Duration::from_secs(5));
    let switched = app.update(ctrl('n'), t0 + Duration::from_secs(5));
    assert_eq!(sent(&switched)[0], json!({"type": "TYPING", "roomId": "general", "typing": false}));
    assert_eq!(app.current_room().map(|r| r.id.as_str()), Some("ops"));
}

#[test]
fn a_message_is_pending_until_its_echo_and_offline_ones_wait_for_the_connection() {
    let now = Instant::now();
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    type_text(&mut app, "hello", now);
    let cmds = app.update(key(KeyCode::Enter), now);
    let frames = sent(&cmds);
    let chat = frames.iter().find(|f| f["type"] == "CHAT_MESSAGE").expect("sent");
    let client_id = chat["clientId"].as_str().expect("clientId").to_string();
    assert_eq!(app.current_room().map(|r| r.pending.len()), Some(1));
    let mut echo = message("general", 1, "alice", "hello", T);
    echo.client_id = Some(client_id);
    app.update(frame(ServerFrame::ChatMessage(echo)), now);
    let room = app.current_room().expect("room");
    assert!(room.pending.is_empty());
    assert_eq!(room.messages.len(), 1);

    // Offline: kept, not sent; sent with the same clientId after signing in again.
    app.update(Msg::Net(NetEvent::Disconnected { reason: "gone".into(), retry_at: now, attempt: 1 }), now);
    type_text(&mut app, "while away", now);
    assert!(sent(&app.update(key(KeyCode::Enter), now)).is_empty());
    let waiting = app.current_room().map(|r| r.pending[0].client_id.clone()).expect("pending");
    let cmds = app.update(Msg::Net(NetEvent::Connected), now);
    assert!(sent(&cmds).iter().any(|f| f["type"] == "AUTH"), "signs in again with the session");
    app.update(
        reply(
            ServerFrame::AuthOk {
                user_id: "alice".into(),
                user_name: "alice".into(),
                display_name: "alice".into(),
                status_text: String::new(),
                token: "t".into(),
                refresh_token: None,
                expires_at: T.into(),
            },
            "auth",
        ),
        now,
    );
    let cmds = app.update(frame(ServerFrame::Rooms { rooms: vec![summary("general", RoomKind::Room, "")] }), now);
    let frames = sent(&cmds);
    assert!(frames.contains(&json!({"type": "JOIN_ROOM", "roomId": "general", "since": 1, "ref": "catchup:general"})));
    assert!(frames.iter().any(|f| f["type"] == "CHAT_MESSAGE" && f["clientId"] == waiting.as_str()));
}

#[test]
fn a_refused_message_is_marked_failed() {
    let now = Instant::now();
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    type_text(&mut app, "hi", now);
    let cmds = app.update(key(KeyCode::Enter), now);
    let cid = sent(&cmds).iter().find(|f| f["type"] == "CHAT_MESSAGE").map(|f| f["clientId"].clone()).expect("sent");
    app.update(reply(ServerFrame::error(ErrorCode::Forbidden, "no"), cid.as_str().unwrap_or("")), now);
    assert_eq!(app.current_room().and_then(|r| r.pending[0].failed.clone()).as_deref(), Some("no"));
}

#[test]
fn a_rate_limited_sign_in_says_how_long_to_wait() {
    let now = Instant::now();
    let mut app = App::new("ws://127.0.0.1:8181/ws", "dave", None, "t");
    app.update(Msg::Net(NetEvent::Connected), now);
    type_text(&mut app, "wrong", now);
    app.update(key(KeyCode::Enter), now);
    let limited = ServerFrame::Error {
        code: ErrorCode::RateLimited,
        message: "too many failed logins; wait before trying again".into(),
        retry_after_ms: Some(29_001),
    };
    app.update(reply(limited, "auth"), now);
    assert_eq!(app.signin.error.as_deref(), Some("too many failed logins; try again in 30 s"));

    // And on the chat screen: a notice, or a message's failure.
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    let limited = |ms| ServerFrame::Error {
        code: ErrorCode::RateLimited,
        message: "too many frames; slow down".into(),
        retry_after_ms: Some(ms),
    };
    app.update(frame(limited(1500)), now);
    assert_eq!(app.notice, Some(("too many frames; try again in 2 s".into(), true)));
    type_text(&mut app, "hi", now);
    let cmds = app.update(key(KeyCode::Enter), now);
    let cid = sent(&cmds).iter().find_map(|f| f["clientId"].as_str().map(String::from)).expect("sent");
    app.update(reply(limited(250), &cid), now);
    let failed = app.current_room().and_then(|r| r.pending[0].failed.clone());
    assert_eq!(failed.as_deref(), Some("too many frames; try again in 1 s"));
}

#[test]
fn messages_elsewhere_count_as_unread_and_mentions_ring_once() {
    let now = Instant::now();
    let mut app = signed_in(&[("general", RoomKind::Room, ""), ("ops", RoomKind::Room, "")]);
    let quiet = app.update(frame(ServerFrame::ChatMessage(message("ops", 1, "bob", "deploy done", T))), now);
    assert!(quiet.is_empty());
    let ring = app.update(frame(ServerFrame::ChatMessage(message("ops", 2, "bob", "@alice look", T))), now);
    assert_eq!(ring, [Cmd::Bell, Cmd::Notify { title: "bob in #ops".into(), body: "@alice look".into() }]);
    // The same message again (a replay) changes nothing.
    assert!(app.update(frame(ServerFrame::ChatMessage(message("ops", 2, "bob", "@alice look", T))), now).is_empty());
    let ops = app.rooms.iter().find(|r| r.id == "ops").expect("ops");
    assert_eq!((ops.unread, ops.mentions), (2, 1));
    // Looking at the room clears them.
    app.update(alt(KeyCode::Char('2')), now);
    let ops = app.current_room().expect("ops");
    assert_eq!((ops.id.as_str(), ops.unread, ops.mentions), ("ops", 0, 0));
}

#[test]
fn commands_are_parsed_and_bad_ones_never_sent() {
    let now = Instant::now();
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    type_text(&mut app, "/frobnicate now", now);
    assert!(app.update(key(KeyCode::Enter), now).is_empty());
    assert!(app.notice.as_ref().is_some_and(|(n, err)| *err && n.contains("unknown command /frobnicate")));
    assert_eq!(app.input.text(), "/frobnicate now", "the input is kept to fix");

    app.update(ctrl('u'), now);
    type_text(&mut app, "/create --private ops on call", now);
    let cmds = app.update(key(KeyCode::Enter), now);
    assert_eq!(
        sent(&cmds),
        [json!({"type": "CREATE_ROOM", "roomId": "ops", "topic": "on call", "private": true, "ref": "open"})]
    );
    type_text(&mut app, "/dm bob", now);
    assert_eq!(
        sent(&app.update(key(KeyCode::Enter), now)),
        [json!({"type": "OPEN_DM", "userId": "bob", "ref": "open"})]
    );
    type_text(&mut app, "//not a command", now);
    let cmds = app.update(key(KeyCode::Enter), now);
    assert_eq!(sent(&cmds).last().map(|f| f["content"].clone()), Some(json!("/not a command")));
    type_text(&mut app, "/help", now);
    app.update(key(KeyCode::Enter), now);
    assert!(app.overlay.as_ref().is_some_and(|o| o.lines.iter().any(|l| l.starts_with("/join"))));
    app.update(key(KeyCode::Esc), now);
    assert!(app.overlay.is_none());
}

#[test]
fn tab_completes_commands_names_and_rooms() {
    let now = Instant::now();
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    app.update(
        frame(ServerFrame::RoomMembersUpdate {
            room_id: "general".into(),
            members: vec!["alice".into(), "bob".into(), "bobby".into()],
            online: vec![],
            away: vec![],
            last_seen: Default::default(),
            read: Default::default(),
            display_names: Default::default(),
            status_texts: Default::default(),
            admins: vec![],
        }),
        now,
    );
    type_text(&mut app, "/jo", now);
    app.update(key(KeyCode::Tab), now);
    assert_eq!(app.input.text(), "/join ");
    app.update(ctrl('u'), now);
    type_text(&mut app, "hi @b", now);
    app.update(key(KeyCode::Tab), now);
    assert_eq!(app.input.text(), "hi @bob", "common prefix of bob and bobby");
    type_text(&mut app, "b", now);
    app.update(key(KeyCode::Tab), now);
    assert_eq!(app.input.text(), "hi @bobby ");
}

#[test]
fn scrolling_to_the_top_loads_older_history() {
    let now = Instant::now();
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    app.update(Msg::Resize(80, 24), now);
    let messages = (51..=100).map(|seq| message("general", seq, "bob", &format!("line {seq}"), T)).collect();
    app.update(
        reply(ServerFrame::History { room_id: "general".into(), messages, has_more: true }, "latest:general"),
        now,
    );
    assert!(app.update(key(KeyCode::PageUp), now).is_empty(), "not at the top yet");
    let cmds = app.update(key(KeyCode::Home), now);
    assert_eq!(
        sent(&cmds),
        [json!({"type": "HISTORY", "roomId": "general", "before": 51, "limit": 50, "ref": "older:general"})]
    );
    assert!(app.update(key(KeyCode::Home), now).is_empty(), "one request at a time");
    // A new message while scrolled up: the view stays put and says so.
    let scroll = app.current_room().map(|r| r.scroll).unwrap_or(0);
    app.update(frame(ServerFrame::ChatMessage(message("general", 101, "bob", "new", T))), now);
    let room = app.current_room().expect("room");
    assert!(room.new_below && room.scroll > scroll);
    app.update(key(KeyCode::End), now);
    assert_eq!(app.current_room().map(|r| (r.scroll, r.new_below)), Some((0, false)));
}

#[test]
fn reconnect_state_and_a_new_epoch() {
    let now = Instant::now();
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    app.update(
        frame(ServerFrame::Welcome {
            message: String::new(),
            connection_id: "1".into(),
            protocol: 1,
            server: String::new(),
            auth_required: true,
            epoch: "e1".into(),
        }),
        now,
    );
    app.update(frame(ServerFrame::ChatMessage(message("general", 1, "bob", "x", T))), now);
    let at = now + Duration::from_secs(3);
    app.update(Msg::Net(NetEvent::Disconnected { reason: "refused".into(), retry_at: at, attempt: 2 }), now);
    assert!(matches!(app.conn, Conn::Reconnecting { attempt: 2, .. }));
    assert!(!app.online());
    app.update(
        frame(ServerFrame::Welcome {
            message: String::new(),
            connection_id: "2".into(),
            protocol: 1,
            server: String::new(),
            auth_required: true,
            epoch: "e2".into(),
        }),
        now,
    );
    assert!(app.current_room().is_some_and(|r| r.messages.is_empty()), "another database: start over");
}

#[test]
fn typing_line_wording() {
    let now = Instant::now();
    let mut app = signed_in(&[("general", RoomKind::Room, "")]);
    let typing = |user: &str, on: bool| {
        frame(ServerFrame::Typing {
            room_id: "general".into(),
            user_id: user.into(),
            user_name: user.into(),
            typing: on,
        })
    };
    assert_eq!(app.typing_text(), None);
    app.update(typing("bob", true), now);
    assert_eq!(app.typing_text().as_deref(), Some("bob is typing…"));
    app.update(typing("carol", true), now);
    assert_eq!(app.typing_text().as_deref(), Some("bob and carol are typing…"));
    app.update(typing("dave", true), now);
    assert_eq!(app.typing_text().as_deref(), Some("several people are typing…"));
    app.update(typing("dave", false), now);
    app.update(frame(ServerFrame::ChatMessage(message("general", 1, "carol", "done", T))), now);
    assert_eq!(app.typing_text().as_deref(), Some("bob is typing…"), "a message ends its sender's typing");
    app.update(Msg::Tick, Instant::now() + Duration::from_secs(7));
    assert_eq!(app.typing_text(), None, "typers expire");
}
