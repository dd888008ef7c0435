//! Moving between rooms and within one: switching (Alt-↑/↓, Alt-1…9, the
//! Ctrl-K fuzzy switcher), scrolling the message pane and fetching older
//! history when the top is reached. Not here: people in the switcher
//! (`people.rs`) or what a room holds (`crate::room`).

use chaty_proto::{self as proto, ClientFrame};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;

use super::{App, Cmd, Compose, Mode};
use crate::layout;
use crate::transcript;

/// Messages fetched per history page.
const PAGE: u64 = 50;

impl App {
    pub(super) fn switcher_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
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

    /// Drops a room we are no longer in from the sidebar.
    pub(super) fn forget_room(&mut self, id: &str) {
        if let Some(i) = self.room_index(id) {
            self.rooms.remove(i);
            self.current = self.current.min(self.rooms.len().saturating_sub(1));
        }
    }

    pub(super) fn switch_to(&mut self, id: &str) -> Vec<Cmd> {
        let mut cmds = self.stop_typing();
        self.mode = Mode::Normal;
        self.compose = Compose::None;
        self.members_scroll = 0;
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

    pub(super) fn cycle_room(&mut self, step: isize) -> Vec<Cmd> {
        if self.rooms.is_empty() {
            return Vec::new();
        }
        let n = self.rooms.len() as isize;
        let next = (self.current as isize + step).rem_euclid(n) as usize;
        let id = self.rooms[next].id.clone();
        self.switch_to(&id)
    }

    /// Alt-A, the way weechat does it: the room with the most pressing
    /// activity (mentions first, then DMs, then unread rooms; in sidebar
    /// order within each; `none` rooms never); when none is left, back to
    /// the room where the jumping started.
    pub(super) fn next_unread(&mut self) -> Vec<Cmd> {
        let next = self.next_activity();
        let here = self.current_room().map(|r| r.id.clone());
        match next.map(|i| self.rooms[i].id.clone()) {
            Some(id) => {
                if self.jump_origin.is_none() {
                    self.jump_origin = here;
                }
                self.switch_to(&id)
            }
            None => {
                match self.jump_origin.take().filter(|o| Some(o) != here.as_ref() && self.room_index(o).is_some()) {
                    Some(origin) => self.switch_to(&origin),
                    None => {
                        self.notice("no other room has activity", false);
                        Vec::new()
                    }
                }
            }
        }
    }

    /// The room Alt-A goes to next, if any.
    pub fn next_activity(&self) -> Option<usize> {
        let rank = |room: &crate::room::Room| {
            if room.notify == proto::NotifyLevel::None || room.unread == 0 {
                None
            } else if room.mentions > 0 {
                Some(0)
            } else if room.kind == proto::RoomKind::Dm {
                Some(1)
            } else {
                Some(2)
            }
        };
        let candidates = self.rooms.iter().enumerate().filter(|(i, _)| *i != self.current);
        candidates.filter_map(|(i, r)| rank(r).map(|k| (k, i))).min().map(|(_, i)| i)
    }

    /// (height, width) of the message pane.
    pub(super) fn message_area(&self) -> (u16, u16) {
        let (lines, _) = self.input.layout();
        let a = layout::areas(Rect::new(0, 0, self.size.0, self.size.1), lines.len());
        (a.messages.height, a.messages.width)
    }

    pub(super) fn page(&self) -> usize {
        usize::from(self.message_area().0.saturating_sub(1)).max(1)
    }

    /// Scrolls up (positive) or down; reaching the top asks for older history.
    pub(super) fn scroll_by(&mut self, lines: isize) -> Vec<Cmd> {
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
}

pub(super) fn history_latest(room_id: &str) -> ClientFrame {
    ClientFrame::History(proto::History { room_id: room_id.to_string(), before: None, after: None, limit: Some(PAGE) })
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
