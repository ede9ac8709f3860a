//! A crash or restart replays exactly, whatever the process ran before (DESIGN §4.5:
//! nondeterminism is detected, not assumed).
//!
//! turmoil crashes a host by dropping its tokio runtime, and tokio drops the runtime's tasks in the
//! order of its owned-task list: sharded by the *process-global* task id (four shards on a
//! current-thread runtime), last spawned first within a shard. Each dropped TCP stream sends its
//! FIN/RST through turmoil's network, which draws that message's latency from the seeded RNG, and
//! a dropped call reports its end into the trace. So without the world's ordered teardown the
//! order of those closes, and with it the schedule after a crash, depended on how many tokio tasks
//! the process had spawned before: another seed on the same `explore` thread, another test.
//!
//! Each test runs a crash scenario's seed, then spawns `k` throw-away tokio tasks (shifting every
//! later task id by `k`, so the run's tasks land in other shards) and runs the seed again.

use std::path::PathBuf;

use vmcp_sim::runner::{self, RunOutcome};
use vmcp_sim::scenario::Scenario;

fn scenario(file: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(file);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn run(scenario: &Scenario, seed: u64) -> RunOutcome {
    runner::run(scenario, seed)
        .unwrap_or_else(|e| panic!("{} seed {seed}: could not run: {e}", scenario.name))
}

/// Moves tokio's process-global task-id counter on by `tasks`.
fn spawn_throwaway_tasks(tasks: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        for _ in 0..tasks {
            let _ = tokio::spawn(async {}).await;
        }
    });
}

/// The first entry where two traces of one seed differ.
fn divergence(first: &RunOutcome, second: &RunOutcome) -> String {
    let (a, b) = (&first.trace.entries, &second.trace.entries);
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    format!("entry {at}: {:?} vs {:?}", a.get(at), b.get(at))
}

/// Runs each seed once, then again after 1, 2 and 3 throw-away tasks (every offset of the four
/// shards); every rerun must give the first run's trace and RNG state.
fn replays_whatever_ran_before(file: &str, seeds: &[u64]) {
    let scenario = scenario(file);
    let mut problems = Vec::new();
    for &seed in seeds {
        let reference = run(&scenario, seed);
        for shift in 1..=3 {
            spawn_throwaway_tasks(shift);
            let again = run(&scenario, seed);
            if again.trace != reference.trace {
                problems.push(format!(
                    "seed {seed}, task ids shifted by {shift}: the trace differs at {}",
                    divergence(&reference, &again)
                ));
            } else if again.rng_fingerprint != reference.rng_fingerprint {
                problems.push(format!(
                    "seed {seed}, task ids shifted by {shift}: same trace, different RNG state"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{file}:\n{}", problems.join("\n"));
}

/// A pod terminated under open backend sessions (`replace_pod`: the old pod's host crashes with
/// its server-side connections). Seeds 95, 97 and 115 diverged before the fix.
#[test]
fn a_terminated_pod_closes_its_connections_in_a_fixed_order() {
    replays_whatever_ran_before("client-session-lost-404.toml", &[95, 97, 115, 117, 128, 170]);
}

/// The `vmcp` host crashes with client connections, backend connections and calls in flight,
/// then restarts.
#[test]
fn a_crashed_vmcp_host_closes_its_connections_in_a_fixed_order() {
    replays_whatever_ran_before("client-vmcp-restart.toml", &[1, 2, 3, 4, 5, 6, 7, 8]);
}
