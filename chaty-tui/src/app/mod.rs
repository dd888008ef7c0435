//! The client's state and `App::update(Msg) -> Vec<Cmd>`: every key, every
//! frame from the server and every tick goes through here. No I/O: what the
//! app wants done (send a frame, save the session, ring the bell) comes back
//! as [`Cmd`]s for the runner, so all of this is unit-tested directly.
//!
//! This module holds the types (`App`, `Msg`, `Cmd`, `NetEvent`, `Conn`, …),
//! the room lookups everything shares, and `update`'s dispatch. The handling
//! itself lives beside it, one concern per file:
//!
//! - `session.rs`: the connection's state and signing in (the sign-in screen);
//! - `frames.rs`: frames from the server;
//! - `keys.rs`: keys on the chat screen and readline-style editing;
//! - `compose.rs`: the input line, pastes, the external editor, completion
//!   and the typing indicator;
//! - `commands.rs`: slash commands;
//! - `rooms.rs`: switching rooms (and the Ctrl-K switcher) and scrolling;
//! - `conversation.rs`: reads, edits, reactions, replies, selection, search,
//!   transfers and presence;
//! - `people.rs`: profiles, `/whois`, `/users` and the directory;
//! - `moderation.rs`: `/kick`, `/ban`, `/op`, `/topic`… and being kicked;
//! - `retry.rs`: resending a message the overloaded server asked to have again;
//! - `links.rs`: opening and copying a message's links (`o`, `y`);
//! - `previews.rs`: image previews (`v`);
//! - `mouse.rs`: clicks and the wheel;
//! - `overlay.rs`: popups.

mod commands;
mod compose;
mod conversation;
mod frames;
mod keys;
mod links;
mod moderation;
mod mouse;
mod overlay;
mod people;
mod previews;
mod retry;
mod rooms;
mod session;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use chaty_proto::{self as proto, ClientFrame, Reply, RoomKind};
use chrono::FixedOffset;
use crossterm::event::{KeyEvent, MouseEvent};
use tokio::time::Instant;

use crate::config::Session;
use crate::input::Input;
use crate::keymap::Keymap;
use crate::room::Room;
use crate::theme::Theme;
pub use conversation::{QUICK_REACTIONS, human_size};
pub use links::{LinkAction, LinkChooser};
pub use people::{People, Picker, Whois};
pub use previews::{PreviewState, PreviewView, Previews};
pub use session::normalize_url;

/// Everything that can happen to the app.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    /// The external editor is done: what was saved (`None`: an empty file,
    /// keep the draft), or why it failed.
    Edited(Result<Option<String>, String>),
    ScrollUp,
    ScrollDown,
    /// A click or the wheel, where the pointer is.
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// The terminal gained (true) or lost focus.
    Focus(bool),
    Tick,
    Net(NetEvent),
    Transfer(TransferEvent),
    /// An image preview fetched and decoded (off the UI thread), or why not.
    Preview {
        file_id: String,
        /// For the transcript (`image_previews`), not `v`'s.
        inline: bool,
        outcome: Result<crate::preview::Picture, String>,
    },
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
    /// A desktop notification; title and body are already cleaned
    /// (`crate::notify::clean`).
    Notify {
        title: String,
        body: String,
    },
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
    /// Open the draft in `$VISUAL`/`$EDITOR` and answer with [`Msg::Edited`].
    EditDraft(String),
    /// Open a link (already checked: http, https or mailto) with
    /// `open_command` or the platform's opener.
    Open(String),
    /// Fetch (at most `max_image_mib`) and decode an image, fitted to
    /// `cols`×`rows` cells, off the UI thread; answer with [`Msg::Preview`].
    Preview {
        attachment: proto::Attachment,
        cols: u16,
        rows: u16,
        inline: bool,
    },
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
    /// An invitation token, for registering on a server that needs one.
    Invite,
}

#[derive(Debug, Clone, Default)]
pub struct SignInForm {
    pub server: Input,
    pub user: Input,
    pub password: Input,
    pub invite: Input,
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
    Password { register: bool, user: String, password: String, invite: Option<String> },
}

/// Typed while a sign-in was in flight: kept for the chat input.
#[derive(Debug, Clone)]
enum Typed {
    Key(KeyEvent),
    Paste(String),
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
    /// What was typed while signing in, replayed into the chat once signed in.
    typeahead: VecDeque<Typed>,
    /// The password of the sign-in under way: a kept line equal to it (typed
    /// again by someone who thought the first Enter was lost) is never sent.
    typeahead_secret: Option<String>,
    pub rooms: Vec<Room>,
    pub current: usize,
    pub input: Input,
    /// The draft holds a paste of more than [`compose::BIG_PASTE`] lines:
    /// Enter asks before sending it.
    big_paste: bool,
    /// Enter asked "send N lines?": the next Enter sends.
    pub confirm_send: bool,
    /// Ctrl-X was pressed: Ctrl-E next opens the external editor.
    ctrl_x: bool,
    /// Keys bound to actions (`[keys]` in config.toml).
    pub keymap: Keymap,
    /// Colours (`theme`, `[colors]`, `NO_COLOR`).
    pub theme: Theme,
    /// Room and time of the last `TYPING true` sent.
    typing_sent: Option<(String, Instant)>,
    /// A one-line message for the user (error or hint) and whether it is an error.
    pub notice: Option<(String, bool)>,
    pub overlay: Option<Overlay>,
    /// How far the open overlay is scrolled (it scrolls when taller than the screen).
    pub overlay_scroll: usize,
    pub switcher: Option<Switcher>,
    /// "Which link?" for `o` and `y` on a message with several.
    pub link_chooser: Option<LinkChooser>,
    /// Image previews (`v`).
    pub previews: Previews,
    pub bell: bool,
    /// Desktop notifications are on (`notify` is not `"off"`).
    pub notifications: bool,
    /// The terminal has focus (a terminal that never says counts as focused).
    pub focused: bool,
    /// Where Alt-A's jumping started: it goes back there when no room has activity.
    jump_origin: Option<String>,
    /// Lines the member list is scrolled down (the wheel over it).
    pub members_scroll: usize,
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
            typeahead: VecDeque::new(),
            typeahead_secret: None,
            rooms: Vec::new(),
            current: 0,
            input: Input::default(),
            big_paste: false,
            confirm_send: false,
            ctrl_x: false,
            keymap: Keymap::default(),
            theme: Theme::default(),
            typing_sent: None,
            notice: None,
            overlay: None,
            overlay_scroll: 0,
            switcher: None,
            link_chooser: None,
            previews: Previews::default(),
            bell: true,
            notifications: true,
            focused: true,
            jump_origin: None,
            members_scroll: 0,
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
        if self.screen == Screen::Chat && !self.typeahead.is_empty() {
            cmds.extend(self.replay_typeahead(now, true));
        }
        cmds.extend(self.mark_viewed());
        cmds.extend(self.want_inline_previews());
        cmds
    }

    fn handle(&mut self, msg: Msg, now: Instant) -> Vec<Cmd> {
        match msg {
            Msg::Key(key) => {
                let mut cmds = self.active();
                cmds.extend(match self.screen {
                    Screen::SignIn if self.signing_in() => self.type_ahead(key),
                    Screen::SignIn => self.signin_key(key),
                    Screen::Chat => {
                        // What was typed before goes first, whatever it waits for.
                        let mut cmds = self.replay_typeahead(now, false);
                        cmds.extend(self.chat_key(key, now));
                        cmds
                    }
                });
                cmds
            }
            Msg::Paste(text) => {
                match (self.screen, self.signin.focus) {
                    (Screen::SignIn, _) if self.signing_in() => self.typeahead.push_back(Typed::Paste(text)),
                    (Screen::Chat, _) => {
                        let mut cmds = self.replay_typeahead(now, false);
                        cmds.extend(self.paste(&text, now));
                        return cmds;
                    }
                    (Screen::SignIn, Some(field)) => self.field(field).insert_str(text.trim()),
                    (Screen::SignIn, None) => {}
                }
                Vec::new()
            }
            Msg::Edited(outcome) => {
                self.draft_edited(outcome);
                Vec::new()
            }
            Msg::ScrollUp | Msg::ScrollDown if self.overlay.is_some() => {
                self.scroll_overlay(if matches!(msg, Msg::ScrollUp) { -3 } else { 3 });
                Vec::new()
            }
            Msg::Mouse(event) => self.mouse(event),
            Msg::ScrollUp => self.scroll_by(3),
            Msg::ScrollDown => self.scroll_by(-3),
            Msg::Resize(w, h) => {
                self.size = (w, h);
                Vec::new()
            }
            Msg::Focus(focused) => {
                self.focused = focused;
                Vec::new()
            }
            Msg::Tick => {
                for room in &mut self.rooms {
                    room.expire_typers(now);
                }
                let mut cmds = self.check_idle();
                cmds.extend(self.people_tick(now));
                cmds.extend(self.resend_due(now));
                cmds
            }
            Msg::Net(event) => self.net(event),
            Msg::Transfer(event) => self.transfer(event),
            Msg::Preview { file_id, inline, outcome } => {
                self.preview_done(&file_id, inline, outcome);
                Vec::new()
            }
        }
    }
}
