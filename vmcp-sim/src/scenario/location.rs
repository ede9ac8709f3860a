//! Source positions: byte offsets (what `toml` spans carry) to 1-based `line:column`.
//!
//! Why our own conversion: the `toml` error's `Display` renders a multi-line snippet, while the
//! scenario tools print one `file:line:column: message` line that editors and CI annotators can
//! jump to. Columns count characters, not bytes, so a position after `µs` or a non-ASCII
//! description is where an editor shows it.

use std::fmt;
use std::ops::Range;

/// A 1-based position in a scenario file.
///
/// Kept on every event and expectation so the runner can say `file:line:column` when one fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters (Unicode scalar values).
    pub column: usize,
}

impl Location {
    /// The position of byte `offset` in `text`.
    ///
    /// Never panics: an offset past the end is clamped to the end, and an offset inside a
    /// multi-byte character is moved back to the start of that character.
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            // Terminates: offset 0 is always a char boundary.
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        Self {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }

    /// The position where `span` starts.
    pub fn of_span(text: &str, span: &Range<usize>) -> Self {
        Self::of_offset(text, span.start)
    }
}

/// Line starts of a text, so that many offsets can be turned into locations in O(log lines)
/// each. [`Location::of_offset`] counts newlines from the start of the text on every call: fine
/// for one error, quadratic for the two locations kept per `[[backend]]` of a 10 000-backend file.
#[derive(Debug)]
pub struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of the first character of every line (the first is 0).
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `text` (one pass).
    pub fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { text, starts }
    }

    /// The same position as [`Location::of_offset`], found by binary search.
    pub fn location(&self, offset: usize) -> Location {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            // Terminates: offset 0 is always a char boundary.
            offset -= 1;
        }
        let line = self.starts.partition_point(|start| *start <= offset);
        let line_start = self.starts[line.saturating_sub(1)];
        Location {
            line,
            column: self.text[line_start..offset].chars().count() + 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_index_agrees_with_counting() {
        let text = "a = 1\n\nµs = \"x\"\r\n  [[b]]\nlast";
        let index = LineIndex::new(text);
        for offset in 0..=text.len() + 2 {
            assert_eq!(
                index.location(offset),
                Location::of_offset(text, offset),
                "offset {offset}"
            );
        }
        assert_eq!(
            LineIndex::new("").location(0),
            Location { line: 1, column: 1 }
        );
    }

    fn at(text: &str, offset: usize) -> (usize, usize) {
        let location = Location::of_offset(text, offset);
        (location.line, location.column)
    }

    #[test]
    fn lines_and_columns_are_one_based() {
        let text = "ab\ncd\n\nef";
        assert_eq!(at(text, 0), (1, 1));
        assert_eq!(at(text, 1), (1, 2));
        assert_eq!(at(text, 2), (1, 3)); // the newline itself ends line 1
        assert_eq!(at(text, 3), (2, 1));
        assert_eq!(at(text, 6), (3, 1));
        assert_eq!(at(text, 7), (4, 1));
        assert_eq!(at(text, 8), (4, 2));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        // `µ` is two bytes, `é` two, `漢` three.
        let text = "x = \"µé漢\" y";
        let y = text.find('y').unwrap();
        assert_eq!(at(text, y), (1, 11));
    }

    #[test]
    fn crlf_line_endings_count_one_line_each() {
        let text = "a\r\nbc";
        assert_eq!(at(text, 4), (2, 2));
    }

    #[test]
    fn out_of_range_and_mid_character_offsets_do_not_panic() {
        assert_eq!(at("", 0), (1, 1));
        assert_eq!(at("", 10), (1, 1));
        assert_eq!(at("ab", 99), (1, 3));
        // Offset 1 is inside `µ` (bytes 0..2): reported at the character's start.
        assert_eq!(at("µs", 1), (1, 1));
    }

    #[test]
    fn displays_as_line_colon_column() {
        assert_eq!(Location { line: 3, column: 7 }.to_string(), "3:7");
    }
}
