//! Where each pane goes for a terminal size. Shared by the view (to draw)
//! and the app (to know how many lines a page is).

use ratatui::layout::Rect;
use unicode_width::UnicodeWidthStr;

use crate::transcript::wrap;

/// Widest sidebar and member list.
const SIDEBAR: u16 = 18;
const MEMBERS: u16 = 18;
/// Most input lines shown before the editor scrolls.
pub const MAX_INPUT_LINES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub sidebar: Option<Rect>,
    pub messages: Rect,
    pub members: Option<Rect>,
    pub typing: Rect,
    pub input: Rect,
    pub status: Rect,
}

/// Splits `area`: at 80 columns and up the member list shows; at 60 and up
/// the sidebar; below that the room list folds into the status bar.
pub fn areas(area: Rect, input_lines: usize) -> Areas {
    let input_h = (input_lines.clamp(1, MAX_INPUT_LINES) as u16 + 1).min(area.height.saturating_sub(1));
    let status = Rect { y: area.bottom().saturating_sub(1), height: area.height.min(1), ..area };
    let input = Rect { y: status.y.saturating_sub(input_h), height: input_h.min(status.y - area.y), ..area };
    let typing_h = u16::from(input.y > area.y);
    let typing = Rect { y: input.y - typing_h, height: typing_h, ..area };
    let body = Rect { height: typing.y - area.y, ..area };

    let sidebar_w = if area.width >= 60 { SIDEBAR } else { 0 };
    let members_w = if area.width >= 80 { MEMBERS } else { 0 };
    let sidebar = (sidebar_w > 0).then_some(Rect { width: sidebar_w, ..body });
    let members = (members_w > 0).then_some(Rect { x: body.right() - members_w, width: members_w, ..body });
    let messages = Rect { x: body.x + sidebar_w, width: body.width - sidebar_w - members_w, ..body };
    Areas { sidebar, messages, members, typing, input, status }
}

/// A popup's text (help, who, rooms) laid out for the screen: wrapped to fit
/// and cut to the rows there are; what does not fit scrolls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Popup {
    /// The box, borders included.
    pub rect: Rect,
    /// Every line, wrapped to the box's text width.
    pub lines: Vec<String>,
    /// How many of `lines` show at once.
    pub rows: usize,
}

impl Popup {
    /// The most the text can scroll: the last line then shows at the bottom.
    pub fn max_scroll(&self) -> usize {
        self.lines.len().saturating_sub(self.rows)
    }
}

/// Lays out a popup with `title` and `lines` in `area`: as wide as its
/// widest line (and its title) but never wider than the screen less a column
/// each side; long lines wrap with their continuation indented; as tall as
/// its lines but never taller than the screen.
pub fn popup(area: Rect, title: &str, lines: &[String]) -> Popup {
    // Borders and a space of padding each side take four columns.
    let widest = lines.iter().map(|l| l.width()).max().unwrap_or(0).max(title.width() + 2);
    let max_w = usize::from(area.width.saturating_sub(2)).max(5);
    let width = (widest + 4).max(30).min(max_w).min(usize::from(area.width));
    let text_w = width.saturating_sub(4).max(1);
    let mut wrapped = Vec::new();
    for line in lines {
        if line.width() <= text_w {
            wrapped.push(line.clone());
            continue;
        }
        // Keep the line's own indent, and indent what wraps two more.
        let indent = line.len() - line.trim_start().len();
        let lead = " ".repeat(indent + 2);
        let chunks = wrap(line.trim_start(), text_w.saturating_sub(indent + 2).max(1));
        for (i, chunk) in chunks.into_iter().enumerate() {
            let pad = if i == 0 { &lead[..indent] } else { lead.as_str() };
            wrapped.push(format!("{pad}{chunk}"));
        }
    }
    let rows = wrapped.len().min(usize::from(area.height.saturating_sub(2))).max(1);
    let height = (rows + 2).min(usize::from(area.height));
    let (w, h) = (width as u16, height as u16);
    let rect = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    Popup { rect, lines: wrapped, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn popups_wrap_to_the_screen_and_scroll_what_does_not_fit() {
        let long = "Esc (empty input) select messages: j/k move, r reply, e edit, d delete, 1-6 react, c copy";
        let lines: Vec<String> = (0..30).map(|i| format!("line {i}")).chain([long.to_string()]).collect();
        let p = popup(Rect::new(0, 0, 80, 24), "Help", &lines);
        assert_eq!((p.rect.width, p.rect.height, p.rows), (78, 24, 22));
        assert!(p.lines.iter().all(|l| l.width() <= 74), "{:?}", p.lines);
        assert_eq!(p.lines.len(), 32, "the long line takes two rows");
        assert!(p.lines[31].starts_with("  ") && p.lines[31].ends_with("c copy"), "{:?}", p.lines[31]);
        assert_eq!(p.max_scroll(), 10);
        let small = popup(Rect::new(0, 0, 100, 30), "Who", &["● al".to_string()]);
        assert_eq!((small.rect.width, small.rect.height, small.max_scroll()), (30, 3, 0));
        for (w, h) in [(0, 0), (1, 1), (3, 2), (10, 40)] {
            let p = popup(Rect::new(0, 0, w, h), "Help", &lines);
            assert!(p.rect.right() <= w && p.rect.bottom() <= h, "{w}x{h}: {p:?}");
        }
    }

    #[test]
    fn panes_fold_as_the_terminal_narrows() {
        let wide = areas(Rect::new(0, 0, 120, 30), 1);
        assert!(wide.sidebar.is_some() && wide.members.is_some());
        assert_eq!(wide.messages.width, 120 - 36);
        assert_eq!((wide.status.y, wide.input.height, wide.typing.y), (29, 2, 26));
        let eighty = areas(Rect::new(0, 0, 80, 24), 1);
        assert!(eighty.sidebar.is_some() && eighty.members.is_some());
        let seventy = areas(Rect::new(0, 0, 70, 24), 1);
        assert!(seventy.sidebar.is_some() && seventy.members.is_none());
        let narrow = areas(Rect::new(0, 0, 50, 20), 3);
        assert!(narrow.sidebar.is_none() && narrow.members.is_none());
        assert_eq!(narrow.input.height, 4);
    }

    #[test]
    fn tiny_terminals_do_not_underflow() {
        for (w, h) in [(1, 1), (0, 0), (3, 2), (100, 2), (1, 40)] {
            let a = areas(Rect::new(0, 0, w, h), 9);
            for r in [a.messages, a.typing, a.input, a.status] {
                assert!(r.bottom() <= h && r.right() <= w, "{w}x{h}: {a:?}");
            }
        }
    }
}
