//! Colours: `theme` and `[colors]` in config.toml, and `NO_COLOR`.
//!
//! The view draws in the 16 ANSI colours (the `terminal` theme, which the
//! terminal's own palette tunes). After drawing, [`Theme::apply`] turns
//! each of them into the theme's colour: `dark` and `light` are tuned
//! 256-colour sets; `[colors]` overrides single roles; `NO_COLOR` (any
//! value) clears every colour, keeping bold, dim and reverse (dim grey
//! text becomes the dim attribute).
//!
//! Two roles are not one ANSI colour in the drawing, so they cannot be
//! mapped after it: `sender` (each sender has a colour of their own) and
//! `unread` (bold, in the text colour). The view asks for them
//! ([`Theme::sender`], [`Theme::unread`]) and draws them in the colour set,
//! which the mapping then leaves alone.

use std::collections::BTreeMap;

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

pub const THEMES: &[&str] = &["terminal", "dark", "light"];

/// How a role is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// In this ANSI colour (the `terminal` theme's), mapped after drawing.
    Fg(Color),
    /// As the background, in this ANSI colour.
    Bg(Color),
    /// By the view, in the colour set (see [`Theme::sender`], [`Theme::unread`]).
    Own,
}

/// The roles `[colors]` can set, how each is drawn, and what it is.
pub const ROLES: &[(&str, Paint, &str)] = &[
    ("border", Paint::Fg(Color::DarkGray), "borders and dimmed text"),
    ("status", Paint::Bg(Color::DarkGray), "the status bar"),
    ("mention", Paint::Fg(Color::Yellow), "mentions and rooms with one"),
    ("sender", Paint::Own, "senders' names (each has a colour of their own unless set)"),
    ("unread", Paint::Own, "rooms with unread messages (bold unless set)"),
    ("error", Paint::Fg(Color::Red), "errors"),
    ("hint", Paint::Fg(Color::Cyan), "hints and progress"),
    ("online", Paint::Fg(Color::Green), "online, connected, done"),
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Theme {
    /// `NO_COLOR`: no colour at all.
    pub no_color: bool,
    /// ANSI colour → the theme's, for foregrounds and backgrounds.
    fg: Vec<(Color, Color)>,
    bg: Vec<(Color, Color)>,
    /// `sender` and `unread` from `[colors]`, as drawn (see [`Paint::Own`]).
    sender: Option<Color>,
    unread: Option<Color>,
}

/// Parses a colour: a name (`red`, `lightblue`, `darkgray`, `reset`…), an
/// index `0`–`255`, or `#rrggbb`.
pub fn parse_color(text: &str) -> Option<Color> {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix('#') {
        if hex.len() != 6 {
            return None;
        }
        let n = u32::from_str_radix(hex, 16).ok()?;
        return Some(Color::Rgb((n >> 16) as u8, (n >> 8) as u8, n as u8));
    }
    text.parse::<Color>().ok().filter(|_| !text.starts_with('#'))
}

/// The 256-colour palettes: (ANSI colour, dark theme's, light theme's).
const PALETTE: &[(Color, u8, u8)] = &[
    (Color::DarkGray, 244, 245),
    (Color::Gray, 250, 240),
    (Color::White, 255, 235),
    (Color::Black, 234, 231),
    (Color::Red, 203, 160),
    (Color::LightRed, 210, 167),
    (Color::Green, 114, 28),
    (Color::LightGreen, 150, 34),
    (Color::Yellow, 221, 136),
    (Color::LightYellow, 229, 178),
    (Color::Blue, 75, 25),
    (Color::LightBlue, 117, 32),
    (Color::Magenta, 176, 127),
    (Color::LightMagenta, 219, 163),
    (Color::Cyan, 80, 30),
    (Color::LightCyan, 159, 37),
];

impl Theme {
    /// `name` (one of [`THEMES`]) with `[colors]` overrides; `no_color` from
    /// `NO_COLOR`. An unknown theme, role or colour is an error naming it.
    pub fn new(name: &str, colors: &BTreeMap<String, String>, no_color: bool) -> Result<Self, String> {
        let mut theme = Self { no_color, ..Self::default() };
        match name {
            "terminal" => {}
            "dark" | "light" => {
                let dark = name == "dark";
                for (ansi, d, l) in PALETTE {
                    let to = Color::Indexed(if dark { *d } else { *l });
                    theme.fg.push((*ansi, to));
                    // The status bar: a light bar on a light theme.
                    let bg = if *ansi == Color::DarkGray && !dark { Color::Indexed(252) } else { to };
                    theme.bg.push((*ansi, bg));
                }
                if !dark {
                    // White text on the (now light) status bar would vanish.
                    theme.fg.retain(|(a, _)| *a != Color::White);
                    theme.fg.push((Color::White, Color::Indexed(235)));
                }
            }
            other => return Err(format!("unknown theme {other:?}; the themes are {}", THEMES.join(", "))),
        }
        for (role, value) in colors {
            let Some((_, paint, _)) = ROLES.iter().find(|(r, ..)| r == role) else {
                let known: Vec<&str> = ROLES.iter().map(|(r, ..)| *r).collect();
                return Err(format!("unknown role {role:?} in [colors]; the roles are {}", known.join(", ")));
            };
            if value == "theme" {
                // --print-config's word for "the theme's own".
                continue;
            }
            let color = parse_color(value).ok_or_else(|| {
                format!("bad colour {value:?} for {role} in [colors]: use a name (e.g. \"red\"), 0-255 or \"#rrggbb\"")
            })?;
            let (map, ansi) = match *paint {
                Paint::Fg(ansi) => (&mut theme.fg, ansi),
                Paint::Bg(ansi) => (&mut theme.bg, ansi),
                Paint::Own => {
                    let own = if role == "sender" { &mut theme.sender } else { &mut theme.unread };
                    *own = Some(unmapped(color));
                    continue;
                }
            };
            map.retain(|(a, _)| *a != ansi);
            map.push((ansi, color));
        }
        Ok(theme)
    }

    /// The colour a sender's name is drawn in: `[colors] sender`, else `own`
    /// (the sender's own colour).
    pub fn sender(&self, own: Color) -> Color {
        self.sender.unwrap_or(own)
    }

    /// `[colors] unread`, if set: rooms with unread messages are drawn in it.
    pub fn unread(&self) -> Option<Color> {
        self.unread
    }

    /// Recolours a drawn screen.
    pub fn apply(&self, buf: &mut Buffer) {
        if !self.no_color && self.fg.is_empty() && self.bg.is_empty() {
            return;
        }
        for cell in &mut buf.content {
            if self.no_color {
                if cell.fg == Color::DarkGray {
                    cell.modifier.insert(Modifier::DIM);
                }
                if cell.bg != Color::Reset && cell.bg != Color::DarkGray && cell.fg == Color::Black {
                    // Black on a colour (a marker): reversed, so it still stands out.
                    cell.modifier.insert(Modifier::REVERSED);
                }
                cell.fg = Color::Reset;
                cell.bg = Color::Reset;
                continue;
            }
            if let Some((_, to)) = self.fg.iter().find(|(from, _)| *from == cell.fg) {
                cell.fg = *to;
            }
            if let Some((_, to)) = self.bg.iter().find(|(from, _)| *from == cell.bg) {
                cell.bg = *to;
            }
        }
    }
}

/// A colour the mapping after drawing leaves alone: one of the 16 ANSI
/// colours by name becomes the same colour by index (which no theme maps).
fn unmapped(color: Color) -> Color {
    const ANSI: [Color; 16] = [
        Color::Black,
        Color::Red,
        Color::Green,
        Color::Yellow,
        Color::Blue,
        Color::Magenta,
        Color::Cyan,
        Color::Gray,
        Color::DarkGray,
        Color::LightRed,
        Color::LightGreen,
        Color::LightYellow,
        Color::LightBlue,
        Color::LightMagenta,
        Color::LightCyan,
        Color::White,
    ];
    ANSI.iter().position(|c| *c == color).map_or(color, |i| Color::Indexed(i as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_names_indexes_or_hex() {
        assert_eq!(parse_color("red"), Some(Color::Red));
        assert_eq!(parse_color("LightBlue"), Some(Color::LightBlue));
        assert_eq!(parse_color("#ff8000"), Some(Color::Rgb(255, 128, 0)));
        assert_eq!(parse_color("208"), Some(Color::Indexed(208)));
        for bad in ["#ff80", "#gg0000", "reddish", ""] {
            assert_eq!(parse_color(bad), None, "{bad}");
        }
    }

    #[test]
    fn unknown_themes_roles_and_colours_are_named() {
        let none = BTreeMap::new();
        assert!(Theme::new("solarized", &none, false).expect_err("theme").contains("\"solarized\""));
        let role = BTreeMap::from([("sparkle".to_string(), "red".to_string())]);
        assert!(Theme::new("terminal", &role, false).expect_err("role").contains("\"sparkle\""));
        let colour = BTreeMap::from([("mention".to_string(), "#12".to_string())]);
        let err = Theme::new("terminal", &colour, false).expect_err("colour");
        assert!(err.contains("\"#12\"") && err.contains("mention"), "{err}");
    }
}
