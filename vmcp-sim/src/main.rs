//! `vmcp-sim`: run, check and explore scenario files (DESIGN §4.3).
//!
//! Exit codes: 0 all passed, 1 an expectation failed (or a run crashed), 2 invalid input.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: a simulation allocates and frees many small, short-lived
/// objects per simulated call (hyper's request and response parts, tokio tasks, JSON buffers,
/// turmoil's messages), and glibc's allocator was a tenth of the instructions of a client
/// scenario (`_int_free`, `_int_malloc`, `malloc_consolidate`), more on large scenarios whose
/// heap fragments (docs/BENCHMARKS.md, issue 13). Allocation order does not reach the trace:
/// the simulation is as deterministic with one allocator as with the other.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    ExitCode::from(cli::execute(args))
}
