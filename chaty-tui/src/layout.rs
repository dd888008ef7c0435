//! Where each pane goes for a terminal size. Shared by the view (to draw)
//! and the app (to know how many lines a page is).

use ratatui::layout::Rect;

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

#[cfg(test)]
mod tests {
    use super::*;

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
