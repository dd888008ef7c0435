//! The message editor: a multi-line buffer with a cursor, readline editing
//! and input history. Pure data; keys are mapped to these calls in `app`.

use unicode_width::UnicodeWidthChar;

/// Entries kept in the input history.
const HISTORY: usize = 200;

#[derive(Debug, Default, Clone)]
pub struct Input {
    buf: Vec<char>,
    cursor: usize,
    history: Vec<String>,
    /// Position while browsing history (None: editing the draft).
    browsing: Option<usize>,
    draft: String,
}

impl Input {
    pub fn text(&self) -> String {
        self.buf.iter().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn set(&mut self, text: &str) {
        self.buf = text.chars().collect();
        self.cursor = self.buf.len();
    }

    /// Clears the editor, remembering non-empty text in the history.
    pub fn take(&mut self) -> String {
        let text = self.text();
        if !text.trim().is_empty() && self.history.last() != Some(&text) {
            self.history.push(text.clone());
            if self.history.len() > HISTORY {
                self.history.remove(0);
            }
        }
        self.buf.clear();
        self.cursor = 0;
        self.browsing = None;
        text
    }

    pub fn insert(&mut self, c: char) {
        self.buf.insert(self.cursor, c);
        self.cursor += 1;
    }

    pub fn insert_str(&mut self, s: &str) {
        for c in s.chars() {
            self.insert(c);
        }
    }

    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            self.buf.remove(self.cursor);
        }
    }

    pub fn delete(&mut self) {
        if self.cursor < self.buf.len() {
            self.buf.remove(self.cursor);
        }
    }

    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.buf.len());
    }

    fn line_start(&self) -> usize {
        self.buf[..self.cursor].iter().rposition(|c| *c == '\n').map_or(0, |i| i + 1)
    }

    fn line_end(&self) -> usize {
        self.buf[self.cursor..].iter().position(|c| *c == '\n').map_or(self.buf.len(), |i| self.cursor + i)
    }

    /// Ctrl-A.
    pub fn home(&mut self) {
        self.cursor = self.line_start();
    }

    /// Ctrl-E.
    pub fn end(&mut self) {
        self.cursor = self.line_end();
    }

    fn word_start_before(&self, from: usize) -> usize {
        let mut i = from;
        while i > 0 && self.buf[i - 1].is_whitespace() {
            i -= 1;
        }
        while i > 0 && !self.buf[i - 1].is_whitespace() {
            i -= 1;
        }
        i
    }

    /// Alt-B.
    pub fn word_left(&mut self) {
        self.cursor = self.word_start_before(self.cursor);
    }

    /// Alt-F.
    pub fn word_right(&mut self) {
        let mut i = self.cursor;
        while i < self.buf.len() && self.buf[i].is_whitespace() {
            i += 1;
        }
        while i < self.buf.len() && !self.buf[i].is_whitespace() {
            i += 1;
        }
        self.cursor = i;
    }

    /// Ctrl-W.
    pub fn delete_word_back(&mut self) {
        let start = self.word_start_before(self.cursor);
        self.buf.drain(start..self.cursor);
        self.cursor = start;
    }

    /// Ctrl-U.
    pub fn kill_to_start(&mut self) {
        let start = self.line_start();
        self.buf.drain(start..self.cursor);
        self.cursor = start;
    }

    /// Ctrl-K.
    pub fn kill_to_end(&mut self) {
        let end = self.line_end();
        self.buf.drain(self.cursor..end);
    }

    /// Whether the cursor is on the first (or last) line, where Up (Down) browses history.
    pub fn on_first_line(&self) -> bool {
        !self.buf[..self.cursor].contains(&'\n')
    }

    pub fn on_last_line(&self) -> bool {
        !self.buf[self.cursor..].contains(&'\n')
    }

    /// Up: the previous history entry. False when there is none.
    pub fn history_prev(&mut self) -> bool {
        let next = match self.browsing {
            None if self.history.is_empty() => return false,
            None => {
                self.draft = self.text();
                self.history.len() - 1
            }
            Some(0) => return false,
            Some(i) => i - 1,
        };
        self.browsing = Some(next);
        let entry = self.history[next].clone();
        self.set(&entry);
        true
    }

    /// Down: the next history entry, then back to the draft.
    pub fn history_next(&mut self) -> bool {
        let Some(i) = self.browsing else { return false };
        if i + 1 < self.history.len() {
            self.browsing = Some(i + 1);
            let entry = self.history[i + 1].clone();
            self.set(&entry);
        } else {
            self.browsing = None;
            let draft = std::mem::take(&mut self.draft);
            self.set(&draft);
        }
        true
    }

    /// The word being typed before the cursor and where it starts (for completion).
    pub fn current_word(&self) -> (usize, String) {
        let start = self.buf[..self.cursor].iter().rposition(|c| c.is_whitespace()).map_or(0, |i| i + 1);
        (start, self.buf[start..self.cursor].iter().collect())
    }

    /// Replaces `start..cursor` with `text`.
    pub fn replace_word(&mut self, start: usize, text: &str) {
        self.buf.splice(start..self.cursor, text.chars());
        self.cursor = start + text.chars().count();
    }

    /// The buffer's lines, and the cursor's (line, display column).
    pub fn layout(&self) -> (Vec<String>, (usize, usize)) {
        let lines: Vec<String> = self.text().split('\n').map(str::to_string).collect();
        let before = &self.buf[..self.cursor];
        let row = before.iter().filter(|c| **c == '\n').count();
        let col = before[self.line_start()..].iter().map(|c| c.width().unwrap_or(0)).sum();
        (lines, (row, col))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(text: &str) -> Input {
        let mut i = Input::default();
        i.set(text);
        i
    }

    #[test]
    fn readline_keys() {
        let mut i = with("hello big world");
        i.delete_word_back();
        assert_eq!(i.text(), "hello big ");
        i.word_left();
        i.word_left();
        assert_eq!(i.current_word().0, 0);
        i.word_right();
        i.kill_to_end();
        assert_eq!(i.text(), "hello");
        i.home();
        i.insert('>');
        i.end();
        i.insert('!');
        assert_eq!(i.text(), ">hello!");
        i.kill_to_start();
        assert_eq!(i.text(), "");
    }

    #[test]
    fn multi_line_editing_works_per_line() {
        let mut i = with("first");
        i.insert('\n');
        i.insert_str("second line");
        i.home();
        assert!(!i.on_first_line() && i.on_last_line());
        i.kill_to_end();
        assert_eq!(i.text(), "first\n");
        assert_eq!(i.layout().1, (1, 0));
    }

    #[test]
    fn history_walks_back_and_returns_to_the_draft() {
        let mut i = Input::default();
        for t in ["one", "two"] {
            i.set(t);
            i.take();
        }
        i.set("draft");
        assert!(i.history_prev());
        assert_eq!(i.text(), "two");
        assert!(i.history_prev());
        assert_eq!(i.text(), "one");
        assert!(!i.history_prev());
        assert!(i.history_next());
        assert!(i.history_next());
        assert_eq!(i.text(), "draft");
        assert!(!i.history_next());
    }

    #[test]
    fn cursor_column_counts_wide_characters() {
        let i = with("世界👋");
        assert_eq!(i.layout().1, (0, 6));
    }
}
