//! "Printable text": what a person may choose to be shown as (display names,
//! status texts, a guest's `userName`). Any script, spaces, accents, CJK,
//! emoji and combining marks are fine; what could hide, reorder or fake text
//! on someone else's screen is refused, never silently rewritten.
//!
//! Refused:
//! - control characters (C0, DEL, C1), and line or paragraph separators;
//! - bidirectional overrides, embeddings, isolates and marks (a name that
//!   reverses the text after it);
//! - invisible characters with no place in a name (zero-width space, word
//!   joiner, BOM, soft hyphen, Hangul fillers, interlinear annotations);
//! - a zero-width joiner or non-joiner that is not between two characters of
//!   an emoji sequence or of a script that uses it; tag characters outside an
//!   emoji flag sequence; a variation selector with nothing before it;
//! - a run of more than [`MAX_COMBINING_RUN`] combining marks ("Zalgo"), or a
//!   name that starts with one;
//! - leading or trailing whitespace, and text that is only whitespace.
//!
//! Length is counted in Unicode scalar values ("characters").

/// Most combining marks allowed on one base character.
pub const MAX_COMBINING_RUN: usize = 4;

const ZWNJ: char = '\u{200C}';
const ZWJ: char = '\u{200D}';
const BLACK_FLAG: char = '\u{1F3F4}';
const CANCEL_TAG: char = '\u{E007F}';

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{2060}'..='\u{2064}'
            | '\u{206A}'..='\u{206F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

fn is_combining(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}'
            | '\u{0483}'..='\u{0489}'
            | '\u{1AB0}'..='\u{1AFF}'
            | '\u{1DC0}'..='\u{1DFF}'
            | '\u{20D0}'..='\u{20FF}'
            | '\u{FE20}'..='\u{FE2F}'
    )
}

fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

fn is_tag(c: char) -> bool {
    matches!(c, '\u{E0020}'..='\u{E007F}')
}

/// Pictographs, symbols and their modifiers: what emoji ZWJ sequences join.
fn is_emoji_part(c: char) -> bool {
    matches!(
        c,
        '\u{00A9}' | '\u{00AE}' | '\u{203C}' | '\u{2049}' | '\u{2122}' | '\u{2139}'
            | '\u{2194}'..='\u{21AA}'
            | '\u{2300}'..='\u{23FF}'
            | '\u{24C2}'
            | '\u{25A0}'..='\u{27BF}'
            | '\u{2934}' | '\u{2935}'
            | '\u{2B00}'..='\u{2BFF}'
            | '\u{3030}' | '\u{303D}' | '\u{3297}' | '\u{3299}'
            | '\u{1F000}'..='\u{1FAFF}'
            | '\u{FE0F}'
            | '\u{20E3}'
    )
}

/// Scripts that need a joiner or non-joiner between letters (Arabic and
/// related, the Indic scripts, Sinhala): the shaping of a word changes with it.
fn joins_in_script(c: char) -> bool {
    matches!(
        c,
        '\u{0600}'..='\u{06FF}'
            | '\u{0750}'..='\u{077F}'
            | '\u{08A0}'..='\u{08FF}'
            | '\u{0900}'..='\u{0DFF}'
            | '\u{FB50}'..='\u{FDFF}'
            | '\u{FE70}'..='\u{FEFF}'
    )
}

/// Checks `text` against the rules above; `min..=max` characters. The error
/// names `field` and says what is wrong and where.
pub fn check(field: &str, text: &str, min: usize, max: usize) -> Result<(), String> {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    if n < min {
        return Err(if min == 1 {
            format!("`{field}` must not be empty")
        } else {
            format!("`{field}` must be at least {min} characters")
        });
    }
    if n > max {
        return Err(format!("`{field}` is {n} characters; the limit is {max}"));
    }
    if n == 0 {
        return Ok(());
    }
    if text.trim().is_empty() {
        return Err(format!("`{field}` must not be only spaces"));
    }
    if chars[0].is_whitespace() || chars[n - 1].is_whitespace() {
        return Err(format!("`{field}` {} must not start or end with a space", crate::validate::quote(text)));
    }
    let bad = |i: usize, what: &str| {
        Err(format!(
            "`{field}` {}: {what} (U+{:04X} at character {})",
            crate::validate::quote(text),
            chars[i] as u32,
            i + 1
        ))
    };
    let mut combining_run = 0;
    let mut in_flag_tags = false;
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        if c.is_control() {
            return bad(i, "control characters are not allowed");
        }
        if is_bidi_control(c) {
            return bad(i, "bidirectional control characters are not allowed");
        }
        if is_invisible(c) {
            return bad(i, "invisible characters are not allowed");
        }
        if is_combining(c) {
            combining_run += 1;
            if i == 0 {
                return bad(i, "a combining mark needs a character before it");
            }
            if combining_run > MAX_COMBINING_RUN {
                return bad(i, "too many combining marks on one character");
            }
        } else {
            combining_run = 0;
        }
        if is_variation_selector(c)
            && prev.is_none_or(|p| p.is_whitespace() || p == ZWJ || p == ZWNJ || is_variation_selector(p))
        {
            return bad(i, "a variation selector needs a character before it");
        }
        if is_tag(c) {
            let starts = prev == Some(BLACK_FLAG) || in_flag_tags;
            if !starts {
                return bad(i, "tag characters only belong in a flag emoji");
            }
            in_flag_tags = c != CANCEL_TAG;
            continue;
        }
        if in_flag_tags {
            return bad(i - 1, "a flag emoji's tags must end with U+E007F");
        }
        if c == ZWJ || c == ZWNJ {
            let (Some(p), Some(nx)) = (prev, next) else {
                return bad(i, "a joiner must sit between two characters");
            };
            let emoji = c == ZWJ && is_emoji_part(p) && is_emoji_part(nx);
            let script = (joins_in_script(p) || is_combining(p)) && joins_in_script(nx);
            if !(emoji || script) {
                return bad(i, "a joiner is only allowed inside an emoji sequence or a word of a script that uses it");
            }
        }
    }
    if in_flag_tags {
        return bad(n - 1, "a flag emoji's tags must end with U+E007F");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) {
        assert_eq!(check("displayName", text, 1, 64), Ok(()), "{text:?} should pass");
    }

    fn refused(text: &str, why: &str) {
        let e = check("displayName", text, 1, 64).expect_err(text);
        assert!(e.starts_with("`displayName`") && e.contains(why), "{text:?}: {e}");
    }

    #[test]
    fn what_people_are_called_passes() {
        for name in [
            "User Name",
            "Zoë Saldaña",
            "José Ñúñez",
            "山田 太郎",
            "김민준",
            "Ольга",
            "محمد علي",
            "שרה כהן",
            "नमस्ते",
            "\u{915}\u{94D}\u{200D}\u{937}", // Devanagari with a ZWJ half-form
            "\u{645}\u{6CC}\u{200C}\u{62E}\u{648}\u{627}\u{647}\u{645}", // Persian with a ZWNJ
            "e\u{301}tienne",                // combining acute
            "Ana \u{1F469}\u{200D}\u{1F4BB}",
            "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}\u{200D}\u{1F466} family",
            "🇫🇷 Marie",
            "🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F} fan",
            "❤\u{FE0F} love",
            "👍🏽",
            "a",
            "O'Brien-Smith, Jr.",
        ] {
            ok(name);
        }
        ok(&"x".repeat(64));
        ok(&"名".repeat(64));
    }

    #[test]
    fn what_hides_or_fakes_text_is_refused() {
        refused("", "must not be empty");
        refused(&"x".repeat(65), "is 65 characters; the limit is 64");
        refused("   ", "only spaces");
        refused(" alice", "start or end with a space");
        refused("alice ", "start or end with a space");
        refused("a\nb", "control characters");
        refused("a\tb", "control characters");
        refused("a\u{7F}", "control characters");
        refused("a\u{9B}b", "control characters");
        refused("evil\u{202E}gnp.exe", "bidirectional");
        refused("a\u{2067}b", "bidirectional");
        refused("a\u{200F}b", "bidirectional");
        refused("ad\u{200B}min", "invisible");
        refused("\u{3164}", "invisible");
        refused("a\u{FEFF}", "invisible");
        refused("a\u{200D}b", "joiner");
        refused("\u{200D}👍", "joiner");
        refused("👍\u{200D}", "joiner");
        refused("👍\u{200D}\u{200D}👍", "joiner");
        refused("ab\u{200C}cd", "joiner");
        refused("\u{301}a", "combining mark needs");
        refused("z\u{301}\u{302}\u{303}\u{304}\u{305}", "too many combining marks");
        refused("a\u{E0041}", "tag characters");
        refused("🏴\u{E0067}\u{E0062}", "must end with U+E007F");
        refused("\u{FE0F}x", "variation selector");
        refused("a\u{FE0F}\u{FE0F}", "variation selector");
        refused("\u{2800}", "invisible");
        refused("a\u{2028}b", "invisible");
    }

    #[test]
    fn errors_say_where() {
        let e = check("userName", "ok\u{202E}x", 1, 64).expect_err("bidi");
        assert!(e.contains("U+202E at character 3"), "{e}");
    }

    #[test]
    fn empty_is_fine_when_allowed() {
        assert_eq!(check("statusText", "", 0, 100), Ok(()));
        assert!(check("statusText", &"é".repeat(101), 0, 100).is_err());
    }
}
