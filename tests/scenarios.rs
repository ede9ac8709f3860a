//! The scenario library as a test: every `scenarios/*.toml` runs with its own seed, every
//! expectation must hold, and its final status report plus a compact transition timeline are
//! insta snapshots. Adding a scenario file adds a test case.

use serde::Serialize;
use vmcp_core::status::StatusReport;
use vmcp_sim::runner::{self, RunOutcome};
use vmcp_sim::scenario::Scenario;
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
}

fn transitions(outcome: &RunOutcome) -> Vec<String> {
    outcome
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
            )
        })
        .map(|e| format!("{:>9} {}", format_ms(e.at_ms), e.event.describe()))
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

#[test]
fn every_scenario_passes_and_matches_its_snapshot() {
    insta::glob!("../scenarios", "*.toml", |path| {
        let scenario = Scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
        let outcome = runner::run(&scenario, scenario.seed)
            .unwrap_or_else(|e| panic!("{}: could not run: {e}", path.display()));
        assert!(
            outcome.passed(),
            "{} failed with seed {}:{}\nreproduce: cargo run --release -p vmcp-sim -- run {} --seed {} --trace",
            scenario.name,
            outcome.seed,
            explain(&outcome),
            path.display(),
            outcome.seed
        );
        let snapshot = ScenarioSnapshot {
            scenario: scenario.name.clone(),
            seed: outcome.seed,
            reproduces_bug: outcome.reproduces_bug.clone(),
            transitions: transitions(&outcome),
            final_report: outcome.final_report().cloned(),
        };
        insta::with_settings!({ omit_expression => true }, {
            insta::assert_yaml_snapshot!(snapshot);
        });
    });
}
