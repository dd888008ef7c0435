//! The mouse (`mouse = true`): a click on a room in the sidebar opens it, a
//! click on a message selects it, the wheel scrolls the transcript (or the
//! member list when the pointer is over it, or a popup when one is open).
//! Where things are comes from the same layout the view draws with
//! ([`layout::areas`] for the terminal's size and the input's height).

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::{App, Cmd, Mode, Screen};
use crate::layout::{self, Areas};
use crate::transcript;

/// Lines one wheel notch scrolls.
const WHEEL: isize = 3;

impl App {
    /// The panes as last drawn.
    pub fn areas(&self) -> Areas {
        let (lines, _) = self.input.layout();
        layout::areas(Rect::new(0, 0, self.size.0, self.size.1), lines.len())
    }

    pub(super) fn mouse(&mut self, event: MouseEvent) -> Vec<Cmd> {
        if self.screen != Screen::Chat {
            return Vec::new();
        }
        let at = Position::new(event.column, event.row);
        let areas = self.areas();
        let popup = self.overlay.is_some() || self.switcher.is_some() || self.search.is_some();
        match event.kind {
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let up = event.kind == MouseEventKind::ScrollUp;
                if self.overlay.is_some() {
                    self.scroll_overlay(if up { -WHEEL } else { WHEEL });
                } else if areas.members.is_some_and(|m| m.contains(at)) {
                    self.scroll_members(if up { -WHEEL } else { WHEEL }, areas);
                } else if !popup {
                    return self.scroll_by(if up { WHEEL } else { -WHEEL });
                }
                Vec::new()
            }
            MouseEventKind::Down(MouseButton::Left) if !popup => {
                if let Some(i) = areas.sidebar.filter(|s| s.contains(at)).and_then(|s| self.sidebar_room(at.y - s.y)) {
                    let id = self.rooms[i].id.clone();
                    return self.switch_to(&id);
                }
                if areas.messages.contains(at) {
                    if let Some(id) = self.message_at(areas.messages, at.y - areas.messages.y) {
                        self.mode = Mode::Select { id };
                    }
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// The room drawn on `row` of the sidebar: the rooms in order, with the
    /// "Direct" heading before the first DM.
    fn sidebar_room(&self, row: u16) -> Option<usize> {
        let mut y = 0;
        let mut in_dms = false;
        for (i, room) in self.rooms.iter().enumerate() {
            if room.kind == chaty_proto::RoomKind::Dm && !in_dms {
                in_dms = true;
                y += 1;
            }
            if y == row {
                return Some(i);
            }
            y += 1;
        }
        None
    }

    /// The message drawn on `row` of the message pane, as the view lays it out.
    fn message_at(&self, pane: Rect, row: u16) -> Option<u64> {
        let room = self.current_room()?;
        let width = pane.width.saturating_sub(2);
        let height = usize::from(pane.height);
        let t = transcript::build(room, &self.me, width, self.utc_offset, None);
        let end = t.lines.len().saturating_sub(room.scroll);
        let start = end.saturating_sub(height);
        let mut row = usize::from(row);
        if start == 0 && (room.loading_older || room.has_older) {
            // The view puts a note on the top row (over the first line when full).
            let full = end - start >= height;
            match row {
                0 => return None,
                _ if !full => row -= 1,
                _ => {}
            }
        }
        let line = start + row;
        if line >= end {
            return None;
        }
        t.spans.iter().find(|(_, first, past)| (*first..*past).contains(&line)).map(|(id, ..)| *id)
    }

    fn scroll_members(&mut self, by: isize, areas: Areas) {
        let height = areas.members.map_or(0, |m| usize::from(m.height));
        let count = self.current_room().map_or(0, |r| r.members.len() + 1);
        let max = count.saturating_sub(height);
        self.members_scroll = self.members_scroll.saturating_add_signed(by).min(max);
    }
}
