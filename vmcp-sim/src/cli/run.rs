//! `vmcp-sim run`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use serde_json::json;
use vmcp_sim::runner::{self, RunError};

use super::picture::{self, RunTarget};
use super::render::{failure_report, summary_table};
use super::{EXIT_FAILED, EXIT_INVALID, EXIT_OK, load_all};

/// One finished scenario, for the summary.
pub(super) struct Row {
    pub name: String,
    pub file: String,
    pub seed: u64,
    pub result: Result<runner::RunOutcome, RunError>,
    pub wall_ms: u128,
}

pub(super) fn run(
    paths: &[PathBuf],
    seed: Option<u64>,
    trace: bool,
    json_out: bool,
    html: Option<&Path>,
    jobs: usize,
) -> u8 {
    let scenarios = match load_all(paths) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("{err}");
            return EXIT_INVALID;
        }
    };
    let mut pictures = html.map(|out| RunTarget::new(out, scenarios.len()));
    let mut picture_failed = false;
    let mut rows = Vec::with_capacity(scenarios.len());
    // The runs go in parallel (each is an independent single-threaded simulation, so a result
    // never depends on `jobs`); everything printed or written follows the file order.
    run_parallel(&scenarios, seed, jobs, |row| {
        // The timeline picture (--html), for every run that produced an outcome.
        let written = match (&mut pictures, &row.result) {
            (Some(target), Ok(outcome)) => {
                let path = target.path_for(&row.file);
                match picture::write(&path, outcome) {
                    Ok(()) => Some(path),
                    Err(err) => {
                        eprintln!("{err}");
                        picture_failed = true;
                        None
                    }
                }
            }
            _ => None,
        };
        if json_out {
            println!("{}", json_line(&row));
        } else {
            if trace && let Ok(outcome) = &row.result {
                println!("── {} (seed {}) ──", row.name, row.seed);
                print!("{}", outcome.trace.render(&outcome.trace.entries));
            }
            if let Some(text) = failure_report(&row) {
                let note = match &row.result {
                    Ok(_) => format!("{}\n", picture::note(written.as_deref())),
                    Err(_) => String::new(),
                };
                eprint!("{}\n{note}\n", text.trim_end());
            } else if let Some(path) = &written {
                eprintln!("timeline picture: {}", path.display());
            }
        }
        rows.push(row);
    });
    if !json_out {
        print!("{}", summary_table(&rows));
    }
    if picture_failed
        || rows
            .iter()
            .any(|r| matches!(r.result, Err(RunError::Unsupported { .. })))
    {
        EXIT_INVALID
    } else if rows
        .iter()
        .all(|r| r.result.as_ref().is_ok_and(|o| o.passed()))
    {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// Run every scenario on up to `jobs` threads and hand each finished [`Row`] to `emit` on the
/// calling thread, in the order of `scenarios` (a row waits until every earlier one is done).
fn run_parallel(
    scenarios: &[vmcp_sim::scenario::Scenario],
    seed: Option<u64>,
    jobs: usize,
    mut emit: impl FnMut(Row),
) {
    let next = AtomicUsize::new(0);
    let (done, finished) = mpsc::channel::<(usize, Row)>();
    let jobs = jobs.clamp(1, scenarios.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let done = done.clone();
            let next = &next;
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(scenario) = scenarios.get(i) else {
                        break;
                    };
                    let seed = seed.unwrap_or(scenario.seed);
                    // Wall time is reported, never used by the simulation.
                    #[allow(
                        clippy::disallowed_methods,
                        reason = "the wall-time column measures the host, outside the simulation; it never feeds the run"
                    )]
                    let started = Instant::now();
                    let result = runner::run_catching_panics(scenario, seed);
                    let row = Row {
                        name: scenario.name.clone(),
                        file: scenario.file.clone(),
                        seed,
                        result,
                        wall_ms: started.elapsed().as_millis(),
                    };
                    if done.send((i, row)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done);
        // Rows arrive in completion order; emit them in file order.
        let mut waiting = BTreeMap::new();
        let mut upcoming = 0;
        for (i, row) in finished {
            waiting.insert(i, row);
            while let Some(row) = waiting.remove(&upcoming) {
                emit(row);
                upcoming += 1;
            }
        }
    });
}

fn json_line(row: &Row) -> String {
    let value = match &row.result {
        Ok(o) => json!({
            "scenario": row.name,
            "file": row.file,
            "seed": row.seed,
            "passed": o.passed(),
            "reproduces_bug": o.reproduces_bug,
            "failures": o.failures,
            "violations": o.violations,
            "trace_hash": o.trace_hash(),
            "rng_fingerprint": o.rng_fingerprint,
            "sim_elapsed_ms": o.sim_elapsed.as_millis(),
            "wall_ms": row.wall_ms,
            "final_report": o.final_report(),
        }),
        Err(err) => json!({
            "scenario": row.name,
            "file": row.file,
            "seed": row.seed,
            "passed": false,
            "error": err.to_string(),
            "failures": [],
            "violations": [],
            "trace_hash": null,
            "rng_fingerprint": null,
            "sim_elapsed_ms": null,
            "wall_ms": row.wall_ms,
            "final_report": null,
        }),
    };
    value.to_string()
}
