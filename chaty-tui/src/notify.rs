//! Desktop notifications: how one goes out (`notify` in config.toml) and
//! what it carries. The app decides *when* (`app/frames.rs`); this module
//! turns a title and a body into bytes for the terminal (OSC 777 and OSC 9,
//! inside tmux's passthrough when under tmux) or into an argv to run.
//!
//! Everything here comes from other people: [`clean`] puts it through the
//! sanitiser and then takes away `;`, BEL and ESC too, so that a message can
//! neither end the escape sequence early nor start one of its own.

use crate::sanitize;

/// The most characters of a message a notification shows.
pub const BODY_CHARS: usize = 200;

/// How notifications go out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Notifier {
    /// Escape sequences the terminal turns into desktop notifications.
    #[default]
    Terminal,
    /// Run this argv (`{title}` and `{body}` filled in), without a shell.
    Command(Vec<String>),
    Off,
}

impl Notifier {
    /// From config.toml's `notify` and `notify_command`; an error says what is wrong.
    pub fn from_config(notify: Option<&str>, command: Option<&[String]>) -> Result<Self, String> {
        match notify.unwrap_or("terminal") {
            "terminal" => Ok(Self::Terminal),
            "off" => Ok(Self::Off),
            "command" => match command {
                Some(argv) if !argv.is_empty() && !argv[0].is_empty() => Ok(Self::Command(argv.to_vec())),
                _ => Err("notify = \"command\" needs notify_command, e.g. [\"notify-send\", \"{title}\", \"{body}\"]"
                    .to_string()),
            },
            other => Err(format!("unknown notify {other:?}: use \"terminal\", \"command\" or \"off\"")),
        }
    }

    /// The name config.toml spells it with.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Terminal => "terminal",
            Self::Command(_) => "command",
            Self::Off => "off",
        }
    }
}

/// Text from the network made safe for a notification: sanitised to one
/// line, without `;`, BEL or ESC, at most `max` characters.
pub fn clean(text: &str, max: usize) -> String {
    sanitize::line(text).chars().filter(|c| !matches!(c, ';' | '\u{7}' | '\u{1b}')).take(max).collect()
}

/// The terminal's notification sequences for a (cleaned) title and body:
/// OSC 777 (`notify;TITLE;BODY`) and OSC 9 (`TITLE: BODY`), each wrapped in
/// tmux's DCS passthrough when `tmux`.
pub fn osc(title: &str, body: &str, tmux: bool) -> Vec<u8> {
    let (title, body) = (clean(title, usize::MAX), clean(body, usize::MAX));
    let sequences = [format!("\x1b]777;notify;{title};{body}\x07"), format!("\x1b]9;{title}: {body}\x07")];
    let mut out = Vec::new();
    for seq in sequences {
        if tmux {
            // tmux passes on what is inside, its ESCs doubled.
            out.extend_from_slice(b"\x1bPtmux;");
            out.extend_from_slice(seq.replace('\x1b', "\x1b\x1b").as_bytes());
            out.extend_from_slice(b"\x1b\\");
        } else {
            out.extend_from_slice(seq.as_bytes());
        }
    }
    out
}

/// `notify_command` with `{title}` and `{body}` filled in, one argument each:
/// nothing is split or seen by a shell.
pub fn argv(template: &[String], title: &str, body: &str) -> Vec<String> {
    template.iter().map(|arg| arg.replace("{title}", title).replace("{body}", body)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmux_gets_the_sequences_wrapped_with_escs_doubled() {
        let out = osc("bob in #ops", "hi", true);
        let expected =
            b"\x1bPtmux;\x1b\x1b]777;notify;bob in #ops;hi\x07\x1b\\\x1bPtmux;\x1b\x1b]9;bob in #ops: hi\x07\x1b\\";
        assert_eq!(out, expected.to_vec());
    }

    #[test]
    fn the_command_is_filled_in_without_splitting() {
        let template: Vec<String> = ["notify-send", "{title}", "--", "{body}"].map(String::from).to_vec();
        assert_eq!(
            argv(&template, "bob in #a b", "x $(rm -rf ~) y"),
            ["notify-send", "bob in #a b", "--", "x $(rm -rf ~) y"]
        );
    }

    #[test]
    fn config_names_are_checked() {
        assert_eq!(Notifier::from_config(None, None), Ok(Notifier::Terminal));
        assert_eq!(Notifier::from_config(Some("off"), None), Ok(Notifier::Off));
        let argv = vec!["notify-send".to_string(), "{title}".to_string()];
        assert_eq!(Notifier::from_config(Some("command"), Some(&argv)), Ok(Notifier::Command(argv.clone())));
        assert!(Notifier::from_config(Some("command"), None).is_err());
        assert!(Notifier::from_config(Some("loud"), None).expect_err("unknown").contains("\"loud\""));
    }
}
