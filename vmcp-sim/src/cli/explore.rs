//! `vmcp-sim explore`: a seed sweep over one scenario.

use std::io::{IsTerminal, Write};
use std::path::Path;

use super::picture;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use vmcp_sim::runner;
use vmcp_sim::scenario::Scenario;

use super::{EXIT_FAILED, EXIT_INVALID, EXIT_OK, repro_command};

/// What one seed's run came to.
enum SeedResult {
    Passed,
    /// Why, and the line about its timeline picture (if the run produced an outcome).
    Failed(String, Option<String>),
    Invalid(String),
}

fn run_seed(scenario: &Scenario, seed: u64, html_dir: &Path) -> SeedResult {
    match runner::run_catching_panics(scenario, seed) {
        Ok(o) if o.passed() => SeedResult::Passed,
        Ok(o) => {
            let path = picture::seed_path(html_dir, &o.file, seed);
            let note = match picture::write(&path, &o) {
                Ok(()) => picture::note(Some(&path)),
                Err(err) => format!("  timeline picture: {err}"),
            };
            SeedResult::Failed(
                format!(
                    "{} expectation(s) failed; first: {}: {}",
                    o.failures.len(),
                    o.failures[0].location,
                    o.failures[0].message
                ),
                Some(note),
            )
        }
        Err(runner::RunError::Unsupported { location, message }) => {
            SeedResult::Invalid(format!("{location}: {message}"))
        }
        Err(err) => SeedResult::Failed(err.to_string(), None),
    }
}

/// Sweep the seeds on `jobs` OS threads. Each seed is an independent simulation (its own turmoil
/// world on one thread), so the result of a seed never depends on `jobs`; only wall time does.
pub(super) fn explore(
    file: &Path,
    seeds: u64,
    start: u64,
    shard: Option<(u64, u64)>,
    jobs: usize,
    html_dir: &Path,
) -> u8 {
    let scenario = match Scenario::load(file) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("{err}");
            return EXIT_INVALID;
        }
    };
    let (k, m) = shard.unwrap_or((1, 1));
    let chosen: Vec<u64> = (0..seeds)
        .filter(|offset| offset % m == k - 1)
        .map(|offset| start.wrapping_add(offset))
        .collect();
    if chosen.is_empty() {
        // A sweep that runs nothing must not look like a pass (e.g. a gate with a bad shard).
        eprintln!("explore: no seed to run (--seeds {seeds}, shard {k}/{m})");
        return EXIT_INVALID;
    }
    let progress = std::io::stderr().is_terminal();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<(u64, SeedResult)>> = Mutex::new(Vec::with_capacity(chosen.len()));
    let jobs = jobs.clamp(1, chosen.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = chosen.get(i) else { break };
                    let result = run_seed(&scenario, seed, html_dir);
                    let mut all = results.lock().unwrap_or_else(|p| p.into_inner());
                    all.push((seed, result));
                    let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if progress {
                        let failing = all
                            .iter()
                            .filter(|(_, r)| !matches!(r, SeedResult::Passed))
                            .count();
                        draw_progress(finished, chosen.len(), failing);
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(seed, _)| *seed);
    let mut failing = Vec::new();
    for (seed, result) in results {
        match result {
            SeedResult::Passed => {}
            SeedResult::Failed(why, note) => failing.push((seed, why, note)),
            SeedResult::Invalid(why) => {
                if progress {
                    eprintln!();
                }
                eprintln!("{why}");
                return EXIT_INVALID;
            }
        }
    }
    if progress {
        eprintln!();
    }
    let file_text = file.display().to_string();
    for (seed, why, note) in &failing {
        println!("seed {seed} FAILED: {why}");
        println!("  reproduce: {}", repro_command(&file_text, *seed));
        if let Some(note) = note {
            println!("{note}");
        }
    }
    println!(
        "{}: {} seeds explored (shard {k}/{m}), {} failing",
        scenario.name,
        chosen.len(),
        failing.len()
    );
    if failing.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

fn draw_progress(done: usize, total: usize, failing: usize) {
    let width = 30;
    let filled = done * width / total.max(1);
    eprint!(
        "\r[{}{}] {done}/{total} seeds, {failing} failing",
        "#".repeat(filled),
        " ".repeat(width - filled),
    );
    let _ = std::io::stderr().flush();
}
