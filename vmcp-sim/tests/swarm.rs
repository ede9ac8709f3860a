//! Swarm runs: perturbations become explicit events, the liveness phase can fail, a failing
//! seed shrinks to a standalone file that fails the same way under a plain run.

use vmcp_sim::runner;
use vmcp_sim::scenario::Scenario;
use vmcp_sim::swarm::{self, Failure};

const LIBRARY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/");

fn load(name: &str) -> Scenario {
    Scenario::load(format!("{LIBRARY}{name}")).expect("library scenario")
}

#[test]
fn a_swarm_seed_is_a_scenario_file_with_perturbations_and_liveness_expectations() {
    let scenario = load("healthy-three-backends.toml");
    let (choice, candidate, run) = swarm::run_seed(&scenario, 3);
    assert!(!choice.enabled.is_empty());
    assert!(!candidate.perturbations.is_empty(), "{choice:?}");
    let written = Scenario::from_toml_str(&run.text, "swarm.toml").expect("parses");
    assert_eq!(
        written.events.len(),
        scenario.events.len()
            + candidate
                .perturbations
                .iter()
                .map(|p| p.events.len())
                .sum::<usize>()
    );
    // Every backend must converge: two liveness expectations each, none of the file's own.
    assert_eq!(written.expects.len(), 2 * scenario.backends.len());
    assert!(written.expects.iter().all(|e| {
        e.description
            .as_deref()
            .is_some_and(|d| d.starts_with("liveness"))
    }));
    assert_eq!(run.failure(), None, "{:?}", run.outcome.map(|o| o.failures));
    // Same seed, same choice and file.
    let (again, _, rerun) = swarm::run_seed(&scenario, 3);
    assert_eq!(again, choice);
    assert_eq!(rerun.text, run.text);
}

/// The shared keep-alive pool (the PR 4290 bug) without its `reproduces_bug` exemption: the
/// liveness phase catches it, and shrinking drops every perturbation but keeps the pod
/// replacement that triggers it. The written file fails the same way under a plain run.
#[test]
fn the_liveness_phase_finds_the_shared_pool_bug_and_the_shrunk_file_replays_it() {
    let text = std::fs::read_to_string(format!("{LIBRARY}stale-keepalive-shared-pool.toml"))
        .expect("readable");
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("reproduces_bug"))
        .map(|l| format!("{l}\n"))
        .collect();
    let scenario = Scenario::from_toml_str(&text, "shared-pool-no-exemption.toml").expect("valid");
    let (_, candidate, run) = swarm::run_seed(&scenario, 0);
    assert_eq!(run.failure(), Some(Failure::Liveness));
    let (shrunk, last, _) = swarm::shrink::shrink(&scenario, 0, candidate, &Failure::Liveness);
    assert!(
        shrunk.perturbations.is_empty(),
        "{:?}",
        shrunk.perturbations
    );
    assert_eq!(shrunk.base.len(), 1, "the replace_pod event stays");
    let replay = Scenario::from_toml_str(&last.text, "shrunk.toml").expect("parses");
    let outcome = runner::run(&replay, replay.seed).expect("runs");
    assert!(outcome.violations.is_empty());
    assert!(!outcome.failures.is_empty(), "fails under a plain run");
}

#[test]
fn a_scenario_that_reproduces_a_bug_has_no_liveness_obligation() {
    let scenario = load("stale-keepalive-shared-pool.toml");
    let (_, _, run) = swarm::run_seed(&scenario, 0);
    let written = Scenario::from_toml_str(&run.text, "swarm.toml").expect("parses");
    assert!(written.expects.is_empty());
}

/// A scenario with clients keeps its client traffic in every swarm run: the written file has
/// its `[[client]]`s, and the run's trace has their calls next to the perturbations.
#[test]
fn swarm_runs_of_a_scenario_with_clients_include_the_client_traffic() {
    let scenario = load("client-open-circuit-fast-fail.toml");
    let (_, candidate, run) = swarm::run_seed(&scenario, 2);
    assert!(!candidate.perturbations.is_empty());
    let written = Scenario::from_toml_str(&run.text, "swarm.toml").expect("parses");
    assert_eq!(written.clients, {
        let mut clients = scenario.clients.clone();
        for (c, w) in clients.iter_mut().zip(&written.clients) {
            c.location = w.location;
            for (call, wc) in c.calls.iter_mut().zip(&w.calls) {
                call.location = wc.location;
            }
        }
        clients
    });
    let outcome = run.outcome.as_ref().expect("runs");
    let calls = outcome
        .trace
        .entries
        .iter()
        .filter(|e| matches!(e.event, vmcp_sim::trace::TraceEvent::CallFinished { .. }))
        .count();
    assert!(calls > 100, "only {calls} client calls in the swarm run");
}
