//! Builders for keys, frames and an app in a known state.

use chaty_proto::{Message, Reply, RoomKind, RoomSummary, ServerFrame};
use chaty_tui::app::{App, Cmd, Msg, NetEvent};
use chaty_tui::view;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::time::Instant;

pub fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

pub fn alt(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::ALT))
}

pub fn frame(frame: ServerFrame) -> Msg {
    Msg::Net(NetEvent::Frame(Box::new(Reply { frame, reference: None })))
}

pub fn reply(frame: ServerFrame, reference: &str) -> Msg {
    Msg::Net(NetEvent::Frame(Box::new(Reply { frame, reference: Some(reference.into()) })))
}

/// Types `text` key by key; returns every command that produced.
pub fn type_text(app: &mut App, text: &str, now: Instant) -> Vec<Cmd> {
    text.chars().flat_map(|c| app.update(key(KeyCode::Char(c)), now)).collect()
}

pub fn message(room: &str, seq: u64, user: &str, content: &str, timestamp: &str) -> Message {
    Message {
        id: 1000 + seq,
        seq,
        room_id: room.into(),
        user_id: user.into(),
        user_name: user.into(),
        content: content.into(),
        timestamp: timestamp.into(),
        client_id: None,
        reply_to: None,
        ..Message::default()
    }
}

pub fn summary(room: &str, kind: RoomKind, topic: &str) -> RoomSummary {
    RoomSummary {
        room_id: room.into(),
        topic: topic.into(),
        kind,
        private: kind == RoomKind::Dm,
        member_count: 2,
        last_seq: 0,
        joined: true,
        read_seq: 0,
        unread: 0,
        mentions: 0,
        role: None,
        notify: None,
    }
}

/// An app signed in as `alice`, connected, with the given rooms.
pub fn signed_in(rooms: &[(&str, RoomKind, &str)]) -> App {
    let now = Instant::now();
    let mut app = App::new("ws://127.0.0.1:8181/ws", "alice", None, "t");
    app.update(Msg::Net(NetEvent::Connected), now);
    app.update(
        reply(
            ServerFrame::AuthOk {
                user_id: "alice".into(),
                user_name: "alice".into(),
                display_name: "alice".into(),
                status_text: String::new(),
                token: "ca_x".into(),
                refresh_token: Some("cr_x".into()),
                expires_at: "2030-01-01T00:00:00.000Z".into(),
            },
            "auth",
        ),
        now,
    );
    let rooms = rooms.iter().map(|(id, kind, topic)| summary(id, *kind, topic)).collect();
    app.update(frame(ServerFrame::Rooms { rooms }), now);
    app
}

/// The frames among `cmds`, as JSON values (with `ref` when set).
pub fn sent(cmds: &[Cmd]) -> Vec<serde_json::Value> {
    cmds.iter()
        .filter_map(|c| match c {
            Cmd::Send(frame, reference) => serde_json::from_str(&frame.to_json(reference.as_deref())).ok(),
            _ => None,
        })
        .collect()
}

/// The app drawn on a `width`×`height` test terminal, as of now.
pub fn render(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let now = Instant::now();
    app.update(Msg::Resize(width, height), now);
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal.draw(|f| view::draw(f, app, now)).expect("draw");
    terminal
}

/// A `ROOM_MEMBERS_UPDATE` for `room` with these members, `online` of them online.
pub fn members(room: &str, members: &[&str], online: &[&str]) -> Msg {
    let names = |list: &[&str]| list.iter().map(|m| (*m).to_string()).collect();
    frame(ServerFrame::RoomMembersUpdate {
        room_id: room.into(),
        members: names(members),
        online: names(online),
        away: vec![],
        last_seen: Default::default(),
        read: Default::default(),
        display_names: Default::default(),
        status_texts: Default::default(),
        admins: vec![],
    })
}
