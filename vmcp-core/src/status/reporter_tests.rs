//! Tests of the reporters.

use std::io::{self, Write};
use std::sync::Arc;

use crate::registry::Backend;
use crate::status::report::{Phase, StatusReport, build_report};
use crate::status::reporter::{
    JsonLinesReporter, LogReporter, MemoryReporter, ReportError, Reporter,
};
use crate::status::test_support::*;

fn report(secs: u64, names: &[&str]) -> StatusReport {
    let list: Vec<Backend> = names
        .iter()
        .map(|n| Backend::new(*n, format!("http://{n}/mcp")))
        .collect();
    let snap = snapshot(
        list.iter()
            .map(|b| entry(b, healthy(at(secs)), no_breaker(), None))
            .collect(),
    );
    build_report(&list, &snap, at(secs))
}

#[test]
fn memory_reporter_keeps_reports_in_order() {
    let m = MemoryReporter::new();
    assert!(m.is_empty());
    assert_eq!(m.last(), None);
    let (r1, r2) = (report(1, &["a"]), report(2, &["a", "b"]));
    m.report(&r1).unwrap();
    m.report(&r2).unwrap();
    assert_eq!(m.len(), 2);
    assert!(!m.is_empty());
    assert_eq!(m.reports(), vec![r1, r2.clone()]);
    assert_eq!(m.last(), Some(r2));
    assert_eq!(m.name(), "memory");
}

#[test]
fn reporters_work_through_arc_and_box() {
    let m = Arc::new(MemoryReporter::new());
    let as_dyn: Arc<dyn Reporter> = m.clone();
    let boxed: Box<dyn Reporter> = Box::new(m.clone());
    as_dyn.report(&report(1, &[])).unwrap();
    boxed.report(&report(2, &[])).unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(as_dyn.name(), "memory");
    assert_eq!(boxed.name(), "memory");
}

#[test]
fn json_lines_writes_one_compact_parseable_line_per_report() {
    let r = JsonLinesReporter::new(Vec::new());
    // The name the reporting loop logs a failure under.
    assert_eq!(r.name(), "json-lines");
    r.report(&report(1, &["a", "b"])).unwrap();
    r.report(&report(2, &[])).unwrap();
    let out = String::from_utf8(r.into_inner()).unwrap();
    assert!(out.ends_with('\n'));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["phase"], "Ready");
    assert_eq!(first["observedAt"], "2026-01-01T00:00:01.000Z");
    assert_eq!(first["discoveredBackends"][1]["name"], "b");
    // Compact: exactly what serde_json::to_string gives.
    assert_eq!(
        lines[1],
        serde_json::to_string(&report(2, &[])).unwrap().as_str()
    );
}

#[test]
fn json_lines_appends_to_an_existing_file() {
    let path = std::env::temp_dir().join(format!(
        "vmcp-core-status-test-{}.jsonl",
        std::process::id()
    ));
    std::fs::write(&path, "{\"earlier\":true}\n").unwrap();
    {
        let r = JsonLinesReporter::append_to_file(&path).unwrap();
        r.report(&report(1, &["a"])).unwrap();
    }
    {
        // Reopened (a restart): still appends.
        let r = JsonLinesReporter::append_to_file(&path).unwrap();
        r.report(&report(2, &["a"])).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], "{\"earlier\":true}");
    assert!(lines[1].contains("00:00:01.000Z"));
    assert!(lines[2].contains("00:00:02.000Z"));
}

#[test]
fn json_lines_open_failure_names_the_path() {
    let dir = std::env::temp_dir().join("vmcp-core-status-test-no-such-dir-xyz");
    let path = dir.join("status.jsonl");
    let err = JsonLinesReporter::append_to_file(&path).unwrap_err();
    assert!(matches!(err, ReportError::Open { .. }));
    assert!(err.to_string().contains("status.jsonl"), "{err}");
}

/// A writer that fails the first `fail` writes, then works.
struct Flaky {
    fail: usize,
    written: Vec<u8>,
}

impl Write for Flaky {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.fail > 0 {
            self.fail -= 1;
            return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
        }
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn json_lines_write_error_is_reported_and_reporter_stays_usable() {
    let r = JsonLinesReporter::new(Flaky {
        fail: 1,
        written: Vec::new(),
    });
    let err = r.report(&report(1, &["a"])).unwrap_err();
    assert!(matches!(err, ReportError::Io(_)));
    assert_eq!(err.to_string(), "cannot write status report: disk full");
    r.report(&report(2, &["a"])).unwrap();
    let written = String::from_utf8(r.into_inner().written).unwrap();
    assert_eq!(written.lines().count(), 1);
    assert!(written.contains("00:00:02.000Z"));
}

#[test]
fn log_reporter_logs_phase_and_counts_at_info() {
    let list = vec![
        Backend::new("a", "http://a/mcp"),
        Backend::new("b", "http://b/mcp"),
    ];
    let snap = snapshot(vec![entry(&list[0], healthy(at(1)), no_breaker(), None)]);
    let r = build_report(&list, &snap, at(2));
    assert_eq!(r.phase, Phase::Degraded);
    let (reported, events) = capture(|| LogReporter.report(&r));
    reported.unwrap();
    assert_eq!(events.len(), 1);
    let (level, text) = &events[0];
    assert_eq!(*level, tracing::Level::INFO);
    for expected in [
        "phase=Degraded",
        "total=2",
        "healthy=1",
        "degraded=0",
        "unavailable=0",
        "unknown=1",
        "observed_at=2026-01-01T00:00:02.000Z",
        "1/2 backends healthy; 1 unknown",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in {text}");
    }
}

/// Every reporter has a name for the log line about its failures: the trait's default for a
/// reporter that names none, its own otherwise (also through `Arc` and `Box`).
#[test]
fn reporters_are_named_for_their_failure_logs() {
    struct Unnamed;
    impl Reporter for Unnamed {
        fn report(&self, _report: &StatusReport) -> Result<(), ReportError> {
            Ok(())
        }
    }
    assert_eq!(Unnamed.name(), "reporter");
    assert_eq!(LogReporter.name(), "log");
    let shared: Arc<dyn Reporter> = Arc::new(LogReporter);
    assert_eq!(shared.name(), "log");
    let boxed: Box<dyn Reporter> = Box::new(Unnamed);
    assert_eq!(boxed.name(), "reporter");
}
