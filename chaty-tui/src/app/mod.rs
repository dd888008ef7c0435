//! The client's state and `App::update(Msg) -> Vec<Cmd>`: every key, every
//! frame from the server and every tick goes through here. No I/O: what the
//! app wants done (send a frame, save the session, ring the bell) comes back
//! as [`Cmd`]s for the runner, so all of this is unit-tested directly.

mod conversation;
mod overlay;
mod people;

use std::path::PathBuf;
use std::time::Duration;

use chaty_proto::{self as proto, ClientFrame, ErrorCode, Reply, RoomKind, ServerFrame};
use chrono::FixedOffset;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use tokio::time::Instant;

use crate::command::{self, COMMANDS, Command};
use crate::config::Session;
use crate::input::Input;
use crate::layout;
use conversation::MembersUpdate;
pub use conversation::{QUICK_REACTIONS, human_size};
pub use people::{People, Picker, Whois};

use crate::room::{Pending, Room};
use crate::sanitize;
use crate::transcript;

/// A `TYPING true` is refreshed at most this often.
const TYPING_REFRESH: Duration = Duration::from_secs(3);
/// Others' typing shows this long without a refresh.
const TYPING_SHOWN: Duration = Duration::from_secs(6);
/// Messages fetched per history page.
const PAGE: u64 = 50;

/// Everything that can happen to the app.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    ScrollUp,
    ScrollDown,
    Resize(u16, u16),
    Tick,
    Net(NetEvent),
    Transfer(TransferEvent),
}

/// Progress and outcome of a file upload or download.
#[derive(Debug, Clone)]
pub enum TransferEvent {
    Progress {
        id: u64,
        done: u64,
        total: u64,
    },
    Uploaded {
        id: u64,
        attachment: proto::Attachment,
        room: String,
        caption: Option<String>,
    },
    /// Saved at `path` (absolute); `note` says why it is not in Downloads.
    Saved {
        id: u64,
        path: PathBuf,
        note: Option<String>,
    },
    Failed {
        id: u64,
        reason: String,
    },
}

impl TransferEvent {
    fn id(&self) -> u64 {
        match self {
            Self::Progress { id, .. }
            | Self::Uploaded { id, .. }
            | Self::Saved { id, .. }
            | Self::Failed { id, .. } => *id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferState {
    Running,
    Done(String),
    Failed(String),
}

/// A file on its way up or down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub id: u64,
    pub name: String,
    pub upload: bool,
    pub done: u64,
    pub total: u64,
    pub state: TransferState,
}

/// Typing, or moving between messages to act on one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Select { id: u64 },
}

/// What Enter does with the input besides sending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compose {
    None,
    Reply(u64),
    Edit(u64),
}

/// Search results shown over the chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchView {
    pub query: String,
    pub hits: Vec<proto::SearchHit>,
    pub selected: usize,
}

/// What the network task reports.
#[derive(Debug, Clone)]
pub enum NetEvent {
    Connecting,
    Connected,
    /// The connection dropped or could not be made; the next try is at `retry_at`.
    Disconnected {
        reason: String,
        retry_at: Instant,
        attempt: u32,
    },
    /// No connection, and no retry: trying again cannot help (the server's
    /// certificate is not trusted). `reason` says what to do.
    Failed {
        reason: String,
    },
    Frame(Box<Reply>),
}

/// What the app asks the runner to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Cmd {
    /// Send a frame (with an optional `ref`).
    Send(ClientFrame, Option<String>),
    /// (Re)connect the network task to this URL.
    Connect(String),
    SaveSession(Session),
    ClearSession,
    /// Remember server and user name in config.toml.
    SaveConfig {
        server: String,
        user: String,
    },
    Bell,
    Quit,
    /// Upload `path` and share it in `room`.
    Upload {
        id: u64,
        path: PathBuf,
        room: String,
        caption: Option<String>,
    },
    Download {
        id: u64,
        attachment: proto::Attachment,
    },
    /// Put text on the terminal's clipboard (OSC 52).
    Copy(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    Connected,
    Reconnecting {
        at: Instant,
        attempt: u32,
        reason: String,
    },
    /// Given up until the user signs in again (see [`NetEvent::Failed`]).
    Failed {
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    SignIn,
    Chat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Server,
    User,
    Password,
}

#[derive(Debug, Clone, Default)]
pub struct SignInForm {
    pub server: Input,
    pub user: Input,
    pub password: Input,
    pub focus: Option<Field>,
    pub error: Option<String>,
    /// A LOGIN/REGISTER is on its way.
    pub busy: bool,
}

/// Which sign-in the app is waiting on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Auth {
    None,
    Token,
    Refresh,
    Password { register: bool, user: String, password: String },
}

/// A popup over the chat: help, who, the room list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    pub title: String,
    pub lines: Vec<String>,
}

/// Ctrl-K: a fuzzy room switcher.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Switcher {
    pub query: String,
    pub selected: usize,
}

pub struct App {
    pub screen: Screen,
    pub signin: SignInForm,
    pub server: String,
    /// With `--local`: which server this is and where, always on screen.
    pub local_server: Option<String>,
    pub me: String,
    pub session: Option<Session>,
    pub conn: Conn,
    signed_in: bool,
    auth: Auth,
    pub rooms: Vec<Room>,
    pub current: usize,
    pub input: Input,
    /// Room and time of the last `TYPING true` sent.
    typing_sent: Option<(String, Instant)>,
    /// A one-line message for the user (error or hint) and whether it is an error.
    pub notice: Option<(String, bool)>,
    pub overlay: Option<Overlay>,
    /// How far the open overlay is scrolled (it scrolls when taller than the screen).
    pub overlay_scroll: usize,
    pub switcher: Option<Switcher>,
    pub bell: bool,
    pub size: (u16, u16),
    pub utc_offset: FixedOffset,
    epoch: Option<String>,
    /// The time of the message being handled.
    now: Instant,
    client_prefix: String,
    next_client_id: u64,
    pub mode: Mode,
    pub compose: Compose,
    pub search: Option<SearchView>,
    pub transfers: Vec<Transfer>,
    next_transfer: u64,
    /// Shown as away (by /away, or after `idle_away` without input).
    pub away: bool,
    auto_away: bool,
    pub idle_away: Option<Duration>,
    last_activity: Instant,
    /// Wall-clock time (ms since the epoch) for "last seen 2 h ago"; the runner keeps it current.
    pub wall_ms: i64,
    /// Your profile, `/whois`, `/users` and the directory.
    pub people: People,
    pub quit: bool,
}

impl App {
    /// `client_prefix` makes this run's clientIds unique (random in the binary, fixed in tests).
    pub fn new(server: &str, user: &str, session: Option<Session>, client_prefix: &str) -> Self {
        let mut signin = SignInForm::default();
        signin.server.set(server);
        signin.user.set(user);
        signin.focus = Some(if user.is_empty() { Field::User } else { Field::Password });
        Self {
            screen: Screen::SignIn,
            signin,
            server: server.to_string(),
            local_server: None,
            me: user.to_string(),
            session,
            conn: Conn::Connecting,
            signed_in: false,
            auth: Auth::None,
            rooms: Vec::new(),
            current: 0,
            input: Input::default(),
            typing_sent: None,
            notice: None,
            overlay: None,
            overlay_scroll: 0,
            switcher: None,
            bell: true,
            size: (80, 24),
            utc_offset: FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!()),
            epoch: None,
            now: Instant::now(),
            client_prefix: client_prefix.to_string(),
            next_client_id: 0,
            mode: Mode::Normal,
            compose: Compose::None,
            search: None,
            transfers: Vec::new(),
            next_transfer: 0,
            away: false,
            auto_away: false,
            idle_away: Some(Duration::from_secs(10 * 60)),
            last_activity: Instant::now(),
            wall_ms: 0,
            people: People::default(),
            quit: false,
        }
    }

    pub fn current_room(&self) -> Option<&Room> {
        self.rooms.get(self.current)
    }

    fn room_index(&self, id: &str) -> Option<usize> {
        self.rooms.iter().position(|r| r.id == id)
    }

    /// The room with `id`, added (rooms before DMs, by name) if new.
    fn room_mut(&mut self, id: &str) -> &mut Room {
        let index = match self.room_index(id) {
            Some(i) => i,
            None => {
                let current = self.rooms.get(self.current).map(|r| r.id.clone());
                self.rooms.push(Room::new(id));
                self.rooms.sort_by(|a, b| (a.kind == RoomKind::Dm, &a.id).cmp(&(b.kind == RoomKind::Dm, &b.id)));
                if let Some(cur) = current.and_then(|c| self.room_index(&c)) {
                    self.current = cur;
                }
                self.room_index(id).unwrap_or(0)
            }
        };
        &mut self.rooms[index]
    }

    pub fn online(&self) -> bool {
        self.conn == Conn::Connected && self.signed_in
    }

    fn send(&self, frame: ClientFrame) -> Cmd {
        Cmd::Send(frame, None)
    }

    fn notice(&mut self, text: impl Into<String>, error: bool) {
        self.notice = Some((text.into(), error));
    }

    pub fn update(&mut self, msg: Msg, now: Instant) -> Vec<Cmd> {
        self.now = now;
        let mut cmds = self.handle(msg, now);
        cmds.extend(self.mark_viewed());
        cmds
    }

    fn handle(&mut self, msg: Msg, now: Instant) -> Vec<Cmd> {
        match msg {
            Msg::Key(key) => {
                let mut cmds = self.active();
                cmds.extend(match self.screen {
                    Screen::SignIn => self.signin_key(key),
                    Screen::Chat => self.chat_key(key, now),
                });
                cmds
            }
            Msg::Paste(text) => {
                match (self.screen, self.signin.focus) {
                    (Screen::Chat, _) => self.input.insert_str(&text.replace('\r', "")),
                    (Screen::SignIn, Some(field)) => self.field(field).insert_str(text.trim()),
                    (Screen::SignIn, None) => {}
                }
                Vec::new()
            }
            Msg::ScrollUp | Msg::ScrollDown if self.overlay.is_some() => {
                self.scroll_overlay(if matches!(msg, Msg::ScrollUp) { -3 } else { 3 });
                Vec::new()
            }
            Msg::ScrollUp => self.scroll_by(3),
            Msg::ScrollDown => self.scroll_by(-3),
            Msg::Resize(w, h) => {
                self.size = (w, h);
                Vec::new()
            }
            Msg::Tick => {
                for room in &mut self.rooms {
                    room.expire_typers(now);
                }
                let mut cmds = self.check_idle();
                cmds.extend(self.people_tick(now));
                cmds
            }
            Msg::Net(event) => self.net(event),
            Msg::Transfer(event) => self.transfer(event),
        }
    }

    // ----- network --------------------------------------------------------

    fn net(&mut self, event: NetEvent) -> Vec<Cmd> {
        match event {
            NetEvent::Connecting => {
                if !matches!(self.conn, Conn::Reconnecting { .. }) {
                    self.conn = Conn::Connecting;
                }
                Vec::new()
            }
            NetEvent::Connected => {
                self.conn = Conn::Connected;
                self.signed_in = false;
                self.typing_sent = None;
                self.authenticate()
            }
            NetEvent::Disconnected { reason, retry_at, attempt } => {
                self.conn = Conn::Reconnecting { at: retry_at, attempt, reason };
                self.offline();
                if self.signin.busy {
                    self.signin.busy = false;
                    self.signin.error = Some("could not reach the server; retrying".into());
                }
                Vec::new()
            }
            NetEvent::Failed { reason } => self.connection_failed(reason),
            NetEvent::Frame(reply) => self.frame(*reply),
        }
    }

    /// Not signed in, nobody typing, no history on its way.
    fn offline(&mut self) {
        self.signed_in = false;
        for room in &mut self.rooms {
            room.typers.clear();
            room.loading_older = false;
        }
    }

    /// The network task gave up: say why, where it will be read, and let
    /// Enter on the sign-in screen try again.
    fn connection_failed(&mut self, reason: String) -> Vec<Cmd> {
        self.offline();
        self.signin.busy = false;
        // The sign-in box shows the reason in place of an older error.
        self.signin.error = None;
        if self.screen == Screen::Chat {
            let lines = vec![reason.clone(), String::new(), "Esc closes this; /quit, fix it and start again.".into()];
            self.overlay = Some(Overlay { title: "Not connected".into(), lines });
            self.overlay_scroll = 0;
        }
        self.conn = Conn::Failed { reason };
        Vec::new()
    }

    /// What to send right after connecting: the saved token, or the sign-in
    /// the user asked for, or nothing (the sign-in screen waits for input).
    fn authenticate(&mut self) -> Vec<Cmd> {
        if let Auth::Password { register, user, password } = &self.auth {
            return vec![password_frame(*register, user, password)];
        }
        match &self.session {
            Some(session) => {
                self.auth = Auth::Token;
                vec![Cmd::Send(ClientFrame::Auth(proto::Auth { token: session.token.clone() }), Some("auth".into()))]
            }
            None => {
                self.screen = Screen::SignIn;
                Vec::new()
            }
        }
    }

    fn frame(&mut self, Reply { frame, reference }: Reply) -> Vec<Cmd> {
        let reference = reference.unwrap_or_default();
        match frame {
            ServerFrame::Welcome { epoch, .. } => {
                if self.epoch.as_ref().is_some_and(|e| *e != epoch) {
                    // Another database: our seq cursors mean nothing there.
                    for room in &mut self.rooms {
                        room.messages.clear();
                        room.has_older = false;
                    }
                }
                self.epoch = Some(epoch);
                Vec::new()
            }
            ServerFrame::AuthOk { user_name, token, refresh_token, display_name, status_text, .. } => {
                self.signed_in_profile(display_name, status_text);
                self.signed_in_as(user_name, token, refresh_token)
            }
            ServerFrame::Rooms { rooms } if reference == "rooms" => {
                let lines = rooms
                    .iter()
                    .filter(|r| r.kind == RoomKind::Room)
                    .map(|r| {
                        let mark = if r.joined { "✓" } else { " " };
                        let members = crate::words::noun(r.member_count, "member");
                        format!(
                            "{mark} #{:<20} {:>3} {members:<7}  {}",
                            r.room_id,
                            r.member_count,
                            sanitize::line(&r.topic)
                        )
                    })
                    .collect();
                self.overlay = Some(Overlay { title: "Rooms (/join ROOM)".into(), lines });
                Vec::new()
            }
            ServerFrame::Rooms { rooms } => self.sync_rooms(rooms),
            ServerFrame::Room { room_id, topic, private, kind } => {
                let known = self.room_index(&room_id).is_some();
                let room = self.room_mut(&room_id);
                room.topic = topic;
                room.private = private;
                room.kind = kind;
                let mut cmds = Vec::new();
                if !known {
                    // New to us (created, invited, a DM): load members and the latest page.
                    if reference != "join" {
                        cmds.push(self.send(ClientFrame::JoinRoom(proto::JoinRoom {
                            room_id: room_id.clone(),
                            user_id: None,
                            since: None,
                        })));
                    }
                    cmds.push(Cmd::Send(history_latest(&room_id), Some(format!("latest:{room_id}"))));
                }
                if reference == "open" || reference == "join" {
                    cmds.extend(self.switch_to(&room_id));
                }
                cmds
            }
            ServerFrame::ChatMessage(message) => self.chat_message(message),
            ServerFrame::History { room_id, messages, has_more } => {
                self.history(&room_id, messages, has_more, &reference)
            }
            ServerFrame::RoomMembersUpdate {
                room_id,
                members,
                online,
                away,
                last_seen,
                read,
                display_names,
                status_texts,
            } => {
                self.member_profiles(&room_id, display_names, status_texts);
                self.members_update(MembersUpdate { room_id, members, online, away, last_seen, read });
                Vec::new()
            }
            ServerFrame::UserLeft { room_id, user_id } if user_id.eq_ignore_ascii_case(&self.me) => {
                if let Some(i) = self.room_index(&room_id) {
                    self.rooms.remove(i);
                    self.current = self.current.min(self.rooms.len().saturating_sub(1));
                }
                Vec::new()
            }
            ServerFrame::Profile { user_id, display_name, status_text } => {
                self.profile(&user_id, display_name, status_text, &reference);
                Vec::new()
            }
            ServerFrame::Users { users } => {
                self.users(users, &reference);
                Vec::new()
            }
            ServerFrame::UserJoined { .. } | ServerFrame::UserLeft { .. } | ServerFrame::Pong {} => Vec::new(),
            ServerFrame::Typing { room_id, user_id, typing, .. } => {
                if user_id.eq_ignore_ascii_case(&self.me) {
                    return Vec::new();
                }
                let until = self.now + TYPING_SHOWN;
                let room = self.room_mut(&room_id);
                room.typers.retain(|(u, _)| *u != user_id);
                if typing {
                    room.typers.push((user_id, until));
                }
                Vec::new()
            }
            ServerFrame::Error { code, message, .. } => self.error(code, message, &reference),
            ServerFrame::Read { room_id, user_id, seq } => {
                self.read(&room_id, &user_id, seq);
                Vec::new()
            }
            ServerFrame::MessageEdited { room_id, message_id, content, edited_at } => {
                self.edited(&room_id, message_id, content, edited_at);
                Vec::new()
            }
            ServerFrame::MessageDeleted { room_id, message_id } => {
                self.deleted(&room_id, message_id);
                Vec::new()
            }
            ServerFrame::Reaction { room_id, message_id, user_id, emoji, added } => {
                self.reaction(&room_id, message_id, user_id, emoji, added);
                Vec::new()
            }
            ServerFrame::Presence { user_id, status, last_seen } => {
                self.presence(&user_id, status, last_seen);
                Vec::new()
            }
            ServerFrame::SearchResults { messages } => {
                let query = self.search.as_ref().map(|s| s.query.clone()).unwrap_or_default();
                self.search_results(query, messages);
                Vec::new()
            }
        }
    }

    fn signed_in_as(&mut self, user: String, token: String, refresh: Option<String>) -> Vec<Cmd> {
        let refresh = refresh.or_else(|| self.session.as_ref().map(|s| s.refresh_token.clone())).unwrap_or_default();
        let session = Session { server: self.server.clone(), user: user.clone(), token, refresh_token: refresh };
        self.session = Some(session.clone());
        self.me = user.clone();
        self.signed_in = true;
        self.auth = Auth::None;
        self.screen = Screen::Chat;
        self.signin.busy = false;
        self.signin.error = None;
        self.signin.password = Input::default();
        vec![Cmd::SaveSession(session), Cmd::SaveConfig { server: self.server.clone(), user }]
    }

    /// After sign-in the server lists our rooms: catch up on each (from the
    /// last `seq` we saw, or its latest page), and send what waited offline.
    fn sync_rooms(&mut self, rooms: Vec<proto::RoomSummary>) -> Vec<Cmd> {
        let mut cmds = Vec::new();
        for summary in rooms.into_iter().filter(|r| r.joined) {
            let room = self.room_mut(&summary.room_id);
            room.topic = summary.topic;
            room.kind = summary.kind;
            room.private = summary.private;
            // The server keeps read state, so every device agrees.
            room.read_seq = summary.read_seq;
            room.unread = usize::try_from(summary.unread).unwrap_or(usize::MAX);
            room.mentions = usize::try_from(summary.mentions).unwrap_or(usize::MAX);
            if room.unread > 0 {
                // The room you land on shows where you left off, too.
                room.marker = Some(room.read_seq);
            }
            let since = room.last_seq();
            let id = summary.room_id;
            cmds.push(Cmd::Send(
                ClientFrame::JoinRoom(proto::JoinRoom { room_id: id.clone(), user_id: None, since }),
                Some(format!("catchup:{id}")),
            ));
            if since.is_none() {
                cmds.push(Cmd::Send(history_latest(&id), Some(format!("latest:{id}"))));
            }
        }
        for room in &self.rooms {
            for p in room.pending.iter().filter(|p| p.failed.is_none()) {
                cmds.push(chat_frame(&room.id, p));
            }
        }
        cmds
    }

    fn chat_message(&mut self, message: proto::Message) -> Vec<Cmd> {
        let me = self.me.to_lowercase();
        let current = self.current_room().map(|r| r.id.clone());
        let (_, width) = self.message_area();
        let offset = self.utc_offset;
        let me_name = self.me.clone();
        let room = self.room_mut(&message.room_id);
        if let Some(cid) = &message.client_id {
            room.pending.retain(|p| p.client_id != *cid);
        }
        room.typers.retain(|(u, _)| !u.eq_ignore_ascii_case(&message.user_id));
        let mine = message.user_id.eq_ignore_ascii_case(&me);
        let mention = !mine && transcript::mentions(&message.content, &me);
        let looking = current.as_deref() == Some(message.room_id.as_str()) && room.scroll == 0;
        let dm = room.kind == RoomKind::Dm;
        let before =
            if room.scroll > 0 { transcript::build(room, &me_name, width, offset, None).lines.len() } else { 0 };
        if !room.insert(message) {
            return Vec::new();
        }
        if room.scroll > 0 {
            // Keep the view still while new lines arrive below it.
            room.scroll += transcript::build(room, &me_name, width, offset, None).lines.len().saturating_sub(before);
            room.new_below = true;
        }
        let mut cmds = Vec::new();
        if !looking && !mine {
            room.unread += 1;
            if mention {
                room.mentions += 1;
            }
            if (mention || dm) && self.bell {
                cmds.push(Cmd::Bell);
            }
        }
        cmds
    }

    fn history(&mut self, room_id: &str, messages: Vec<proto::Message>, has_more: bool, reference: &str) -> Vec<Cmd> {
        let room = self.room_mut(room_id);
        let mut cmds = Vec::new();
        if reference.starts_with("catchup:") && has_more {
            // More was missed than one page: keep going from the newest we have.
            let after = messages.last().map(|m| m.seq).or(room.last_seq());
            cmds.push(Cmd::Send(
                ClientFrame::History(proto::History { room_id: room_id.into(), before: None, after, limit: Some(200) }),
                Some(format!("catchup:{room_id}")),
            ));
        }
        if reference.starts_with("older:") || reference.starts_with("latest:") {
            room.has_older = has_more;
            room.loading_older = false;
        }
        for m in messages {
            room.insert(m);
        }
        if let Some(id) =
            reference.rsplit_once(':').filter(|_| reference.starts_with("context:")).and_then(|(_, id)| id.parse().ok())
        {
            self.context_loaded(room_id, id);
        }
        cmds
    }

    fn error(&mut self, code: ErrorCode, message: String, reference: &str) -> Vec<Cmd> {
        let message = sanitize::line(&message);
        match (&self.auth, reference) {
            (Auth::Token, "auth") if code == ErrorCode::TokenExpired => {
                if let Some(session) = &self.session {
                    self.auth = Auth::Refresh;
                    let refresh = proto::Refresh { refresh_token: session.refresh_token.clone() };
                    return vec![Cmd::Send(ClientFrame::Refresh(refresh), Some("auth".into()))];
                }
                Vec::new()
            }
            (Auth::Token | Auth::Refresh, "auth") => {
                // The saved session is no good any more: sign in again.
                self.auth = Auth::None;
                self.session = None;
                self.screen = Screen::SignIn;
                self.signin.error = Some(format!("please sign in again ({message})"));
                vec![Cmd::ClearSession]
            }
            (Auth::Password { .. }, "auth") => {
                self.auth = Auth::None;
                self.signin.busy = false;
                self.signin.error = Some(message);
                Vec::new()
            }
            _ => {
                if self.people_error(reference, &message) {
                    return Vec::new();
                }
                if let Some(room) = self.rooms.iter_mut().find(|r| r.pending.iter().any(|p| p.client_id == reference)) {
                    if let Some(p) = room.pending.iter_mut().find(|p| p.client_id == reference) {
                        p.failed = Some(message);
                    }
                    return Vec::new();
                }
                if let Some(room_id) = reference.strip_prefix("older:") {
                    if let Some(i) = self.room_index(room_id) {
                        self.rooms[i].loading_older = false;
                    }
                }
                self.notice(message, true);
                Vec::new()
            }
        }
    }

    // ----- keys -----------------------------------------------------------

    fn field(&mut self, field: Field) -> &mut Input {
        match field {
            Field::Server => &mut self.signin.server,
            Field::User => &mut self.signin.user,
            Field::Password => &mut self.signin.password,
        }
    }

    fn signin_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let focus = self.signin.focus.unwrap_or(Field::User);
        match key.code {
            KeyCode::Char('c') if ctrl => return self.quit(),
            KeyCode::Char('r') if ctrl => return self.submit_signin(true),
            KeyCode::Enter => return self.submit_signin(false),
            KeyCode::Tab | KeyCode::Down => {
                self.signin.focus = Some(match focus {
                    Field::Server => Field::User,
                    Field::User => Field::Password,
                    Field::Password => Field::Server,
                });
            }
            KeyCode::BackTab | KeyCode::Up => {
                self.signin.focus = Some(match focus {
                    Field::Server => Field::Password,
                    Field::User => Field::Server,
                    Field::Password => Field::User,
                });
            }
            _ => edit(self.field(focus), key),
        }
        Vec::new()
    }

    fn submit_signin(&mut self, register: bool) -> Vec<Cmd> {
        if matches!(self.conn, Conn::Failed { .. }) && self.session.is_some() && self.signin.password.is_empty() {
            // Given up on, with a saved session: just try again.
            self.conn = Conn::Connecting;
            return vec![Cmd::Connect(self.server.clone())];
        }
        let server = match normalize_url(&self.signin.server.text()) {
            Ok(url) => url,
            Err(e) => {
                self.signin.error = Some(e);
                return Vec::new();
            }
        };
        let user = self.signin.user.text().trim().to_string();
        let password = self.signin.password.text();
        if let Err(e) = proto::validate::user_name("user name", &user) {
            self.signin.error = Some(e.replace('`', ""));
            self.signin.focus = Some(Field::User);
            return Vec::new();
        }
        if register {
            if let Err(e) = proto::validate::new_password("password", &password) {
                self.signin.error = Some(e.replace('`', ""));
                self.signin.focus = Some(Field::Password);
                return Vec::new();
            }
        } else if password.is_empty() {
            self.signin.error = Some("type your password".into());
            self.signin.focus = Some(Field::Password);
            return Vec::new();
        }
        self.signin.error = None;
        self.signin.busy = true;
        self.auth = Auth::Password { register, user: user.clone(), password: password.clone() };
        if server != self.server || matches!(self.conn, Conn::Failed { .. }) {
            // A different server, or one given up on: reconnect, and sign in once connected.
            self.server = server.clone();
            self.epoch = None;
            self.rooms.clear();
            self.conn = Conn::Connecting;
            return vec![Cmd::Connect(server)];
        }
        if self.conn == Conn::Connected { vec![password_frame(register, &user, &password)] } else { Vec::new() }
    }

    fn chat_key(&mut self, key: KeyEvent, now: Instant) -> Vec<Cmd> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        if ctrl && key.code == KeyCode::Char('c') {
            return self.quit();
        }
        if self.overlay.is_some() {
            return self.overlay_key(key);
        }
        if let Some(cmds) = self.people_key(key) {
            return cmds;
        }
        if self.switcher.is_some() {
            return self.switcher_key(key);
        }
        if self.search.is_some() {
            return self.search_key(key);
        }
        if matches!(self.mode, Mode::Select { .. }) {
            return self.select_key(key);
        }
        self.notice = None;
        let empty = self.input.is_empty() && conversation::plain(&key);
        match key.code {
            KeyCode::Esc if self.compose != Compose::None => {
                if matches!(self.compose, Compose::Edit(_)) {
                    self.input.take();
                }
                self.compose = Compose::None;
            }
            KeyCode::Esc if empty => self.start_selecting(),
            KeyCode::Up if empty && self.edit_last() => {}
            KeyCode::Char('u') if alt => self.jump_to_marker(),
            KeyCode::Char('f') if ctrl => self.input.set("/search "),
            KeyCode::Enter if alt || shift => self.input.insert('\n'),
            KeyCode::Enter => return self.submit(now),
            KeyCode::Up if alt => return self.cycle_room(-1),
            KeyCode::Down if alt => return self.cycle_room(1),
            KeyCode::Char('p') if ctrl => return self.cycle_room(-1),
            KeyCode::Char('n') if ctrl => return self.cycle_room(1),
            KeyCode::Char(c @ '1'..='9') if alt => {
                let i = usize::from(c as u8 - b'1');
                if let Some(id) = self.rooms.get(i).map(|r| r.id.clone()) {
                    return self.switch_to(&id);
                }
            }
            KeyCode::Char('g') if ctrl => self.switcher = Some(Switcher::default()),
            KeyCode::Char('k') if ctrl && self.input.is_empty() => self.switcher = Some(Switcher::default()),
            KeyCode::Up if self.input.on_first_line() => {
                self.input.history_prev();
            }
            KeyCode::Down if self.input.on_last_line() => {
                self.input.history_next();
            }
            KeyCode::PageUp => return self.scroll_by(self.page() as isize),
            KeyCode::PageDown => return self.scroll_by(-(self.page() as isize)),
            KeyCode::Home => return self.scroll_by(isize::MAX / 2),
            KeyCode::End => {
                if let Some(room) = self.rooms.get_mut(self.current) {
                    room.scroll = 0;
                    room.new_below = false;
                }
                return self.mark_viewed();
            }
            KeyCode::Tab => self.complete(),
            KeyCode::Esc => {}
            _ => {
                let before = self.input.text();
                edit(&mut self.input, key);
                if self.input.text() != before {
                    return self.typed(now);
                }
            }
        }
        Vec::new()
    }

    fn switcher_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
        let matches = self.switcher_matches();
        let people = self.switcher_people();
        let Some(sw) = self.switcher.as_mut() else {
            return Vec::new();
        };
        let typed = matches!(key.code, KeyCode::Backspace | KeyCode::Char(_));
        match key.code {
            KeyCode::Esc => self.switcher = None,
            KeyCode::Up => sw.selected = sw.selected.saturating_sub(1),
            KeyCode::Down => sw.selected = (sw.selected + 1).min((matches.len() + people.len()).saturating_sub(1)),
            KeyCode::Backspace => {
                sw.query.pop();
                sw.selected = 0;
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                sw.query.push(c);
                sw.selected = 0;
            }
            KeyCode::Enter => {
                let pick = matches.get(sw.selected).map(|i| self.rooms[*i].id.clone());
                let person = sw.selected.checked_sub(matches.len()).and_then(|i| people.get(i));
                self.switcher = None;
                if let Some(id) = pick {
                    return self.switch_to(&id);
                }
                if let Some(p) = person {
                    return self.open_dm(&p.user_id);
                }
            }
            _ => {}
        }
        if typed && self.switcher.is_some() {
            self.switcher_typed();
        }
        Vec::new()
    }

    /// Rooms matching the switcher's query (letters in order), best first.
    pub fn switcher_matches(&self) -> Vec<usize> {
        let query = self.switcher.as_ref().map(|s| s.query.to_lowercase()).unwrap_or_default();
        let mut scored: Vec<(usize, usize)> = self
            .rooms
            .iter()
            .enumerate()
            .filter_map(|(i, r)| fuzzy_score(&query, &r.label(&self.me).to_lowercase()).map(|s| (s, i)))
            .collect();
        scored.sort();
        scored.into_iter().map(|(_, i)| i).collect()
    }

    fn quit(&mut self) -> Vec<Cmd> {
        self.quit = true;
        let mut cmds = self.stop_typing();
        cmds.push(Cmd::Quit);
        cmds
    }

    fn typed(&mut self, now: Instant) -> Vec<Cmd> {
        let Some(room) = self.current_room().map(|r| r.id.clone()) else {
            return Vec::new();
        };
        let text = self.input.text();
        if text.is_empty() || text.starts_with('/') {
            return self.stop_typing();
        }
        let fresh = match &self.typing_sent {
            Some((r, at)) => *r != room || now.duration_since(*at) >= TYPING_REFRESH,
            None => true,
        };
        if !fresh || !self.online() {
            return Vec::new();
        }
        self.typing_sent = Some((room.clone(), now));
        vec![self.send(ClientFrame::Typing(proto::Typing { room_id: room, typing: true }))]
    }

    fn stop_typing(&mut self) -> Vec<Cmd> {
        match self.typing_sent.take() {
            Some((room_id, _)) if self.online() => {
                vec![self.send(ClientFrame::Typing(proto::Typing { room_id, typing: false }))]
            }
            _ => Vec::new(),
        }
    }

    fn switch_to(&mut self, id: &str) -> Vec<Cmd> {
        let mut cmds = self.stop_typing();
        self.mode = Mode::Normal;
        self.compose = Compose::None;
        if let Some(i) = self.room_index(id) {
            self.current = i;
            let room = &mut self.rooms[i];
            // The "new" line goes above what was unread when you came in.
            room.marker = (room.unread > 0).then_some(room.read_seq);
            room.unread = 0;
            room.mentions = 0;
            if room.messages.is_empty() && room.has_older && !room.loading_older {
                room.loading_older = true;
                cmds.push(Cmd::Send(history_latest(id), Some(format!("latest:{id}"))));
            }
        }
        cmds
    }

    fn cycle_room(&mut self, step: isize) -> Vec<Cmd> {
        if self.rooms.is_empty() {
            return Vec::new();
        }
        let n = self.rooms.len() as isize;
        let next = (self.current as isize + step).rem_euclid(n) as usize;
        let id = self.rooms[next].id.clone();
        self.switch_to(&id)
    }

    /// (height, width) of the message pane.
    fn message_area(&self) -> (u16, u16) {
        let (lines, _) = self.input.layout();
        let a = layout::areas(Rect::new(0, 0, self.size.0, self.size.1), lines.len());
        (a.messages.height, a.messages.width)
    }

    fn page(&self) -> usize {
        usize::from(self.message_area().0.saturating_sub(1)).max(1)
    }

    /// Scrolls up (positive) or down; reaching the top asks for older history.
    fn scroll_by(&mut self, lines: isize) -> Vec<Cmd> {
        let (height, width) = self.message_area();
        let (me, offset) = (self.me.clone(), self.utc_offset);
        let Some(room) = self.rooms.get_mut(self.current) else {
            return Vec::new();
        };
        let total = transcript::build(room, &me, width, offset, None).lines.len();
        let max = total.saturating_sub(usize::from(height));
        let target = (room.scroll as isize).saturating_add(lines).clamp(0, max as isize) as usize;
        room.scroll = target;
        if target == 0 {
            room.new_below = false;
        }
        if lines > 0 && target == max && room.has_older && !room.loading_older {
            if let Some(before) = room.first_seq() {
                room.loading_older = true;
                let id = room.id.clone();
                let history =
                    proto::History { room_id: id.clone(), before: Some(before), after: None, limit: Some(PAGE) };
                return vec![Cmd::Send(ClientFrame::History(history), Some(format!("older:{id}")))];
            }
        }
        Vec::new()
    }

    fn complete(&mut self) {
        let (start, word) = self.input.current_word();
        if word.is_empty() {
            return;
        }
        let candidates: Vec<String> = if start == 0 && word.starts_with('/') {
            COMMANDS.iter().map(|(c, _)| format!("{c} ")).collect()
        } else if word.starts_with('#') {
            self.rooms.iter().filter(|r| r.kind == RoomKind::Room).map(|r| format!("#{} ", r.id)).collect()
        } else {
            return self.complete_person(start, &word);
        };
        let lower = word.to_lowercase();
        let matches: Vec<&String> = candidates.iter().filter(|c| c.to_lowercase().starts_with(&lower)).collect();
        match matches.as_slice() {
            [] => {}
            [one] => self.input.replace_word(start, one),
            many => {
                let common = common_prefix(many);
                if common.chars().count() > word.chars().count() {
                    self.input.replace_word(start, &common);
                } else {
                    let list: Vec<&str> = many.iter().map(|s| s.trim_end()).collect();
                    self.notice(list.join("  "), false);
                }
            }
        }
    }

    fn next_client_id(&mut self) -> String {
        self.next_client_id += 1;
        format!("{}-{}", self.client_prefix, self.next_client_id)
    }

    fn submit(&mut self, now: Instant) -> Vec<Cmd> {
        let text = self.input.text();
        if text.trim().is_empty() {
            return Vec::new();
        }
        if text.starts_with('/') && !text.starts_with("//") {
            return match command::parse(&text) {
                Ok(cmd) => {
                    self.input.take();
                    let mut cmds = self.stop_typing();
                    cmds.extend(self.command(cmd, now));
                    cmds
                }
                Err(hint) => {
                    self.notice(hint, true);
                    Vec::new()
                }
            };
        }
        let content = text.strip_prefix('/').filter(|_| text.starts_with("//")).unwrap_or(&text).to_string();
        match self.compose {
            Compose::Edit(id) => self.submit_edit(id, content),
            _ => self.say(content),
        }
    }

    fn say(&mut self, content: String) -> Vec<Cmd> {
        if let Err(e) = proto::validate::content("message", &content) {
            self.notice(e.replace('`', ""), true);
            return Vec::new();
        }
        let Some(room_id) = self.current_room().map(|r| r.id.clone()) else {
            self.notice("join a room first: /join ROOM", true);
            return Vec::new();
        };
        self.input.take();
        let mut cmds = self.stop_typing();
        let reply_to = match std::mem::replace(&mut self.compose, Compose::None) {
            Compose::Reply(id) => Some(id),
            _ => None,
        };
        let pending = Pending { client_id: self.next_client_id(), content, failed: None, reply_to, attachment: None };
        let online = self.online();
        let room = self.room_mut(&room_id);
        room.scroll = 0;
        room.new_below = false;
        room.pending.push(pending.clone());
        if online {
            cmds.push(chat_frame(&room_id, &pending));
        }
        cmds
    }

    fn command(&mut self, cmd: Command, _now: Instant) -> Vec<Cmd> {
        let current = self.current_room().map(|r| r.id.clone());
        let need_online = !matches!(
            cmd,
            Command::Quit
                | Command::Help
                | Command::Who
                | Command::Me(_)
                | Command::Reply(_)
                | Command::Upload { .. }
                | Command::Download
        );
        if need_online && !self.online() {
            self.notice("not connected; try again once reconnected", true);
            return Vec::new();
        }
        match cmd {
            Command::Join(room_id) => {
                if self.room_index(&room_id).is_some() {
                    return self.switch_to(&room_id);
                }
                vec![Cmd::Send(
                    ClientFrame::JoinRoom(proto::JoinRoom { room_id, user_id: None, since: None }),
                    Some("join".into()),
                )]
            }
            Command::Leave(room) => match room.or(current) {
                Some(room_id) => {
                    vec![self.send(ClientFrame::LeaveRoom(proto::LeaveRoom { room_id }))]
                }
                None => Vec::new(),
            },
            Command::Create { room, private, topic } => {
                vec![Cmd::Send(
                    ClientFrame::CreateRoom(proto::CreateRoom { room_id: room, topic, private }),
                    Some("open".into()),
                )]
            }
            Command::Invite(user_id) => match current {
                Some(room_id) => {
                    vec![self.send(ClientFrame::Invite(proto::Invite { room_id, user_id }))]
                }
                None => Vec::new(),
            },
            Command::Dm(user_id) => {
                vec![Cmd::Send(ClientFrame::OpenDm(proto::OpenDm { user_id }), Some("open".into()))]
            }
            Command::Me(action) => self.say(format!("/me {action}")),
            Command::Rooms => vec![Cmd::Send(ClientFrame::ListRooms(proto::ListRooms {}), Some("rooms".into()))],
            Command::Who => {
                if let Some(room) = self.current_room() {
                    let lines = self.who_lines();
                    self.overlay = Some(Overlay { title: format!("Who is in {}", room.label(&self.me)), lines });
                }
                Vec::new()
            }
            Command::Logout => {
                self.session = None;
                self.signed_in = false;
                self.rooms.clear();
                self.people = People::default();
                self.screen = Screen::SignIn;
                self.signin.focus = Some(Field::Password);
                vec![self.send(ClientFrame::Logout(proto::Logout {})), Cmd::ClearSession]
            }
            Command::Quit => self.quit(),
            Command::React(emoji) => self.cmd_react(&emoji),
            Command::Edit(text) => self.cmd_edit(text),
            Command::Delete => self.cmd_delete(),
            Command::Reply(text) => self.cmd_reply(text),
            Command::Search(query) => self.cmd_search(query),
            Command::Upload { path, caption } => self.cmd_upload(path, caption),
            Command::Download => self.cmd_download(),
            Command::Retry => self.cmd_retry(),
            cmd @ (Command::Nick(_) | Command::Status(_) | Command::Whois(_) | Command::Users(_)) => {
                self.people_command(cmd)
            }
            Command::Away => self.cmd_presence(true),
            Command::Back => self.cmd_presence(false),
            Command::Help => {
                let mut lines: Vec<String> = COMMANDS.iter().map(|(_, usage)| (*usage).to_string()).collect();
                lines.push(String::new());
                lines.extend(command::KEYS.iter().map(|k| (*k).to_string()));
                self.overlay = Some(Overlay { title: "Help (Esc to close)".into(), lines });
                Vec::new()
            }
        }
    }

    /// The typing line for the current room.
    pub fn typing_text(&self) -> Option<String> {
        let room = self.current_room()?;
        let names: Vec<String> = room.typers.iter().map(|(u, _)| self.typer_name(u)).collect();
        match names.as_slice() {
            [] => None,
            [one] => Some(format!("{one} is typing…")),
            [a, b] => Some(format!("{a} and {b} are typing…")),
            _ => Some("several people are typing…".to_string()),
        }
    }
}

fn password_frame(register: bool, user: &str, password: &str) -> Cmd {
    let (user_name, password) = (user.to_string(), password.to_string());
    let frame = if register {
        ClientFrame::Register(proto::Register { user_name, password, display_name: None })
    } else {
        ClientFrame::Login(proto::Login { user_name, password })
    };
    Cmd::Send(frame, Some("auth".into()))
}

fn history_latest(room_id: &str) -> ClientFrame {
    ClientFrame::History(proto::History { room_id: room_id.to_string(), before: None, after: None, limit: Some(PAGE) })
}

fn chat_frame(room_id: &str, p: &Pending) -> Cmd {
    Cmd::Send(
        ClientFrame::ChatMessage(proto::ChatMessage {
            room_id: room_id.to_string(),
            content: p.content.clone(),
            user_id: None,
            user_name: None,
            client_id: Some(p.client_id.clone()),
            reply_to: p.reply_to,
            attachment: p.attachment.clone(),
        }),
        Some(p.client_id.clone()),
    )
}

/// Readline-style editing shared by the chat input and the sign-in fields.
fn edit(input: &mut Input, key: KeyEvent) {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    match key.code {
        KeyCode::Char('a') if ctrl => input.home(),
        KeyCode::Char('e') if ctrl => input.end(),
        KeyCode::Char('w') if ctrl => input.delete_word_back(),
        KeyCode::Char('u') if ctrl => input.kill_to_start(),
        KeyCode::Char('k') if ctrl => input.kill_to_end(),
        KeyCode::Char('b') if alt => input.word_left(),
        KeyCode::Char('f') if alt => input.word_right(),
        KeyCode::Backspace if alt || ctrl => input.delete_word_back(),
        KeyCode::Char(_) if ctrl || alt => {}
        KeyCode::Char(c) => input.insert(c),
        KeyCode::Backspace => input.backspace(),
        KeyCode::Delete => input.delete(),
        KeyCode::Left if ctrl || alt => input.word_left(),
        KeyCode::Right if ctrl || alt => input.word_right(),
        KeyCode::Left => input.left(),
        KeyCode::Right => input.right(),
        _ => {}
    }
}

/// Accepts `host:port`, `ws://…` or `wss://…`; returns a `ws(s)://` URL.
pub fn normalize_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("type the server's address, e.g. ws://127.0.0.1:8181/ws".into());
    }
    let url = if text.contains("://") { text.to_string() } else { format!("ws://{text}") };
    let uri: tokio_tungstenite::tungstenite::http::Uri =
        url.parse().map_err(|e| format!("bad server URL {}: {e}", proto::validate::quote(text)))?;
    match uri.scheme_str() {
        Some("ws" | "wss") => {}
        _ => {
            return Err(format!("bad server URL {}: use ws:// or wss://", proto::validate::quote(text)));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("bad server URL {}: no host", proto::validate::quote(text)));
    }
    Ok(if uri.path() == "/" && !url.ends_with('/') { format!("{url}/ws") } else { url })
}

/// Lower is better; `None` when `query`'s letters do not appear in order.
fn fuzzy_score(query: &str, candidate: &str) -> Option<usize> {
    let mut score = 0;
    let mut pos = 0;
    for q in query.chars() {
        let found = candidate[pos..].find(q)?;
        score += found;
        pos += found + q.len_utf8();
    }
    Some(score * 100 + candidate.len())
}

fn common_prefix(words: &[&String]) -> String {
    let first = words.first().map_or("", |w| w.as_str());
    let mut len = first.len();
    for w in words {
        len = len.min(
            first
                .chars()
                .zip(w.chars())
                .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
                .map(|(a, _)| a.len_utf8())
                .sum(),
        );
    }
    first[..len].to_string()
}
