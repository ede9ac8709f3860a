//! Checking a scenario's expectations against a finished run.
//!
//! Backend and phase conditions are evaluated against the **latest published report** at each
//! instant: inside a window `[from, to]` the relevant reports are the one in force at `from` (the
//! last published at or before it) and every report published in `(from, to]`. The stretch before
//! the first report has nothing published: `always`/`never` ignore it, but need at least one
//! relevant report to say anything (otherwise they fail: an expectation that cannot be checked is
//! not a pass). Counts come from the merged trace.

use std::time::Duration;

use crate::scenario::{Condition, Counter, ExpectKind, Expectation, Scenario, Window};
use crate::trace::{TimedReport, Trace, TraceEntry, TraceEvent, format_ms};

/// One expectation that did not hold.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ExpectationFailure {
    /// `file:line:column` of the `[[expect]]`.
    pub location: String,
    /// `eventually`, `always`, ...
    pub kind: &'static str,
    /// The author's description, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What was expected and what happened instead.
    pub message: String,
    /// The window, in milliseconds, for slicing the timeline.
    pub window_ms: (u64, u64),
    /// The backend the expectation is about, if any (for slicing the timeline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
}

/// Evaluate every expectation; returns the failures in file order.
pub fn evaluate(
    scenario: &Scenario,
    reports: &[TimedReport],
    trace: &Trace,
) -> Vec<ExpectationFailure> {
    scenario
        .expects
        .iter()
        .filter_map(|e| check(scenario, e, reports, trace))
        .collect()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The reports relevant to `window`: the one in force at `from`, then those published inside.
fn relevant(reports: &[TimedReport], window: Window) -> Vec<&TimedReport> {
    let in_force = reports.iter().rev().find(|r| r.at <= window.from);
    in_force
        .into_iter()
        .chain(
            reports
                .iter()
                .filter(|r| r.at > window.from && r.at <= window.to),
        )
        .collect()
}

fn describe_report(r: &TimedReport, condition: &Condition) -> String {
    let mut text = format!(
        "report at {} phase {}",
        format_ms(millis(r.at)),
        r.report.phase
    );
    if let Some(b) = &condition.backend {
        match r
            .report
            .discovered_backends
            .iter()
            .find(|d| d.name == b.backend)
        {
            Some(d) => {
                text.push_str(&format!(
                    ", {} {}/{} ({}), circuit {}",
                    d.name, d.health, d.reason, d.status, d.circuit_breaker_state
                ));
                if let Some(c) = d.error_category {
                    text.push_str(&format!(", last error {c}"));
                }
            }
            None => text.push_str(&format!(", {} absent", b.backend)),
        }
    }
    text
}

fn check(
    scenario: &Scenario,
    expectation: &Expectation,
    reports: &[TimedReport],
    trace: &Trace,
) -> Option<ExpectationFailure> {
    let kind = &expectation.kind;
    let window = kind.window();
    let fail = |message: String, backend: Option<String>| ExpectationFailure {
        location: scenario.position(expectation.location),
        kind: kind.name(),
        description: expectation.description.clone(),
        message,
        window_ms: (millis(window.from), millis(window.to)),
        backend,
    };
    let span = format!("{window}");
    match kind {
        ExpectKind::Eventually { condition, .. } | ExpectKind::Within { condition, .. } => {
            let seen = relevant(reports, window);
            if seen.iter().any(|r| condition.holds(&r.report)) {
                return None;
            }
            let last = seen
                .last()
                .map(|r| describe_report(r, condition))
                .unwrap_or_else(|| "no report was published".to_owned());
            let what = match kind {
                ExpectKind::Within { after, .. } => format!("within {span} after event `{after}`"),
                _ => format!("eventually in {span}"),
            };
            Some(fail(
                format!("expected {what}: {condition}; it never held (last: {last})"),
                subject(condition),
            ))
        }
        ExpectKind::Always { condition, .. } => {
            let seen = relevant(reports, window);
            if seen.is_empty() {
                return Some(fail(
                    format!("expected always in {span}: {condition}; no report was published"),
                    subject(condition),
                ));
            }
            let broken = seen.iter().find(|r| !condition.holds(&r.report))?;
            Some(fail(
                format!(
                    "expected always in {span}: {condition}; broken by {}",
                    describe_report(broken, condition)
                ),
                subject(condition),
            ))
        }
        ExpectKind::Never { condition, .. } => {
            let seen = relevant(reports, window);
            if seen.is_empty() {
                return Some(fail(
                    format!("expected never in {span}: {condition}; no report was published"),
                    subject(condition),
                ));
            }
            let held = seen.iter().find(|r| condition.holds(&r.report))?;
            Some(fail(
                format!(
                    "expected never in {span}: {condition}; but it held in the {}",
                    describe_report(held, condition)
                ),
                subject(condition),
            ))
        }
        ExpectKind::Count {
            counter, bounds, ..
        } => {
            let (from, to) = (millis(window.from), millis(window.to));
            let count = trace
                .entries
                .iter()
                .filter(|e| e.at_ms >= from && e.at_ms <= to && counts(counter, e))
                .count() as u64;
            if bounds.contains(count) {
                return None;
            }
            Some(fail(
                format!(
                    "expected {} {} in {span}; counted {count}",
                    bounds,
                    counter_name(counter)
                ),
                counter_backend(counter),
            ))
        }
    }
}

fn subject(condition: &Condition) -> Option<String> {
    condition.backend.as_ref().map(|b| b.backend.clone())
}

fn counts(counter: &Counter, entry: &TraceEntry) -> bool {
    match (counter, &entry.event) {
        (Counter::Probes { backend }, TraceEvent::ProbeStarted { backend: b, .. })
        | (Counter::Skips { backend }, TraceEvent::ProbeSkipped { backend: b, .. }) => b == backend,
        (
            Counter::Connections { backend },
            TraceEvent::Connection {
                service, outcome, ..
            },
        ) => service == backend && outcome == "opened",
        (Counter::Reports, TraceEvent::Report { .. }) => true,
        _ => false,
    }
}

fn counter_name(counter: &Counter) -> String {
    match counter {
        Counter::Probes { backend } => format!("probes of {backend}"),
        Counter::Skips { backend } => format!("skipped probes of {backend}"),
        Counter::Connections { backend } => format!("connections opened to {backend}"),
        Counter::Reports => "reports".to_owned(),
    }
}

fn counter_backend(counter: &Counter) -> Option<String> {
    match counter {
        Counter::Probes { backend }
        | Counter::Skips { backend }
        | Counter::Connections { backend } => Some(backend.clone()),
        Counter::Reports => None,
    }
}
