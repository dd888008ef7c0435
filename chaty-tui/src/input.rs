//! The message editor: `ratatui-textarea`'s multi-line buffer (editing,
//! undo and redo, the kill ring) with what chat needs on top: the cursor
//! moves and deletes by grapheme cluster (`e` + U+0301, a flag, a ZWJ
//! family are one step each), input history on Up/Down, and the word
//! before the cursor for Tab completion. Pure data; keys are mapped to
//! these calls in `app`.

use ratatui_textarea::{CursorMove, TextArea};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// Entries kept in the input history.
const HISTORY: usize = 200;

#[derive(Debug, Default, Clone)]
pub struct Input {
    area: TextArea<'static>,
    history: Vec<String>,
    /// Position while browsing history (None: editing the draft).
    browsing: Option<usize>,
    draft: String,
}

/// Byte offset of the `col`th char of `line` (its length past the end).
fn byte_at(line: &str, col: usize) -> usize {
    line.char_indices().nth(col).map_or(line.len(), |(i, _)| i)
}

impl Input {
    pub fn text(&self) -> String {
        self.area.lines().join("\n")
    }

    pub fn is_empty(&self) -> bool {
        self.area.lines().iter().all(String::is_empty) && self.area.lines().len() == 1
    }

    /// How many lines the text has.
    pub fn line_count(&self) -> usize {
        self.area.lines().len()
    }

    /// Replaces the text (and its undo history), the cursor at its end.
    pub fn set(&mut self, text: &str) {
        self.area = TextArea::from(text.split('\n'));
        self.area.move_cursor(CursorMove::Bottom);
        self.area.move_cursor(CursorMove::End);
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
        self.area = TextArea::default();
        self.browsing = None;
        text
    }

    pub fn insert(&mut self, c: char) {
        if c == '\n' {
            self.area.insert_newline();
        } else {
            self.area.insert_char(c);
        }
    }

    pub fn insert_str(&mut self, s: &str) {
        self.area.insert_str(s);
    }

    /// The cursor's line and its column in chars.
    fn cursor(&self) -> (usize, usize) {
        let c = self.area.cursor();
        (c.0, c.1)
    }

    fn line(&self) -> &str {
        &self.area.lines()[self.cursor().0]
    }

    /// Chars in the grapheme cluster before the cursor on its line (0 at its start).
    fn grapheme_before(&self) -> usize {
        let line = self.line();
        let before = &line[..byte_at(line, self.cursor().1)];
        before.graphemes(true).next_back().map_or(0, |g| g.chars().count())
    }

    /// Chars in the grapheme cluster after the cursor on its line (0 at its end).
    fn grapheme_after(&self) -> usize {
        let line = self.line();
        let after = &line[byte_at(line, self.cursor().1)..];
        after.graphemes(true).next().map_or(0, |g| g.chars().count())
    }

    fn jump(&mut self, row: usize, col: usize) {
        let clamp = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
        self.area.move_cursor(CursorMove::Jump(clamp(row), clamp(col)));
    }

    pub fn backspace(&mut self) {
        let n = self.grapheme_before();
        if n == 0 {
            // At a line's start: join it to the line above.
            self.area.delete_char();
            return;
        }
        let (row, col) = self.cursor();
        self.jump(row, col - n);
        self.area.delete_str(n);
    }

    pub fn delete(&mut self) {
        match self.grapheme_after() {
            0 => {
                self.area.delete_next_char();
            }
            n => {
                self.area.delete_str(n);
            }
        }
    }

    pub fn left(&mut self) {
        match self.grapheme_before() {
            0 => self.area.move_cursor(CursorMove::Back),
            n => {
                let (row, col) = self.cursor();
                self.jump(row, col - n);
            }
        }
    }

    pub fn right(&mut self) {
        match self.grapheme_after() {
            0 => self.area.move_cursor(CursorMove::Forward),
            n => {
                let (row, col) = self.cursor();
                self.jump(row, col + n);
            }
        }
    }

    /// Ctrl-A.
    pub fn home(&mut self) {
        self.area.move_cursor(CursorMove::Head);
    }

    /// Ctrl-E.
    pub fn end(&mut self) {
        self.area.move_cursor(CursorMove::End);
    }

    /// Alt-B.
    pub fn word_left(&mut self) {
        self.area.move_cursor(CursorMove::WordBack);
    }

    /// Alt-F: past the end of the next word, as readline does (at a line's
    /// end, to the next line).
    pub fn word_right(&mut self) {
        let (row, col) = self.cursor();
        let after: Vec<char> = self.line().chars().skip(col).collect();
        if after.is_empty() {
            self.area.move_cursor(CursorMove::Forward);
            return;
        }
        let spaces = after.iter().take_while(|c| c.is_whitespace()).count();
        let word = after[spaces..].iter().take_while(|c| !c.is_whitespace()).count();
        self.jump(row, col + spaces + word);
    }

    /// Ctrl-W.
    pub fn delete_word_back(&mut self) {
        self.area.delete_word();
    }

    /// Alt-D.
    pub fn delete_word_forward(&mut self) {
        self.area.delete_next_word();
    }

    /// Ctrl-U.
    pub fn kill_to_start(&mut self) {
        self.area.delete_line_by_head();
    }

    /// Ctrl-K.
    pub fn kill_to_end(&mut self) {
        self.area.delete_line_by_end();
    }

    /// Ctrl-Y: what Ctrl-W/U/K last deleted.
    pub fn yank(&mut self) {
        self.area.paste();
    }

    /// Ctrl-_. False when there is nothing to undo.
    pub fn undo(&mut self) -> bool {
        self.area.undo()
    }

    /// Alt-_. False when there is nothing to redo.
    pub fn redo(&mut self) -> bool {
        self.area.redo()
    }

    /// Whether the cursor is on the first (or last) line, where Up (Down) browses history.
    pub fn on_first_line(&self) -> bool {
        self.cursor().0 == 0
    }

    pub fn on_last_line(&self) -> bool {
        self.cursor().0 + 1 == self.area.lines().len()
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

    /// The cursor as a char offset into [`Self::text`].
    fn offset(&self) -> usize {
        let (row, col) = self.cursor();
        self.area.lines()[..row].iter().map(|l| l.chars().count() + 1).sum::<usize>() + col
    }

    /// The word being typed before the cursor and where it starts, as a
    /// char offset into the text (for completion).
    pub fn current_word(&self) -> (usize, String) {
        let (_, col) = self.cursor();
        let before: Vec<char> = self.line().chars().take(col).collect();
        let start = before.iter().rposition(|c| c.is_whitespace()).map_or(0, |i| i + 1);
        (self.offset() - (col - start), before[start..].iter().collect())
    }

    /// Replaces the text from char offset `start` to the cursor with `text`.
    pub fn replace_word(&mut self, start: usize, text: &str) {
        let n = self.offset().saturating_sub(start);
        let (row, col) = self.cursor();
        self.jump(row, col.saturating_sub(n));
        self.area.delete_str(n);
        self.area.insert_str(text);
    }

    /// The buffer's lines, and the cursor's (line, display column).
    pub fn layout(&self) -> (Vec<String>, (usize, usize)) {
        let (row, col) = self.cursor();
        let line = self.line();
        let width = line[..byte_at(line, col)].width();
        (self.area.lines().to_vec(), (row, width))
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
        i.yank();
        assert_eq!(i.text(), ">hello!", "Ctrl-Y brings back what was killed");
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
        i.backspace();
        assert_eq!(i.text(), "first", "Backspace at a line's start joins the lines");
    }

    #[test]
    fn undo_and_redo() {
        let mut i = Input::default();
        i.insert_str("hello");
        i.insert_str(" world");
        i.delete_word_back();
        assert_eq!(i.text(), "hello ");
        assert!(i.undo());
        assert_eq!(i.text(), "hello world");
        assert!(i.redo());
        assert_eq!(i.text(), "hello ");
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

    #[test]
    fn completion_words_are_offsets_into_the_whole_text() {
        let mut i = with("hi\nsay #gen");
        let (start, word) = i.current_word();
        assert_eq!((start, word.as_str()), (7, "#gen"));
        i.replace_word(start, "#general ");
        assert_eq!(i.text(), "hi\nsay #general ");
    }
}
