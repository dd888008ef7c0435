//! Keys and the mouse wheel while a popup (help, who, rooms) is open: it
//! scrolls when it is taller than the screen, and Esc, Enter or q close it.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;

use super::{App, Cmd};
use crate::layout;

impl App {
    pub(super) fn overlay_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
        let rows = self.overlay_layout().map_or(1, |p| p.rows) as isize;
        match key.code {
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => {
                self.overlay = None;
                self.overlay_scroll = 0;
            }
            KeyCode::Up | KeyCode::Char('k') => self.scroll_overlay(-1),
            KeyCode::Down | KeyCode::Char('j') => self.scroll_overlay(1),
            KeyCode::PageUp => self.scroll_overlay(-(rows - 1).max(1)),
            KeyCode::PageDown | KeyCode::Char(' ') => self.scroll_overlay((rows - 1).max(1)),
            KeyCode::Home => self.overlay_scroll = 0,
            KeyCode::End => self.scroll_overlay(isize::MAX / 2),
            _ => {}
        }
        Vec::new()
    }

    /// Scrolls the open popup by `lines` (down when positive), within its text.
    pub(super) fn scroll_overlay(&mut self, lines: isize) {
        let max = self.overlay_layout().map_or(0, |p| p.max_scroll());
        self.overlay_scroll = self.overlay_scroll.saturating_add_signed(lines).min(max);
    }

    fn overlay_layout(&self) -> Option<layout::Popup> {
        let overlay = self.overlay.as_ref()?;
        Some(layout::popup(Rect::new(0, 0, self.size.0, self.size.1), &overlay.title, &overlay.lines))
    }
}
