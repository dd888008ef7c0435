//! Drawing people: member-list entries (display name, login, presence, status
//! text), the `/users` list, the `/whois` card and the people part of the
//! Ctrl-K switcher. Every name and status text comes through
//! [`crate::people`], which sanitizes it.

use chaty_proto::PresenceStatus;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthStr;

use super::{DIM, ago, popup};
use crate::app::{App, Picker, Whois};
use crate::people::{Names, Person, Shown, truncate};
use crate::room::Room;
use crate::sanitize;
use crate::transcript;

const SELECTED: Style = Style::new().add_modifier(Modifier::REVERSED);

fn dot(status: Option<PresenceStatus>) -> Span<'static> {
    match status {
        Some(PresenceStatus::Online) => Span::styled(" ● ", Style::default().fg(Color::Green)),
        Some(PresenceStatus::Away) => Span::styled(" ◐ ", Style::default().fg(Color::Yellow)),
        Some(PresenceStatus::Offline) => Span::styled(" ○ ", DIM),
        None => Span::raw("   "),
    }
}

/// A name and (dimmed) login in `cols` columns: the login goes when there
/// is no room for it, unless the name is shared, when the name gives way.
fn name_spans(shown: &Shown, cols: usize, style: Style) -> Vec<Span<'static>> {
    match &shown.login {
        Some(login) if shown.name.width() + 1 + login.width() <= cols => {
            vec![Span::styled(shown.name.clone(), style), Span::styled(format!(" {login}"), DIM)]
        }
        Some(login) if shown.ambiguous => {
            let room_for_name = cols.saturating_sub(login.width() + 1);
            if room_for_name >= 2 {
                vec![Span::styled(truncate(&shown.name, room_for_name), style), Span::styled(format!(" {login}"), DIM)]
            } else {
                vec![Span::styled(truncate(login, cols), style)]
            }
        }
        _ => vec![Span::styled(truncate(&shown.name, cols), style)],
    }
}

/// One member in the member list: presence, `@` for an admin of the room,
/// name and login, last seen; the status text below, dimmed.
pub(super) fn member(room: &Room, names: &Names, user: &str, width: usize, app: &App) -> Vec<Line<'static>> {
    let wall_ms = app.wall_ms;
    let person = Person::in_room(room, user);
    let on = person.status != Some(PresenceStatus::Offline);
    let style = if on { Style::default().fg(app.theme.sender(transcript::user_color(user))) } else { DIM };
    let mut first = vec![dot(person.status)];
    let admin = room.is_admin(user);
    if admin {
        first.push(Span::styled("@", style.add_modifier(Modifier::BOLD)));
    }
    first.extend(name_spans(&names.member(room, user), width.saturating_sub(3 + usize::from(admin)), style));
    if let Some(ago) = person.last_seen.as_deref().and_then(|t| ago(t, wall_ms)) {
        first.push(Span::styled(format!(" {ago}"), DIM));
    }
    let mut lines = vec![Line::from(first)];
    if !person.status_text.is_empty() {
        let text = truncate(&sanitize::line(&person.status_text), width.saturating_sub(3));
        lines.push(Line::styled(format!("   {text}"), DIM.add_modifier(Modifier::ITALIC)));
    }
    lines
}

/// A person as one row of a list: presence, name, login, status text.
fn row(person: &Person, name_w: usize, login_w: usize, width: usize, style: Style) -> Line<'static> {
    let shown = person.shown();
    let name = truncate(&shown.name, name_w);
    let login = truncate(&sanitize::line(&person.user_id), login_w);
    let used = 3 + name_w + 1 + login_w + 2;
    let status = truncate(&sanitize::line(&person.status_text), width.saturating_sub(used));
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.width())));
    let mut spans =
        vec![dot(person.status), Span::raw(pad(&name, name_w + 1)), Span::styled(pad(&login, login_w), DIM)];
    if !status.is_empty() {
        spans.push(Span::styled(format!("  {status}"), DIM.add_modifier(Modifier::ITALIC)));
    }
    let mut line = Line::from(spans);
    line.style = style;
    line
}

/// Rows for `people`, the `selected` one highlighted, in `width` columns.
fn rows<'a>(people: impl Iterator<Item = (bool, &'a Person)> + Clone, width: usize) -> Vec<Line<'static>> {
    let name_w = people.clone().map(|(_, p)| p.shown().name.width()).max().unwrap_or(0).clamp(4, 24);
    let login_w = people.clone().map(|(_, p)| sanitize::line(&p.user_id).width()).max().unwrap_or(0).clamp(4, 16);
    people
        .map(|(selected, p)| row(p, name_w, login_w, width, if selected { SELECTED } else { Style::default() }))
        .collect()
}

/// The `/users` list.
pub(super) fn picker(frame: &mut Frame<'_>, area: Rect, picker: &Picker) {
    let width = usize::from(area.width.saturating_sub(6)).min(90);
    let mut lines =
        vec![Line::from(vec![Span::styled("› ", DIM), Span::raw(sanitize::line(&picker.query))]), Line::raw("")];
    let shown = picker.shown();
    if let Some(error) = &picker.error {
        lines.push(Line::styled(format!(" {}", sanitize::line(error)), Style::default().fg(Color::Red)));
    } else if shown.is_empty() {
        lines.push(Line::styled(if picker.loading() { " searching…" } else { " no one found" }, DIM));
    }
    let visible = usize::from(area.height.saturating_sub(6)).max(1);
    let first = picker.selected.saturating_sub(visible - 1);
    let window = shown.iter().enumerate().skip(first).take(visible).map(|(i, p)| (i == picker.selected, *p));
    lines.extend(rows(window, width));
    let title = format!("People ({} found · Enter opens a DM · Esc)", shown.len());
    popup(frame, area, &title, lines);
}

/// The `/whois` card.
pub(super) fn whois(frame: &mut Frame<'_>, area: Rect, whois: &Whois, app: &App) {
    let wall_ms = app.wall_ms;
    let p = &whois.person;
    let login = sanitize::line(&p.user_id);
    let field = |label: &str, value: Vec<Span<'static>>| {
        let mut spans = vec![Span::styled(format!(" {label:<9}"), DIM)];
        spans.extend(value);
        Line::from(spans)
    };
    let status = if p.status_text.is_empty() {
        Span::styled("none", DIM)
    } else {
        Span::raw(truncate(&sanitize::line(&p.status_text), 60))
    };
    let presence = match (p.status, p.last_seen.as_deref().and_then(|t| ago(t, wall_ms))) {
        (Some(PresenceStatus::Online), _) => Span::styled("● online", Style::default().fg(Color::Green)),
        (Some(PresenceStatus::Away), _) => Span::styled("◐ away", Style::default().fg(Color::Yellow)),
        (Some(PresenceStatus::Offline), Some(ago)) => Span::styled(format!("○ offline, last seen {ago}"), DIM),
        (Some(PresenceStatus::Offline), None) => Span::styled("○ offline", DIM),
        (None, _) => Span::styled("unknown (no room in common)", DIM),
    };
    let rooms = if whois.rooms.is_empty() {
        Span::styled("none in common", DIM)
    } else {
        Span::raw(truncate(&sanitize::line(&whois.rooms.join(" ")), 60))
    };
    let name_style =
        Style::default().fg(app.theme.sender(transcript::user_color(&p.user_id))).add_modifier(Modifier::BOLD);
    let lines = vec![
        Line::styled(format!(" {}", truncate(&p.shown().name, 64)), name_style),
        Line::raw(""),
        field("login", vec![Span::raw(login.clone())]),
        field("status", vec![status]),
        field("presence", vec![presence]),
        field("rooms", vec![rooms]),
        Line::raw(""),
        Line::styled(format!(" /dm {login} to talk · Esc closes"), DIM),
    ];
    popup(frame, area, &format!("Who is {}", truncate(&login, 40)), lines);
}

/// The people part of the switcher, numbered on from `first`.
pub(super) fn switcher_people(
    app: &App,
    first: usize,
    selected: usize,
    max: usize,
    width: usize,
) -> Vec<Line<'static>> {
    let people = app.switcher_people();
    if people.is_empty() || max < 2 {
        return Vec::new();
    }
    let mut lines = vec![Line::styled(" people — Enter opens a DM", DIM)];
    let shown = people.iter().enumerate().take(max - 1).map(|(i, p)| (first + i == selected, p));
    lines.extend(rows(shown, width));
    lines
}
