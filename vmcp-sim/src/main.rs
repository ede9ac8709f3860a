//! `vmcp-sim`: run, check and explore scenario files (DESIGN §4.3).
//!
//! Exit codes: 0 all passed, 1 an expectation failed (or a run crashed), 2 invalid input.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    ExitCode::from(cli::execute(args))
}
