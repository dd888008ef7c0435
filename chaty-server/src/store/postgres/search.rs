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
    fn words_are_folded_like_unicode61() {
        assert_eq!(words("deploy started on Café server!"), "deploy started on cafe server");
        assert_eq!(words("the \"deploy\" finished"), "the deploy finished");
        assert_eq!(words("Ünïcödé 山田"), "unicode 山田");
    }
}
