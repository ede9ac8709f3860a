//! Shrinking a failing swarm seed: drop perturbations, then the scenario's own events, one at a
//! time, keeping every drop after which the run still fails the same way (same [`Failure`]),
//! until a whole pass drops nothing. Greedy and deterministic: the same seed always shrinks to
//! the same file. Each attempt is a full run; a pass costs one run per remaining item.

use super::{Candidate, Failure, SwarmRun, label, run_text};
use crate::scenario::Scenario;

/// The most passes (each pass tries every remaining item once).
const MAX_PASSES: usize = 4;

/// The shrunk candidate, its last failing run, and how many runs it took.
pub fn shrink(
    scenario: &Scenario,
    seed: u64,
    start: Candidate,
    failure: &Failure,
) -> (Candidate, SwarmRun, usize) {
    let attempt = |c: &Candidate| run_text(c.to_toml(scenario, seed), &label(scenario, seed), seed);
    let mut current = start;
    let mut last = attempt(&current);
    let mut runs = 1;
    for _ in 0..MAX_PASSES {
        let mut dropped = false;
        let mut i = current.perturbations.len();
        while i > 0 {
            i -= 1;
            let mut next = current.clone();
            next.perturbations.remove(i);
            let run = attempt(&next);
            runs += 1;
            if run.failure().as_ref() == Some(failure) {
                current = next;
                last = run;
                dropped = true;
            }
        }
        let mut i = current.base.len();
        while i > 0 {
            i -= 1;
            let mut next = current.clone();
            next.base.remove(i);
            let run = attempt(&next);
            runs += 1;
            if run.failure().as_ref() == Some(failure) {
                current = next;
                last = run;
                dropped = true;
            }
        }
        if !dropped {
            break;
        }
    }
    (current, last, runs)
}
