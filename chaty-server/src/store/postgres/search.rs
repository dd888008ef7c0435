//! `SEARCH` on PostgreSQL with the same query language and matching as the
//! SQLite store's FTS5 (`unicode61 remove_diacritics 2`): words match without
//! regard to case or accents, `"a phrase"`, `AND`/`OR`/`NOT`, `( … )` and a
//! `prefix*`; a malformed query is the user's error, named as such. The
//! query is translated here into a `tsquery` over `messages.search`, which
//! holds the folded words of the content.

/// Lowercase with the diacritics of Latin letters removed (é → e, ß stays).
pub fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à'..='å' | 'ā' | 'ă' | 'ą' => 'a',
            'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => 'c',
            'ď' | 'đ' => 'd',
            'è'..='ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => 'e',
            'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
            'ĥ' | 'ħ' => 'h',
            'ì'..='ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => 'i',
            'ĵ' => 'j',
            'ķ' => 'k',
            'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => 'l',
            'ñ' | 'ń' | 'ņ' | 'ň' => 'n',
            'ò'..='ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => 'o',
            'ŕ' | 'ŗ' | 'ř' => 'r',
            'ś' | 'ŝ' | 'ş' | 'š' => 's',
            'ţ' | 'ť' | 'ŧ' => 't',
            'ù'..='ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => 'u',
            'ŵ' => 'w',
            'ý' | 'ÿ' | 'ŷ' => 'y',
            'ź' | 'ż' | 'ž' => 'z',
            // Combining marks (a decomposed accent) vanish.
            '\u{300}'..='\u{36f}' => '\0',
            other => other,
        })
        .filter(|c| *c != '\0')
        .collect()
}

/// The words of `text`, folded, space-separated: what `messages.search` indexes.
pub fn words(text: &str) -> String {
    fold(text).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String, bool),
    Phrase(Vec<String>),
    And,
    Or,
    Not,
    Open,
    Close,
}

fn tokens(query: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == '"' {
            chars.next();
            let mut phrase = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => phrase.push(c),
                    None => return Err("unterminated string".into()),
                }
            }
            let words: Vec<String> = words(&phrase).split(' ').filter(|w| !w.is_empty()).map(String::from).collect();
            if !words.is_empty() {
                out.push(Token::Phrase(words));
            }
        } else if c == '(' || c == ')' {
            chars.next();
            out.push(if c == '(' { Token::Open } else { Token::Close });
        } else if c.is_alphanumeric() {
            let mut word = String::new();
            while let Some(&c) = chars.peek().filter(|c| c.is_alphanumeric()) {
                word.push(c);
                chars.next();
            }
            let prefix = chars.peek() == Some(&'*');
            if prefix {
                chars.next();
            }
            out.push(match word.as_str() {
                "AND" => Token::And,
                "OR" => Token::Or,
                "NOT" => Token::Not,
                _ => Token::Word(fold(&word), prefix),
            });
        } else {
            chars.next();
        }
    }
    Ok(out)
}

/// Translates a search query into `tsquery` text. Precedence as in FTS5:
/// NOT binds tightest, then AND (also implicit), then OR.
pub fn tsquery(query: &str) -> Result<String, String> {
    let tokens = tokens(query)?;
    let mut pos = 0;
    let parsed = or(&tokens, &mut pos)?;
    if pos < tokens.len() {
        return Err(format!("syntax error near {:?}", describe(&tokens[pos])));
    }
    parsed.ok_or_else(|| "nothing to search for".into())
}

fn describe(token: &Token) -> &'static str {
    match token {
        Token::And => "AND",
        Token::Or => "OR",
        Token::Not => "NOT",
        Token::Open => "(",
        Token::Close => ")",
        Token::Word(..) | Token::Phrase(_) => "a word",
    }
}

fn or(t: &[Token], pos: &mut usize) -> Result<Option<String>, String> {
    let mut left = and(t, pos)?;
    while t.get(*pos) == Some(&Token::Or) {
        *pos += 1;
        let right = and(t, pos)?.ok_or("OR needs a term after it")?;
        left = Some(format!("({} | {right})", left.ok_or("OR needs a term before it")?));
    }
    Ok(left)
}

fn and(t: &[Token], pos: &mut usize) -> Result<Option<String>, String> {
    let mut left = not(t, pos)?;
    loop {
        match t.get(*pos) {
            Some(Token::And) => {
                *pos += 1;
                let right = not(t, pos)?.ok_or("AND needs a term after it")?;
                left = Some(format!("({} & {right})", left.ok_or("AND needs a term before it")?));
            }
            Some(Token::Word(..) | Token::Phrase(_) | Token::Open) => {
                let Some(right) = not(t, pos)? else { break };
                left = Some(match left {
                    Some(l) => format!("({l} & {right})"),
                    None => right,
                });
            }
            _ => break,
        }
    }
    Ok(left)
}

fn not(t: &[Token], pos: &mut usize) -> Result<Option<String>, String> {
    let mut left = term(t, pos)?;
    while t.get(*pos) == Some(&Token::Not) {
        *pos += 1;
        let right = term(t, pos)?.ok_or("NOT needs a term after it")?;
        left = Some(format!("({} & !{right})", left.ok_or("NOT needs a term before it")?));
    }
    Ok(left)
}

fn lexeme(word: &str) -> String {
    format!("'{}'", word.replace('\'', "''"))
}

fn term(t: &[Token], pos: &mut usize) -> Result<Option<String>, String> {
    match t.get(*pos) {
        Some(Token::Word(w, prefix)) => {
            *pos += 1;
            Ok(Some(if *prefix { format!("{}:*", lexeme(w)) } else { lexeme(w) }))
        }
        Some(Token::Phrase(words)) => {
            *pos += 1;
            Ok(Some(format!("({})", words.iter().map(|w| lexeme(w)).collect::<Vec<_>>().join(" <-> "))))
        }
        Some(Token::Open) => {
            *pos += 1;
            let inner = or(t, pos)?.ok_or("empty parentheses")?;
            if t.get(*pos) != Some(&Token::Close) {
                return Err("unbalanced parentheses".into());
            }
            *pos += 1;
            Ok(Some(format!("({inner})")))
        }
        Some(Token::Close) => Err("unbalanced parentheses".into()),
        _ => Ok(None),
    }
}

/// Words of a search snippet, at most.
const SNIPPET_WORDS: usize = 12;

/// What to mark in a snippet: single words (with a prefix flag) and
/// phrases, from the query's positive terms (a term after NOT is not marked).
fn marks(query: &str) -> (Vec<(String, bool)>, Vec<Vec<String>>) {
    let (mut words, mut phrases) = (Vec::new(), Vec::new());
    let mut negated = false;
    for token in tokens(query).unwrap_or_default() {
        match token {
            Token::Not => negated = true,
            Token::Word(w, prefix) if !negated => words.push((w, prefix)),
            Token::Phrase(p) if !negated => phrases.push(p),
            Token::Word(..) | Token::Phrase(_) => negated = false,
            _ => {}
        }
    }
    (words, phrases)
}

/// The snippet SQLite's FTS5 `snippet()` gives: up to 12 words around the
/// first match, cut ends shown with `…`, each matched word (a whole phrase
/// as one) in `[…]`, matching without regard to case or accents.
pub fn snippet(content: &str, query: &str) -> String {
    let (terms, phrases) = marks(query);
    // Each word's byte range in `content`, and its folded form.
    let mut spans: Vec<(usize, usize, String)> = Vec::new();
    let mut start = None;
    for (i, c) in content.char_indices().chain(std::iter::once((content.len(), ' '))) {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                spans.push((s, i, fold(&content[s..i])));
                start = None;
            }
            _ => {}
        }
    }
    // Marked word ranges [first, last], in order.
    let mut marked: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < spans.len() {
        let phrase = phrases
            .iter()
            .find(|p| p.len() <= spans.len() - i && p.iter().enumerate().all(|(k, w)| spans[i + k].2 == *w));
        if let Some(p) = phrase {
            marked.push((i, i + p.len() - 1));
            i += p.len();
            continue;
        }
        let word = &spans[i].2;
        if terms.iter().any(|(t, prefix)| if *prefix { word.starts_with(t.as_str()) } else { word == t }) {
            marked.push((i, i));
        }
        i += 1;
    }
    let (from, to) = if spans.len() <= SNIPPET_WORDS {
        (0, spans.len())
    } else {
        let first = marked.first().map_or(0, |m| m.0);
        let from = first.saturating_sub(2).min(spans.len() - SNIPPET_WORDS);
        (from, from + SNIPPET_WORDS)
    };
    if spans.is_empty() {
        return content.to_string();
    }
    let begin = if from == 0 { 0 } else { spans[from].0 };
    let end = if to == spans.len() { content.len() } else { spans[to - 1].1 };
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    let mut at = begin;
    for &(a, b) in marked.iter().filter(|(a, b)| *a >= from && *b < to) {
        out.push_str(&content[at..spans[a].0]);
        out.push('[');
        out.push_str(&content[spans[a].0..spans[b].1]);
        out.push(']');
        at = spans[b].1;
    }
    out.push_str(&content[at..end]);
    if to < spans.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_translate_like_fts5() {
        assert_eq!(tsquery("deploy").as_deref(), Ok("'deploy'"));
        assert_eq!(tsquery("Café").as_deref(), Ok("'cafe'"));
        assert_eq!(tsquery("deploy finished").as_deref(), Ok("('deploy' & 'finished')"));
        assert_eq!(tsquery("\"deploy started\"").as_deref(), Ok("('deploy' <-> 'started')"));
        assert_eq!(tsquery("deploy NOT finished").as_deref(), Ok("('deploy' & !'finished')"));
        assert_eq!(tsquery("a OR b c").as_deref(), Ok("('a' | ('b' & 'c'))"));
        assert_eq!(tsquery("dep*").as_deref(), Ok("'dep':*"));
        assert_eq!(tsquery("(a OR b) AND c").as_deref(), Ok("((('a' | 'b')) & 'c')"));
        for bad in ["\"unbalanced", "(a", "a)", "OR b", "a NOT", "", "()"] {
            assert!(tsquery(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn snippets_mark_what_matched_like_fts5() {
        assert_eq!(snippet("we met at the Café Royal", "cafe"), "we met at the [Café] Royal");
        assert_eq!(snippet("we met at the Café Royal", "cafe royal"), "we met at the [Café] [Royal]");
        assert_eq!(snippet("so naïve of me, really quite naïve", "naive"), "so [naïve] of me, really quite [naïve]");
        assert_eq!(snippet("a phrase to find here", "\"a phrase\""), "[a phrase] to find here");
        assert_eq!(snippet("the \"deploy\" finished", "deploy"), "the \"[deploy]\" finished");
        assert_eq!(snippet("deploy started", "deploy NOT finished"), "[deploy] started");
        assert_eq!(snippet("deployment done", "deploy*"), "[deployment] done");
        let long = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen target end";
        assert_eq!(
            snippet(long, "target"),
            "…five six seven eight nine ten eleven twelve thirteen fourteen [target] end"
        );
        let early = "alpha target beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu";
        assert_eq!(
            snippet(early, "target"),
            "alpha [target] beta gamma delta epsilon zeta eta theta iota kappa lambda…"
        );
    }

    #[test]
    fn words_are_folded_like_unicode61() {
        assert_eq!(words("deploy started on Café server!"), "deploy started on cafe server");
        assert_eq!(words("the \"deploy\" finished"), "the deploy finished");
        assert_eq!(words("Ünïcödé 山田"), "unicode 山田");
    }
}
