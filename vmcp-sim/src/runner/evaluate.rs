//! Checking a scenario's expectations against a finished run.
//!
//! Backend and phase conditions are evaluated against the **latest published report** at each
//! instant: inside a window `[from, to]` the relevant reports are the one in force at `from` (the
//! last published at or before it) and every report published in `(from, to]`. `within` is a
//! reaction to an event, so for it only reports published after the event count. Before the first
//! report nothing is published, so no condition holds: an `always` whose window starts before the
//! first report fails, a `never` is not broken by that stretch. Counts come from the merged trace.

use crate::clock::millis;
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

/// The reports published in `(from, to]`.
fn published_in(reports: &[TimedReport], window: Window) -> Vec<&TimedReport> {
    reports
        .iter()
        .filter(|r| r.at > window.from && r.at <= window.to)
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
            let seen = match kind {
                // A reaction to the event: only what is published after it counts, so the
                // expectation cannot pass on the state from before the event.
                ExpectKind::Within { .. } => published_in(reports, window),
                _ => relevant(reports, window),
            };
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
            if seen.first().is_none_or(|first| first.at > window.from) {
                let first = reports
                    .first()
                    .map_or("none was ever published".to_owned(), |r| {
                        format!("the first was published at {}", format_ms(millis(r.at)))
                    });
                return Some(fail(
                    format!(
                        "expected always in {span}: {condition}; no report was in force at the \
                         start of the window ({first})"
                    ),
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vmcp_core::clock::Timestamp;
    use vmcp_core::health::{CircuitState, HealthReason, HealthStatus};
    use vmcp_core::status::{DiscoveredBackend, Phase, StatusReport};

    use super::*;
    use crate::trace::TraceEntry;

    fn report(at_s: u64, health: HealthStatus) -> TimedReport {
        TimedReport {
            at: Duration::from_secs(at_s),
            report: StatusReport {
                phase: if health == HealthStatus::Healthy {
                    Phase::Ready
                } else {
                    Phase::Failed
                },
                message: String::new(),
                observed_at: Timestamp::from_unix_millis(at_s * 1000),
                backend_count: 0,
                conditions: Vec::new(),
                discovered_backends: vec![DiscoveredBackend {
                    name: "a".into(),
                    url: "http://a:8080/mcp".into(),
                    status: health.crd(),
                    health,
                    reason: HealthReason::Ok,
                    message: String::new(),
                    last_health_check: None,
                    consecutive_failures: 0,
                    circuit_breaker_state: CircuitState::Closed,
                    circuit_last_changed: None,
                    error_category: None,
                }],
            },
        }
    }

    fn scenario(expect: &str) -> Scenario {
        let text = format!(
            "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"100s\"\n\
             [[backend]]\nname = \"a\"\n[[expect]]\n{expect}\n"
        );
        Scenario::from_toml_str(&text, "t.toml").unwrap()
    }

    /// Reports: unknown... healthy at 10 s, unhealthy at 50 s, healthy again at 70 s.
    fn timeline() -> Vec<TimedReport> {
        vec![
            report(10, HealthStatus::Healthy),
            report(50, HealthStatus::Unhealthy),
            report(70, HealthStatus::Healthy),
        ]
    }

    fn failures(expect: &str) -> Vec<ExpectationFailure> {
        evaluate(&scenario(expect), &timeline(), &Trace::default())
    }

    #[test]
    fn eventually_sees_the_report_in_force_at_the_window_start() {
        let e = "kind = \"eventually\"\nfrom = \"55s\"\nby = \"60s\"\nbackend = \"a\"\nstatus = \"unhealthy\"";
        assert!(
            failures(e).is_empty(),
            "the 50 s report is in force at 55 s"
        );
        let e = "kind = \"eventually\"\nby = \"49s\"\nbackend = \"a\"\nstatus = \"unhealthy\"";
        let f = failures(e);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].location, "t.toml:7:1");
        assert!(f[0].message.contains("never held"), "{}", f[0].message);
    }

    #[test]
    fn always_fails_when_the_window_starts_before_the_first_report() {
        let e =
            "kind = \"always\"\nfrom = \"5s\"\nto = \"40s\"\nbackend = \"a\"\nstatus = \"healthy\"";
        let f = failures(e);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("first was published at 10.000s"),
            "{}",
            f[0].message
        );
        let e = "kind = \"always\"\nfrom = \"10s\"\nto = \"49s\"\nbackend = \"a\"\nstatus = \"healthy\"";
        assert!(failures(e).is_empty());
        let e = "kind = \"always\"\nfrom = \"10s\"\nto = \"50s\"\nbackend = \"a\"\nstatus = \"healthy\"";
        assert!(
            failures(e)[0]
                .message
                .contains("broken by report at 50.000s")
        );
    }

    #[test]
    fn within_counts_only_reports_published_after_the_event() {
        let text = "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"100s\"\n\
             [[backend]]\nname = \"a\"\n[[event]]\nat = \"55s\"\nid = \"e\"\n\
             action = \"crash_pod\"\nbackend = \"a\"\n[[expect]]\nkind = \"within\"\n\
             after = \"e\"\nwithin = \"10s\"\nbackend = \"a\"\nstatus = \"unhealthy\"\n";
        let s = Scenario::from_toml_str(text, "t.toml").unwrap();
        let f = evaluate(&s, &timeline(), &Trace::default());
        assert_eq!(f.len(), 1, "the 50 s report predates the event: {f:?}");
        let mut reports = timeline();
        reports.insert(2, report(60, HealthStatus::Unhealthy));
        assert!(evaluate(&s, &reports, &Trace::default()).is_empty());
    }

    #[test]
    fn never_and_within() {
        let e = "kind = \"never\"\nfrom = \"71s\"\nbackend = \"a\"\nstatus = \"unhealthy\"";
        assert!(failures(e).is_empty());
        let e = "kind = \"never\"\nfrom = \"60s\"\nbackend = \"a\"\nstatus = \"unhealthy\"";
        assert_eq!(failures(e).len(), 1, "the 50 s report is in force at 60 s");
    }

    #[test]
    fn counts_are_bounded_and_windowed() {
        let trace = Trace {
            entries: [5_u64, 15, 25]
                .iter()
                .map(|s| TraceEntry {
                    at_ms: s * 1000,
                    event: TraceEvent::ProbeStarted {
                        backend: "a".into(),
                        generation: 0,
                    },
                })
                .collect(),
        };
        let s = scenario(
            "kind = \"count\"\ncounter = \"probes\"\nbackend = \"a\"\nfrom = \"10s\"\nequals = 2",
        );
        assert!(evaluate(&s, &[], &trace).is_empty());
        let s = scenario("kind = \"count\"\ncounter = \"probes\"\nbackend = \"a\"\nmax = 2");
        let f = evaluate(&s, &[], &trace);
        assert!(f[0].message.contains("counted 3"), "{}", f[0].message);
    }
}
