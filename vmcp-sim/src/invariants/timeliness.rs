//! Every transition is reported within `registry_poll_interval` (DESIGN §3.4, "Reporting loop").
//!
//! What the design guarantees, exactly:
//!
//! * **The first report** of a vMCP life (after `VmcpStarted`) comes at most
//!   `initial_report_max_wait` (`initial_jitter + health_check_timeout + 1s`) after the start,
//!   and covers every transition before it: no separate deadline applies to those.
//! * **After it**, a status or circuit transition, or a registry change, opens a reporting
//!   window of `registry_poll_interval`; the report at its end (or any earlier report, periodic
//!   included) shows it. Bursts coalesce, so the obligation is "some report after the
//!   transition, within the interval", not one report per transition, and not that the report
//!   shows the transition's own state (a later transition may have replaced it).
//!
//! Trace stamps are the start of the simulation step the entry happened in, and a step covers
//! one tick of simulated time, so the check allows one tick: a report stamped at most
//! `interval + tick` after the transition's stamp. A vMCP crash voids what was pending (nothing
//! survives it), and an obligation whose deadline is at or past the end of the run is not
//! checked.

use std::time::Duration;

use vmcp_core::status::ReportingConfig;

use super::{Limits, Violation, millis};
use crate::trace::{TraceEntry, TraceEvent};

const NAME: &str = "timeliness";

struct Pending {
    deadline_ms: u64,
    at_ms: u64,
    what: String,
    backend: Option<String>,
}

/// Check the trace.
pub fn check(entries: &[TraceEntry], limits: &Limits) -> Vec<Violation> {
    let tick = limits.tick_ms();
    let end = limits.end_ms();
    let poll = millis(limits.config.registry_poll_interval);
    let initial_wait = millis(
        ReportingConfig::from_failure_handling(&limits.config)
            .initial_report_max_wait
            .max(Duration::ZERO),
    );
    let mut out = Vec::new();
    let mut up = false;
    let mut reported_once = false;
    let mut pending: Vec<Pending> = Vec::new();
    let overdue = |pending: &mut Vec<Pending>, now: u64, out: &mut Vec<Violation>| {
        // Deadlines are pushed in time order with one offset (the start's obligation is alone
        // until the first report clears it), so the first is the earliest: nothing is overdue
        // unless it is. Without this a burst of N transitions was rescanned on every entry
        // until the report came (O(N²) for a 500-backend herd).
        if pending.first().is_none_or(|p| p.deadline_ms >= now) {
            return;
        }
        pending.retain(|p| {
            if p.deadline_ms < now {
                out.push(Violation::new(
                    NAME,
                    p.backend.as_deref(),
                    p.deadline_ms,
                    format!(
                        "{} at {}: no report by {} ({})",
                        p.what,
                        crate::trace::format_ms(p.at_ms),
                        crate::trace::format_ms(p.deadline_ms),
                        if p.what.starts_with("vmcp started") {
                            "initial_report_max_wait + one tick".to_owned()
                        } else {
                            "registry_poll_interval + one tick".to_owned()
                        }
                    ),
                ));
                false
            } else {
                true
            }
        });
    };
    for entry in entries {
        overdue(&mut pending, entry.at_ms, &mut out);
        match &entry.event {
            TraceEvent::VmcpStarted => {
                up = true;
                reported_once = false;
                pending.clear();
                pending.push(Pending {
                    deadline_ms: entry.at_ms + initial_wait + tick,
                    at_ms: entry.at_ms,
                    what: "vmcp started".to_owned(),
                    backend: None,
                });
            }
            TraceEvent::Fault { action, .. } if action == "crash_vmcp" => {
                up = false;
                pending.clear();
            }
            TraceEvent::Report { .. } => {
                reported_once = true;
                pending.clear();
            }
            event @ (TraceEvent::Status { .. }
            | TraceEvent::Circuit { .. }
            | TraceEvent::Registry { .. })
                if up && reported_once =>
            {
                pending.push(Pending {
                    deadline_ms: entry.at_ms + poll + tick,
                    at_ms: entry.at_ms,
                    what: format!("`{}`", event.describe()),
                    backend: event.backend().map(str::to_owned),
                });
            }
            _ => {}
        }
    }
    // What was due before the end of the run and never came.
    pending.retain(|p| p.deadline_ms < end);
    overdue(&mut pending, u64::MAX, &mut out);
    out
}
