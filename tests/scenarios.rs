//! The scenario library as a test: every `scenarios/*.toml` runs with its own seed, every
//! expectation must hold, and its final status report plus a compact transition timeline are
//! insta snapshots. Adding a scenario file adds a test case.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use vmcp_core::status::StatusReport;
use vmcp_sim::runner::{self, RunOutcome};
use vmcp_sim::scenario::{Scenario, discover};
use vmcp_sim::trace::{TraceEvent, format_ms};

/// What is snapshotted per scenario.
#[derive(Serialize)]
struct ScenarioSnapshot {
    scenario: String,
    seed: u64,
    reproduces_bug: Option<String>,
    /// Faults, status and circuit transitions, backend add/remove/change, failed and skipped
    /// probes (not the ok ones): the story of the run.
    transitions: Vec<String>,
    final_report: Option<StatusReport>,
    /// For scenarios with more than [`COMPACT_ABOVE`] backends, instead of the final report.
    #[serde(skip_serializing_if = "Option::is_none")]
    final_summary: Option<ReportSummary>,
    /// Scenarios with clients: finished calls counted by `client tool -> backend: outcome`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    calls: BTreeMap<String, usize>,
}

fn call_counts(outcome: &RunOutcome) -> BTreeMap<String, usize> {
    let mut calls = BTreeMap::new();
    for e in &outcome.trace.entries {
        if let TraceEvent::CallFinished {
            client,
            tool,
            backend,
            outcome,
            ..
        } = &e.event
        {
            let key = format!(
                "{client} {tool} -> {}: {outcome}",
                backend.as_deref().unwrap_or("?")
            );
            *calls.entry(key).or_insert(0) += 1;
        }
    }
    calls
}

/// Above this many backends a snapshot is compacted: same-instant transitions that differ only
/// in the backend are one line, and the final report is summarised, so a 500-backend herd stays
/// a readable snapshot.
const COMPACT_ABOVE: usize = 50;

/// The final report of a big scenario: everything but the per-backend entries, which are counted
/// by `health/reason circuit`.
#[derive(Serialize)]
struct ReportSummary {
    phase: String,
    message: String,
    conditions: Vec<String>,
    backends: BTreeMap<String, usize>,
}

fn summary(report: &StatusReport) -> ReportSummary {
    let mut backends = BTreeMap::new();
    for b in &report.discovered_backends {
        let key = format!(
            "{}/{} circuit {}",
            b.health, b.reason, b.circuit_breaker_state
        );
        *backends.entry(key).or_insert(0) += 1;
    }
    ReportSummary {
        phase: report.phase.to_string(),
        message: report.message.clone(),
        conditions: report
            .conditions
            .iter()
            .map(|c| format!("{} {:?} {}: {}", c.type_, c.status, c.reason, c.message))
            .collect(),
        backends,
    }
}

/// Lines of the same simulated second that differ only in their numbers (the backend `tool-001`
/// vs `tool-002`, its pod, the milliseconds) become one: the first, with how many alike followed
/// and the last of them.
fn compact(lines: Vec<(u64, String)>) -> Vec<String> {
    let shape = |text: &str| -> String {
        let mut out = String::new();
        for c in text.chars() {
            if c.is_ascii_digit() {
                if !out.ends_with('#') {
                    out.push('#');
                }
            } else {
                out.push(c);
            }
        }
        out
    };
    // (second, shape) -> (first, last, count), in order of first appearance.
    type Line = (u64, String);
    let mut groups: Vec<(Line, Line, usize)> = Vec::new();
    let mut index: BTreeMap<(u64, String), usize> = BTreeMap::new();
    for (at, text) in lines {
        let key = (at / 1000, shape(&text));
        match index.get(&key) {
            Some(&i) => {
                groups[i].1 = (at, text);
                groups[i].2 += 1;
            }
            None => {
                index.insert(key, groups.len());
                groups.push(((at, text.clone()), (at, text), 1));
            }
        }
    }
    groups
        .into_iter()
        .map(|((at, first), (last_at, last), n)| {
            let time = format_ms(at);
            if n == 1 {
                format!("{time:>9} {first}")
            } else {
                format!(
                    "{time:>9} {first}  [and {} alike, the last at {}: {last}]",
                    n - 1,
                    format_ms(last_at)
                )
            }
        })
        .collect()
}

fn transitions(outcome: &RunOutcome, compacted: bool) -> Vec<String> {
    let lines: Vec<(u64, String)> = outcome
        .trace
        .entries
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                TraceEvent::Fault { .. }
                    | TraceEvent::Status { .. }
                    | TraceEvent::Circuit { .. }
                    | TraceEvent::VmcpStarted
                    | TraceEvent::BackendAdded { .. }
                    | TraceEvent::BackendRemoved { .. }
                    | TraceEvent::EndpointChanged { .. }
                    | TraceEvent::ProbeFinished { ok: false, .. }
                    | TraceEvent::ProbeSkipped { .. }
                    | TraceEvent::ClientSession { .. }
                    | TraceEvent::ToolsListed { .. }
                    | TraceEvent::ListChanged { .. }
                    | TraceEvent::BackendSession { .. }
            )
        })
        .map(|e| (e.at_ms, e.event.describe()))
        .collect();
    if compacted {
        return compact(lines);
    }
    lines
        .into_iter()
        .map(|(at, text)| format!("{:>9} {}", format_ms(at), text))
        .collect()
}

/// The failures of a run, with the timeline slices, as the CLI prints them.
fn explain(outcome: &RunOutcome) -> String {
    let mut text = String::new();
    for f in &outcome.failures {
        text.push_str(&format!(
            "\n{}: {} failed: {}\n",
            f.location, f.kind, f.message
        ));
        let slice = outcome.trace.slice(
            f.window_ms.0.saturating_sub(5_000),
            f.window_ms.1,
            f.backend.as_deref(),
        );
        text.push_str(
            &outcome
                .trace
                .render(&slice[slice.len().saturating_sub(40)..]),
        );
    }
    text
}

/// Every library file's run, keyed by its canonical path; run on all cores up front (the runs
/// are independent and deterministic), so the snapshot loop below only compares.
fn library_outcomes() -> BTreeMap<PathBuf, Result<(Scenario, RunOutcome), String>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let files = discover(&[dir]).expect("the scenario library");
    let outcomes = vmcp_suite::parallel_map(&files, |path| {
        let scenario = Scenario::load(path).map_err(|e| e.to_string())?;
        let outcome = runner::run(&scenario, scenario.seed)
            .map_err(|e| format!("{}: could not run: {e}", path.display()))?;
        Ok((scenario, outcome))
    });
    files
        .iter()
        .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
        .zip(outcomes)
        .collect()
}

#[test]
fn every_scenario_passes_and_matches_its_snapshot() {
    let mut outcomes = library_outcomes();
    insta::glob!("../scenarios", "*.toml", |path| {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let (scenario, outcome) = outcomes
            .remove(&key)
            .unwrap_or_else(|| panic!("{} was not run", path.display()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            outcome.passed(),
            "{} failed with seed {}:{}\nreproduce: cargo run --release -p vmcp-sim -- run {} --seed {} --trace",
            scenario.name,
            outcome.seed,
            explain(&outcome),
            path.display(),
            outcome.seed
        );
        let big = scenario.backends.len() > COMPACT_ABOVE;
        let snapshot = ScenarioSnapshot {
            scenario: scenario.name.clone(),
            seed: outcome.seed,
            reproduces_bug: outcome.reproduces_bug.clone(),
            transitions: transitions(&outcome, big),
            final_report: outcome.final_report().filter(|_| !big).cloned(),
            final_summary: outcome.final_report().filter(|_| big).map(summary),
            calls: call_counts(&outcome),
        };
        insta::with_settings!({ omit_expression => true }, {
            insta::assert_yaml_snapshot!(snapshot);
        });
    });
}
