//! `vmcp-sim explore`: a seed sweep over one scenario.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::json;

use super::picture;
use vmcp_sim::runner;
use vmcp_sim::scenario::{Scenario, SwarmOverrides};
use vmcp_sim::swarm::{self, Candidate, Failure};

use super::{EXIT_FAILED, EXIT_INVALID, EXIT_OK, repro_command};

/// The `explore` options.
pub(super) struct Options {
    /// How many seeds.
    pub(super) seeds: u64,
    /// The first seed.
    pub(super) start: u64,
    /// Shard K of M.
    pub(super) shard: Option<(u64, u64)>,
    /// Threads.
    pub(super) jobs: usize,
    /// Swarm mode.
    pub(super) swarm: bool,
    /// Swarm: the command line's changes to the file's `[swarm]` table.
    pub(super) swarm_overrides: SwarmOverrides,
    /// Run each seed twice and compare.
    pub(super) check_determinism: bool,
    /// JSON lines on stdout.
    pub(super) json: bool,
    /// Where shrunk swarm failures go.
    pub(super) out_dir: PathBuf,
    /// Where the timeline picture of every failing seed goes.
    pub(super) html_dir: PathBuf,
}

/// What one seed's run came to.
struct SeedResult {
    /// `None`: passed.
    failed: Option<String>,
    /// The scenario cannot run at all (exit 2).
    invalid: Option<String>,
    trace_hash: Option<String>,
    rng_fingerprint: Option<String>,
    /// Swarm: the perturbations enabled and how many were scheduled.
    enabled: Vec<(&'static str, f64)>,
    scheduled: usize,
    /// Swarm: what to shrink.
    shrinkable: Option<(Candidate, Failure)>,
    /// The line about the failing run's timeline picture, if one was drawn.
    picture: Option<String>,
}

impl SeedResult {
    fn of(result: Result<runner::RunOutcome, String>) -> Self {
        let (failed, trace_hash, rng_fingerprint) = match &result {
            Ok(o) if o.passed() => (None, Some(o.trace_hash()), Some(o.rng_fingerprint.clone())),
            Ok(o) => (
                Some(first_failure(o)),
                Some(o.trace_hash()),
                Some(o.rng_fingerprint.clone()),
            ),
            Err(e) => (Some(e.clone()), None, None),
        };
        Self {
            failed,
            invalid: None,
            trace_hash,
            rng_fingerprint,
            enabled: Vec::new(),
            scheduled: 0,
            shrinkable: None,
            picture: None,
        }
    }

    /// Draw the timeline picture of a failing run into `dir` (DESIGN §4.7).
    fn draw(&mut self, result: &Result<runner::RunOutcome, String>, dir: &Path, seed: u64) {
        if let (Some(_), Ok(outcome)) = (&self.failed, result) {
            let path = picture::seed_path(dir, &outcome.file, seed);
            self.picture = Some(match picture::write(&path, outcome) {
                Ok(()) => picture::note(Some(&path)),
                Err(err) => format!("  timeline picture: {err}"),
            });
        }
    }
}

fn run_seed(scenario: &Scenario, seed: u64, options: &Options) -> SeedResult {
    let once = || -> SeedResult {
        if options.swarm {
            let (choice, candidate, run) = swarm::run_seed(scenario, seed);
            let failure = run.failure();
            let mut result = SeedResult::of(run.outcome.clone());
            result.draw(&run.outcome, &options.html_dir, seed);
            if let Some(failure) = &failure
                && result.failed.is_some()
            {
                result.failed = Some(format!(
                    "{failure}: {}",
                    result.failed.take().unwrap_or_default()
                ));
            }
            result.enabled = choice.enabled.iter().map(|(p, r)| (p.name(), *r)).collect();
            result.scheduled = choice.scheduled.len();
            result.shrinkable = failure.map(|f| (candidate, f));
            result
        } else {
            match runner::run_catching_panics(scenario, seed) {
                Err(runner::RunError::Unsupported { location, message }) => SeedResult {
                    invalid: Some(format!("{location}: {message}")),
                    ..SeedResult::of(Err(String::new()))
                },
                other => {
                    let other = other.map_err(|e| e.to_string());
                    let mut result = SeedResult::of(other.clone());
                    result.draw(&other, &options.html_dir, seed);
                    result
                }
            }
        }
    };
    let first = once();
    if !options.check_determinism {
        return first;
    }
    let second = once();
    let mut result = first;
    if (&result.trace_hash, &result.rng_fingerprint)
        != (&second.trace_hash, &second.rng_fingerprint)
    {
        result.failed = Some(format!(
            "nondeterministic: two runs of seed {seed} differ (trace {} vs {}, rng {} vs {})",
            result.trace_hash.as_deref().unwrap_or("-"),
            second.trace_hash.as_deref().unwrap_or("-"),
            result.rng_fingerprint.as_deref().unwrap_or("-"),
            second.rng_fingerprint.as_deref().unwrap_or("-"),
        ));
        result.shrinkable = None;
    }
    result
}

/// One line about a failed run: how many failed, and the first failure.
pub(super) fn first_failure(o: &runner::RunOutcome) -> String {
    let first = match (o.failures.first(), o.violations.first()) {
        (Some(f), _) => format!("{}: {}", f.location, f.message),
        (None, Some(v)) => format!("{}: invariant `{}`: {}", v.location, v.invariant, v.message),
        (None, None) => "passed".to_owned(),
    };
    format!("{}; first: {first}", super::render::failure_note(o))
}

/// Sweep the seeds on `jobs` OS threads. Each seed is an independent simulation (its own turmoil
/// world on one thread), so the result of a seed never depends on `jobs`; only wall time does.
pub(super) fn explore(file: &Path, options: &Options) -> u8 {
    let mut scenario = match Scenario::load(file) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("{err}");
            return EXIT_INVALID;
        }
    };
    match scenario.swarm.overridden(&options.swarm_overrides) {
        Ok(settings) => scenario.swarm = settings,
        Err(err) => {
            eprintln!("explore: {err}");
            return EXIT_INVALID;
        }
    }
    let (k, m) = options.shard.unwrap_or((1, 1));
    let chosen: Vec<u64> = (0..options.seeds)
        .filter(|offset| offset % m == k - 1)
        .map(|offset| options.start.wrapping_add(offset))
        .collect();
    if chosen.is_empty() {
        // A sweep that runs nothing must not look like a pass (e.g. a gate with a bad shard).
        eprintln!(
            "explore: no seed to run (--seeds {}, shard {k}/{m})",
            options.seeds
        );
        return EXIT_INVALID;
    }
    let progress = std::io::stderr().is_terminal() && !options.json;
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<(u64, SeedResult)>> = Mutex::new(Vec::with_capacity(chosen.len()));
    let jobs = options.jobs.clamp(1, chosen.len().max(1));
    #[allow(
        clippy::disallowed_methods,
        reason = "wall time of the sweep (seeds/s) is reported, never used by the simulation"
    )]
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = chosen.get(i) else { break };
                    let result = run_seed(&scenario, seed, options);
                    let mut all = results.lock().unwrap_or_else(|p| p.into_inner());
                    all.push((seed, result));
                    let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if progress {
                        let failing = all.iter().filter(|(_, r)| r.failed.is_some()).count();
                        draw_progress(finished, chosen.len(), failing);
                    }
                }
            });
        }
    });
    let wall = started.elapsed();
    if progress {
        eprintln!();
    }
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(seed, _)| *seed);
    if let Some((_, r)) = results.iter().find(|(_, r)| r.invalid.is_some()) {
        eprintln!("{}", r.invalid.as_deref().unwrap_or_default());
        return EXIT_INVALID;
    }
    let file_text = file.display().to_string();
    let mode = if options.swarm { " --swarm" } else { "" };
    let distinct: BTreeSet<&str> = results
        .iter()
        .filter_map(|(_, r)| r.trace_hash.as_deref())
        .collect();
    let reproduce = |seed: u64| {
        if options.swarm {
            format!(
                "cargo run --release -p vmcp-sim -- explore {file_text} --swarm --start {seed} --seeds 1"
            )
        } else {
            repro_command(&file_text, seed)
        }
    };
    let failing: Vec<&(u64, SeedResult)> =
        results.iter().filter(|(_, r)| r.failed.is_some()).collect();
    for (seed, r) in &results {
        if options.json {
            println!(
                "{}",
                json!({
                    "scenario": scenario.name,
                    "seed": seed,
                    "swarm": options.swarm,
                    "passed": r.failed.is_none(),
                    "failure": r.failed,
                    "trace_hash": r.trace_hash,
                    "rng_fingerprint": r.rng_fingerprint,
                    "perturbations_enabled": r.enabled.iter().map(|(n, rate)| json!({"name": n, "rate": rate})).collect::<Vec<_>>(),
                    "perturbations_scheduled": r.scheduled,
                })
            );
        } else if let Some(why) = &r.failed {
            println!("seed {seed} FAILED: {why}");
            println!("  reproduce: {}", reproduce(*seed));
            if let Some(note) = &r.picture {
                println!("{note}");
            }
        }
    }
    let first_failing = failing.first().map(|(seed, _)| *seed);
    let mut shrunk_path = None;
    if let Some((seed, r)) = failing.first()
        && let Some((candidate, failure)) = &r.shrinkable
    {
        shrunk_path = write_shrunk(&scenario, *seed, candidate.clone(), failure, options);
    }
    let seeds_per_s = chosen.len() as f64 / wall.as_secs_f64().max(1e-9);
    if options.json {
        println!(
            "{}",
            json!({
                "scenario": scenario.name,
                "summary": true,
                "swarm": options.swarm,
                "check_determinism": options.check_determinism,
                "seeds": chosen.len(),
                "failing": failing
                    .iter()
                    .map(|(seed, r)| json!({
                        "seed": seed,
                        "why": r.failed,
                        "reproduce": reproduce(*seed),
                    }))
                    .collect::<Vec<_>>(),
                "fixed_schedule": scenario.fixed_schedule,
                "first_failing_seed": first_failing,
                "distinct_schedules": distinct.len(),
                "shrunk_file": shrunk_path,
                "wall_ms": wall.as_millis(),
            })
        );
    } else {
        let fixed = scenario
            .fixed_schedule
            .as_deref()
            .map(|why| format!(" (fixed_schedule: {why})"))
            .unwrap_or_default();
        println!(
            "distinct schedules: {} of {} seeds{fixed}",
            distinct.len(),
            chosen.len()
        );
        println!(
            "{}{mode}: {} seeds explored (shard {k}/{m}), {} failing{}; {:.1} seeds/s",
            scenario.name,
            chosen.len(),
            failing.len(),
            first_failing
                .map(|s| format!(
                    " (first: seed {s}, the {}. seed run)",
                    chosen.iter().position(|c| *c == s).map_or(0, |p| p + 1)
                ))
                .unwrap_or_default(),
            seeds_per_s
        );
    }
    if failing.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// Shrink the failing swarm seed, write the file, check that a plain run of the written file
/// fails the same way, and say where it is. Returns the path.
fn write_shrunk(
    scenario: &Scenario,
    seed: u64,
    candidate: Candidate,
    failure: &Failure,
    options: &Options,
) -> Option<String> {
    let before = (candidate.perturbations.len(), candidate.base.len());
    let (shrunk, run, runs) = swarm::shrink::shrink(scenario, seed, candidate, failure);
    let path = options
        .out_dir
        .join(format!("{}-swarm-seed-{seed}.toml", scenario.name));
    let written =
        std::fs::create_dir_all(&options.out_dir).and_then(|()| std::fs::write(&path, &run.text));
    let shown = path.display().to_string();
    if let Err(e) = written {
        eprintln!("could not write {shown}: {e}");
        return None;
    }
    let replay = Scenario::load(&path)
        .map_err(|e| e.to_string())
        .and_then(|s| runner::run_catching_panics(&s, seed).map_err(|e| e.to_string()));
    // The picture of the shrunk file's own run, next to the shrunk file.
    let drawn = replay.as_ref().ok().map(|outcome| {
        let picture = picture::shrunk_path(&options.out_dir, &scenario.file, seed);
        match picture::write(&picture, outcome) {
            Ok(()) => picture::note(Some(&picture)),
            Err(err) => format!("  timeline picture: {err}"),
        }
    });
    let same = swarm::SwarmRun {
        text: String::new(),
        outcome: replay,
    }
    .failure();
    let say = |line: String| {
        if options.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    say(format!(
        "shrunk seed {seed} ({failure}) in {runs} runs: {} -> {} perturbation(s), {} -> {} scenario event(s)",
        before.0,
        shrunk.perturbations.len(),
        before.1,
        shrunk.base.len()
    ));
    say(format!("  written: {shown}"));
    say(format!(
        "  replay:  cargo run --release -p vmcp-sim -- run {shown} --trace"
    ));
    if let Some(line) = drawn {
        say(line);
    }
    if same.as_ref() != Some(failure) {
        say(format!(
            "  WARNING: the written file does not fail the same way ({}), please report",
            same.map_or("it passed".to_owned(), |f| f.to_string())
        ));
    }
    Some(shown)
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
