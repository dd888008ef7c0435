//! Keys on the chat screen: [`App::chat_key`] hands a key to whatever has
//! it (a popup, the people picker, the switcher, search, selection mode)
//! and otherwise to the input line; also quitting and the readline-style
//! [`edit`] shared with the sign-in fields (undo and redo included), and
//! `Ctrl-X Ctrl-E` for the external editor. What the keys *do* lives with
//! their feature (`rooms.rs`, `compose.rs`, `conversation.rs`, …).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::time::Instant;

use super::{App, Cmd, Compose, Mode, Switcher, conversation};
use crate::input::Input;
use crate::keymap::Action;

impl App {
    pub(super) fn chat_key(&mut self, key: KeyEvent, now: Instant) -> Vec<Cmd> {
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
        if self.link_chooser.is_some() {
            return self.link_chooser_key(key);
        }
        if self.previews.open.is_some() {
            return self.preview_key(key);
        }
        if self.search.is_some() {
            return self.search_key(key);
        }
        if matches!(self.mode, Mode::Select { .. }) {
            return self.select_key(key);
        }
        self.notice = None;
        if key.code != KeyCode::Enter {
            // "Send all N lines?" is answered by Enter alone.
            self.confirm_send = false;
        }
        if std::mem::take(&mut self.ctrl_x) && ctrl && key.code == KeyCode::Char('e') {
            return self.open_editor(self.input.text());
        }
        if let Some(action) = self.keymap.action(&key) {
            return self.act(action);
        }
        let empty = self.input.is_empty() && conversation::plain(&key);
        match key.code {
            KeyCode::Esc if self.compose != Compose::None => {
                if matches!(self.compose, Compose::Edit(_)) {
                    self.take_input();
                }
                self.compose = Compose::None;
            }
            KeyCode::Esc if empty => self.start_selecting(),
            KeyCode::Up if empty && self.edit_last() => {}
            KeyCode::Enter if alt || shift => self.input.insert('\n'),
            KeyCode::Enter => return self.submit(now),
            KeyCode::Up if alt => return self.cycle_room(-1),
            KeyCode::Down if alt => return self.cycle_room(1),
            KeyCode::Char(c @ '1'..='9') if alt => {
                let i = usize::from(c as u8 - b'1');
                if let Some(id) = self.rooms.get(i).map(|r| r.id.clone()) {
                    return self.switch_to(&id);
                }
            }
            KeyCode::Char('x') if ctrl => self.ctrl_x = true,
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

    /// What a key bound in `[keys]` (or by default) does.
    fn act(&mut self, action: Action) -> Vec<Cmd> {
        match action {
            Action::Switcher => self.switcher = Some(Switcher::default()),
            Action::NextRoom => return self.cycle_room(1),
            Action::PrevRoom => return self.cycle_room(-1),
            Action::NextUnread => return self.next_unread(),
            Action::FirstUnread => self.jump_to_marker(),
            Action::Search => self.input.set("/search "),
            Action::Select => self.start_selecting(),
            Action::Editor => return self.open_editor(self.input.text()),
            Action::Help => self.show_help(),
            Action::Quit => return self.quit(),
        }
        Vec::new()
    }

    pub(super) fn quit(&mut self) -> Vec<Cmd> {
        self.quit = true;
        let mut cmds = self.stop_typing();
        cmds.push(Cmd::Quit);
        cmds
    }
}

/// Readline-style editing shared by the chat input and the sign-in fields.
pub(super) fn edit(input: &mut Input, key: KeyEvent) {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    match key.code {
        KeyCode::Char('a') if ctrl => input.home(),
        KeyCode::Char('e') if ctrl => input.end(),
        KeyCode::Char('w') if ctrl => input.delete_word_back(),
        KeyCode::Char('u') if ctrl => input.kill_to_start(),
        KeyCode::Char('k') if ctrl => input.kill_to_end(),
        KeyCode::Char('y') if ctrl => input.yank(),
        KeyCode::Char('d') if alt => input.delete_word_forward(),
        // Ctrl-_ (which most terminals send as Ctrl-7, some as Ctrl-/): undo; Alt-_ redo.
        KeyCode::Char('_' | '7' | '/') if ctrl => {
            input.undo();
        }
        KeyCode::Char('_') if alt => {
            input.redo();
        }
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
