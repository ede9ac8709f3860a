//! Simulation cost against the number of backends (issue 11), printed as a table (figures in
//! `docs/BENCHMARKS.md`).
//!
//! * `run`: N = 10, 100, 1 000 healthy backends (one `count` group in the shared pod host), probed
//!   every 5 s, for 5 simulated minutes: wall time, CPU time of the running thread, simulated
//!   seconds per wall second, and CPU per simulated second per backend (flat = linear cost).
//! * `check`: parse and validate 10 000 backends, declared one by one (`shared_host = true`) and
//!   as one `count` group.
//!
//! ```sh
//! cargo bench -p vmcp-sim --bench scale            # everything
//! cargo bench -p vmcp-sim --bench scale -- check   # only the check rows
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures real elapsed time (Instant::now), outside any simulation"
)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use vmcp_sim::runner;
use vmcp_sim::scenario::Scenario;

/// The allocator the `vmcp-sim` binary runs with (vmcp-sim/src/main.rs says why), so the bench
/// measures what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HEADER: &str = "description = \"scale bench\"\nseed = 1\n";

fn group(n: usize, duration: &str) -> String {
    format!(
        "name = \"scale-{n}\"\n{HEADER}duration = \"{duration}\"\n\
         [vmcp]\nhealth_check_interval = \"5s\"\nhealth_check_timeout = \"2s\"\nconnect_timeout = \"1s\"\n\
         [[backend]]\nname = \"b\"\ncount = {n}\n\
         [[expect]]\nkind = \"eventually\"\nby = \"10s\"\nphase = \"Ready\"\n\
         [[expect]]\nkind = \"always\"\nfrom = \"10s\"\nbackend = \"b\"\nstatus = \"healthy\"\n"
    )
}

fn one_by_one(n: usize) -> String {
    let mut text = format!("name = \"check-{n}\"\n{HEADER}duration = \"5m\"\n");
    for i in 0..n {
        let _ = write!(
            text,
            "[[backend]]\nname = \"b{i:05}\"\nshared_host = true\n\n"
        );
    }
    text.push_str("[[expect]]\nkind = \"eventually\"\nby = \"1m\"\nphase = \"Ready\"\n");
    text
}

fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(
        stat.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run_rows() {
    println!(
        "| backends | simulated | runs | wall (median) | CPU (median) | simulated s per wall s | \
         CPU per simulated s per backend |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (n, runs) in [(10, 5), (100, 3), (1_000, 3)] {
        let scenario = Scenario::from_toml_str(&group(n, "5m"), "bench.toml").expect("valid");
        let (mut walls, mut cpus) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let (wall, cpu) = (Instant::now(), thread_cpu());
            let outcome = runner::run(&scenario, 1).expect("runs");
            assert!(outcome.passed(), "{:?}", outcome.failures.first());
            cpus.push(thread_cpu().saturating_sub(cpu));
            walls.push(wall.elapsed());
        }
        let (wall, cpu) = (median(walls), median(cpus));
        let simulated = 300.0;
        println!(
            "| {n} | 5 min | {runs} | {:.2} s | {:.2} s | {:.0}× | {:.2} µs |",
            wall.as_secs_f64(),
            cpu.as_secs_f64(),
            simulated / wall.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / simulated / n as f64
        );
    }
}

fn check_rows() {
    println!("| `check` input | bytes | parse + validate (median of 7) |");
    println!("|---|---:|---:|");
    for (what, text) in [
        ("10 000 `[[backend]]` tables", one_by_one(10_000)),
        ("one group, `count = 10000`", group(10_000, "5m")),
    ] {
        let mut times = Vec::new();
        for _ in 0..7 {
            let started = Instant::now();
            let scenario = Scenario::from_toml_str(&text, "bench.toml").expect("valid");
            times.push(started.elapsed());
            assert_eq!(scenario.backends.len(), 10_000);
        }
        println!(
            "| {what} | {} | {:.1} ms |",
            text.len(),
            median(times).as_secs_f64() * 1e3
        );
    }
}

fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |what: &str| only.is_empty() || only.iter().any(|o| o == what);
    if wants("check") {
        check_rows();
        println!();
    }
    if wants("run") {
        run_rows();
    }
}
