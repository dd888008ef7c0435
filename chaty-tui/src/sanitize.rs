//! Makes text from the network safe to draw: no escape sequences, no C0/C1
//! controls, no bidi overrides or isolates, no zero-width characters, and at
//! most a few combining marks per letter. Everything the server sends (names,
//! content, topics, errors) goes through here before it reaches the screen.

use unicode_width::UnicodeWidthChar;

/// Combining marks kept after one base character.
const MAX_COMBINING: usize = 2;

/// Sanitizes multi-line text (newlines kept, tabs become spaces).
pub fn text(input: &str) -> String {
    clean(input, true)
}

/// Sanitizes text shown on one line (newlines become spaces).
pub fn line(input: &str) -> String {
    clean(input, false)
}

fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM, RLM
        | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}' // bidi isolates
        | '\u{061C}'              // Arabic letter mark
        | '\u{FEFF}'              // BOM / zero-width no-break space
        | '\u{206A}'..='\u{206F}' // deprecated format controls
    )
}

fn clean(input: &str, multiline: bool) -> String {
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    let mut combining = 0;
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            '\n' if multiline => {
                out.push('\n');
                combining = 0;
            }
            '\n' | '\t' => {
                out.push(' ');
                combining = 0;
            }
            c if c.is_control() || is_invisible_format(c) => {}
            c if c.width() == Some(0) => {
                // A combining mark: keep a couple (accents), drop the pile-up.
                if combining < MAX_COMBINING && !out.is_empty() && !out.ends_with(['\n', ' ']) {
                    out.push(c);
                }
                combining += 1;
            }
            c => {
                out.push(c);
                combining = 0;
            }
        }
    }
    out
}

/// Skips one escape sequence after its ESC. An unterminated string sequence
/// drops only its introducer, leaving the rest as (inert) text.
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    let Some(&intro) = chars.peek() else { return };
    chars.next();
    match intro {
        // CSI: parameters and intermediates, then one final byte @..~
        '[' => {
            let rest: Vec<char> = chars.clone().take(64).collect();
            if let Some(end) = rest.iter().position(|c| ('@'..='~').contains(c)) {
                for _ in 0..=end {
                    chars.next();
                }
            }
        }
        // OSC, DCS, SOS, PM, APC: a string ended by BEL or ST (ESC \)
        ']' | 'P' | 'X' | '^' | '_' => {
            let mut probe = chars.clone();
            let mut len = 0;
            let mut prev_esc = false;
            let terminated = loop {
                match probe.next() {
                    None => break false,
                    Some('\u{7}') => break true,
                    Some('\\') if prev_esc => break true,
                    Some(c) => prev_esc = c == '\u{1b}',
                }
                len += 1;
            };
            if terminated {
                for _ in 0..=len {
                    chars.next();
                }
            }
        }
        // Two-character sequences (ESC c, ESC 7, …): already consumed.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A corpus of things a hostile user might send.
    pub const HOSTILE: &[(&str, &str)] = &[
        ("clear screen", "a\u{1b}[2Jb"),
        ("osc 52 clipboard", "a\u{1b}]52;c;ZXZpbA==\u{7}b"),
        ("osc 8 link", "\u{1b}]8;;http://evil\u{1b}\\click\u{1b}]8;;\u{1b}\\"),
        ("osc 0 title", "\u{1b}]0;pwned\u{7}x"),
        ("csi 21t title report", "\u{1b}[21tx"),
        ("dcs", "\u{1b}Pq#0;2;0;0;0\u{1b}\\x"),
        ("lone cr", "safe\rEVIL"),
        ("unterminated osc", "a\u{1b}]0;never ends"),
        ("c1 csi", "a\u{9b}2Jb"),
        ("rlo", "abc\u{202E}fed"),
        ("isolate", "\u{2066}x\u{2069}"),
        ("zero width", "a\u{200B}b"),
        ("bell and backspace", "a\u{7}\u{8}b"),
    ];

    #[test]
    fn hostile_corpus_has_no_control_left() {
        for (name, input) in HOSTILE {
            let out = text(input);
            assert!(!out.chars().any(|c| (c.is_control() && c != '\n') || is_invisible_format(c)), "{name}: {out:?}");
        }
    }

    #[test]
    fn sequences_are_removed_whole() {
        assert_eq!(text("a\u{1b}[2Jb"), "ab");
        assert_eq!(text("a\u{1b}]52;c;ZXZpbA==\u{7}b"), "ab");
        assert_eq!(text("\u{1b}]8;;http://evil\u{1b}\\click\u{1b}]8;;\u{1b}\\"), "click");
        assert_eq!(text("safe\rEVIL"), "safeEVIL");
        assert_eq!(text("a\u{1b}]0;never ends"), "a0;never ends");
        assert_eq!(text("abc\u{202E}fed"), "abcfed");
    }

    #[test]
    fn combining_pileups_are_trimmed_but_accents_kept() {
        let zalgo = format!("a{}b", "\u{301}".repeat(500));
        assert_eq!(text(&zalgo), "a\u{301}\u{301}b");
        assert_eq!(text("e\u{301}"), "e\u{301}");
    }

    #[test]
    fn lines_fold_newlines_and_text_keeps_them() {
        assert_eq!(line("a\nb\tc"), "a b c");
        assert_eq!(text("a\nb"), "a\nb");
        assert_eq!(text("héllo 👋 世界"), "héllo 👋 世界");
    }
}
