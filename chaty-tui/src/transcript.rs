//! A room's messages as styled, wrapped lines for a given width: day
//! separators, grouped senders, pending and failed sends, `/me` actions and
//! highlighted mentions. Pure, so the app can measure what the view draws.

use std::ops::Range;

use chrono::{DateTime, FixedOffset, TimeZone};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use chaty_proto::Message;

use crate::people::{Names, Shown};
use crate::room::Room;
use crate::sanitize;

/// The sender column is this wide, or as wide as the longest name there
/// up to a third of the pane and [`MAX_NAME_COLS`].
const NAME_COLS: usize = 10;
const MAX_NAME_COLS: usize = 20;
/// Messages from one sender closer than this share one name.
const GROUP_MS: i64 = 10 * 60 * 1000;

const PALETTE: [Color; 10] = [
    Color::Cyan,
    Color::Green,
    Color::Yellow,
    Color::Magenta,
    Color::Blue,
    Color::LightRed,
    Color::LightCyan,
    Color::LightGreen,
    Color::LightMagenta,
    Color::LightBlue,
];

/// A stable colour per user name.
pub fn user_color(name: &str) -> Color {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    PALETTE[(hash % PALETTE.len() as u64) as usize]
}

/// Splits `text` into lines no wider than `width` columns, at spaces where
/// possible, inside words when a word is too long. Wide characters count two.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut line_w = 0;
        for word in paragraph.split_inclusive(' ') {
            let word_w = word.trim_end_matches(' ').width();
            if line_w + word_w > width && line_w > 0 {
                out.push(line.trim_end().to_string());
                line.clear();
                line_w = 0;
            }
            for c in word.chars() {
                let cw = c.width().unwrap_or(0);
                if line_w + cw > width && line_w > 0 && c != ' ' {
                    out.push(std::mem::take(&mut line));
                    line_w = 0;
                }
                if !(c == ' ' && line_w == 0 && !line.is_empty()) {
                    line.push(c);
                    line_w += cw;
                }
            }
        }
        out.push(line.trim_end().to_string());
    }
    out
}

fn fit(name: &str, cols: usize) -> String {
    if name.width() <= cols {
        return format!("{name:<cols$}", cols = cols - (name.width() - name.chars().count()));
    }
    let mut out = String::new();
    for c in name.chars() {
        if out.width() + c.width().unwrap_or(0) + 1 > cols {
            break;
        }
        out.push(c);
    }
    out.push('…');
    format!("{out:<cols$}", cols = cols - (out.width() - out.chars().count()))
}

/// Local time of an RFC 3339 timestamp, given the viewer's UTC offset.
fn local(timestamp: &str, offset: FixedOffset) -> Option<DateTime<FixedOffset>> {
    let ms = chaty_proto::time::parse_millis(timestamp)?;
    offset.timestamp_millis_opt(ms).single()
}

/// Who is speaking, and what: a message's body for display.
fn body(content: &str, user: &str) -> (bool, String) {
    match content.strip_prefix("/me ") {
        Some(action) => (true, format!("* {user} {}", sanitize::text(action))),
        None => (false, sanitize::text(content)),
    }
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Byte ranges of `@name` in `text` (any letter case), as whole names only:
/// `@al` is not in `@alice`, nor in `mail@al.com`.
fn mention_ranges(text: &str, name: &str) -> Vec<std::ops::Range<usize>> {
    let needle = format!("@{name}");
    if name.is_empty() {
        return Vec::new();
    }
    let lower = text.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find(&needle) {
        let (start, end) = (from + i, from + i + needle.len());
        let before_ok = !lower[..start].chars().next_back().is_some_and(name_char);
        let after_ok = !lower[end..].chars().next().is_some_and(name_char);
        if before_ok && after_ok {
            found.push(start..end);
        }
        from = end;
    }
    found
}

/// Whether `text` mentions `@name`.
pub fn mentions(text: &str, name: &str) -> bool {
    !mention_ranges(text, name).is_empty()
}

/// Splits a line into spans, highlighting `@me` mentions and underlining
/// `links` (byte ranges in `text`).
fn highlight(text: &str, me: &str, base: Style, links: &[Range<usize>]) -> Vec<Span<'static>> {
    let mentions = mention_ranges(text, me);
    let mut cuts: Vec<usize> = [0, text.len()]
        .into_iter()
        .chain(mentions.iter().chain(links).flat_map(|r| [r.start, r.end]))
        .filter(|&i| text.is_char_boundary(i))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let inside = |ranges: &[Range<usize>], i: usize| ranges.iter().any(|r| r.contains(&i));
    let mut spans: Vec<Span<'static>> = Vec::new();
    for pair in cuts.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        let mut style = base;
        if inside(&mentions, start) {
            style = style.fg(Color::Yellow).add_modifier(Modifier::BOLD);
        }
        if inside(links, start) {
            style = style.add_modifier(Modifier::UNDERLINED);
        }
        spans.push(Span::styled(text[start..end].to_string(), style));
    }
    if spans.is_empty() {
        spans.push(Span::styled(String::new(), base));
    }
    spans
}

/// The links of `text` within each of its wrapped `chunks` (which are, in
/// order, pieces of it: wrapping only drops spaces and line breaks), as
/// byte ranges in the chunk. A link wrapped over two lines is underlined on both.
fn links_by_chunk(text: &str, chunks: &[String]) -> Vec<Vec<Range<usize>>> {
    let links = crate::links::ranges(text);
    let mut from = 0;
    chunks
        .iter()
        .map(|chunk| {
            let Some(at) = text.get(from..).and_then(|rest| rest.find(chunk.as_str())).map(|i| from + i) else {
                return Vec::new();
            };
            from = at + chunk.len();
            links
                .iter()
                .filter(|l| l.start < from && l.end > at)
                .map(|l| l.start.max(at) - at..l.end.min(from) - at)
                .collect()
        })
        .collect()
}

/// Background of the selected message.
pub const SELECTED_BG: Color = Color::DarkGray;

/// Highlights a line of the selected message. Dim text (times, "✓ sent",
/// quotes) is dark grey, which vanishes on the selection's grey: it turns
/// light grey there, and nothing keeps the background's own colour.
fn select(line: &mut Line<'static>) {
    line.style = line.style.bg(SELECTED_BG);
    if matches!(line.style.fg, Some(SELECTED_BG)) {
        line.style.fg = Some(Color::Gray);
    }
    for span in &mut line.spans {
        if matches!(span.style.fg, Some(SELECTED_BG)) {
            span.style.fg = Some(Color::Gray);
        }
    }
}

/// A room drawn for one width: its lines, which lines each message took, and
/// where the "new" line is.
pub struct Transcript {
    pub lines: Vec<Line<'static>>,
    /// (message id, first line, one past its last line)
    pub spans: Vec<(u64, usize, usize)>,
    pub marker: Option<usize>,
    /// (line, span) of each sender's name, for `[colors] sender`.
    pub names: Vec<(usize, usize)>,
    /// Inline image previews: where each goes.
    pub images: Vec<ImageSlot>,
}

/// Blank lines kept for an image preview, drawn over by the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSlot {
    pub file_id: String,
    /// The first of the lines, and how many.
    pub line: usize,
    pub rows: u16,
    /// The column it starts at.
    pub indent: usize,
}

/// One line of a message's extras (quote, attachment, reactions, status),
/// indented to the text column.
fn extra(out: &mut Vec<Line<'static>>, indent: usize, spans: Vec<Span<'static>>) {
    let mut line = vec![Span::raw(" ".repeat(indent))];
    line.extend(spans);
    out.push(Line::from(line));
}

fn reactions(m: &Message, me: &str) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    for r in &m.reactions {
        let mine = r.users.iter().any(|u| u.eq_ignore_ascii_case(me));
        let style = if mine {
            Style::default().fg(Color::Cyan).add_modifier(Modifier::BOLD)
        } else {
            Style::default().fg(Color::Gray)
        };
        spans.push(Span::styled(format!("{} {}", sanitize::line(&r.emoji), r.users.len()), style));
        spans.push(Span::raw("  "));
    }
    spans
}

/// "↳ alice: the first words of it…"
fn quote(room: &Room, names: &Names, id: u64, width: usize) -> String {
    match room.messages.iter().find(|m| m.id == id) {
        Some(original) if original.deleted => "↳ a deleted message".to_string(),
        Some(original) => {
            let text = sanitize::line(&original.content);
            let head = format!("↳ {}: ", names.show(&original.user_id, &original.user_name).label());
            let room_for_text = width.saturating_sub(head.width() + 1).max(8);
            let mut cut = String::new();
            for c in text.chars() {
                if cut.width() + c.width().unwrap_or(0) >= room_for_text {
                    cut.push('…');
                    break;
                }
                cut.push(c);
            }
            format!("{head}{cut}")
        }
        None => "↳ in reply to an earlier message".to_string(),
    }
}

/// Everything in `room` as lines `width` columns wide; `selected` is highlighted.
pub fn build(room: &Room, me: &str, width: u16, offset: FixedOffset, selected: Option<u64>) -> Transcript {
    let width = usize::from(width);
    // "HH:MM " then the name column then a space.
    let compact = width < 40;
    let names = Names::of_room(room);
    let senders: Vec<Shown> = room.messages.iter().map(|m| names.show(&m.user_id, &m.user_name)).collect();
    let mine = names.member(room, me);
    let widest = senders.iter().chain([&mine]).map(|s| s.label().width()).max().unwrap_or(0);
    let name_cols = if compact { 0 } else { widest.clamp(NAME_COLS, (width / 3).clamp(NAME_COLS, MAX_NAME_COLS)) };
    let indent = if compact { 2 } else { 6 + name_cols + 1 };
    let text_w = width.saturating_sub(indent).max(1);
    let dim = Style::default().fg(Color::DarkGray);
    let last_own = room.messages.iter().rev().find(|m| m.user_id.eq_ignore_ascii_case(me)).map(|m| m.id);

    let mut out = Vec::new();
    let mut spans_of = Vec::new();
    let mut marker = None;
    let mut name_spans = Vec::new();
    let mut images = Vec::new();
    // Sender, display name, time, day of the message before: a new header
    // when any changes (a rename shows at once).
    let mut last: Option<(&str, &str, i64, chrono::NaiveDate)> = None;
    for (m, sender) in room.messages.iter().zip(&senders) {
        let when = local(&m.timestamp, offset);
        let ms = chaty_proto::time::parse_millis(&m.timestamp).unwrap_or(0);
        let day = when.map(|w| w.date_naive());
        if let Some(day) = day {
            if last.is_none_or(|(_, _, _, d)| d != day) {
                let label = format!(" {} ", day.format("%A %-d %B %Y"));
                let rule = width.saturating_sub(label.width()) / 2;
                out.push(Line::styled(format!("{}{label}{}", "─".repeat(rule), "─".repeat(rule)), dim));
            }
        }
        if marker.is_none() && room.marker.is_some_and(|seen| m.seq > seen) {
            marker = Some(out.len());
            let label = " new ";
            let rule = width.saturating_sub(label.width()) / 2;
            out.push(Line::styled(
                format!("{}{label}{}", "─".repeat(rule), "─".repeat(rule)),
                Style::default().fg(Color::Red),
            ));
            last = None;
        }
        let start = out.len();
        let grouped = last
            .is_some_and(|(u, n, t, d)| u == m.user_id && n == m.user_name && ms - t < GROUP_MS && Some(d) == day)
            && m.reply_to.is_none();
        if let Some(id) = m.reply_to {
            extra(
                &mut out,
                indent,
                vec![Span::styled(quote(room, &names, id, text_w), dim.add_modifier(Modifier::ITALIC))],
            );
        }
        let (action, text) =
            if m.deleted { (false, "message deleted".to_string()) } else { body(&m.content, &sender.label()) };
        let time = when.map_or_else(|| "--:--".to_string(), |w| w.format("%H:%M").to_string());
        let name = if compact { sender.label() } else { sender.fit(name_cols) };
        let name_style = Style::default().fg(user_color(&m.user_id)).add_modifier(Modifier::BOLD);
        let text_style = if m.deleted {
            dim.add_modifier(Modifier::ITALIC)
        } else if action {
            Style::default().add_modifier(Modifier::ITALIC)
        } else {
            Style::default()
        };
        let wrap_w = if compact { width.saturating_sub(6 + name.width() + 2).max(1) } else { text_w };
        let wrapped = wrap(&text, wrap_w);
        let count = wrapped.len();
        let links = if m.deleted { Vec::new() } else { links_by_chunk(&text, &wrapped) };
        for (i, chunk) in wrapped.into_iter().enumerate() {
            let mut spans = Vec::new();
            if i == 0 {
                spans.push(Span::styled(format!("{time} "), dim));
                if compact {
                    if !action {
                        name_spans.push((out.len(), spans.len()));
                        spans.push(Span::styled(format!("{name}: "), name_style));
                    }
                } else if grouped || action {
                    spans.push(Span::raw(" ".repeat(name_cols + 1)));
                } else {
                    name_spans.push((out.len(), spans.len()));
                    spans.push(Span::styled(fit(&name, name_cols), name_style));
                    spans.push(Span::raw(" "));
                }
            } else {
                spans.push(Span::raw(" ".repeat(indent)));
            }
            spans.extend(highlight(&chunk, me, text_style, links.get(i).map_or(&[], Vec::as_slice)));
            if i + 1 == count && m.edited_at.is_some() && !m.deleted {
                spans.push(Span::styled(" (edited)", dim));
            }
            out.push(Line::from(spans));
        }
        if let Some(a) = &m.attachment {
            let label = format!("📎 {} ({})", sanitize::line(&a.name), crate::app::human_size(a.size));
            extra(&mut out, indent, vec![Span::styled(label, Style::default().fg(Color::Blue))]);
            if let Some(&rows) = room.image_rows.get(&m.id) {
                images.push(ImageSlot { file_id: a.file_id.clone(), line: out.len(), rows, indent });
                out.extend((0..rows).map(|_| Line::raw("")));
            }
        }
        if !m.reactions.is_empty() {
            extra(&mut out, indent, reactions(m, me));
        }
        if last_own == Some(m.id) && !m.deleted {
            let readers = room.read_by(m.seq, me);
            let status = match (room.kind, readers) {
                (_, 0) => "✓ sent".to_string(),
                (chaty_proto::RoomKind::Dm, _) => "✓✓ read".to_string(),
                (_, n) => format!("✓✓ read by {n}"),
            };
            extra(&mut out, indent, vec![Span::styled(status, dim)]);
        }
        if selected == Some(m.id) {
            for line in &mut out[start..] {
                select(line);
            }
        }
        spans_of.push((m.id, start, out.len()));
        last = Some((&m.user_id, &m.user_name, ms, day.unwrap_or_default()));
    }
    if let Some(removed) = &room.removed {
        for chunk in wrap(removed, width.saturating_sub(2).max(1)) {
            out.push(Line::styled(
                format!("  {chunk}"),
                Style::default().fg(Color::Red).add_modifier(Modifier::ITALIC),
            ));
        }
    }
    for p in &room.pending {
        let (_, text) = body(&p.content, &mine.label());
        let style = match &p.failed {
            Some(_) => Style::default().fg(Color::Red),
            None => dim,
        };
        let status = match &p.failed {
            Some(reason) => format!("✗ not sent: {} (/retry)", sanitize::line(reason)),
            None => "sending…".to_string(),
        };
        if let Some(id) = p.reply_to {
            extra(
                &mut out,
                indent,
                vec![Span::styled(quote(room, &names, id, text_w), dim.add_modifier(Modifier::ITALIC))],
            );
        }
        for (i, chunk) in wrap(&text, text_w).into_iter().enumerate() {
            let lead = if i == 0 && !compact {
                format!("      {} ", fit(&mine.fit(name_cols), name_cols))
            } else {
                " ".repeat(indent)
            };
            out.push(Line::from(vec![Span::styled(lead, dim), Span::styled(chunk, style)]));
        }
        if let Some(a) = &p.attachment {
            extra(&mut out, indent, vec![Span::styled(format!("📎 {}", sanitize::line(&a.name)), dim)]);
        }
        extra(&mut out, indent, vec![Span::styled(status, style.add_modifier(Modifier::ITALIC))]);
    }
    Transcript { lines: out, spans: spans_of, marker, names: name_spans, images }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_spaces_and_inside_long_words() {
        assert_eq!(wrap("hello big world", 9), ["hello big", "world"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("a\n\nb", 10), ["a", "", "b"]);
    }

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(wrap("世界世界世界", 5), ["世界", "世界", "世界"]);
        for line in wrap("👋👋👋 hello 世界 ok", 6) {
            assert!(line.width() <= 6, "{line:?}");
        }
    }

    #[test]
    fn names_are_fitted_to_the_column() {
        assert_eq!(fit("al", 5), "al   ");
        assert_eq!(fit("alexandria", 5), "alex…");
        assert_eq!(fit("世界世界", 5).width(), 5);
    }

    #[test]
    fn mentions_are_whole_names() {
        assert!(mentions("hey @Alice, look", "alice"));
        assert!(mentions("@alice", "alice"));
        assert!(!mentions("hey @alicebob", "alice"));
        assert!(!mentions("mail@alice.com", "alice"), "an address is not a mention");
        assert!(!mentions("hey @al", "alice"));
    }

    #[test]
    fn a_rename_starts_a_new_header_at_once() {
        let mut room = Room::new("general");
        for (id, name, text) in [(1, "Alice Liddell", "before rename"), (2, "Queen Alice", "after rename")] {
            room.insert(chaty_proto::Message {
                id,
                seq: id,
                room_id: "general".into(),
                user_id: "alice".into(),
                user_name: name.into(),
                content: text.into(),
                timestamp: format!("2024-03-28T12:00:0{id}.000Z"),
                ..chaty_proto::Message::default()
            });
        }
        let text: Vec<String> = build(&room, "bob", 80, FixedOffset::east_opt(0).expect("utc"), None)
            .lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.to_string()).collect())
            .collect();
        let after = text.iter().find(|l| l.contains("after rename")).expect("shown");
        assert!(after.contains("Queen Alice"), "the new name heads the message: {text:?}");
    }

    #[test]
    fn links_are_underlined_even_when_wrapped() {
        let text = "see https://example.com/a/long/path and more";
        let chunks = wrap(text, 20);
        let by_chunk = links_by_chunk(text, &chunks);
        let underlined: String = chunks
            .iter()
            .zip(&by_chunk)
            .flat_map(|(chunk, ranges)| ranges.iter().map(|r| chunk[r.clone()].to_string()).collect::<Vec<_>>())
            .collect();
        assert_eq!(underlined, "https://example.com/a/long/path");
        let link = 12..23;
        let spans = highlight("hi @bob see http://x.io!", "bob", Style::default(), std::slice::from_ref(&link));
        let styled: Vec<(&str, bool, bool)> = spans
            .iter()
            .map(|s| {
                let m = s.style.add_modifier;
                (s.content.as_ref(), m.contains(Modifier::BOLD), m.contains(Modifier::UNDERLINED))
            })
            .collect();
        assert_eq!(
            styled,
            [
                ("hi ", false, false),
                ("@bob", true, false),
                (" see ", false, false),
                ("http://x.io", false, true),
                ("!", false, false)
            ]
        );
    }

    #[test]
    fn colours_are_stable() {
        assert_eq!(user_color("alice"), user_color("alice"));
    }
}
