//! Human-readable output: the summary table and failure reports.

use std::fmt::Write as _;

use vmcp_core::config::duration;
use vmcp_sim::runner::RunOutcome;

use super::repro_command;
use super::run::Row;

/// How much timeline around a failed expectation's window to show, in milliseconds.
const CONTEXT_MS: u64 = 5_000;
/// At most this many timeline lines per failed expectation.
const MAX_LINES: usize = 60;

/// The summary table printed after a run.
pub(super) fn summary_table(rows: &[Row]) -> String {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(8).max(8);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<width$}  {:>20}  {:<6}  {:>8}  {:>8}  {:<16}  note",
        "scenario", "seed", "result", "sim", "wall", "trace"
    );
    let (mut passed, mut failed) = (0, 0);
    for r in rows {
        let (result, sim, hash, note) = match &r.result {
            Ok(o) => {
                let result = if o.passed() { "PASS" } else { "FAIL" };
                let note = match (&o.reproduces_bug, o.passed()) {
                    (Some(bug), true) => format!("reproduces bug: {bug}"),
                    (_, false) => format!("{} expectation(s) failed", o.failures.len()),
                    _ => String::new(),
                };
                (
                    result,
                    duration::format(o.sim_elapsed),
                    o.trace_hash(),
                    note,
                )
            }
            Err(err) => ("ERROR", "-".to_owned(), "-".to_owned(), err.to_string()),
        };
        if result == "PASS" {
            passed += 1;
        } else {
            failed += 1;
        }
        let _ = writeln!(
            out,
            "{:<width$}  {:>20}  {:<6}  {:>8}  {:>7.2}s  {:<16}  {note}",
            r.name,
            r.seed,
            result,
            sim,
            r.wall_ms as f64 / 1000.0,
            hash
        );
    }
    let _ = writeln!(
        out,
        "\n{} scenarios: {passed} passed, {failed} failed",
        rows.len()
    );
    out
}

/// The failure report of one row (`None` if it passed).
pub(super) fn failure_report(row: &Row) -> Option<String> {
    let mut out = String::new();
    match &row.result {
        Ok(o) if o.passed() => return None,
        Ok(o) => {
            let _ = writeln!(
                out,
                "\nFAILED {} ({}) with seed {}",
                row.name, row.file, row.seed
            );
            for f in &o.failures {
                let _ = writeln!(out, "\n  {}: {} expectation failed", f.location, f.kind);
                if let Some(d) = &f.description {
                    let _ = writeln!(out, "    ({d})");
                }
                let _ = writeln!(out, "    {}", f.message);
                let _ = writeln!(out, "    timeline:");
                out.push_str(&timeline_slice(o, f.window_ms, f.backend.as_deref()));
            }
        }
        Err(err) => {
            let _ = writeln!(
                out,
                "\nERROR {} ({}) with seed {}: {err}",
                row.name, row.file, row.seed
            );
        }
    }
    let _ = writeln!(
        out,
        "\n  reproduce: {}\n",
        repro_command(&row.file, row.seed)
    );
    Some(out)
}

fn timeline_slice(o: &RunOutcome, (from, to): (u64, u64), backend: Option<&str>) -> String {
    let slice = o.trace.slice(from.saturating_sub(CONTEXT_MS), to, backend);
    let skipped = slice.len().saturating_sub(MAX_LINES);
    let mut out = String::new();
    if skipped > 0 {
        let _ = writeln!(out, "      … {skipped} earlier entries");
    }
    for line in o.trace.render(&slice[skipped..]).lines() {
        let _ = writeln!(out, "      {line}");
    }
    out
}
