//! Links and images on screen: the "which link?" chooser, `v`'s preview
//! over the chat, and previews inside the transcript (`image_previews`).

use std::ops::Range;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear};
use unicode_width::UnicodeWidthStr;

use super::{DIM, centered, popup};
use crate::app::{App, LinkAction, LinkChooser, PreviewState, PreviewView};
use crate::sanitize;
use crate::transcript::ImageSlot;

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

/// `v`: the image over the chat, or how its loading goes.
pub(super) fn image_preview(frame: &mut Frame<'_>, area: Rect, view: &PreviewView) {
    let name = crate::people::truncate(&sanitize::line(&view.name), 40);
    let picture = match &view.state {
        PreviewState::Loading => return popup(frame, area, &name, vec![Line::styled(" loading…", DIM)]),
        PreviewState::Failed(why) => {
            let line = Line::styled(format!(" {}", sanitize::line(why)), Style::default().fg(Color::Red));
            return popup(frame, area, &name, vec![line]);
        }
        PreviewState::Ready(picture) => picture,
    };
    let (cols, rows) = picture.size();
    let title = format!(" {name} (Esc) ");
    let rect = centered(area, cols.max(title.width() as u16) + 2, rows + 2);
    frame.render_widget(Clear, rect);
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    frame.render_widget(picture.widget(), inner);
}

/// The transcript's image previews that are ready and whose lines are all
/// among the `visible` transcript lines, the first of which is drawn at the
/// top of `area`. One cut off by the edge is not drawn (its lines stay blank).
pub(super) fn inline_images(frame: &mut Frame<'_>, app: &App, slots: &[ImageSlot], visible: Range<usize>, area: Rect) {
    for slot in slots {
        let Some(PreviewState::Ready(picture)) = app.previews.inline_shown.get(&slot.file_id) else {
            continue;
        };
        if slot.line < visible.start || slot.line + usize::from(slot.rows) > visible.end {
            continue;
        }
        let y = area.y + (slot.line - visible.start) as u16;
        let x = area.x + (slot.indent as u16).min(area.width);
        let (cols, rows) = picture.size();
        let rect = Rect { x, y, width: cols.min(area.right().saturating_sub(x)), height: rows.min(slot.rows) };
        frame.render_widget(picture.widget(), rect);
    }
}
