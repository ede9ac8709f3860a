//! Run one scenario file with the system allocator, for heap profilers.
//!
//! The `vmcp-sim` binary links mimalloc, which valgrind's heap tools (`dhat`, `massif`) do not
//! see; this example runs the same runner with glibc's malloc so they do. docs/BENCHMARKS.md
//! ("Memory per backend") has the commands and what they found:
//!
//! ```sh
//! cargo build -p vmcp-sim --example heap_profile
//! valgrind --tool=dhat --dhat-out-file=dh.json target/debug/examples/heap_profile FILE.toml
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: heap_profile SCENARIO.toml");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("{path}: {err}");
            return ExitCode::from(2);
        }
    };
    let scenario = match vmcp_sim::scenario::Scenario::from_toml_str(&text, &path) {
        Ok(scenario) => scenario,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    match vmcp_sim::runner::run(&scenario, scenario.seed) {
        Ok(outcome) => {
            let failed = outcome.failures.len();
            println!(
                "{}: trace {}, {failed} expectations failed",
                scenario.name,
                outcome.trace.hash()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{}: {err}", scenario.name);
            ExitCode::FAILURE
        }
    }
}
