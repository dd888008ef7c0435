//! Draws the app. Reads `App`, never changes it; `now` is passed in so a
//! screen is a pure function of its inputs (and snapshot-testable).

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Padding, Paragraph};
use tokio::time::Instant;
use unicode_width::UnicodeWidthStr;

use crate::app::{App, Compose, Conn, Field, Mode, Overlay, Screen, Transfer, TransferState, human_size};
use crate::layout::{self, MAX_INPUT_LINES};
use crate::sanitize;
use crate::transcript;
use crate::words;

mod media;
mod people;

const DIM: Style = Style::new().fg(Color::DarkGray);

pub fn draw(frame: &mut Frame<'_>, app: &App, now: Instant) {
    let area = frame.area();
    if area.width == 0 || area.height == 0 {
        return;
    }
    match app.screen {
        Screen::SignIn => sign_in(frame, app, area, now),
        Screen::Chat => chat(frame, app, area, now),
    }
    app.theme.apply(frame.buffer_mut());
}

/// "2 h ago" from an RFC 3339 time and the current wall clock (ms).
fn ago(timestamp: &str, now_ms: i64) -> Option<String> {
    let then = chaty_proto::time::parse_millis(timestamp)?;
    let secs = (now_ms - then).max(0) / 1000;
    Some(match secs {
        0..60 => "just now".to_string(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    })
}

fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

fn conn_text(app: &App, now: Instant) -> (String, Color) {
    match &app.conn {
        Conn::Connected => ("connected".into(), Color::Green),
        Conn::Connecting => ("connecting…".into(), Color::Yellow),
        Conn::Reconnecting { at, attempt, reason } => {
            let secs = at.saturating_duration_since(now).as_millis().div_ceil(1000);
            let when = if secs == 0 { "reconnecting".to_string() } else { format!("reconnecting in {secs} s") };
            let text = if app.screen == Screen::SignIn {
                // Nothing else on this screen says why we are not connected.
                format!("{}: {when}, attempt {attempt}", sanitize::line(reason))
            } else {
                format!("{when}, attempt {attempt}")
            };
            (text, Color::Yellow)
        }
        Conn::Failed { reason } if app.screen == Screen::SignIn => {
            (format!("{} (Enter tries again)", sanitize::line(reason)), Color::Red)
        }
        Conn::Failed { .. } => ("not connected".into(), Color::Red),
    }
}

pub(super) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

fn sign_in(frame: &mut Frame<'_>, app: &App, area: Rect, now: Instant) {
    let form = &app.signin;
    let (status, color) = conn_text(app, now);
    let (message, message_style) = match (&form.error, form.busy) {
        (Some(e), _) => (sanitize::line(e), Style::default().fg(Color::Red)),
        (None, true) => ("signing in…".to_string(), Style::default().fg(Color::Yellow)),
        (None, false) => (status, Style::default().fg(color)),
    };
    // The message wraps inside the box, which grows to hold all of it.
    let width = 56.min(area.width);
    let text_w = usize::from(width.saturating_sub(4));
    let local = app.local_server.as_deref().map_or_else(Vec::new, |l| transcript::wrap(l, text_w));
    let message = transcript::wrap(&message, text_w);
    let popup = centered(area, width, 14 + (local.len() + message.len()) as u16);
    let block = Block::default().borders(Borders::ALL).title(" chaty — sign in ").title_alignment(Alignment::Center);
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let field_w = usize::from(inner.width.saturating_sub(12));
    let row = |label: &str, value: String, field: Field| {
        let focused = form.focus == Some(field);
        let style = if focused { Style::default().add_modifier(Modifier::REVERSED) } else { Style::default() };
        let shown: String = value.chars().rev().take(field_w).collect::<Vec<_>>().into_iter().rev().collect();
        Line::from(vec![Span::raw(format!(" {label:<9} ")), Span::styled(format!("{shown:<field_w$}"), style)])
    };
    let mut lines = vec![
        Line::raw(""),
        row("Server", form.server.text(), Field::Server),
        Line::raw(""),
        row("User", form.user.text(), Field::User),
        Line::raw(""),
        row("Password", "•".repeat(form.password.text().chars().count()), Field::Password),
        Line::raw(""),
        if form.invite.is_empty() && form.focus != Some(Field::Invite) {
            Line::from(vec![
                Span::raw(format!(" {:<9} ", "Invite")),
                Span::styled("to register, if the server asks", DIM),
            ])
        } else {
            row("Invite", form.invite.text(), Field::Invite)
        },
        Line::raw(""),
        Line::styled(" Enter log in · Ctrl-R register · Tab next field", DIM),
        Line::styled(" Ctrl-C quit", DIM),
    ];
    lines.extend(local.into_iter().map(|l| Line::styled(format!(" {l}"), Style::default().fg(Color::Cyan))));
    lines.extend(message.into_iter().map(|l| Line::styled(format!(" {l}"), message_style)));
    frame.render_widget(Paragraph::new(lines), inner);
    if let Some(field) = form.focus {
        let (y, text) = match field {
            Field::Server => (1, form.server.text()),
            Field::User => (3, form.user.text()),
            Field::Password => (5, "•".repeat(form.password.text().chars().count())),
            Field::Invite => (7, form.invite.text()),
        };
        let x = inner.x + 11 + (text.width().min(field_w)) as u16;
        if inner.height > y && x < inner.right() {
            frame.set_cursor_position((x, inner.y + y));
        }
    }
}

fn chat(frame: &mut Frame<'_>, app: &App, area: Rect, now: Instant) {
    let (input_lines, cursor) = app.input.layout();
    let areas = layout::areas(area, input_lines.len());
    if let Some(sidebar) = areas.sidebar {
        rooms(frame, app, sidebar);
    }
    messages(frame, app, areas.messages);
    if let Some(members_area) = areas.members {
        members(frame, app, members_area);
    }
    typing_line(frame, app, areas.typing);
    input(frame, app, areas.input, &input_lines, cursor);
    status(frame, app, areas.status, now);
    if let Some(overlay) = &app.overlay {
        overlay_popup(frame, area, overlay, app.overlay_scroll);
    }
    if let Some(search) = &app.search {
        let mut lines = Vec::new();
        if search.hits.is_empty() {
            lines.push(Line::styled(" no results (yet)", DIM));
        }
        for (i, hit) in search.hits.iter().enumerate().take(usize::from(area.height.saturating_sub(4))) {
            let m = &hit.message;
            let when = chaty_proto::time::parse_millis(&m.timestamp)
                .and_then(|ms| chrono::TimeZone::timestamp_millis_opt(&app.utc_offset, ms).single())
                .map_or_else(String::new, |t| t.format("%d %b %H:%M").to_string());
            let room = app
                .rooms
                .iter()
                .find(|r| r.id == m.room_id)
                .map_or_else(|| format!("#{}", m.room_id), |r| r.label(&app.me));
            let style =
                if i == search.selected { Style::default().add_modifier(Modifier::REVERSED) } else { Style::default() };
            let width = usize::from(area.width.saturating_sub(10));
            let text = format!(
                " {} {when} {}: {}",
                sanitize::line(&room),
                sanitize::line(&m.user_name),
                sanitize::line(&hit.snippet)
            );
            lines.push(Line::styled(text.chars().take(width).collect::<String>(), style));
        }
        let title = format!("Search: {} (Enter opens, Esc)", sanitize::line(&search.query));
        popup(frame, area, &title, lines);
    }
    if let Some(sw) = &app.switcher {
        let mut lines =
            vec![Line::from(vec![Span::styled("› ", DIM), Span::raw(sanitize::line(&sw.query))]), Line::raw("")];
        let rooms = app.switcher_matches();
        for (n, i) in rooms.iter().enumerate().take(12) {
            let label = sanitize::line(&app.rooms[*i].label(&app.me));
            let style =
                if n == sw.selected { Style::default().add_modifier(Modifier::REVERSED) } else { Style::default() };
            lines.push(Line::styled(format!(" {label} "), style));
        }
        let room_left = usize::from(area.height.saturating_sub(4)).saturating_sub(lines.len()).min(9);
        let width = usize::from(area.width.saturating_sub(6)).min(70);
        lines.extend(people::switcher_people(app, rooms.len(), sw.selected, room_left, width));
        popup(frame, area, "Rooms and people (Enter, Esc)", lines);
    }
    if let Some(chooser) = &app.link_chooser {
        media::link_chooser(frame, area, chooser);
    }
    if let Some(view) = &app.previews.open {
        media::image_preview(frame, area, view);
    }
    if let Some(picker) = &app.people.picker {
        people::picker(frame, area, picker);
    }
    if let Some(whois) = &app.people.whois {
        people::whois(frame, area, whois, app);
    }
}

/// Help, who, rooms: wrapped to the screen; when longer than it, scrolled
/// to `scroll` with where you are and the keys shown on the bottom border.
fn overlay_popup(frame: &mut Frame<'_>, area: Rect, overlay: &Overlay, scroll: usize) {
    let p = layout::popup(area, &overlay.title, &overlay.lines);
    let scroll = scroll.min(p.max_scroll());
    let mut block =
        Block::default().borders(Borders::ALL).title(format!(" {} ", overlay.title)).padding(Padding::horizontal(1));
    if p.max_scroll() > 0 {
        let last = scroll + p.rows;
        let more = match (scroll > 0, last < p.lines.len()) {
            (true, true) => "↑↓",
            (false, _) => "↓",
            (true, false) => "↑",
        };
        let where_ = format!(" {more} {}–{last} of {} · PgUp/PgDn ", scroll + 1, p.lines.len());
        block = block.title_bottom(Line::styled(where_, Style::default().fg(Color::Cyan)).right_aligned());
    }
    let shown: Vec<Line<'static>> = p.lines.into_iter().skip(scroll).take(p.rows).map(Line::raw).collect();
    frame.render_widget(Clear, p.rect);
    frame.render_widget(Paragraph::new(shown).block(block), p.rect);
}

pub(super) fn popup(frame: &mut Frame<'_>, area: Rect, title: &str, lines: Vec<Line<'static>>) {
    let width = lines.iter().map(Line::width).max().unwrap_or(0).max(title.width() + 4) as u16 + 4;
    let rect = centered(area, width.max(30), lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    let block = Block::default().borders(Borders::ALL).title(format!(" {title} "));
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

fn rooms(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let block = Block::default().borders(Borders::RIGHT).border_style(DIM);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let mut lines = Vec::new();
    let mut in_dms = false;
    for (i, room) in app.rooms.iter().enumerate() {
        if room.kind == chaty_proto::RoomKind::Dm && !in_dms {
            in_dms = true;
            lines.push(Line::styled(" Direct", DIM));
        }
        let label = sanitize::line(&room.label(&app.me));
        // Mentions apart from the unread count: "@2 5"; a `none` room's count is dim.
        let quiet = room.notify == chaty_proto::NotifyLevel::None;
        let mentions = if room.mentions > 0 { format!(" @{}", room.mentions) } else { String::new() };
        let unread = if room.unread > 0 { format!(" {}", room.unread) } else { String::new() };
        let badge_w = mentions.width() + unread.width();
        let room_w = width.saturating_sub(badge_w + 1);
        let shown: String = label.chars().take(room_w).collect();
        // A room we were removed from is shown, dimmed, until we leave or rejoin it.
        let mut style = if room.removed.is_some() || quiet { DIM } else { Style::default() };
        if room.unread > 0 && !quiet {
            style = style.add_modifier(Modifier::BOLD);
            if let Some(color) = app.theme.unread() {
                style = style.fg(color);
            }
        }
        if i == app.current {
            style = style.add_modifier(Modifier::REVERSED);
        }
        let mention_style = if room.mentions > 0 && !quiet { style.fg(Color::Yellow) } else { style };
        let pad = width.saturating_sub(shown.width() + badge_w + 1);
        lines.push(Line::from(vec![
            Span::styled(format!(" {shown}{}", " ".repeat(pad)), mention_style),
            Span::styled(mentions, mention_style.add_modifier(Modifier::BOLD)),
            Span::styled(unread, style),
        ]));
    }
    if app.rooms.is_empty() {
        lines.push(Line::styled(" no rooms yet", DIM));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn messages(frame: &mut Frame<'_>, app: &App, area: Rect) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let inner = Rect { x: area.x + 1, width: area.width.saturating_sub(2), ..area };
    let Some(room) = app.current_room() else {
        let hint = vec![
            Line::raw(""),
            Line::styled("Welcome to chaty.", Style::default().add_modifier(Modifier::BOLD)),
            Line::raw(""),
            Line::raw("You are not in any room yet."),
            Line::raw("  /join general      join (or create) a public room"),
            Line::raw("  /create --private team   a room for invited people"),
            Line::raw("  /dm NAME           talk to one person"),
            Line::raw("  /help              every command and key"),
        ];
        frame.render_widget(Paragraph::new(hint), inner);
        return;
    };
    let selected = app.selected().map(|m| m.id);
    let transcript = transcript::build(room, &app.me, inner.width, app.utc_offset, selected);
    let mut lines = transcript.lines;
    for &(line, span) in &transcript.names {
        if let Some(span) = lines.get_mut(line).and_then(|l| l.spans.get_mut(span)) {
            span.style.fg = span.style.fg.map(|own| app.theme.sender(own));
        }
    }
    let height = usize::from(inner.height);
    let end = lines.len().saturating_sub(room.scroll);
    let start = end.saturating_sub(height);
    let mut shown: Vec<Line<'static>> = lines[start..end].to_vec();
    // Where transcript line `first` is drawn (row `row0`): the note may push it down.
    let (mut first, mut row0) = (start, 0);
    if start == 0 && (room.loading_older || room.has_older) {
        let note = if room.loading_older { "loading older messages…" } else { "scroll up for older messages" };
        if shown.len() >= height && !shown.is_empty() {
            shown.remove(0);
            first += 1;
        }
        shown.insert(0, Line::styled(note, DIM));
        row0 = 1;
    }
    if room.messages.is_empty() && room.pending.is_empty() && !room.has_older {
        shown.push(Line::styled(format!("This is the start of {}.", sanitize::line(&room.label(&app.me))), DIM));
    }
    frame.render_widget(Paragraph::new(shown), inner);
    let visible = first..end.min(first + height.saturating_sub(row0));
    media::inline_images(frame, app, &transcript.images, visible, Rect { y: inner.y + row0 as u16, ..inner });
    if room.new_below && room.scroll > 0 {
        let y = inner.bottom().saturating_sub(1);
        let marker = Line::styled(" ↓ new messages below (End) ", Style::default().fg(Color::Black).bg(Color::Yellow));
        frame.render_widget(Paragraph::new(marker).alignment(Alignment::Right), Rect { y, height: 1, ..inner });
    }
}

fn members(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let block = Block::default().borders(Borders::LEFT).border_style(DIM);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(room) = app.current_room() else {
        return;
    };
    let mut lines = vec![Line::styled(format!(" {}", words::count(room.members.len() as u64, "member")), DIM)];
    let names = crate::people::Names::of_room(room);
    let mut members: Vec<&String> = room.members.iter().collect();
    // Online first, then by the name shown.
    members.sort_by_key(|m| {
        (!room.online.iter().any(|o| o.eq_ignore_ascii_case(m)), sanitize::line(room.display_name(m)).to_lowercase())
    });
    for m in members {
        lines.extend(people::member(room, &names, m, usize::from(inner.width), app));
    }
    // The wheel over the list scrolls it.
    let lines: Vec<Line<'static>> = lines.into_iter().skip(app.members_scroll).collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The line above the input: a notice, what Enter will do, the selection
/// keys, a file transfer, or who is typing — the first that applies.
fn typing_line(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let hint = Style::default().fg(Color::Cyan);
    let line = if let Some((text, error)) = &app.notice {
        Line::styled(format!(" {text}"), if *error { Style::default().fg(Color::Red) } else { DIM })
    } else if let Mode::Select { .. } = app.mode {
        Line::styled(
            " j/k move · r reply · e edit · d delete · 1-6 react · c copy · o open link · y copy link · v view · s save · Esc",
            hint,
        )
    } else if let Some(text) = compose_text(app) {
        Line::styled(format!(" {text} (Esc cancels)"), hint)
    } else if let Some(t) =
        app.transfers.last().filter(|t| t.state == TransferState::Running || app.typing_text().is_none())
    {
        transfer_line(t, usize::from(area.width))
    } else if let Some(typing) = app.typing_text() {
        Line::styled(format!(" {typing}"), DIM.add_modifier(Modifier::ITALIC))
    } else {
        Line::raw("")
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn compose_text(app: &App) -> Option<String> {
    let room = app.current_room()?;
    match app.compose {
        Compose::None => None,
        Compose::Edit(_) => Some("editing your message".into()),
        Compose::Reply(id) => {
            let who = room
                .messages
                .iter()
                .find(|m| m.id == id)
                .map_or_else(|| "a message".into(), |m| sanitize::line(&m.user_name));
            Some(format!("replying to {who}"))
        }
    }
}

/// "⇡ report.pdf  42%  ████░░░░░░  1.2 MB / 2.9 MB", or how it ended.
fn transfer_line(t: &Transfer, width: usize) -> Line<'static> {
    let arrow = if t.upload { "⇡" } else { "⇣" };
    let name = sanitize::line(&t.name);
    match &t.state {
        TransferState::Failed(reason) => {
            Line::styled(format!(" ✗ {name}: {}", sanitize::line(reason)), Style::default().fg(Color::Red))
        }
        // A download's "saved to PATH" names the file itself.
        TransferState::Done(what) if !t.upload => {
            Line::styled(format!(" {arrow} {}", sanitize::line(what)), Style::default().fg(Color::Green))
        }
        TransferState::Done(what) => {
            Line::styled(format!(" {arrow} {name}: {}", sanitize::line(what)), Style::default().fg(Color::Green))
        }
        TransferState::Running => {
            let pct = t.done.saturating_mul(100).checked_div(t.total).unwrap_or(0).min(100);
            let bar_w = width.saturating_sub(name.width() + 40).clamp(5, 30);
            let filled = (bar_w as u64 * pct / 100) as usize;
            Line::from(vec![
                Span::styled(format!(" {arrow} {name} {pct:>3}% "), Style::default().fg(Color::Cyan)),
                Span::styled("█".repeat(filled), Style::default().fg(Color::Cyan)),
                Span::styled("░".repeat(bar_w - filled), DIM),
                Span::styled(format!(" {} / {}", human_size(t.done), human_size(t.total)), DIM),
            ])
        }
    }
}

fn input(frame: &mut Frame<'_>, app: &App, area: Rect, lines: &[String], (row, col): (usize, usize)) {
    if area.height == 0 {
        return;
    }
    let block = Block::default().borders(Borders::TOP).border_style(DIM);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let first = row.saturating_sub(MAX_INPUT_LINES - 1);
    let shown: Vec<Line<'static>> = lines
        .iter()
        .enumerate()
        .skip(first)
        .map(|(i, l)| Line::from(vec![Span::styled(if i == 0 { "› " } else { "  " }, DIM), Span::raw(l.clone())]))
        .collect();
    let scroll_x = (col + 2).saturating_sub(usize::from(inner.width.saturating_sub(1)));
    frame.render_widget(Paragraph::new(shown).scroll((0, scroll_x as u16)), inner);
    let x = inner.x + (col + 2 - scroll_x) as u16;
    let y = inner.y + (row - first) as u16;
    let popup_open = app.overlay.is_some()
        || app.switcher.is_some()
        || app.link_chooser.is_some()
        || app.previews.open.is_some()
        || app.people.picker.is_some()
        || app.people.whois.is_some();
    if !popup_open && x < inner.right() && y < inner.bottom() {
        frame.set_cursor_position((x, y));
    }
}

/// `alice@host`, or `Alice Liddell · alice@host` once a display name is set.
fn who_am_i(app: &App) -> String {
    let login = format!("{}@{}", sanitize::line(&app.me), host(&app.server));
    let shown = sanitize::line(app.my_name());
    if shown.eq_ignore_ascii_case(&app.me) {
        login
    } else {
        format!("{} · {login}", crate::people::truncate(&shown, 24))
    }
}

fn status(frame: &mut Frame<'_>, app: &App, area: Rect, now: Instant) {
    let (state, color) = conn_text(app, now);
    let base = Style::default().bg(Color::DarkGray).fg(Color::White);
    let mut spans = vec![Span::styled(format!(" {} ", who_am_i(app)), base), Span::styled(" ", base)];
    spans.push(Span::styled(format!("{state} "), base.fg(color)));
    if let Some(local) = &app.local_server {
        spans.push(Span::styled(format!("│ {} ", sanitize::line(local)), base));
    }
    if let Some(room) = app.current_room() {
        let mut text = format!("│ {}", sanitize::line(&room.label(&app.me)));
        if area.width < 60 {
            // No sidebar: say where we are among the rooms, and what waits elsewhere.
            text.push_str(&format!(" ({}/{})", app.current + 1, app.rooms.len()));
            let unread: usize = app.rooms.iter().map(|r| r.unread).sum();
            if unread > 0 {
                text.push_str(&format!(" +{unread} unread"));
            }
        }
        if !room.topic.is_empty() {
            text.push_str(&format!(" — {}", sanitize::line(&room.topic)));
        }
        spans.push(Span::styled(text, base.add_modifier(Modifier::BOLD)));
    }
    let used: usize = spans.iter().map(Span::width).sum();
    spans.push(Span::styled(" ".repeat(usize::from(area.width).saturating_sub(used)), base));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
