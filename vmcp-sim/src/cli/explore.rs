//! `vmcp-sim explore`: a seed sweep over one scenario.

use std::io::{IsTerminal, Write};
use std::path::Path;

use vmcp_sim::runner;
use vmcp_sim::scenario::Scenario;

use super::{EXIT_FAILED, EXIT_INVALID, EXIT_OK, repro_command};

pub fn explore(file: &Path, seeds: u64, start: u64, shard: Option<(u64, u64)>) -> u8 {
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
    let progress = std::io::stderr().is_terminal();
    let mut failing = Vec::new();
    for (i, &seed) in chosen.iter().enumerate() {
        match runner::run(&scenario, seed) {
            Ok(o) if o.passed() => {}
            Ok(o) => failing.push((
                seed,
                format!(
                    "{} expectation(s) failed: {}",
                    o.failures.len(),
                    o.failures[0].message
                ),
            )),
            Err(runner::RunError::Unsupported { location, message }) => {
                eprintln!("{location}: {message}");
                return EXIT_INVALID;
            }
            Err(err) => failing.push((seed, err.to_string())),
        }
        if progress {
            let done = i + 1;
            let width = 30;
            let filled = done * width / chosen.len().max(1);
            eprint!(
                "\r[{}{}] {done}/{} seeds, {} failing",
                "#".repeat(filled),
                " ".repeat(width - filled),
                chosen.len(),
                failing.len()
            );
            let _ = std::io::stderr().flush();
        }
    }
    if progress {
        eprintln!();
    }
    let file_text = file.display().to_string();
    for (seed, why) in &failing {
        println!("seed {seed} FAILED: {why}");
        println!("  reproduce: {}", repro_command(&file_text, *seed));
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
