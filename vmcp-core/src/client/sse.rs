//! An incremental, size-bounded `text/event-stream` parser (the WHATWG event-stream format, as
//! MCP Streamable HTTP uses it).
//!
//! Bytes arrive in arbitrary chunks from the network; [`SseParser::feed`] returns the events
//! completed so far. One event (its data plus the line being assembled) never exceeds the limit
//! given at construction: a backend that streams an endless line or event gets
//! [`SseError::EventTooLarge`] instead of making the core buffer without bound.

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if any (`None` means the default type, `message`).
    pub event: Option<String>,
    /// The joined `data:` lines (without the final newline). May be empty: the MCP 2025-11-25
    /// priming event carries only an id and an empty data field.
    pub data: String,
    /// The `id:` field, if any.
    pub id: Option<String>,
}

impl SseEvent {
    /// Whether this is a `message` event (the type JSON-RPC messages travel in).
    pub fn is_message(&self) -> bool {
        self.event.as_deref().is_none_or(|e| e == "message")
    }
}

/// Why the stream could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// One event or line exceeded the limit.
    #[error("SSE event larger than {limit} bytes")]
    EventTooLarge {
        /// The limit.
        limit: u64,
    },
    /// An event's text was not UTF-8.
    #[error("SSE event is not valid UTF-8")]
    InvalidUtf8,
}

/// The incremental parser.
#[derive(Debug)]
pub struct SseParser {
    limit: u64,
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    event: Option<String>,
    id: Option<String>,
    /// The previous chunk ended in `\r`: a leading `\n` in the next one belongs to that line end.
    pending_cr: bool,
}

impl SseParser {
    /// A parser whose events (data plus the current line) may not exceed `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            line: Vec::new(),
            data: Vec::new(),
            has_data: false,
            event: None,
            id: None,
            pending_cr: false,
        }
    }

    fn size(&self) -> u64 {
        (self.line.len() + self.data.len()) as u64
    }

    /// Feed the next chunk; returns the events it completed, in order.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut events = Vec::new();
        let mut rest = chunk;
        if self.pending_cr {
            self.pending_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        while !rest.is_empty() {
            match rest.iter().position(|b| *b == b'\n' || *b == b'\r') {
                Some(pos) => {
                    self.extend_line(&rest[..pos])?;
                    let ended_with_cr = rest[pos] == b'\r';
                    rest = &rest[pos + 1..];
                    if ended_with_cr {
                        match rest.first() {
                            Some(b'\n') => rest = &rest[1..],
                            None => self.pending_cr = true,
                            Some(_) => {}
                        }
                    }
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.process_line(&line)? {
                        events.push(event);
                    }
                }
                None => {
                    self.extend_line(rest)?;
                    rest = &[];
                }
            }
        }
        Ok(events)
    }

    /// The stream ended. Per the format, an event without its terminating blank line is
    /// discarded; this reports whether such an incomplete event was pending.
    pub fn finish(&mut self) -> bool {
        let incomplete = !self.line.is_empty() || self.has_data;
        self.line.clear();
        self.reset_event();
        incomplete
    }

    fn extend_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.size() + bytes.len() as u64 > self.limit {
            return Err(SseError::EventTooLarge { limit: self.limit });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn reset_event(&mut self) {
        self.data.clear();
        self.has_data = false;
        self.event = None;
        self.id = None;
    }

    fn process_line(&mut self, line: &[u8]) -> Result<Option<SseEvent>, SseError> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return Ok(None); // comment / keep-alive
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.event = Some(utf8(value)?),
            // An id containing NUL is ignored by the format.
            b"id" if !value.contains(&0) => self.id = Some(utf8(value)?),
            _ => {} // `retry` and unknown fields do not matter to a probe
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Result<Option<SseEvent>, SseError> {
        if !self.has_data {
            self.reset_event();
            return Ok(None);
        }
        let data =
            String::from_utf8(std::mem::take(&mut self.data)).map_err(|_| SseError::InvalidUtf8)?;
        let event = SseEvent {
            event: self.event.take(),
            data,
            id: self.id.take(),
        };
        self.reset_event();
        Ok(Some(event))
    }
}

fn utf8(bytes: &[u8]) -> Result<String, SseError> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| SseError::InvalidUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new(1024);
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.feed(c).unwrap());
        }
        out
    }

    #[test]
    fn parses_priming_event_and_message() {
        let events = parse_all(&[b"id: 1\ndata:\n\nevent: message\ndata: {\"a\":1}\n\n"]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].data, "");
        assert_eq!(events[0].id.as_deref(), Some("1"));
        assert_eq!(events[1].data, "{\"a\":1}");
        assert!(events[1].is_message());
    }

    #[test]
    fn handles_split_crlf_and_multiline_data() {
        let events = parse_all(&[b"data: a\r", b"\ndata: b\r\n", b"\r", b"\n"]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "a\nb");
    }

    #[test]
    fn lone_cr_ends_lines() {
        let events = parse_all(&[b"data: x\r\rdata: y\r\r"]);
        assert_eq!(
            events.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(),
            ["x", "y"]
        );
    }

    #[test]
    fn comments_and_blank_events_are_skipped() {
        let events = parse_all(&[b": keep-alive\n\n\nretry: 10\n\ndata: z\n\n"]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "z");
    }

    #[test]
    fn other_event_types_are_not_messages() {
        let events = parse_all(&[b"event: endpoint\ndata: /messages\n\n"]);
        assert!(!events[0].is_message());
    }

    #[test]
    fn event_over_limit_is_an_error_even_without_newline() {
        let mut p = SseParser::new(8);
        assert_eq!(
            p.feed(b"data: 0123456789"),
            Err(SseError::EventTooLarge { limit: 8 })
        );
        // Data accumulates across lines: 4 bytes of data plus a 9-byte line exceed 12.
        let mut p = SseParser::new(12);
        assert!(p.feed(b"data:1234\n").is_ok());
        assert_eq!(
            p.feed(b"data:5678\n"),
            Err(SseError::EventTooLarge { limit: 12 })
        );
    }

    #[test]
    fn incomplete_event_at_end_is_reported_and_dropped() {
        let mut p = SseParser::new(64);
        assert!(p.feed(b"data: partial").unwrap().is_empty());
        assert!(p.finish());
        assert!(!p.finish());
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let mut p = SseParser::new(64);
        assert_eq!(p.feed(b"data: \xff\n\n"), Err(SseError::InvalidUtf8));
    }

    /// The limit is inclusive: an event of exactly `limit` bytes is accepted, one more is not.
    #[test]
    fn an_event_of_exactly_the_limit_is_accepted() {
        let mut p = SseParser::new(10);
        assert_eq!(p.feed(b"data:12345"), Ok(vec![]));
        let events = p.feed(b"\n\n").unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "12345");
        let mut p = SseParser::new(10);
        assert_eq!(
            p.feed(b"data:123456"),
            Err(SseError::EventTooLarge { limit: 10 })
        );
    }

    /// An `id` field whose value contains NUL is ignored, as the format says; others are kept.
    #[test]
    fn an_id_with_nul_is_ignored() {
        let events = parse_all(&[b"id: a\0b\ndata: x\n\n"]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].id, None);
        let events = parse_all(&[b"id: ab\ndata: x\n\n"]);
        assert_eq!(events[0].id.as_deref(), Some("ab"));
    }
}
