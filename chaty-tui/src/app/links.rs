//! Links in the selected message: `o` opens one, `y` copies one (OSC 52,
//! as `c` copies the text). With several, a chooser asks which. Only
//! `http`, `https` and `mailto` are opened; anything else gets a notice.
//! The opening itself is the runner's ([`Cmd::Open`]).

use chaty_proto::Message;
use crossterm::event::{KeyCode, KeyEvent};

use super::{App, Cmd};
use crate::links;
use crate::sanitize;

/// What the chosen link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkAction {
    Open,
    Copy,
}

/// "Which link?": the links of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkChooser {
    pub urls: Vec<String>,
    pub selected: usize,
    pub action: LinkAction,
}

/// The most links the chooser lists (1–9 pick them).
pub const MAX_CHOICES: usize = 9;

impl App {
    /// `o` or `y` on the selected message.
    pub(super) fn message_links(&mut self, message: &Message, action: LinkAction) -> Vec<Cmd> {
        // Found in what is shown: the sanitised text.
        let mut urls = links::urls(&sanitize::text(&message.content));
        urls.truncate(MAX_CHOICES);
        match urls.as_slice() {
            [] => {
                self.notice("no link in this message", true);
                Vec::new()
            }
            [url] => {
                let url = url.clone();
                self.use_link(url, action)
            }
            _ => {
                self.link_chooser = Some(LinkChooser { urls, selected: 0, action });
                Vec::new()
            }
        }
    }

    /// Keys while the chooser is open: ↑↓ (or j/k) and Enter, a digit, Esc.
    pub(super) fn link_chooser_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
        let Some(chooser) = self.link_chooser.as_mut() else {
            return Vec::new();
        };
        let last = chooser.urls.len().saturating_sub(1);
        let chosen = match key.code {
            KeyCode::Esc | KeyCode::Char('q') => {
                self.link_chooser = None;
                return Vec::new();
            }
            KeyCode::Up | KeyCode::Char('k') => {
                chooser.selected = chooser.selected.saturating_sub(1);
                return Vec::new();
            }
            KeyCode::Down | KeyCode::Char('j') => {
                chooser.selected = (chooser.selected + 1).min(last);
                return Vec::new();
            }
            KeyCode::Enter => chooser.selected,
            KeyCode::Char(c @ '1'..='9') => usize::from(c as u8 - b'1'),
            _ => return Vec::new(),
        };
        let Some(url) = chooser.urls.get(chosen).cloned() else {
            return Vec::new();
        };
        let action = chooser.action;
        self.link_chooser = None;
        self.use_link(url, action)
    }

    fn use_link(&mut self, url: String, action: LinkAction) -> Vec<Cmd> {
        match action {
            LinkAction::Copy => {
                self.notice(format!("copied {url}"), false);
                vec![Cmd::Copy(url)]
            }
            LinkAction::Open => match links::openable(&url) {
                Ok(()) => {
                    self.notice(format!("opening {url}"), false);
                    vec![Cmd::Open(url)]
                }
                Err(why) => {
                    self.notice(why, true);
                    Vec::new()
                }
            },
        }
    }
}
