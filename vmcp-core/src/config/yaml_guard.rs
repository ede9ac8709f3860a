//! Checks on YAML text before the parser sees it.
//!
//! Why: the YAML parser takes time quadratic in the nesting depth (50 000 levels in 100 KB took
//! 8–16 s), which a config reload must never spend. [`check_nesting`] bounds the depth with one
//! linear pass, before parsing. It over-estimates rather than under-estimates: it counts block
//! nesting (indentation levels and `- ` entries on a line) plus flow nesting (`[` and `{`),
//! skipping quoted scalars, comments and block scalars (`|`, `>`) as the parser would. A real
//! config nests about 5 levels; the limit is [`MAX_NESTING`].
//!
//! [`second_document`] finds where a second YAML document starts, for the parser's location-less
//! "more than one document" error.

/// The deepest nesting accepted in a YAML config file.
pub const MAX_NESTING: usize = 64;

/// Where the nesting first goes past `max` (1-based line and column), if it does.
pub(crate) fn check_nesting(text: &str, max: usize) -> Option<(usize, usize)> {
    let mut scan = Scan::default();
    for (index, line) in text.split('\n').enumerate() {
        if let Some(column) = scan.line(line, max) {
            return Some((index + 1, column));
        }
    }
    None
}

/// Scanner state carried from line to line.
#[derive(Default)]
struct Scan {
    /// Indentation of the enclosing block levels, innermost last.
    indents: Vec<usize>,
    /// Open `[` / `{`.
    flow: usize,
    /// Inside a quoted scalar that continues on the next line.
    quote: Option<char>,
    /// Inside a block scalar (`|`, `>`) started by a line with this indentation.
    block_scalar: Option<usize>,
}

impl Scan {
    /// Scan one line; the 1-based column where the depth passes `max`, if it does.
    fn line(&mut self, line: &str, max: usize) -> Option<usize> {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let content = line[indent..].trim_end_matches('\r');
        if let Some(parent) = self.block_scalar {
            if content.is_empty() || indent > parent {
                return None;
            }
            self.block_scalar = None;
        }
        let mut chars = content.char_indices().peekable();
        if self.quote.is_none() {
            if content.is_empty() || content.starts_with('#') {
                return None;
            }
            while self.indents.last().is_some_and(|&top| top > indent) {
                self.indents.pop();
            }
            if self.indents.last().is_none_or(|&top| top < indent) {
                self.indents.push(indent);
            }
        }
        let mut depth_here = self.indents.len();
        // Whether the next character starts a token (where a quote opens a quoted scalar).
        let mut token_start = self.quote.is_none();
        while let Some((at, c)) = chars.next() {
            if let Some(q) = self.quote {
                if c == '\\' && q == '"' {
                    chars.next();
                } else if c == q {
                    if q == '\'' && chars.peek().is_some_and(|&(_, n)| n == '\'') {
                        chars.next();
                    } else {
                        self.quote = None;
                        token_start = false;
                    }
                }
                continue;
            }
            let next_is_space = chars.peek().is_none_or(|&(_, n)| n == ' ' || n == '\t');
            match c {
                ' ' | '\t' => continue,
                '#' if at == 0 || content[..at].ends_with([' ', '\t']) => break,
                '"' | '\'' if token_start => self.quote = Some(c),
                '[' | '{' => {
                    self.flow += 1;
                    token_start = true;
                    if depth_here + self.flow > max {
                        return Some(indent + at + 1);
                    }
                    continue;
                }
                ']' | '}' => {
                    self.flow = self.flow.saturating_sub(1);
                    token_start = false;
                }
                ',' => token_start = true,
                '-' | '?' if token_start && next_is_space => {
                    // A block entry or key on this line: one level deeper.
                    depth_here += 1;
                    if depth_here + self.flow > max {
                        return Some(indent + at + 1);
                    }
                    continue;
                }
                ':' if next_is_space => token_start = true,
                '|' | '>' if token_start && self.flow == 0 => {
                    // A block scalar: the more indented lines that follow are its text.
                    self.block_scalar = Some(indent);
                    break;
                }
                _ => token_start = false,
            }
        }
        if depth_here + self.flow > max {
            return Some(indent + 1);
        }
        None
    }
}

/// The 1-based line where a second YAML document starts (`---` after content, or content after
/// `...`), if any.
pub(crate) fn second_document(text: &str) -> Option<usize> {
    let mut content_seen = false;
    let mut ended = false;
    for (index, line) in text.split('\n').enumerate() {
        let line = line.trim_end_matches('\r');
        let marker = |m: &str| {
            line == m
                || line
                    .strip_prefix(m)
                    .is_some_and(|r| r.starts_with([' ', '\t']))
        };
        if marker("---") {
            if content_seen || ended {
                return Some(index + 1);
            }
            content_seen = true;
            continue;
        }
        if marker("...") {
            ended = true;
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || line.starts_with('%') {
            continue;
        }
        if ended {
            return Some(index + 1);
        }
        content_seen = true;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_configs_are_shallow() {
        let text = "backends:\n  - name: a\n    url: http://[::1]:80/mcp?x=[1]\n    auth: {type: bearer, token_env: T}\noperational:\n  failure_handling:\n    circuit_breaker:\n      enabled: true\n";
        assert_eq!(check_nesting(text, 5), None);
        // Over-estimated on purpose: `backends` (indent 0), the entry's indent (2) and its `- `
        // count 3 levels at line 2, column 3.
        assert_eq!(check_nesting(text, 2), Some((2, 3)));
    }

    #[test]
    fn deep_flow_block_and_entry_nesting_are_caught_where_they_pass_the_limit() {
        let flow = format!("a: {}1{}\n", "[".repeat(100), "]".repeat(100));
        assert_eq!(check_nesting(&flow, 64), Some((1, 4 + 63)));
        let entries = format!("{}x\n", "- ".repeat(100));
        assert_eq!(check_nesting(&entries, 64), Some((1, 2 * 63 + 1)));
        let mut block = String::new();
        for level in 0..100 {
            block.push_str(&format!("{}k{level}:\n", " ".repeat(level)));
        }
        assert_eq!(check_nesting(&block, 64), Some((65, 65)));
    }

    #[test]
    fn brackets_in_quotes_comments_and_block_scalars_do_not_count() {
        let deep = "[".repeat(100);
        for text in [
            format!("a: \"{deep}\"\n"),
            format!("a: '{deep}'\n"),
            format!("a: 'it''s {deep}'\n"),
            format!("a: 1 # {deep}\n"),
            format!("a: |\n  {deep}\n  more\nb: 1\n"),
            format!("a: >-\n  {deep}\nb: 1\n"),
            format!("a: \"first\n  {deep}\"\n"),
        ] {
            assert_eq!(check_nesting(&text, 8), None, "{text}");
        }
    }

    #[test]
    fn a_quote_inside_a_plain_scalar_does_not_hide_what_follows() {
        // `b 'c` is a plain scalar; the brackets after it are real flow nesting.
        let text = format!("a: b 'c\nd: {}\n", "[".repeat(100));
        assert!(check_nesting(&text, 64).is_some());
        // Nor does a closed block scalar.
        let text = format!("a: |\n  \"\nb: {}\n", "[".repeat(100));
        assert!(check_nesting(&text, 64).is_some());
    }

    #[test]
    fn the_second_document_is_located() {
        assert_eq!(second_document("a: 1\n"), None);
        assert_eq!(second_document("---\na: 1\n"), None);
        assert_eq!(second_document("# c\n---\na: 1\n...\n"), None);
        assert_eq!(second_document("a: 1\n---\nb: 2\n"), Some(2));
        assert_eq!(second_document("---\na: 1\n--- \nb: 2\n"), Some(3));
        assert_eq!(second_document("a: 1\n...\nb: 2\n"), Some(3));
        assert_eq!(second_document("a: '---'\nb: ---x\n"), None);
    }
}
