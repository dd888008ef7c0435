//! The connection and signing in: what the network task reports
//! ([`NetEvent`]: connecting, connected, dropped and retrying, given up), the
//! handshake after connecting (saved token, refresh, or the password the
//! user typed), the sign-in screen's keys and form, and [`normalize_url`].
//! Not here: the frames that follow a sign-in (`frames.rs`) or the
//! `ERROR` answers to one (also `frames.rs`, which keeps all frames).

use chaty_proto::{self as proto, ClientFrame};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::time::Instant;

use super::keys::edit;
use super::{App, Auth, Cmd, Conn, Field, NetEvent, Overlay, Screen, Typed};
use crate::config::Session;
use crate::input::Input;

impl App {
    pub(super) fn net(&mut self, event: NetEvent) -> Vec<Cmd> {
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
                if self.screen == Screen::SignIn {
                    self.drop_typeahead();
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
        if self.screen == Screen::SignIn {
            self.typeahead.clear();
        }
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
        if let Auth::Password { register, user, password, invite } = &self.auth {
            return vec![password_frame(*register, user, password, invite.clone())];
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

    pub(super) fn signed_in_as(&mut self, user: String, token: String, refresh: Option<String>) -> Vec<Cmd> {
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

    pub(super) fn field(&mut self, field: Field) -> &mut Input {
        match field {
            Field::Server => &mut self.signin.server,
            Field::User => &mut self.signin.user,
            Field::Password => &mut self.signin.password,
            Field::Invite => &mut self.signin.invite,
        }
    }

    /// A LOGIN, REGISTER, AUTH or REFRESH is on its way: the form is not
    /// for editing until the answer.
    pub(super) fn signing_in(&self) -> bool {
        self.signin.busy || (self.conn == Conn::Connected && matches!(self.auth, Auth::Token | Auth::Refresh))
    }

    /// A key while signing in: text, Backspace and Enter are kept for the
    /// chat input; Ctrl-C still quits; anything else (Tab, Ctrl-R: a second
    /// sign-in) is ignored.
    pub(super) fn type_ahead(&mut self, key: KeyEvent) -> Vec<Cmd> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let text = !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        match key.code {
            KeyCode::Char('c') if ctrl => return self.quit(),
            KeyCode::Char(_) | KeyCode::Backspace if text => self.typeahead.push_back(Typed::Key(key)),
            KeyCode::Enter => self.typeahead.push_back(Typed::Key(key)),
            _ => {}
        }
        Vec::new()
    }

    /// Types what was kept into the chat input. With `wait`, stops before
    /// an Enter that would send a message while there is no room to send it
    /// to (e.g. right after a kept `/join`): the next frame, or the next key
    /// (with `wait` false), goes on.
    pub(super) fn replay_typeahead(&mut self, now: Instant, wait: bool) -> Vec<Cmd> {
        let mut cmds = Vec::new();
        while let Some(typed) = self.typeahead.front() {
            let text = self.input.text();
            let message = !text.trim().is_empty() && (!text.starts_with('/') || text.starts_with("//"));
            let enter = matches!(typed, Typed::Key(k) if k.code == KeyCode::Enter && k.modifiers.is_empty());
            if enter && self.typeahead_secret.as_deref().is_some_and(|p| !p.is_empty() && text.trim() == p.trim()) {
                // The password, typed again: it goes nowhere.
                self.input.take();
                self.typeahead.pop_front();
                continue;
            }
            if wait && enter && message && self.current_room().is_none() {
                break;
            }
            match self.typeahead.pop_front() {
                Some(Typed::Key(key)) => cmds.extend(self.chat_key(key, now)),
                Some(Typed::Paste(text)) => cmds.extend(self.paste(&text, now)),
                None => {}
            }
        }
        if self.typeahead.is_empty() {
            self.typeahead_secret = None;
        }
        cmds
    }

    /// The sign-in failed: what was typed meanwhile goes, and the form says so.
    pub(super) fn drop_typeahead(&mut self) {
        self.typeahead_secret = None;
        if self.typeahead.is_empty() {
            return;
        }
        self.typeahead.clear();
        let note = "what you typed while signing in was dropped";
        self.signin.error = Some(match self.signin.error.take() {
            Some(error) => format!("{error} ({note})"),
            None => note.to_string(),
        });
    }

    pub(super) fn signin_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
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
                    Field::Password => Field::Invite,
                    Field::Invite => Field::Server,
                });
            }
            KeyCode::BackTab | KeyCode::Up => {
                self.signin.focus = Some(match focus {
                    Field::Server => Field::Invite,
                    Field::User => Field::Server,
                    Field::Password => Field::User,
                    Field::Invite => Field::Password,
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
        // Only a registration carries it; an open server ignores it.
        let invite = Some(self.signin.invite.text().trim().to_string()).filter(|i| register && !i.is_empty());
        self.auth = Auth::Password { register, user: user.clone(), password: password.clone(), invite: invite.clone() };
        self.typeahead_secret = Some(password.clone());
        if server != self.server || matches!(self.conn, Conn::Failed { .. }) {
            // A different server, or one given up on: reconnect, and sign in once connected.
            self.server = server.clone();
            self.epoch = None;
            self.rooms.clear();
            self.conn = Conn::Connecting;
            return vec![Cmd::Connect(server)];
        }
        if self.conn == Conn::Connected { vec![password_frame(register, &user, &password, invite)] } else { Vec::new() }
    }
}

fn password_frame(register: bool, user: &str, password: &str, invite: Option<String>) -> Cmd {
    let (user_name, password) = (user.to_string(), password.to_string());
    let frame = if register {
        ClientFrame::Register(proto::Register { user_name, password, display_name: None, invite })
    } else {
        ClientFrame::Login(proto::Login { user_name, password })
    };
    Cmd::Send(frame, Some("auth".into()))
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
