//! Looks and keys from config.toml: themes, `[colors]`, `NO_COLOR`, `[keys]`,
//! the mouse setting and `--print-config`.

use std::collections::BTreeMap;

use chaty_proto::RoomKind;
use chaty_tui::config::Config;
use chaty_tui::keymap::{Keymap, parse_key};
use chaty_tui::theme::Theme;
use crossterm::event::{KeyCode, KeyModifiers};
use ratatui::style::{Color, Modifier};
use tokio::time::Instant;

use crate::screens::{busy, render};
use crate::support::*;

fn themed(name: &str, colors: &[(&str, &str)], no_color: bool) -> ratatui::buffer::Buffer {
    let colors: BTreeMap<String, String> = colors.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut app = busy();
    app.theme = Theme::new(name, &colors, no_color).expect("theme");
    render(&mut app, 80, 24, Instant::now()).backend().buffer().clone()
}

#[test]
fn no_color_means_no_colour_at_all_but_keeps_bold_dim_and_reverse() {
    let buf = themed("dark", &[("mention", "#ff0000")], true);
    for cell in &buf.content {
        assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{cell:?}");
    }
    let has = |m: Modifier| buf.content.iter().any(|c| c.modifier.contains(m));
    assert!(has(Modifier::BOLD) && has(Modifier::DIM) && has(Modifier::REVERSED));
    insta::assert_debug_snapshot!(buf);
}

#[test]
fn the_terminal_theme_uses_only_the_16_ansi_colours() {
    let buf = themed("terminal", &[], false);
    for cell in &buf.content {
        for c in [cell.fg, cell.bg] {
            assert!(!matches!(c, Color::Indexed(_) | Color::Rgb(..)), "{cell:?}");
        }
    }
    insta::assert_debug_snapshot!(buf);
}

#[test]
fn dark_and_light_are_256_colour_sets_and_colors_overrides_a_role() {
    for name in ["dark", "light"] {
        let buf = themed(name, &[], false);
        assert!(buf.content.iter().any(|c| matches!(c.fg, Color::Indexed(_))), "{name}");
        for cell in &buf.content {
            for c in [cell.fg, cell.bg] {
                assert!(matches!(c, Color::Indexed(_) | Color::Reset), "{name}: {cell:?}");
            }
        }
        insta::assert_debug_snapshot!(format!("theme_{name}"), buf);
    }
    let buf = themed("terminal", &[("status", "#102030"), ("mention", "magenta")], false);
    assert!(buf.content.iter().any(|c| c.bg == Color::Rgb(0x10, 0x20, 0x30)), "the status bar");
    assert!(buf.content.iter().any(|c| c.fg == Color::Magenta), "mentions");
    assert!(!buf.content.iter().any(|c| c.fg == Color::Yellow || c.bg == Color::DarkGray));
}

#[test]
fn keys_parse_and_unknown_actions_or_keys_are_named() {
    assert_eq!(parse_key("alt-a").map(|k| (k.code, k.modifiers)), Some((KeyCode::Char('a'), KeyModifiers::ALT)));
    assert_eq!(
        parse_key("Ctrl-Alt-X").map(|k| (k.code, k.modifiers)),
        Some((KeyCode::Char('x'), KeyModifiers::CONTROL | KeyModifiers::ALT))
    );
    assert_eq!(parse_key("f5").map(|k| k.code), Some(KeyCode::F(5)));
    assert_eq!(parse_key("pagedown").map(|k| k.code), Some(KeyCode::PageDown));
    for bad in ["hyper-a", "f13", "ctrl-", "enterr", ""] {
        assert_eq!(parse_key(bad), None, "{bad:?}");
    }
    let keys = |pairs: &[(&str, &str)]| pairs.iter().map(|(a, k)| (a.to_string(), k.to_string())).collect();
    let err = Keymap::from_config(&keys(&[("teleport", "alt-t")])).expect_err("action");
    assert!(err.contains("unknown action \"teleport\"") && err.contains("next_unread"), "{err}");
    let err = Keymap::from_config(&keys(&[("switcher", "ctrl-kk")])).expect_err("key");
    assert!(err.contains("unknown key name \"ctrl-kk\" for switcher"), "{err}");
    let map = Keymap::from_config(&keys(&[("next_unread", "alt-a"), ("switcher", "ctrl-k")])).expect("keys");
    let named = map.named();
    assert!(named.iter().any(|(a, k, _)| *a == "next_unread" && k == "alt-a"), "{named:?}");
    assert!(named.iter().any(|(a, k, _)| *a == "switcher" && k == "ctrl-k"), "{named:?}");
    assert!(named.iter().all(|(a, k, _)| *a != "switcher" || k != "ctrl-g"), "replaced, not added");
}

#[test]
fn a_bound_key_does_its_action_and_help_shows_the_bindings() {
    let now = Instant::now();
    let mut app =
        signed_in(&[("general", RoomKind::Room, ""), ("ops", RoomKind::Room, ""), ("zz", RoomKind::Room, "")]);
    app.keymap = Keymap::from_config(&BTreeMap::from([("next_unread".into(), "alt-a".into())])).expect("keys");
    app.rooms[2].unread = 3;
    app.update(alt(KeyCode::Char('a')), now);
    assert_eq!(app.current_room().map(|r| r.id.as_str()), Some("zz"));
    type_text(&mut app, "/help", now);
    app.update(key(KeyCode::Enter), now);
    let help = app.overlay.as_ref().expect("help").lines.join("\n");
    assert!(help.contains("alt-a    next_unread"), "{help}");
    assert!(help.contains("Shift+drag"), "{help}");
}

#[test]
fn config_keeps_the_new_tables_and_print_config_spells_out_every_default() {
    let config: Config = toml::from_str("theme = \"light\"\n[keys]\nnext_unread = \"alt-a\"\n").expect("parse");
    let out = config.effective("ws://h/ws", "al").expect("effective");
    for line in [
        "mouse = true",
        "theme = \"light\"",
        "bell = true",
        "away_after_minutes = 10",
        "[colors]",
        "mention = \"theme\"",
        "[keys]",
        "next_unread = \"alt-a\"",
        "switcher = \"ctrl-g\"",
        "server = \"ws://h/ws\"",
        "image_previews = false",
        "max_image_mib = 10",
        "image_protocol = \"auto\"",
        "# open_command = [\"xdg-open\", \"{url}\"]   # unset: the platform's opener",
        "sender = \"theme\"",
        "unread = \"theme\"",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} in\n{out}");
    }
    let back: Config = toml::from_str(&out).expect("reads back");
    assert!(back.looks(false).is_ok());
}

/// The cells of the row holding `text`, from where it starts.
fn cells_of<'a>(buf: &'a ratatui::buffer::Buffer, text: &str) -> Vec<&'a ratatui::buffer::Cell> {
    let width = usize::from(buf.area.width);
    for row in buf.content.chunks(width) {
        let line: String = row.iter().map(|c| c.symbol()).collect();
        if let Some(at) = line.find(text) {
            let col = line[..at].chars().count();
            return row[col..col + text.chars().count()].iter().collect();
        }
    }
    panic!("{text:?} is not on the screen");
}

#[test]
fn every_role_in_colors_is_honoured() {
    let rgb = |n: u8| Color::Rgb(n, n, n);
    let roles = [
        ("sender", "#010101"),
        ("unread", "#020202"),
        ("mention", "#030303"),
        ("border", "#040404"),
        ("status", "#050505"),
    ];
    for theme in ["terminal", "dark", "light"] {
        let buf = themed(theme, &roles, false);
        // sender: every sender's name, whoever they are.
        for name in ["bob", "carol"] {
            assert!(cells_of(&buf, &format!("{name} ")).iter().take(3).all(|c| c.fg == rgb(1)), "{theme}: {name}");
        }
        // unread: the DM with an unread message, in the sidebar.
        assert!(cells_of(&buf, "@bob").iter().all(|c| c.fg == rgb(2)), "{theme}: unread");
        // mention: @alice in carol's message.
        assert!(cells_of(&buf, "@alice can").iter().take(6).all(|c| c.fg == rgb(3)), "{theme}: mention");
        // border: the sidebar's edge.
        assert!(cells_of(&buf, "│").iter().all(|c| c.fg == rgb(4)), "{theme}: border");
        // status: the status bar's background.
        assert!(cells_of(&buf, "alice@127.0.0.1").iter().all(|c| c.bg == rgb(5)), "{theme}: status");
    }
    // Unset, senders keep a colour each, and unread rooms are bold in the text colour.
    let buf = themed("terminal", &[], false);
    for name in ["bob", "carol"] {
        assert_eq!(cells_of(&buf, &format!("{name} "))[0].fg, chaty_tui::transcript::user_color(name));
    }
    assert_eq!(cells_of(&buf, "@bob")[0].fg, Color::Reset);
    // A named colour stays that colour under a 256-colour theme.
    let buf = themed("dark", &[("sender", "red"), ("unread", "green")], false);
    assert_eq!(cells_of(&buf, "carol ")[0].fg, Color::Indexed(1));
    assert_eq!(cells_of(&buf, "@bob")[0].fg, Color::Indexed(2));
    // And NO_COLOR still wins.
    let buf = themed("dark", &[("sender", "red")], true);
    assert_eq!(cells_of(&buf, "carol ")[0].fg, Color::Reset);
}

#[test]
fn bad_open_command_and_image_settings_are_named() {
    let bad = [
        ("open_command = []", "open_command is empty"),
        ("open_command = [\"firefox\"]", "open_command has no {url}"),
        ("max_image_mib = 0", "max_image_mib = 0: use 1 to 1024"),
        ("max_image_mib = 4096", "max_image_mib = 4096"),
        ("image_protocol = \"ascii-art\"", "unknown image_protocol \"ascii-art\""),
    ];
    for (text, expected) in bad {
        let config: Config = toml::from_str(text).expect("parses");
        let err = config.looks(false).expect_err(text);
        assert!(err.contains(expected), "{text}: {err}");
    }
    let config: Config =
        toml::from_str("open_command = [\"firefox\", \"{url}\"]\nimage_previews = true\nmax_image_mib = 2\n")
            .expect("ok");
    let looks = config.looks(false).expect("good");
    assert!(looks.inline_images);
    assert_eq!(looks.max_image_bytes, 2 * 1024 * 1024);
    let out = config.effective("ws://h/ws", "al").expect("effective");
    assert!(out.contains("open_command = [\"firefox\", \"{url}\"]"), "{out}");
    assert!(!out.contains("# open_command"), "{out}");
    // A wrong type is named by the parser, with the key.
    let err = toml::from_str::<Config>("image_previews = \"yes\"").expect_err("type").to_string();
    assert!(err.contains("image_previews"), "{err}");
}
