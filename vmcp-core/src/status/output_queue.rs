//! A bounded queue between report publishing and a slow output (DESIGN §3.7).
//!
//! Why: writing a report line to stdout blocks when the reader stalls (a full pipe). Done on the
//! runtime thread, that write would freeze probing, the reporting loop and the status endpoints.
//! So [`QueuedJsonLinesReporter`] only serializes the report and pushes the line here, which
//! never blocks; a writer outside the runtime (the `vmcp` binary runs [`LineQueue::drain_into`]
//! on a thread of its own) takes lines off and does the blocking writes. When the queue is full
//! the oldest line is dropped: the newest report matters most, each report is complete on its
//! own, and the number of dropped lines is counted ([`LineQueue::dropped`]) and logged.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::status::report::StatusReport;
use crate::status::reporter::{ReportError, Reporter};
use crate::sync::lock;

/// Lines waiting for the writer, and whether the queue was closed.
#[derive(Debug, Default)]
struct Lines {
    queue: VecDeque<Vec<u8>>,
    closed: bool,
}

/// A bounded, drop-oldest queue of output lines. Pushing never blocks.
#[derive(Debug)]
pub struct LineQueue {
    lines: Mutex<Lines>,
    ready: Condvar,
    capacity: usize,
    dropped: AtomicU64,
}

impl LineQueue {
    /// The default capacity of the `vmcp` binary: at one report per second, over a minute of
    /// backlog before anything is dropped.
    pub const DEFAULT_CAPACITY: usize = 64;

    /// An empty queue holding at most `capacity` lines (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            lines: Mutex::new(Lines::default()),
            ready: Condvar::new(),
            capacity: capacity.max(1),
            dropped: AtomicU64::new(0),
        }
    }

    /// Queue `line`. When full, the oldest queued line is dropped and counted. Never blocks
    /// (the lock is only ever held for a queue operation, never across a write).
    pub fn push(&self, line: Vec<u8>) {
        let dropped_now = {
            let mut lines = lock(&self.lines);
            if lines.closed {
                return;
            }
            let dropped = if lines.queue.len() >= self.capacity {
                lines.queue.pop_front();
                true
            } else {
                false
            };
            lines.queue.push_back(line);
            dropped
        };
        self.ready.notify_one();
        if dropped_now {
            let total = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // Log the 1st, 2nd, 4th, 8th, ... drop: visible, but a long stall cannot flood the log.
            if total.is_power_of_two() {
                tracing::warn!(
                    dropped_total = total,
                    capacity = self.capacity,
                    "report output is not keeping up: dropped the oldest queued report line"
                );
            }
        }
    }

    /// How many lines were dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// How many lines are waiting.
    pub fn len(&self) -> usize {
        lock(&self.lines).queue.len()
    }

    /// Whether no line is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Take the oldest line, if any, without waiting.
    pub fn try_pop(&self) -> Option<Vec<u8>> {
        lock(&self.lines).queue.pop_front()
    }

    /// Stop accepting lines and wake the writer; lines already queued are still handed out.
    pub fn close(&self) {
        lock(&self.lines).closed = true;
        self.ready.notify_all();
    }

    /// Write every line to `out` as it arrives, until the queue is closed and empty.
    ///
    /// **Blocks**: it waits for lines and performs blocking writes, so run it on a thread of its
    /// own, never on the async runtime. A failing write is logged and the line dropped; the
    /// writer keeps going with the next one.
    pub fn drain_into(&self, out: &mut dyn Write) {
        loop {
            let line = {
                let mut lines = lock(&self.lines);
                loop {
                    if let Some(line) = lines.queue.pop_front() {
                        break line;
                    }
                    if lines.closed {
                        return;
                    }
                    lines = self
                        .ready
                        .wait(lines)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            };
            if let Err(err) = out.write_all(&line).and_then(|()| out.flush()) {
                tracing::warn!(%err, "cannot write a report line; it is lost");
            }
        }
    }
}

/// Writes each report as one compact JSON line, through a [`LineQueue`], so publishing never
/// waits on the output. The same format as [`JsonLinesReporter`](crate::status::JsonLinesReporter).
#[derive(Debug, Clone)]
pub struct QueuedJsonLinesReporter {
    queue: Arc<LineQueue>,
}

impl QueuedJsonLinesReporter {
    /// Push report lines into `queue`.
    pub fn new(queue: Arc<LineQueue>) -> Self {
        Self { queue }
    }
}

impl Reporter for QueuedJsonLinesReporter {
    fn report(&self, report: &StatusReport) -> Result<(), ReportError> {
        let mut line = serde_json::to_vec(report)?;
        line.push(b'\n');
        self.queue.push(line);
        Ok(())
    }

    fn name(&self) -> &str {
        "json-lines"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts() {
        let q = LineQueue::new(2);
        for line in ["a", "b", "c", "d"] {
            q.push(line.as_bytes().to_vec());
        }
        assert_eq!(q.dropped(), 2);
        assert_eq!(q.try_pop().as_deref(), Some(&b"c"[..]));
        assert_eq!(q.try_pop().as_deref(), Some(&b"d"[..]));
        assert_eq!(q.try_pop(), None);
    }

    #[test]
    fn drain_writes_in_order_and_ends_once_closed_and_empty() {
        let q = LineQueue::new(8);
        assert!(q.is_empty());
        q.push(b"1\n".to_vec());
        q.push(b"2\n".to_vec());
        assert_eq!(q.len(), 2);
        assert!(!q.is_empty());
        q.close();
        q.push(b"after close\n".to_vec());
        assert_eq!(q.len(), 2, "a closed queue takes no more lines");
        let mut out = Vec::new();
        q.drain_into(&mut out);
        assert_eq!(out, b"1\n2\n");
        assert_eq!(q.dropped(), 0);
    }

    #[test]
    fn a_failing_writer_loses_lines_but_keeps_draining() {
        struct Broken(usize);
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                self.0 += 1;
                Err(std::io::Error::other("broken pipe"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let q = LineQueue::new(8);
        q.push(b"1\n".to_vec());
        q.push(b"2\n".to_vec());
        q.close();
        let mut out = Broken(0);
        q.drain_into(&mut out);
        assert_eq!(out.0, 2, "both lines attempted");
    }

    /// Drops are logged at the 1st, 2nd, 4th, 8th, ... drop, so a stall is visible at once but
    /// cannot flood the log.
    #[test]
    fn drops_are_logged_at_powers_of_two() {
        let q = LineQueue::new(1);
        // After each push: how many drops so far, and which drop totals have been logged.
        let mut seen = Vec::new();
        let mut events = Vec::new();
        for i in 0..10u8 {
            let ((), logged_now) = crate::status::test_support::capture(|| q.push(vec![i]));
            events.extend(logged_now);
            let logged: Vec<String> = events
                .iter()
                .map(|(level, text)| {
                    assert_eq!(*level, tracing::Level::WARN);
                    text.split_whitespace()
                        .find_map(|f| f.strip_prefix("dropped_total="))
                        .unwrap_or("?")
                        .to_owned()
                })
                .collect();
            seen.push((q.dropped(), logged.join(",")));
        }
        let expected: Vec<(u64, &str)> = vec![
            (0, ""),
            (1, "1"), // the very first drop is logged at once
            (2, "1,2"),
            (3, "1,2"),
            (4, "1,2,4"),
            (5, "1,2,4"),
            (6, "1,2,4"),
            (7, "1,2,4"),
            (8, "1,2,4,8"),
            (9, "1,2,4,8"),
        ];
        let seen: Vec<(u64, &str)> = seen.iter().map(|(d, l)| (*d, l.as_str())).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn queued_reporter_pushes_one_json_line_per_report_under_the_json_lines_name() {
        let queue = Arc::new(LineQueue::new(4));
        let reporter = QueuedJsonLinesReporter::new(Arc::clone(&queue));
        assert_eq!(reporter.name(), "json-lines");
        let list = [crate::registry::Backend::new("a", "http://a/mcp")];
        let report = crate::status::report::build_report(
            &list,
            &crate::status::test_support::snapshot(vec![]),
            crate::status::test_support::at(1),
        );
        reporter.report(&report).unwrap();
        let line = queue.try_pop().unwrap();
        let mut expected = serde_json::to_vec(&report).unwrap();
        expected.push(b'\n');
        assert_eq!(line, expected);
    }
}
