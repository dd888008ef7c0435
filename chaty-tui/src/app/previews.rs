//! Image previews: `v` on a selected message with a png, jpeg, gif or webp
//! attachment shows it over the chat (Esc closes it); with
//! `image_previews = true`, the newest images of the room shown are also
//! previewed in the transcript, under their message. The app decides and
//! keeps the state; fetching and decoding are the runner's, off the UI
//! thread ([`Cmd::Preview`] → [`Msg::Preview`]), bounded by
//! `max_image_mib` (checked here first, from the size the message gives).

use std::collections::BTreeMap;

use chaty_proto::Message;
use crossterm::event::{KeyCode, KeyEvent};

use super::{App, Cmd};
use crate::preview::{self, Picture};

/// Where a preview is.
#[derive(Debug, Clone, PartialEq)]
pub enum PreviewState {
    Loading,
    Ready(Picture),
    Failed(String),
}

/// The preview shown over the chat.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewView {
    pub file_id: String,
    pub name: String,
    pub state: PreviewState,
}

/// Preview settings and what is shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Previews {
    /// `max_image_mib`, in bytes.
    pub max_bytes: u64,
    /// `v`'s, over the chat.
    pub open: Option<PreviewView>,
    /// `image_previews`: images in the transcript too.
    pub inline: bool,
    /// The transcript's previews, by file id.
    pub inline_shown: BTreeMap<String, PreviewState>,
}

impl Default for Previews {
    fn default() -> Self {
        Self {
            max_bytes: crate::config::DEFAULT_MAX_IMAGE_MIB * 1024 * 1024,
            open: None,
            inline: false,
            inline_shown: BTreeMap::new(),
        }
    }
}

/// In the transcript, a preview takes at most this many cells.
pub const INLINE_COLS: u16 = 40;
pub const INLINE_ROWS: u16 = 8;
/// How many of the newest messages of the room shown get inline previews.
const INLINE_NEWEST: usize = 30;
/// How many inline previews load at once.
const INLINE_AT_ONCE: usize = 2;

impl App {
    /// `v` on the selected message.
    pub(super) fn view_image(&mut self, message: &Message) -> Vec<Cmd> {
        let Some(attachment) = message.attachment.as_ref().filter(|a| preview::is_image(a)) else {
            self.notice("no image in this message (png, jpeg, gif or webp)", true);
            return Vec::new();
        };
        if let Some(why) = preview::too_big(attachment.size, self.previews.max_bytes) {
            self.notice(why, true);
            return Vec::new();
        }
        self.previews.open = Some(PreviewView {
            file_id: attachment.file_id.clone(),
            name: attachment.name.clone(),
            state: PreviewState::Loading,
        });
        let (cols, rows) = self.preview_cells();
        vec![Cmd::Preview { attachment: attachment.clone(), cols, rows, inline: false }]
    }

    /// After every update, with `image_previews`: the newest images of the
    /// room shown that have no preview yet start loading, a few at a time.
    pub(super) fn want_inline_previews(&mut self) -> Vec<Cmd> {
        if !self.previews.inline || !self.online() {
            return Vec::new();
        }
        let loading = self.previews.inline_shown.values().filter(|s| **s == PreviewState::Loading).count();
        let Some(room) = self.current_room() else { return Vec::new() };
        let wanted: Vec<_> = room
            .messages
            .iter()
            .rev()
            .take(INLINE_NEWEST)
            .filter_map(|m| m.attachment.as_ref().filter(|_| !m.deleted))
            .filter(|a| preview::is_image(a) && preview::too_big(a.size, self.previews.max_bytes).is_none())
            .filter(|a| !self.previews.inline_shown.contains_key(&a.file_id))
            .take(INLINE_AT_ONCE.saturating_sub(loading))
            .cloned()
            .collect();
        let cols = self.message_area().1.saturating_sub(2).clamp(1, INLINE_COLS);
        wanted
            .into_iter()
            .map(|attachment| {
                self.previews.inline_shown.insert(attachment.file_id.clone(), PreviewState::Loading);
                Cmd::Preview { attachment, cols, rows: INLINE_ROWS, inline: true }
            })
            .collect()
    }

    /// The cells a preview may take: the screen less the popup's border and
    /// a margin.
    fn preview_cells(&self) -> (u16, u16) {
        (self.size.0.saturating_sub(6).clamp(1, 160), self.size.1.saturating_sub(6).clamp(1, 60))
    }

    /// A preview fetched and decoded, or why not.
    pub(super) fn preview_done(&mut self, file_id: &str, inline: bool, outcome: Result<Picture, String>) {
        if inline {
            return self.inline_done(file_id, outcome);
        }
        let Some(view) = self.previews.open.as_mut().filter(|v| v.file_id == file_id) else {
            return;
        };
        view.state = match outcome {
            Ok(picture) => PreviewState::Ready(picture),
            Err(why) => {
                self.notice = Some((why.clone(), true));
                PreviewState::Failed(why)
            }
        };
    }

    /// An inline preview is ready: its message keeps rows for it. One that
    /// failed stays failed (no notice: nobody asked for it).
    fn inline_done(&mut self, file_id: &str, outcome: Result<Picture, String>) {
        let state = match outcome {
            Ok(picture) => {
                let rows = picture.size().1;
                for room in &mut self.rooms {
                    let ids: Vec<u64> = room
                        .messages
                        .iter()
                        .filter(|m| m.attachment.as_ref().is_some_and(|a| a.file_id == file_id))
                        .map(|m| m.id)
                        .collect();
                    room.image_rows.extend(ids.into_iter().map(|id| (id, rows)));
                }
                PreviewState::Ready(picture)
            }
            Err(why) => PreviewState::Failed(why),
        };
        self.previews.inline_shown.insert(file_id.to_string(), state);
    }

    /// Keys while a preview is shown: any closes it.
    pub(super) fn preview_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
        if matches!(key.code, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q' | 'v')) {
            self.previews.open = None;
        }
        Vec::new()
    }
}
