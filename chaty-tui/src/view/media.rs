//! Links on screen: the "which link?" chooser.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::{DIM, popup};
use crate::app::{LinkAction, LinkChooser};
use crate::sanitize;

/// "Open which link?": the message's links, numbered, the chosen one reversed.
pub(super) fn link_chooser(frame: &mut Frame<'_>, area: Rect, chooser: &LinkChooser) {
    let width = usize::from(area.width.saturating_sub(10)).min(90);
    let lines = chooser
        .urls
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let style = if i == chooser.selected {
                Style::default().add_modifier(Modifier::REVERSED)
            } else {
                Style::default()
            };
            let url = crate::people::truncate(&sanitize::line(url), width.saturating_sub(4));
            Line::from(vec![Span::styled(format!(" {} ", i + 1), DIM), Span::styled(format!("{url} "), style)])
        })
        .collect();
    let verb = match chooser.action {
        LinkAction::Open => "Open",
        LinkAction::Copy => "Copy",
    };
    popup(frame, area, &format!("{verb} which link? (1-9 or Enter, Esc)"), lines);
}
