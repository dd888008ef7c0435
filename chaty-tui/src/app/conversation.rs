//! Conversation features on top of the core app: read state and the "new"
//! line, edits, deletes, reactions, replies, the message selection mode,
//! search, file transfers and presence. Same rules as the core: no I/O,
//! everything comes back as [`Cmd`]s.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chaty_proto::{self as proto, Attachment, ClientFrame, Message, PresenceStatus, SearchHit};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{App, Cmd, Compose, Mode, SearchView, Transfer, TransferEvent, TransferState};
use crate::room::Pending;
use crate::transcript;

/// Reactions on the number keys in selection mode.
pub const QUICK_REACTIONS: [&str; 6] = ["👍", "❤️", "😂", "🎉", "😮", "👀"];

impl App {
    // ----- frames from the server -------------------------------------------

    pub(super) fn members_update(&mut self, update: MembersUpdate) {
        let room = self.room_mut(&update.room_id);
        room.members = update.members;
        room.online = update.online;
        room.away = update.away;
        room.last_seen = update.last_seen;
        room.reads = update.read;
        room.admins = update.admins;
    }

    pub(super) fn read(&mut self, room_id: &str, user: &str, seq: u64) {
        let me = self.me.clone();
        let room = self.room_mut(room_id);
        if user.eq_ignore_ascii_case(&me) {
            // Read on another device: so it is read here too.
            if seq > room.read_seq {
                room.read_seq = seq;
                let after =
                    room.messages.iter().filter(|m| m.seq > seq && !m.user_id.eq_ignore_ascii_case(&me)).count();
                room.unread = room.unread.min(after);
                if room.unread == 0 {
                    room.mentions = 0;
                }
            }
        } else {
            let cursor = room.reads.entry(user.to_string()).or_default();
            *cursor = (*cursor).max(seq);
        }
    }

    pub(super) fn edited(&mut self, room_id: &str, id: u64, content: String, edited_at: String) {
        if let Some(m) = self.room_mut(room_id).message_mut(id) {
            m.content = content;
            m.edited_at = Some(edited_at);
        }
    }

    pub(super) fn deleted(&mut self, room_id: &str, id: u64) {
        if let Some(m) = self.room_mut(room_id).message_mut(id) {
            m.deleted = true;
            m.content.clear();
            m.reactions.clear();
            m.attachment = None;
        }
    }

    pub(super) fn reaction(&mut self, room_id: &str, id: u64, user: String, emoji: String, added: bool) {
        let Some(m) = self.room_mut(room_id).message_mut(id) else {
            return;
        };
        match (m.reactions.iter().position(|r| r.emoji == emoji), added) {
            (Some(i), true) => {
                if !m.reactions[i].users.contains(&user) {
                    m.reactions[i].users.push(user);
                }
            }
            (None, true) => m.reactions.push(proto::Reactions { emoji, users: vec![user] }),
            (Some(i), false) => {
                m.reactions[i].users.retain(|u| *u != user);
                if m.reactions[i].users.is_empty() {
                    m.reactions.remove(i);
                }
            }
            (None, false) => {}
        }
    }

    pub(super) fn presence(&mut self, user: &str, status: PresenceStatus, last_seen: Option<String>) {
        for room in self.rooms.iter_mut().filter(|r| r.members.iter().any(|m| m == user)) {
            room.online.retain(|u| u != user);
            room.away.retain(|u| u != user);
            match status {
                PresenceStatus::Online => room.online.push(user.to_string()),
                PresenceStatus::Away => {
                    room.online.push(user.to_string());
                    room.away.push(user.to_string());
                }
                PresenceStatus::Offline => {
                    if let Some(at) = &last_seen {
                        room.last_seen.insert(user.to_string(), at.clone());
                    }
                }
            }
        }
    }

    pub(super) fn search_results(&mut self, query: String, hits: Vec<SearchHit>) {
        self.search = Some(SearchView { query, hits, selected: 0 });
    }

    /// A history page that was asked for to show a search hit in context.
    pub(super) fn context_loaded(&mut self, room_id: &str, id: u64) {
        if self.current_room().is_some_and(|r| r.id == room_id) {
            self.select_id(id);
        }
    }

    // ----- read state -------------------------------------------------------

    /// Called after every update: what the user is looking at (the bottom of
    /// the current room) is read; tell the server once.
    pub(super) fn mark_viewed(&mut self) -> Vec<Cmd> {
        if !self.online() || self.screen != super::Screen::Chat {
            return Vec::new();
        }
        let Some(room) = self.rooms.get_mut(self.current) else {
            return Vec::new();
        };
        let Some(last) = room.last_seq() else { return Vec::new() };
        if room.scroll > 0 || last <= room.read_seq {
            return Vec::new();
        }
        room.read_seq = last;
        room.unread = 0;
        room.mentions = 0;
        vec![Cmd::Send(ClientFrame::MarkRead(proto::MarkRead { room_id: room.id.clone(), seq: last }), None)]
    }

    /// Alt-U: scroll so the "new" line is at the top.
    pub(super) fn jump_to_marker(&mut self) {
        let (height, width) = self.message_area();
        let (me, offset) = (self.me.clone(), self.utc_offset);
        let Some(room) = self.rooms.get_mut(self.current) else {
            return;
        };
        let t = transcript::build(room, &me, width, offset, None);
        if let Some(line) = t.marker {
            let max = t.lines.len().saturating_sub(usize::from(height));
            room.scroll = t.lines.len().saturating_sub(line + usize::from(height)).min(max);
        }
    }

    // ----- selection mode ---------------------------------------------------

    pub fn selected(&self) -> Option<&Message> {
        let Mode::Select { id } = self.mode else { return None };
        self.current_room()?.messages.iter().find(|m| m.id == id)
    }

    /// Enters selection mode on the newest message.
    pub(super) fn start_selecting(&mut self) {
        if let Some(id) = self.current_room().and_then(|r| r.messages.last()).map(|m| m.id) {
            self.select_id(id);
        }
    }

    fn select_id(&mut self, id: u64) {
        self.mode = Mode::Select { id };
        self.scroll_to(id);
    }

    /// Scrolls the least needed to show message `id` whole.
    fn scroll_to(&mut self, id: u64) {
        let (height, width) = self.message_area();
        let (me, offset) = (self.me.clone(), self.utc_offset);
        let Some(room) = self.rooms.get_mut(self.current) else {
            return;
        };
        let t = transcript::build(room, &me, width, offset, Some(id));
        let Some(&(_, start, end)) = t.spans.iter().find(|(m, _, _)| *m == id) else {
            return;
        };
        let height = usize::from(height);
        let total = t.lines.len();
        let bottom = total.saturating_sub(room.scroll);
        let top = bottom.saturating_sub(height);
        if start < top {
            room.scroll = total.saturating_sub(start + height);
        } else if end > bottom {
            room.scroll = total.saturating_sub(end);
        }
    }

    fn move_selection(&mut self, step: isize) {
        let Mode::Select { id } = self.mode else { return };
        let Some(room) = self.current_room() else { return };
        let Some(i) = room.messages.iter().position(|m| m.id == id) else {
            return;
        };
        let next = (i as isize + step).clamp(0, room.messages.len() as isize - 1) as usize;
        let next_id = room.messages[next].id;
        self.select_id(next_id);
    }

    pub(super) fn select_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
        let Some(message) = self.selected().cloned() else {
            self.mode = Mode::Normal;
            return Vec::new();
        };
        let mine = message.user_id.eq_ignore_ascii_case(&self.me);
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') => self.mode = Mode::Normal,
            KeyCode::Char('j') | KeyCode::Down => self.move_selection(1),
            KeyCode::Char('k') | KeyCode::Up => self.move_selection(-1),
            KeyCode::Char('g') | KeyCode::Home => {
                if let Some(id) = self.current_room().and_then(|r| r.messages.first()).map(|m| m.id) {
                    self.select_id(id);
                }
            }
            KeyCode::Char('G') | KeyCode::End => self.start_selecting(),
            KeyCode::Char('r') | KeyCode::Enter if !message.deleted => {
                self.mode = Mode::Normal;
                self.compose = Compose::Reply(message.id);
            }
            KeyCode::Char('e') if mine && !message.deleted => {
                self.mode = Mode::Normal;
                self.begin_edit(&message);
            }
            KeyCode::Char('d') if !message.deleted => {
                self.mode = Mode::Normal;
                return self.send_delete(message.id);
            }
            KeyCode::Char(c @ '1'..='6') if !message.deleted => {
                let emoji = QUICK_REACTIONS[usize::from(c as u8 - b'1')];
                return self.toggle_reaction(&message, emoji);
            }
            KeyCode::Char('+') if !message.deleted => {
                self.mode = Mode::Normal;
                self.input.set("/react ");
            }
            KeyCode::Char('c') => {
                self.notice("copied to the clipboard", false);
                return vec![Cmd::Copy(message.content.clone())];
            }
            KeyCode::Char('s') => return self.download(&message),
            KeyCode::Char('o') if !message.deleted => return self.message_links(&message, super::LinkAction::Open),
            KeyCode::Char('y') if !message.deleted => return self.message_links(&message, super::LinkAction::Copy),
            KeyCode::Char('v') if !message.deleted => return self.view_image(&message),
            _ => {}
        }
        Vec::new()
    }

    /// The message a command acts on: the selected one, else the newest that `fits`.
    fn target(&self, fits: impl Fn(&Message) -> bool) -> Option<Message> {
        if let Some(m) = self.selected() {
            return Some(m.clone());
        }
        self.current_room()?.messages.iter().rev().find(|m| !m.deleted && fits(m)).cloned()
    }

    fn own(&self) -> impl Fn(&Message) -> bool + '_ {
        |m: &Message| m.user_id.eq_ignore_ascii_case(&self.me)
    }

    fn begin_edit(&mut self, message: &Message) {
        self.compose = Compose::Edit(message.id);
        self.input.set(&message.content);
    }

    /// Up on an empty input: edit your newest message.
    pub(super) fn edit_last(&mut self) -> bool {
        match self.target(self.own()) {
            Some(m) => {
                self.begin_edit(&m);
                true
            }
            None => false,
        }
    }

    fn toggle_reaction(&mut self, message: &Message, emoji: &str) -> Vec<Cmd> {
        let me = self.me.clone();
        let remove =
            message.reactions.iter().any(|r| r.emoji == emoji && r.users.iter().any(|u| u.eq_ignore_ascii_case(&me)));
        let react = proto::React { message_id: message.id, emoji: emoji.to_string(), remove };
        vec![Cmd::Send(ClientFrame::React(react), None)]
    }

    fn send_delete(&self, id: u64) -> Vec<Cmd> {
        vec![Cmd::Send(ClientFrame::DeleteMessage(proto::DeleteMessage { message_id: id }), None)]
    }

    /// Enter while editing: the new text goes out as `EDIT_MESSAGE`.
    pub(super) fn submit_edit(&mut self, id: u64, content: String) -> Vec<Cmd> {
        self.compose = Compose::None;
        self.take_input();
        vec![Cmd::Send(ClientFrame::EditMessage(proto::EditMessage { message_id: id, content }), None)]
    }

    // ----- commands ---------------------------------------------------------

    pub(super) fn cmd_react(&mut self, emoji: &str) -> Vec<Cmd> {
        match self.target(|_| true) {
            Some(m) => {
                self.mode = Mode::Normal;
                self.toggle_reaction(&m, emoji)
            }
            None => self.nothing_to("react to"),
        }
    }

    pub(super) fn cmd_edit(&mut self, text: String) -> Vec<Cmd> {
        match self.target(self.own()) {
            Some(m) if m.user_id.eq_ignore_ascii_case(&self.me) => {
                self.mode = Mode::Normal;
                self.submit_edit(m.id, text)
            }
            _ => self.nothing_to("edit (only your own messages)"),
        }
    }

    pub(super) fn cmd_delete(&mut self) -> Vec<Cmd> {
        match self.target(self.own()) {
            Some(m) => {
                self.mode = Mode::Normal;
                self.send_delete(m.id)
            }
            None => self.nothing_to("delete"),
        }
    }

    pub(super) fn cmd_reply(&mut self, text: String) -> Vec<Cmd> {
        match self.target(|_| true) {
            Some(m) => {
                self.mode = Mode::Normal;
                self.compose = Compose::Reply(m.id);
                self.say(text)
            }
            None => self.nothing_to("reply to"),
        }
    }

    pub(super) fn cmd_search(&mut self, query: String) -> Vec<Cmd> {
        let search = proto::Search { query: query.clone(), room_id: None, limit: Some(50) };
        self.search = Some(SearchView { query, hits: Vec::new(), selected: 0 });
        vec![Cmd::Send(ClientFrame::Search(search), Some("search".into()))]
    }

    pub(super) fn cmd_retry(&mut self) -> Vec<Cmd> {
        let Some(room) = self.rooms.get_mut(self.current) else {
            return Vec::new();
        };
        let mut cmds = Vec::new();
        for p in room.pending.iter_mut().filter(|p| p.failed.is_some()) {
            p.failed = None;
            cmds.push(super::compose::chat_frame(&room.id, p));
        }
        cmds
    }

    pub(super) fn cmd_presence(&mut self, away: bool) -> Vec<Cmd> {
        self.away = away;
        self.auto_away = false;
        let status = if away { PresenceStatus::Away } else { PresenceStatus::Online };
        self.notice(if away { "you are shown as away; /back to return" } else { "you are shown as online" }, false);
        vec![Cmd::Send(ClientFrame::SetPresence(proto::SetPresence { status }), None)]
    }

    fn nothing_to(&mut self, what: &str) -> Vec<Cmd> {
        self.notice(format!("no message to {what}"), true);
        Vec::new()
    }

    // ----- idle and away ----------------------------------------------------

    /// On every tick: idle long enough while online means away.
    pub(super) fn check_idle(&mut self) -> Vec<Cmd> {
        let Some(idle) = self.idle_away else { return Vec::new() };
        if self.away || !self.online() || self.now.duration_since(self.last_activity) < idle {
            return Vec::new();
        }
        self.away = true;
        self.auto_away = true;
        vec![Cmd::Send(ClientFrame::SetPresence(proto::SetPresence { status: PresenceStatus::Away }), None)]
    }

    /// On every key: back from an automatic away.
    pub(super) fn active(&mut self) -> Vec<Cmd> {
        self.last_activity = self.now;
        if !(self.away && self.auto_away && self.online()) {
            return Vec::new();
        }
        self.away = false;
        self.auto_away = false;
        vec![Cmd::Send(ClientFrame::SetPresence(proto::SetPresence { status: PresenceStatus::Online }), None)]
    }

    // ----- search view ------------------------------------------------------

    pub(super) fn search_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
        let Some(view) = self.search.as_mut() else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Esc => self.search = None,
            KeyCode::Up | KeyCode::Char('k') => view.selected = view.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                view.selected = (view.selected + 1).min(view.hits.len().saturating_sub(1))
            }
            KeyCode::Enter => {
                let hit = view.hits.get(view.selected).map(|h| h.message.clone());
                self.search = None;
                if let Some(m) = hit {
                    return self.open_hit(&m);
                }
            }
            _ => {}
        }
        Vec::new()
    }

    /// Opens a search hit's room with the message selected, loading the
    /// history around it if it is not here yet.
    fn open_hit(&mut self, m: &Message) -> Vec<Cmd> {
        let mut cmds = self.switch_to(&m.room_id);
        let loaded = self.current_room().is_some_and(|r| r.id == m.room_id && r.messages.iter().any(|x| x.id == m.id));
        if loaded {
            self.select_id(m.id);
        } else {
            let history = proto::History {
                room_id: m.room_id.clone(),
                before: None,
                after: Some(m.seq.saturating_sub(25)),
                limit: Some(50),
            };
            cmds.push(Cmd::Send(ClientFrame::History(history), Some(format!("context:{}:{}", m.room_id, m.id))));
        }
        cmds
    }

    // ----- files ------------------------------------------------------------

    pub(super) fn cmd_upload(&mut self, path: String, caption: Option<String>) -> Vec<Cmd> {
        let Some(room) = self.current_room().map(|r| r.id.clone()) else {
            return self.nothing_to("share a file in");
        };
        let path = PathBuf::from(shellexpand_home(&path));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let id = self.start_transfer(&name, true);
        vec![Cmd::Upload { id, path, room, caption }]
    }

    pub(super) fn cmd_download(&mut self) -> Vec<Cmd> {
        match self.target(|m| m.attachment.is_some()) {
            Some(m) => self.download(&m),
            None => self.nothing_to("download (no attachment)"),
        }
    }

    fn download(&mut self, message: &Message) -> Vec<Cmd> {
        let Some(attachment) = message.attachment.clone() else {
            return self.nothing_to("download (no attachment)");
        };
        self.mode = Mode::Normal;
        let id = self.start_transfer(&attachment.name, false);
        vec![Cmd::Download { id, attachment }]
    }

    fn start_transfer(&mut self, name: &str, upload: bool) -> u64 {
        self.next_transfer += 1;
        let id = self.next_transfer;
        self.transfers.push(Transfer {
            id,
            name: name.to_string(),
            upload,
            done: 0,
            total: 0,
            state: TransferState::Running,
        });
        id
    }

    pub(super) fn transfer(&mut self, event: TransferEvent) -> Vec<Cmd> {
        let id = event.id();
        let Some(t) = self.transfers.iter_mut().find(|t| t.id == id) else {
            return Vec::new();
        };
        match event {
            TransferEvent::Progress { done, total, .. } => {
                t.done = done;
                t.total = total;
            }
            TransferEvent::Failed { reason, .. } => t.state = TransferState::Failed(reason),
            TransferEvent::Saved { path, note, .. } => {
                t.done = t.total.max(t.done);
                let note = note.map(|n| format!(" ({n})")).unwrap_or_default();
                t.state = TransferState::Done(format!("saved to {}{note}", path.display()));
            }
            TransferEvent::Uploaded { attachment, room, caption, .. } => {
                t.done = attachment.size;
                t.total = attachment.size;
                t.state = TransferState::Done("shared".into());
                let content = caption.unwrap_or_else(|| attachment.name.clone());
                return self.say_in(&room, content, Some(attachment));
            }
        }
        Vec::new()
    }

    /// Sends a message to `room` (maybe not the current one), with a file.
    fn say_in(&mut self, room_id: &str, content: String, attachment: Option<Attachment>) -> Vec<Cmd> {
        let pending = Pending::new(self.next_client_id(), content, None, attachment);
        let online = self.online();
        self.room_mut(room_id).pending.push(pending.clone());
        if online { vec![super::compose::chat_frame(room_id, &pending)] } else { Vec::new() }
    }
}

/// `~/x` → `$HOME/x`, as a shell would.
fn shellexpand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => path.to_string(),
    }
}

/// `ROOM_MEMBERS_UPDATE`'s fields.
pub(super) struct MembersUpdate {
    pub room_id: String,
    pub members: Vec<String>,
    pub online: Vec<String>,
    pub away: Vec<String>,
    pub last_seen: BTreeMap<String, String>,
    pub read: BTreeMap<String, u64>,
    pub admins: Vec<String>,
}

/// "2.3 MB", for attachments and transfers.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{size:.1} {}", UNITS[unit]) }
}

/// Keys that mean "edit this" or "select" need an empty input and no modifiers.
pub fn plain(key: &KeyEvent) -> bool {
    !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}
