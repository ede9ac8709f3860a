//! Determinism is a product feature (DESIGN §3.2): the same scenario and seed give the same
//! trace, entry for entry; and the seed really matters.

use std::path::PathBuf;

use vmcp_sim::runner;
use vmcp_sim::scenario::{Scenario, discover};

fn library() -> Vec<Scenario> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    discover(&[dir])
        .expect("the scenario library")
        .iter()
        .map(|p| Scenario::load(p).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

#[test]
fn every_scenario_twice_with_the_same_seed_gives_an_identical_trace() {
    for scenario in library() {
        let first = runner::run(&scenario, scenario.seed).expect("first run");
        let second = runner::run(&scenario, scenario.seed).expect("second run");
        assert!(
            !first.trace.entries.is_empty(),
            "{}: empty trace",
            scenario.name
        );
        if first.trace != second.trace {
            let diverged = first
                .trace
                .entries
                .iter()
                .zip(&second.trace.entries)
                .position(|(a, b)| a != b)
                .unwrap_or(first.trace.entries.len().min(second.trace.entries.len()));
            panic!(
                "{}: traces diverge at entry {diverged}:\n first: {:?}\nsecond: {:?}",
                scenario.name,
                first.trace.entries.get(diverged),
                second.trace.entries.get(diverged)
            );
        }
        assert_eq!(first.trace_hash(), second.trace_hash());
        assert_eq!(
            first.reports, second.reports,
            "{}: reports differ",
            scenario.name
        );
    }
}

/// Link latencies are drawn from the seeded RNG, so different seeds give different traces (while
/// every one of them passes): the seed is not decorative.
#[test]
fn different_seeds_give_different_traces() {
    let scenario = library()
        .into_iter()
        .find(|s| s.name == "healthy-three-backends")
        .expect("the baseline scenario");
    let mut hashes = std::collections::BTreeSet::new();
    for seed in 1..=4 {
        let outcome = runner::run(&scenario, seed).expect("run");
        assert!(outcome.passed(), "seed {seed}: {:?}", outcome.failures);
        hashes.insert(outcome.trace_hash());
    }
    assert!(
        hashes.len() >= 2,
        "4 seeds gave {} distinct traces",
        hashes.len()
    );
}
