//! Invariants checked on every run, with no scenario writing (DESIGN §4.5).
//!
//! Each invariant reads only the merged [`Trace`] (plus the configuration the run used), so a
//! test can feed it a hand-made trace that breaks it, and the runner can check any run, a swarm
//! run included. One module per invariant:
//!
//! * [`breaker_budget`]: no probe starts while a circuit is open, nor beyond the half-open
//!   budget; a disabled breaker never acts.
//! * [`tracker_model`]: the published status sequence is what the tracker rules (DESIGN §3.3)
//!   give for the probe results in the trace, re-derived by an independent reference model.
//! * [`reports`]: every report lists exactly the registry's backends, sorted, with a phase (and
//!   CRD statuses) consistent with their statuses.
//! * [`timeliness`]: every transition is reported within `registry_poll_interval` (one tick of
//!   quantisation allowed), and the first report comes within its bounded wait.
//! * [`registry_traffic`]: nothing is sent for a removed backend or to an old endpoint after a
//!   registry change.
//! * [`frontend_calls`]: with the front end, no call is forwarded to a hidden or open-circuit
//!   backend, nor beyond the half-open budget; every forwarded call ends within `call_timeout`
//!   plus one tick; no client lists a tool of a backend hidden for longer than
//!   `registry_poll_interval`.
//!
//! Trace facts they rely on (see `vmcp_core::health::HealthMonitor`): the events of one monitor step
//! (a probe result, the breaker transition it caused, the status change) are recorded together
//! and in that order; entries of one instant keep their recording order; `VmcpStarted` begins a
//! fresh monitor (nothing survives a vMCP restart but the registry).

pub mod breaker_budget;
pub mod frontend_calls;
pub mod registry_traffic;
pub mod reports;
pub mod timeliness;
pub mod tracker_model;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use vmcp_core::config::{FailureHandling, FrontendConfig};

use crate::trace::{Trace, TraceEntry, format_ms};

/// What the invariants need to know about the run besides its trace.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The `[vmcp]` configuration the run used.
    pub config: FailureHandling,
    /// The simulation tick: trace stamps are quantised to it.
    pub tick: Duration,
    /// The simulated instant the run ended; obligations due later are not checked.
    pub end: Duration,
    /// The front end's settings, when it ran (the scenario has clients).
    pub frontend: Option<FrontendConfig>,
    /// Exposed tool name → owning backend (`crate::client::tool_routes`).
    pub tool_routes: BTreeMap<String, String>,
}

impl Limits {
    /// The tick in whole milliseconds (at least 1).
    pub fn tick_ms(&self) -> u64 {
        millis(self.tick).max(1)
    }

    /// The end of the run in milliseconds.
    pub fn end_ms(&self) -> u64 {
        millis(self.end)
    }
}

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The invariant's name (`breaker_budget`, `tracker_model`, ...).
    pub invariant: &'static str,
    /// The backend concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// When it was broken (trace time, ms).
    pub at_ms: u64,
    /// What should have happened and what did.
    pub message: String,
    /// The stretch of the timeline that shows it (ms).
    pub window_ms: (u64, u64),
    /// The instant of the registry change the violation is about, if any: the runner points
    /// the violation at that `[[event]]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause_ms: Option<u64>,
    /// `file:line:column` of the scenario event involved, or the file; set by the runner.
    pub location: String,
}

impl Violation {
    /// A violation of `invariant` at `at_ms`, shown with the preceding few seconds.
    pub fn new(
        invariant: &'static str,
        backend: Option<&str>,
        at_ms: u64,
        message: String,
    ) -> Self {
        Self {
            invariant,
            backend: backend.map(str::to_owned),
            at_ms,
            message,
            window_ms: (at_ms.saturating_sub(CONTEXT_MS), at_ms),
            cause_ms: None,
            location: String::new(),
        }
    }

    /// The same, caused by the registry change at `cause_ms`.
    pub fn caused_by(mut self, cause_ms: u64) -> Self {
        self.cause_ms = Some(cause_ms);
        self.window_ms.0 = self.window_ms.0.min(cause_ms);
        self
    }
}

/// How much timeline before a violation its window shows.
const CONTEXT_MS: u64 = 3_000;

/// Check every invariant; violations ordered by time, then invariant.
pub fn check(trace: &Trace, limits: &Limits) -> Vec<Violation> {
    let mut all = Vec::new();
    all.extend(breaker_budget::check(&trace.entries, limits));
    all.extend(tracker_model::check(&trace.entries, limits));
    all.extend(reports::check(&trace.entries, limits));
    all.extend(timeliness::check(&trace.entries, limits));
    all.extend(registry_traffic::check(&trace.entries, limits));
    all.extend(frontend_calls::check(&trace.entries, limits));
    all.sort_by_key(|v| (v.at_ms, v.invariant));
    all
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `12.340s` for messages.
pub(crate) fn at(entry: &TraceEntry) -> String {
    format_ms(entry.at_ms)
}
