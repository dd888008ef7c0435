//! The input line: sending what was typed (or handing a `/command` to
//! `commands.rs`), pastes (one draft, however many lines; a long one asks
//! before it is sent), the draft back from the external editor, Tab
//! completion of commands and rooms, and our own typing indicator (`TYPING`
//! frames) plus the line showing who else is typing.
//! Not here: editing keys (`keys.rs`), replies and edits (`conversation.rs`).

use std::time::Duration;

use chaty_proto::{self as proto, ClientFrame, RoomKind};
use tokio::time::Instant;

use super::{App, Cmd, Compose};
use crate::command::{self, COMMANDS};
use crate::room::Pending;

/// A `TYPING true` is refreshed at most this often.
const TYPING_REFRESH: Duration = Duration::from_secs(3);

/// A paste of more lines than this asks before it is sent.
pub const BIG_PASTE: usize = 20;

/// A paste's line breaks as the editor's: terminals send `\r` for Enter.
fn newlines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

impl App {
    pub(super) fn typed(&mut self, now: Instant) -> Vec<Cmd> {
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

    /// A bracketed paste goes into the draft whole: its line breaks are new
    /// lines in it, never Enter.
    pub(super) fn paste(&mut self, text: &str, now: Instant) -> Vec<Cmd> {
        self.confirm_send = false;
        let text = newlines(text);
        self.input.insert_str(&text);
        if text.lines().count() > BIG_PASTE {
            self.big_paste = true;
        }
        self.typed(now)
    }

    /// The external editor is done.
    pub(super) fn draft_edited(&mut self, outcome: Result<Option<String>, String>) {
        match outcome {
            Ok(Some(text)) => {
                self.input.set(&text);
                self.notice = None;
            }
            Ok(None) => self.notice("the editor left an empty file: the draft is unchanged", false),
            Err(e) => self.notice(e, true),
        }
    }

    /// Ctrl-X Ctrl-E and `/edit`: the draft goes to `$VISUAL`/`$EDITOR`.
    pub(super) fn open_editor(&mut self, draft: String) -> Vec<Cmd> {
        self.confirm_send = false;
        vec![Cmd::EditDraft(draft)]
    }

    pub(super) fn stop_typing(&mut self) -> Vec<Cmd> {
        match self.typing_sent.take() {
            Some((room_id, _)) if self.online() => {
                vec![self.send(ClientFrame::Typing(proto::Typing { room_id, typing: false }))]
            }
            _ => Vec::new(),
        }
    }

    pub(super) fn complete(&mut self) {
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

    pub(super) fn next_client_id(&mut self) -> String {
        self.next_client_id += 1;
        format!("{}-{}", self.client_prefix, self.next_client_id)
    }

    pub(super) fn submit(&mut self, now: Instant) -> Vec<Cmd> {
        let text = self.input.text();
        if text.trim().is_empty() {
            return Vec::new();
        }
        if text.starts_with('/') && !text.starts_with("//") {
            return match command::parse(&text) {
                Ok(cmd) => {
                    self.take_input();
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
        let lines = self.input.line_count();
        if self.big_paste && lines > BIG_PASTE && !std::mem::take(&mut self.confirm_send) {
            self.confirm_send = true;
            self.notice(format!("send all {lines} lines? Enter sends · any other key goes back to the draft"), false);
            return Vec::new();
        }
        let content = text.strip_prefix('/').filter(|_| text.starts_with("//")).unwrap_or(&text).to_string();
        match self.compose {
            Compose::Edit(id) => self.submit_edit(id, content),
            _ => self.say(content),
        }
    }

    pub(super) fn say(&mut self, content: String) -> Vec<Cmd> {
        if let Err(e) = proto::validate::content("message", &content) {
            self.notice(e.replace('`', ""), true);
            return Vec::new();
        }
        let Some(room_id) = self.current_room().map(|r| r.id.clone()) else {
            self.notice("join a room first: /join ROOM", true);
            return Vec::new();
        };
        self.take_input();
        let mut cmds = self.stop_typing();
        let reply_to = match std::mem::replace(&mut self.compose, Compose::None) {
            Compose::Reply(id) => Some(id),
            _ => None,
        };
        let pending = Pending::new(self.next_client_id(), content, reply_to, None);
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

    /// Clears the draft (into the history) and what was known about it.
    pub(super) fn take_input(&mut self) -> String {
        self.big_paste = false;
        self.confirm_send = false;
        self.input.take()
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

pub(super) fn chat_frame(room_id: &str, p: &Pending) -> Cmd {
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

pub(super) fn common_prefix(words: &[&String]) -> String {
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
