//! Determinism is a product feature (DESIGN §3.2, §4.5), checked over the whole library: every
//! scenario run twice with the same seed gives the same trace, entry for entry; every scenario
//! without `fixed_schedule` gives a different trace for another seed (the seed drives the
//! schedule); every seeded stream ends in the same state (`rng_fingerprint`); and at most three
//! scenarios declare `fixed_schedule`.

use std::path::PathBuf;

use vmcp_sim::runner::{self, RunOutcome};
use vmcp_sim::scenario::{Scenario, discover};

fn library() -> Vec<Scenario> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    discover(&[dir])
        .expect("the scenario library")
        .iter()
        .map(|p| Scenario::load(p).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn run(scenario: &Scenario, seed: u64) -> RunOutcome {
    runner::run(scenario, seed)
        .unwrap_or_else(|e| panic!("{} seed {seed}: could not run: {e}", scenario.name))
}

/// Where two traces of one scenario first differ, for the failure message.
fn divergence(first: &RunOutcome, second: &RunOutcome) -> String {
    let (a, b) = (&first.trace.entries, &second.trace.entries);
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    format!(
        "traces diverge at entry {at}:\n first: {:?}\nsecond: {:?}",
        a.get(at),
        b.get(at)
    )
}

/// What is wrong with one scenario's replay: the same seed twice must give the same trace,
/// reports and final RNG state; another seed must give another schedule unless the file
/// declares `fixed_schedule`.
fn check_replay(scenario: &Scenario) -> Vec<String> {
    let mut problems = Vec::new();
    let seed = scenario.seed;
    let first = run(scenario, seed);
    let again = run(scenario, seed);
    if first.trace.entries.is_empty() {
        problems.push(format!("{}: empty trace", scenario.name));
        return problems;
    }
    if first.trace != again.trace || first.reports != again.reports {
        problems.push(format!(
            "{} seed {seed}: not reproducible: {}",
            scenario.name,
            divergence(&first, &again)
        ));
        return problems;
    }
    if first.trace_hash() != again.trace_hash() {
        problems.push(format!(
            "{} seed {seed}: equal traces with different hashes ({} vs {})",
            scenario.name,
            first.trace_hash(),
            again.trace_hash()
        ));
    }
    if first.rng_fingerprint != again.rng_fingerprint {
        problems.push(format!(
            "{} seed {seed}: same trace, but the seeded streams ended in different states \
             (rng fingerprint {} vs {})",
            scenario.name, first.rng_fingerprint, again.rng_fingerprint
        ));
    }
    let other = run(scenario, seed.wrapping_add(1));
    match (&scenario.fixed_schedule, first.trace == other.trace) {
        (None, true) => problems.push(format!(
            "{}: seeds {seed} and {} ran the same schedule (trace {}); the seed must drive it, \
             or the file must declare fixed_schedule = \"<why>\"",
            scenario.name,
            seed.wrapping_add(1),
            first.trace_hash()
        )),
        (Some(_), false) => problems.push(format!(
            "{}: declares fixed_schedule but seeds {seed} and {} differ: {}",
            scenario.name,
            seed.wrapping_add(1),
            divergence(&first, &other)
        )),
        _ => {}
    }
    problems
}

#[test]
fn the_seed_drives_every_scenario_and_replays_it_exactly() {
    let library = library();
    assert!(
        library.len() >= 20,
        "the library has {} files",
        library.len()
    );
    // The three runs of a scenario are independent of every other scenario's: spread them over
    // the cores, and report in library order.
    let mut problems: Vec<String> = vmcp_suite::parallel_map(&library, check_replay)
        .into_iter()
        .flatten()
        .collect();
    let fixed: Vec<&str> = library
        .iter()
        .filter(|s| s.fixed_schedule.is_some())
        .map(|s| s.name.as_str())
        .collect();
    if fixed.len() > 3 {
        problems.push(format!(
            "{} scenarios declare fixed_schedule (at most 3): {fixed:?}",
            fixed.len()
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
