//! `[keys]` in config.toml: actions bound to keys (`next_unread = "alt-a"`,
//! `switcher = "ctrl-k"`). Every action has a default; a binding given in
//! the file replaces it. An unknown action or key name is an error naming it.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Something a key can be bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Switcher,
    NextRoom,
    PrevRoom,
    NextUnread,
    FirstUnread,
    Search,
    Select,
    Editor,
    Help,
    Quit,
}

/// Every action: its name in `[keys]`, its default key, what it does (for `/help`).
pub const ACTIONS: &[(Action, &str, &str, &str)] = &[
    (Action::Switcher, "switcher", "ctrl-g", "rooms and people"),
    (Action::NextRoom, "next_room", "ctrl-n", "next room"),
    (Action::PrevRoom, "prev_room", "ctrl-p", "previous room"),
    (Action::NextUnread, "next_unread", "alt-a", "next room with activity (mentions, DMs, unread)"),
    (Action::FirstUnread, "first_unread", "alt-u", "jump to the first unread message"),
    (Action::Search, "search", "ctrl-f", "search"),
    (Action::Select, "select", "f2", "select messages"),
    (Action::Editor, "editor", "f4", "write the message in $EDITOR (also Ctrl-X Ctrl-E)"),
    (Action::Help, "help", "f1", "this help"),
    (Action::Quit, "quit", "ctrl-q", "leave chaty (also Ctrl-C)"),
];

/// A key: a code and its modifiers (Shift only where it is not in the char).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl Key {
    fn of(event: &KeyEvent) -> Self {
        let mut modifiers = event.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match event.code {
            KeyCode::Char(c) => {
                // Shift is in the char itself ('A'); terminals differ in also reporting it.
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::Char(if modifiers.is_empty() { c } else { c.to_ascii_lowercase() })
            }
            code => code,
        };
        Self { code, modifiers }
    }
}

const NAMED: &[(&str, KeyCode)] = &[
    ("enter", KeyCode::Enter),
    ("tab", KeyCode::Tab),
    ("esc", KeyCode::Esc),
    ("space", KeyCode::Char(' ')),
    ("backspace", KeyCode::Backspace),
    ("delete", KeyCode::Delete),
    ("insert", KeyCode::Insert),
    ("up", KeyCode::Up),
    ("down", KeyCode::Down),
    ("left", KeyCode::Left),
    ("right", KeyCode::Right),
    ("home", KeyCode::Home),
    ("end", KeyCode::End),
    ("pageup", KeyCode::PageUp),
    ("pagedown", KeyCode::PageDown),
];

/// Parses `ctrl-k`, `alt-a`, `ctrl-alt-x`, `shift-up`, `f5`, `pagedown`, `x`.
pub fn parse_key(text: &str) -> Option<Key> {
    let lower = text.trim().to_ascii_lowercase();
    let mut parts: Vec<&str> = lower.split('-').collect();
    // "alt--" is Alt and the minus key.
    if lower.ends_with("--") {
        parts.truncate(parts.len() - 2);
        parts.push("-");
    }
    let name = parts.pop()?;
    let mut modifiers = KeyModifiers::NONE;
    for m in parts {
        modifiers |= match m {
            "ctrl" | "c" => KeyModifiers::CONTROL,
            "alt" | "meta" | "m" => KeyModifiers::ALT,
            "shift" | "s" => KeyModifiers::SHIFT,
            _ => return None,
        };
    }
    let code = if let Some((_, code)) = NAMED.iter().find(|(n, _)| *n == name) {
        *code
    } else if let Some(n) = name.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()).filter(|n| (1..=12).contains(n)) {
        KeyCode::F(n)
    } else {
        let mut chars = name.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCode::Char(c),
            _ => return None,
        }
    };
    Some(Key::of(&KeyEvent::new(code, modifiers)))
}

/// The name [`parse_key`] reads back: `ctrl-alt-x`, `f5`.
pub fn key_name(key: Key) -> String {
    let mut out = String::new();
    for (m, name) in [(KeyModifiers::CONTROL, "ctrl-"), (KeyModifiers::ALT, "alt-"), (KeyModifiers::SHIFT, "shift-")] {
        if key.modifiers.contains(m) {
            out.push_str(name);
        }
    }
    match key.code {
        KeyCode::F(n) => out.push_str(&format!("f{n}")),
        KeyCode::Char(' ') => out.push_str("space"),
        KeyCode::Char(c) => out.push(c),
        code => out.push_str(NAMED.iter().find(|(_, k)| *k == code).map_or("?", |(n, _)| n)),
    }
    out
}

/// The bindings in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    bindings: Vec<(Action, Key)>,
}

impl Default for Keymap {
    fn default() -> Self {
        let bindings = ACTIONS.iter().filter_map(|(a, _, key, _)| Some((*a, parse_key(key)?))).collect();
        Self { bindings }
    }
}

impl Keymap {
    /// The defaults with `[keys]` applied; an error names the unknown action or key.
    pub fn from_config(keys: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut map = Self::default();
        for (action, key) in keys {
            let Some((a, ..)) = ACTIONS.iter().find(|(_, name, ..)| name == action) else {
                let known: Vec<&str> = ACTIONS.iter().map(|(_, n, ..)| *n).collect();
                return Err(format!("unknown action {action:?} in [keys]; the actions are {}", known.join(", ")));
            };
            let parsed = parse_key(key).ok_or_else(|| {
                format!("unknown key name {key:?} for {action} in [keys] (e.g. \"alt-a\", \"ctrl-k\", \"f5\")")
            })?;
            map.bindings.retain(|(b, _)| b != a);
            map.bindings.push((*a, parsed));
        }
        map.bindings.sort_by_key(|(a, _)| *a);
        Ok(map)
    }

    /// The action `event` is bound to.
    pub fn action(&self, event: &KeyEvent) -> Option<Action> {
        let key = Key::of(event);
        self.bindings.iter().find(|(_, k)| *k == key).map(|(a, _)| *a)
    }

    /// Every action and its key, by name, as `[keys]` would spell it.
    pub fn named(&self) -> Vec<(&'static str, String, &'static str)> {
        ACTIONS
            .iter()
            .filter_map(|(a, name, _, what)| {
                let (_, key) = self.bindings.iter().find(|(b, _)| b == a)?;
                Some((*name, key_name(*key), *what))
            })
            .collect()
    }
}
