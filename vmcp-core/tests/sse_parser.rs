//! The SSE parser's field rules that the probe relies on, through its public API.

use vmcp_core::client::SseParser;

/// The event-stream format ignores an `id` field whose value contains NUL: the id set before it
/// in the same event stands.
#[test]
fn an_id_containing_nul_is_ignored() {
    let mut parser = SseParser::new(1024);
    let events = parser
        .feed(b"id: good\nid: b\0d\ndata: x\n\n")
        .expect("a valid stream");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id.as_deref(), Some("good"));
    assert_eq!(events[0].data, "x");

    let events = parser.feed(b"id: \0\ndata: y\n\n").expect("a valid stream");
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].id, None,
        "a NUL id alone leaves the event without one"
    );
}
