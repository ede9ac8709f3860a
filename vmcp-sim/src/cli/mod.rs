//! The command line: argument parsing and the three commands.

mod explore;
mod picture;
mod render;
mod run;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use vmcp_sim::scenario::{
    Perturbation, Scenario, ScenarioError, SwarmOverrides, discover, parse_rate_flag,
};

/// Exit status: everything passed.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit status: an expectation failed or a run crashed.
pub(crate) const EXIT_FAILED: u8 = 1;
/// Exit status: invalid input (a scenario file or an argument).
pub(crate) const EXIT_INVALID: u8 = 2;

/// Deterministic simulation of vmcp-core: run scenario files on a simulated network.
#[derive(Debug, Parser)]
#[command(name = "vmcp-sim", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios (files or directories of *.toml, sorted) and check their expectations.
    Run {
        /// Scenario files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Seed for every scenario (overrides the files' `seed`).
        #[arg(long, env = "VMCP_SIM_SEED")]
        seed: Option<u64>,
        /// Print each run's timeline.
        #[arg(long)]
        trace: bool,
        /// One JSON object per scenario on stdout instead of the table.
        #[arg(long)]
        json: bool,
        /// Write a self-contained HTML timeline picture: this file for one scenario; a
        /// directory (one `<stem>.html` per scenario) for several, or if it is one or ends in `/`.
        #[arg(long, value_name = "OUT")]
        html: Option<PathBuf>,
        /// Scenarios run in parallel on this many threads (default: the number of CPUs). The
        /// output keeps the file order and results do not depend on it.
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Validate scenario files without running them.
    Check {
        /// Scenario files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Sweep seeds over one scenario and report every failing seed.
    Explore {
        /// The scenario file.
        file: PathBuf,
        /// How many seeds to try.
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Run only shard K of M (1-based), e.g. `--shard 2/4`: seeds whose offset from
        /// `--start` is ≡ K-1 (mod M).
        #[arg(long, value_parser = parse_shard)]
        shard: Option<(u64, u64)>,
        /// Seeds run in parallel on this many threads (default: the number of CPUs). Results do
        /// not depend on it.
        #[arg(long)]
        jobs: Option<usize>,
        /// Swarm mode: per seed, random perturbations on top of the scenario; invariants and a
        /// liveness phase are checked instead of the file's expectations; the first failing
        /// seed is shrunk to a standalone scenario file.
        #[arg(long)]
        swarm: bool,
        /// Swarm: the perturbations a seed may enable, comma-separated (overrides the file's
        /// `[swarm] perturbations`; default: all).
        #[arg(long, requires = "swarm", value_delimiter = ',', value_parser = perturbation, value_name = "NAMES")]
        perturbations: Option<Vec<Perturbation>>,
        /// Swarm: the lowest rate an enabled perturbation draws (overrides `[swarm] min_rate`).
        #[arg(long, requires = "swarm", value_name = "RATE")]
        min_rate: Option<f64>,
        /// Swarm: the highest rate an enabled perturbation draws (overrides `[swarm] max_rate`).
        #[arg(long, requires = "swarm", value_name = "RATE")]
        max_rate: Option<f64>,
        /// Swarm: enable NAME on every seed at exactly RATE (repeatable; overrides the file's
        /// `[swarm.rates]` entry for NAME).
        #[arg(long = "rate", requires = "swarm", value_parser = parse_rate_flag, value_name = "NAME=RATE")]
        rates: Vec<(Perturbation, f64)>,
        /// Run every seed twice and compare trace hashes and RNG fingerprints.
        #[arg(long)]
        check_determinism: bool,
        /// One JSON object per seed, then a summary object, on stdout.
        #[arg(long)]
        json: bool,
        /// Where a shrunk swarm failure is written (default: target/swarm-failures).
        #[arg(long, default_value = "target/swarm-failures")]
        out_dir: PathBuf,
        /// Where the timeline picture of every failing seed goes (`<stem>-seed-<N>.html`);
        /// default: `vmcp-sim-explore` in the temp directory.
        #[arg(long, value_name = "DIR")]
        html_dir: Option<PathBuf>,
    },
}

/// One name of `--perturbations a,b`.
fn perturbation(text: &str) -> Result<Perturbation, String> {
    Perturbation::from_name(text.trim())
}

/// `K/M` with 1 ≤ K ≤ M.
fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (k, m) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}`: expected K/M, e.g. 1/4"))?;
    let k: u64 = k
        .trim()
        .parse()
        .map_err(|_| format!("`{text}`: K is not a number"))?;
    let m: u64 = m
        .trim()
        .parse()
        .map_err(|_| format!("`{text}`: M is not a number"))?;
    if m == 0 || k == 0 || k > m {
        return Err(format!("`{text}`: need 1 <= K <= M"));
    }
    Ok((k, m))
}

/// Run the parsed command; returns the exit status.
pub(crate) fn execute(cli: Cli) -> u8 {
    match cli.command {
        Command::Run {
            paths,
            seed,
            trace,
            json,
            html,
            jobs,
        } => run::run(
            &paths,
            seed,
            trace,
            json,
            html.as_deref(),
            jobs.unwrap_or_else(default_jobs),
        ),
        Command::Check { paths } => check(&paths),
        Command::Explore {
            file,
            seeds,
            start,
            shard,
            jobs,
            swarm,
            perturbations,
            min_rate,
            max_rate,
            rates,
            check_determinism,
            json,
            out_dir,
            html_dir,
        } => {
            let jobs = jobs.unwrap_or_else(default_jobs);
            let options = explore::Options {
                seeds,
                start,
                shard,
                jobs,
                swarm,
                swarm_overrides: SwarmOverrides {
                    perturbations,
                    min_rate,
                    max_rate,
                    rates,
                },
                check_determinism,
                json,
                out_dir,
                html_dir: html_dir.unwrap_or_else(picture::default_explore_dir),
            };
            explore::explore(&file, &options)
        }
    }
}

/// Threads for `run` and `explore` when `--jobs` is not given: the number of CPUs.
fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Load every scenario under `paths`; the first invalid file is the error.
fn load_all(paths: &[PathBuf]) -> Result<Vec<Scenario>, ScenarioError> {
    discover(paths)?.iter().map(Scenario::load).collect()
}

fn check(paths: &[PathBuf]) -> u8 {
    let files = match discover(paths) {
        Ok(files) => files,
        Err(err) => {
            eprintln!("{err}");
            return EXIT_INVALID;
        }
    };
    let mut status = EXIT_OK;
    for file in &files {
        match Scenario::load(file) {
            Ok(s) => println!(
                "ok  {}  ({}: {} backends, {} events, {} expectations)",
                file.display(),
                s.name,
                s.backends.len(),
                s.events.len(),
                s.expects.len()
            ),
            Err(err) => {
                eprintln!("{err}");
                status = EXIT_INVALID;
            }
        }
    }
    status
}

/// The command that reproduces one run.
fn repro_command(file: &str, seed: u64) -> String {
    format!("cargo run --release -p vmcp-sim -- run {file} --seed {seed} --trace")
}
